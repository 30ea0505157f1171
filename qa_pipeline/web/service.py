"""Queries behind the pages and the API: role scoping, flagged queue, calibration (accuracy,
Cohen's kappa, confusion counts), coaching, search.

Every score shown is a call's *current* result's **final** score (after reviewers' overrides,
re-tallied by :mod:`qa_pipeline.review`), with the automatic score beside it; item pass rates
use the reviewed outcome of each item."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence, TypeVar

from fastapi import HTTPException
from pydantic import TypeAdapter
from sqlalchemy import Select, and_, case, exists, func, select, text
from sqlalchemy.orm import Session

from ..records import Outcome, Warmth
from ..review import ReviewedResult, review_block
from ..tables import AppealRow, CallRow, FlagRow, ItemRow, OverrideRow, ResultRow, TranscriptTextRow
from .auth import CurrentUser
from .models import UserRole

#: a stored result's optional ``warmth`` block (:meth:`qa_pipeline.records.CallResult.to_dict`)
_WARMTH: TypeAdapter[Warmth | None] = TypeAdapter(Warmth | None)

# -- scoping ------------------------------------------------------------------------------

def is_current() -> Any:
    """``results`` row is its call's current result (``calls.current_result_id``); the statement
    must join ``calls``."""
    return CallRow.current_result_id == ResultRow.id


def final_outcome() -> Any:
    """An item's outcome after reviewers' overrides (needs the outer join of :func:`with_overrides`)."""
    return func.coalesce(OverrideRow.human_outcome, ItemRow.outcome)


def with_overrides(stmt: Select[Any]) -> Select[Any]:
    return stmt.outerjoin(
        OverrideRow, and_(OverrideRow.result_id == ItemRow.result_id, OverrideRow.item_id == ItemRow.item_id)
    )


#: any SELECT statement (its row type is kept through :func:`scope_calls`)
SelectT = TypeVar("SelectT", bound=Select)


def scope_calls(stmt: SelectT, user: CurrentUser) -> SelectT:
    """Restrict a statement joined with ``calls`` to what ``user`` may see."""
    if user.role is UserRole.AGENT:
        return stmt.where(CallRow.agent_id == (user.agent_id or "\x00"))
    if user.role is UserRole.SUPERVISOR:
        return stmt.where(CallRow.team.in_(list(user.teams) or ["\x00"]))
    return stmt


def check_call_access(s: Session, user: CurrentUser, call_id: str) -> CallRow:
    """The call row, or 404 (unknown) / 403 (another agent's or another team's call)."""
    row = s.get(CallRow, call_id)
    if row is None:
        raise HTTPException(status_code=404, detail=f"no call {call_id!r}")
    if user.role is UserRole.AGENT and row.agent_id != user.agent_id:
        raise HTTPException(status_code=403, detail="agents see only their own calls")
    if user.role is UserRole.SUPERVISOR and row.team not in user.teams:
        raise HTTPException(status_code=403, detail="supervisors see only their teams' calls")
    return row


# -- flagged queue ------------------------------------------------------------------------

@dataclass(frozen=True)
class QueueFilter:
    date_from: datetime | None = None
    date_to: datetime | None = None
    team: str | None = None
    agent_id: str | None = None
    flag: str | None = None
    score_min: float | None = None
    score_max: float | None = None
    item: str | None = None
    flagged_only: bool = True
    #: open (unreviewed or in review) | reviewed | all
    review: str = "open"


def _has_flag(flag_id: str | None = None) -> Any:
    cond = FlagRow.result_id == ResultRow.id
    return exists().where(cond if flag_id is None else and_(cond, FlagRow.flag_id == flag_id))


def queue(s: Session, user: CurrentUser, f: QueueFilter, *, page: int = 1, page_size: int = 50) -> dict[str, Any]:
    """Current results, flagged first: fatal failures, then lowest final score; offset paging
    over indexed columns. ``f.review`` keeps open (default), reviewed or all calls."""
    page = max(page, 1)
    page_size = min(max(page_size, 1), 200)
    cols = (
        ResultRow.id, ResultRow.call_id, ResultRow.total, ResultRow.final_total, ResultRow.final_fatal_failed,
        ResultRow.flags, ResultRow.review_state, ResultRow.reviewed_by, ResultRow.rubric_id, ResultRow.scored_at,
        CallRow.agent_id, CallRow.agent_name, CallRow.team, CallRow.start_time, CallRow.duration_s, CallRow.language,
    )
    stmt = select(*cols).join(CallRow, is_current())
    stmt = scope_calls(stmt, user)
    if f.review == "open":
        stmt = stmt.where(ResultRow.review_state != "reviewed")
    elif f.review == "reviewed":
        stmt = stmt.where(ResultRow.review_state == "reviewed")
    if f.flagged_only:
        stmt = stmt.where(_has_flag())
    if f.date_from:
        stmt = stmt.where(CallRow.start_time >= f.date_from)
    if f.date_to:
        stmt = stmt.where(CallRow.start_time < f.date_to)
    if f.team:
        stmt = stmt.where(CallRow.team == f.team)
    if f.agent_id:
        stmt = stmt.where(CallRow.agent_id == f.agent_id)
    if f.flag:
        stmt = stmt.where(_has_flag(f.flag))
    if f.score_min is not None:
        stmt = stmt.where(ResultRow.final_total >= f.score_min)
    if f.score_max is not None:
        stmt = stmt.where(ResultRow.final_total <= f.score_max)
    if f.item:
        # correlated EXISTS on (item_id, outcome, result_id): SQLite re-runs an IN (SELECT ...) list per row
        failed = with_overrides(select(ItemRow.id)).where(
            ItemRow.item_id == f.item, ItemRow.result_id == ResultRow.id, final_outcome() == Outcome.FAIL.value
        )
        stmt = stmt.where(failed.exists())
    total = s.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = s.execute(
        stmt.order_by(ResultRow.final_fatal_failed.desc(), ResultRow.final_total.asc(), ResultRow.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    items = []
    for r in rows:
        flags = r.flags or []
        items.append(
            {
                "call_id": r.call_id,
                "total": r.final_total,
                "auto_total": r.total,
                "fatal_failed": r.final_fatal_failed,
                "review_state": r.review_state,
                "reviewed_by": r.reviewed_by,
                "priority": min((fl["priority"] for fl in flags), default=9),
                "flags": [{"id": fl["id"], "reason": fl["reason"], "priority": fl["priority"]} for fl in flags],
                "rubric_id": r.rubric_id,
                "agent_id": r.agent_id,
                "agent_name": r.agent_name,
                "team": r.team,
                "start_time": r.start_time.isoformat() if r.start_time else None,
                "duration_s": r.duration_s,
                "language": r.language,
            }
        )
    return {"total": total, "page": page, "page_size": page_size, "pages": max(1, -(-total // page_size)), "items": items}


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace('"', "")


def filter_options(s: Session, user: CurrentUser) -> dict[str, list[str]]:
    teams = scope_calls(select(CallRow.team).distinct(), user)
    agents = scope_calls(select(CallRow.agent_id).distinct(), user)
    items = select(ItemRow.item_id).distinct().order_by(ItemRow.item_id).limit(500)
    return {
        "teams": sorted(t for t in s.execute(teams).scalars() if t),
        "agents": sorted(a for a in s.execute(agents).scalars() if a),
        "items": list(s.execute(items).scalars()),
    }


# -- appeals ------------------------------------------------------------------------------

def appeals(s: Session, user: CurrentUser, state: str = "open") -> list[dict[str, Any]]:
    """Appeals on results of calls ``user`` may see (``state``: open, accepted, rejected or all), newest first."""
    stmt = scope_calls(
        select(AppealRow, ResultRow.call_id, ResultRow.result_key, CallRow.agent_id)
        .join(ResultRow, ResultRow.id == AppealRow.result_id)
        .join(CallRow, CallRow.call_id == ResultRow.call_id),
        user,
    )
    if state != "all":
        stmt = stmt.where(AppealRow.state == state)
    return [
        {
            "id": a.id, "call_id": call_id, "result_key": key, "agent_id": agent_id, "item_id": a.item_id, "agent": a.agent,
            "reason": a.reason, "state": a.state, "created_at": _iso(a.created_at), "decided_by": a.decided_by,
            "decision_comment": a.decision_comment,
        }
        for a, call_id, key, agent_id in s.execute(stmt.order_by(AppealRow.id.desc()).limit(500))
    ]


# -- calibration ---------------------------------------------------------------------------------

def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's kappa of (automatic, human) label pairs; None without pairs.

    ``(p_o - p_e) / (1 - p_e)``; when chance agreement is total (one label everywhere) the
    raters agree perfectly and kappa is 1.0.
    """
    n = len(pairs)
    if n == 0:
        return None
    p_o = sum(1 for a, h in pairs if a == h) / n
    auto = Counter(a for a, _ in pairs)
    human = Counter(h for _, h in pairs)
    p_e = sum(auto[k] * human[k] for k in set(auto) | set(human)) / (n * n)
    if p_e >= 1.0:
        return 1.0
    return round((p_o - p_e) / (1.0 - p_e), 4)


