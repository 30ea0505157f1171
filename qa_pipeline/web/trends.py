"""Coaching trends by period (ISO week or month): an agent's average *final* score and reviewed
item pass rates per period against the team's, with the number of calls behind each point.

A period's date is the call's start time (its scoring time when the start is unknown), in UTC;
a week is labelled by its Monday (``2026-11-02``), a month by its first day (``2026-11``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Iterable, Literal

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from ..records import Outcome
from ..tables import CallRow, ItemRow, ResultRow
from .auth import CurrentUser
from .models import UserRole
from .service import final_outcome, is_current, with_overrides

Period = Literal["week", "month"]
PERIODS: tuple[str, ...] = ("week", "month")


def period_of(when: datetime, period: Period) -> str:
    """The label of the week (its Monday, ``YYYY-MM-DD``) or month (``YYYY-MM``) of ``when``."""
    if period == "month":
        return when.strftime("%Y-%m")
    return (when - timedelta(days=when.weekday())).strftime("%Y-%m-%d")


def _labels(first: datetime, last: datetime, period: Period) -> list[str]:
    """Every period from ``first`` to ``last``, gaps included (a week without calls is a gap, not skipped)."""
    out: list[str] = []
    d = first
    while d <= last + timedelta(days=1):
        label = period_of(d, period)
        if not out or out[-1] != label:
            out.append(label)
        d += timedelta(days=7 if period == "week" else 1)
    if period_of(last, period) not in out:
        out.append(period_of(last, period))
    return out


def _mean_by(points: Iterable[tuple[str, float]]) -> dict[str, tuple[float, int]]:
    acc: dict[str, list[float]] = defaultdict(list)
    for label, value in points:
        acc[label].append(value)
    return {k: (round(sum(v) / len(v), 1), len(v)) for k, v in acc.items()}


def agent_trends(s: Session, user: CurrentUser, dash: dict[str, Any], period: Period = "week", *, max_items: int = 3) -> dict[str, Any]:
    """Trends of the agent of ``dash`` (:func:`qa_pipeline.web.service.agent_dashboard`):
    ``{"period", "periods": [label], "agent": [avg|None], "agent_n": [n], "team": [avg|None],
    "team_n": [n], "items": [{"item_id", "agent": [% | None], "agent_n", "team": [% | None]}],
    "warmth": [avg|None]}`` — lists aligned with ``periods``; pass rates in percent."""
    when = func.coalesce(CallRow.start_time, ResultRow.scored_at)
    mine_where: Any = CallRow.agent_id == dash["agent_id"]
    if user.role is UserRole.SUPERVISOR:
        mine_where = and_(mine_where, CallRow.team.in_(list(user.teams)))
    team = dash.get("team")
    team_where: Any = CallRow.team == team if team else None

    def scores(where: Any) -> list[tuple[datetime, float]]:
        stmt = select(when, ResultRow.final_total).select_from(ResultRow).join(CallRow, is_current()).where(where)
        return [(w, float(t)) for w, t in s.execute(stmt) if w is not None]

    mine = scores(mine_where)
    theirs = scores(team_where) if team_where is not None else []
    if not mine:
        return {"period": period, "periods": [], "agent": [], "agent_n": [], "team": [], "team_n": [], "items": [], "warmth": []}
    first, last = min(w for w, _ in mine), max(w for w, _ in mine)
    labels = _labels(first, last, period)
    a = _mean_by((period_of(w, period), v) for w, v in mine)
    t = _mean_by((period_of(w, period), v) for w, v in theirs)
    weakest = [i["item_id"] for i in dash["items"] if i["pass_rate"] is not None][:max_items]
    items = []
    for item_id in weakest:
        ma = _item_rates(s, and_(mine_where, ItemRow.item_id == item_id), period)
        ta = _item_rates(s, and_(team_where, ItemRow.item_id == item_id), period) if team_where is not None else {}
        items.append({
            "item_id": item_id,
            "agent": [ma[p][0] if p in ma else None for p in labels],
            "agent_n": [ma[p][1] if p in ma else 0 for p in labels],
            "team": [ta[p][0] if p in ta else None for p in labels],
        })
    warmth = _mean_by((period_of(datetime.fromisoformat(w["date"]), period), w["warmth"]) for w in dash.get("warmth_trend") or [] if w.get("date"))
    return {
        "period": period,
        "periods": labels,
        "agent": [a[p][0] if p in a else None for p in labels],
        "agent_n": [a[p][1] if p in a else 0 for p in labels],
        "team": [t[p][0] if p in t else None for p in labels],
        "team_n": [t[p][1] if p in t else 0 for p in labels],
        "items": items,
        "warmth": [warmth[p][0] if p in warmth else None for p in labels],
    }


def _item_rates(s: Session, where: Any, period: Period) -> dict[str, tuple[float, int]]:
    """``{period: (pass rate in percent, items scored)}`` of reviewed (final) outcomes, n/a left out."""
    when = func.coalesce(CallRow.start_time, ResultRow.scored_at)
    stmt = with_overrides(
        select(when, final_outcome()).select_from(ItemRow).join(ResultRow, ResultRow.id == ItemRow.result_id).join(CallRow, is_current())
    ).where(where)
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for w, outcome in s.execute(stmt):
        if w is None or outcome == Outcome.NA.value:
            continue
        label = period_of(w, period)
        acc[label][1] += 1
        acc[label][0] += outcome == Outcome.PASS.value
    return {k: (round(100 * p / n, 1), n) for k, (p, n) in acc.items() if n}