def calibration(s: Session, user: CurrentUser) -> list[dict[str, Any]]:
    """Per rubric item over reviewed (overridden or confirmed) items of calls the user may see."""
    stmt = scope_calls(
        select(OverrideRow.item_id, OverrideRow.auto_outcome, OverrideRow.human_outcome)
        .join(ResultRow, ResultRow.id == OverrideRow.result_id)
        .join(CallRow, CallRow.call_id == ResultRow.call_id),
        user,
    )
    pairs: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for item_id, auto, human in s.execute(stmt):
        pairs[item_id].append((auto, human))
    out = []
    for item_id in sorted(pairs):
        p = pairs[item_id]
        confusion: dict[str, dict[str, int]] = {a: {h: 0 for h in ("pass", "fail", "na")} for a in ("pass", "fail", "na")}
        for a, h in p:
            confusion.setdefault(a, {}).setdefault(h, 0)
            confusion[a][h] += 1
        out.append(
            {
                "item_id": item_id,
                "n": len(p),
                "accuracy": round(sum(1 for a, h in p if a == h) / len(p), 4),
                "kappa": cohen_kappa(p),
                "confusion": confusion,
            }
        )
    return out


# -- coaching ----------------------------------------------------------------------------------------

def _current_join(user: CurrentUser) -> Any:
    return select(
        ResultRow.id, ResultRow.call_id, ResultRow.final_total, ResultRow.total, ResultRow.scored_at,
        CallRow.start_time, CallRow.team, CallRow.agent_id, CallRow.agent_name,
    ).join(CallRow, is_current())


def _pass_rates(s: Session, where: Any) -> dict[str, tuple[int, int]]:
    outcome = final_outcome()
    stmt = (
        with_overrides(
            select(ItemRow.item_id, outcome, func.count())
            .join(ResultRow, ResultRow.id == ItemRow.result_id)
            .join(CallRow, is_current())
        )
        .where(where)
        .group_by(ItemRow.item_id, outcome)
    )
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for item_id, outcome, n in s.execute(stmt):
        if outcome == Outcome.NA.value:
            continue
        acc[item_id][1] += n
        if outcome == Outcome.PASS.value:
            acc[item_id][0] += n
    return {k: (v[0], v[1]) for k, v in acc.items()}


def agent_dashboard(s: Session, user: CurrentUser, agent_id: str) -> dict[str, Any]:
    if user.role is UserRole.AGENT and agent_id != user.agent_id:
        raise HTTPException(status_code=403, detail="agents see only their own dashboard")
    rows = s.execute(scope_calls(_current_join(user).where(CallRow.agent_id == agent_id), user).order_by(CallRow.start_time, ResultRow.id)).all()
    if not rows:
        if user.role is UserRole.SUPERVISOR and s.execute(select(CallRow.call_id).where(CallRow.agent_id == agent_id).limit(1)).first():
            raise HTTPException(status_code=403, detail="supervisors see only their teams' agents")
        raise HTTPException(status_code=404, detail=f"no scored calls for agent {agent_id!r}")
    team = rows[-1].team
    mine_where = CallRow.agent_id == agent_id
    if user.role is UserRole.SUPERVISOR:  # an agent who moved teams: only the supervisor's teams' calls
        mine_where = and_(mine_where, CallRow.team.in_(list(user.teams)))
    mine = _pass_rates(s, mine_where)
    theirs = _pass_rates(s, CallRow.team == team) if team else {}
    items: list[dict[str, Any]] = []
    for item_id, (p, n) in mine.items():
        tp, tn = theirs.get(item_id, (0, 0))
        items.append({"item_id": item_id, "passed": p, "scored": n, "pass_rate": round(p / n, 4) if n else None, "team_pass_rate": round(tp / tn, 4) if tn else None})
    items.sort(key=lambda i: (i["pass_rate"] if i["pass_rate"] is not None else 1.0, i["item_id"]))
    weakest = []
    result_ids = [r.id for r in rows]
    for it in [i for i in items if i["pass_rate"] is not None and i["pass_rate"] < 1.0][:3]:
        examples = s.execute(
            with_overrides(
                select(ItemRow.evidence, ItemRow.reason, ResultRow.call_id).join(ResultRow, ResultRow.id == ItemRow.result_id)
            )
            .where(ItemRow.result_id.in_(result_ids[-2000:]), ItemRow.item_id == it["item_id"], final_outcome() == Outcome.FAIL.value)
            .order_by(ResultRow.id.desc())
            .limit(3)
        ).all()
        weakest.append(
            {
                **it,
                "examples": [
                    {"call_id": c, "reason": reason, "quote": ev[0]["quote"] if ev else "", "start": ev[0]["start"] if ev else None}
                    for ev, reason, c in examples
                ],
            }
        )
    warmth = []
    for r in rows[-200:]:
        data = json.loads(s.execute(select(ResultRow.result_json).where(ResultRow.id == r.id)).scalar_one())
        w = _WARMTH.validate_python(data.get("warmth"))  # absent before schema 1.1 and when disabled
        if w is not None:
            warmth.append({"call_id": r.call_id, "date": _iso(r.start_time or r.scored_at), "warmth": w.total})
    return {
        "agent_id": agent_id,
        "agent_name": rows[-1].agent_name,
        "team": team,
        "calls": len(rows),
        "average": round(sum(r.final_total for r in rows) / len(rows), 1),
        "trend": [
            {"call_id": r.call_id, "date": _iso(r.start_time or r.scored_at), "total": r.final_total, "auto_total": r.total}
            for r in rows
        ],
        "items": items,
        "weakest": weakest,
        "warmth_trend": warmth,
    }


def team_overview(s: Session, user: CurrentUser, team: str | None = None) -> list[dict[str, Any]]:
    if user.role is UserRole.AGENT:
        raise HTTPException(status_code=403, detail="agents see only their own dashboard")
    flagged = func.sum(case((_has_flag(), 1), else_=0))
    reviewed = func.sum(case((ResultRow.review_state == "reviewed", 1), else_=0))
    stmt = scope_calls(
        select(
            CallRow.team, CallRow.agent_id, func.max(CallRow.agent_name), func.count(), func.avg(ResultRow.final_total),
            func.min(ResultRow.final_total), flagged, reviewed,
        )
        .select_from(ResultRow)
        .join(CallRow, is_current())
        .group_by(CallRow.team, CallRow.agent_id),
        user,
    )
    if team:
        stmt = stmt.where(CallRow.team == team)
    return [
        {
            "team": t, "agent_id": a, "agent_name": name, "calls": n, "average": round(float(avg), 1), "lowest": lo,
            "flagged": int(fl or 0), "reviewed": int(rv or 0),
        }
        for t, a, name, n, avg, lo, fl, rv in sorted(s.execute(stmt).all(), key=lambda r: (r[0] or "", r[1] or ""))
    ]


def _iso(d: datetime | None) -> str | None:
    return d.isoformat() if d else None


# -- search ------------------------------------------------------------------------------------------

def search(s: Session, user: CurrentUser, q: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """Calls whose current (redacted) transcript contains ``q`` (case-insensitive), with the
    matching utterances.

    An index finds the candidates: SQLite's FTS5 ``trigram`` table (queries of 3+ characters;
    shorter ones scan the transcript texts), PostgreSQL's ``pg_trgm`` GIN index through ``ILIKE``.
    """
    q = q.strip()
    if not q:
        return []
    stmt = select(ResultRow.call_id, TranscriptTextRow.text).join(
        TranscriptTextRow, TranscriptTextRow.result_id == ResultRow.id
    ).join(CallRow, is_current())
    dialect = s.get_bind().dialect.name
    if dialect == "sqlite" and len(q) >= 3:
        phrase = '"' + q.replace('"', '""') + '"'
        stmt = stmt.where(ResultRow.id.in_(text("SELECT rowid FROM transcript_fts WHERE transcript_fts MATCH :q").bindparams(q=phrase)))
    else:
        stmt = stmt.where(TranscriptTextRow.text.ilike(f"%{_like_escape(q)}%", escape="\\"))
    out = []
    needle = q.lower()
    for call_id, body in s.execute(scope_calls(stmt, user).order_by(ResultRow.id.desc()).limit(limit)):
        data = s.execute(select(ResultRow.result_json).join(CallRow, is_current()).where(CallRow.call_id == call_id)).scalar_one()
        hits = [
            {"utterance_id": u["id"], "role": u["role"], "start": u["start"], "text": u["text"]}
            for u in json.loads(data)["utterances"]
            if needle in u["text"].lower()
        ]
        if hits:
            out.append({"call_id": call_id, "hits": hits[:5]})
    return out


def result_view(r: ReviewedResult, *, raw: bool) -> dict[str, Any]:
    """JSON for the review page/API: the result, its review and the final score beside the automatic one."""
    result = r.result
    data = result.to_dict()
    if raw and result.raw_transcript is not None:
        data["utterances"] = replace(result, transcript=result.raw_transcript).to_dict()["utterances"]
    review = review_block(r)
    data["review"] = review
    data["overrides"] = review["overrides"]
    data["final_score"] = r.final.total
    data["final_fatal_failed"] = r.final.fatal_failed
    data["final_outcomes"] = {i.id: i.outcome.value for i in r.final.items}
    data["raw_text"] = bool(raw)
    return data


def iter_csv_rows(dashboard: Mapping[str, Any]) -> Iterable[list[Any]]:
    """The agent's coaching export: reviewed item pass rates, then the calls with final and automatic scores."""
    yield ["agent_id", "item_id", "passed", "scored", "pass_rate", "team_pass_rate"]
    for i in dashboard["items"]:
        yield [dashboard["agent_id"], i["item_id"], i["passed"], i["scored"], i["pass_rate"], i["team_pass_rate"]]
    yield []
    yield ["agent_id", "call_id", "date", "final_score", "auto_score"]
    for t in dashboard["trend"]:
        yield [dashboard["agent_id"], t["call_id"], t["date"], t["total"], t["auto_total"]]
