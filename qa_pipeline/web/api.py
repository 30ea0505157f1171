"""REST API (OpenAPI docs at /docs): every route checks the session user's role."""

from __future__ import annotations

import io
import math
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from .. import csvsafe
from ..errors import NotFoundError, ReviewError
from ..records import Outcome
from ..review import ReviewState, decide_appeal, file_appeal, result_row, set_override, set_review_state
from ..tables import AppealRow, ResultRow
from . import schemas, service
from .auth import (
    CurrentUser,
    LoginThrottled,
    audit,
    authenticate,
    check_csrf,
    login_session,
    logout_session,
    require_roles,
    require_user,
)
from .models import OVERRIDE_ROLES, AuditRow, UserRole

router = APIRouter(prefix="/api")
User = Annotated[CurrentUser, Depends(require_user)]
#: Highest page number accepted (a larger one is a 422, not an integer overflow in the database).
MAX_PAGE = 1_000_000


class CSVResponse(Response):
    """A CSV download (so the OpenAPI document says ``text/csv``, not JSON)."""

    media_type = "text/csv"


class LoginBody(BaseModel):
    username: str
    password: str


class OverrideBody(BaseModel):
    item_id: str
    agree: bool
    #: the reviewer's outcome when they disagree (default: pass <-> fail flipped)
    human_outcome: Outcome | None = None
    comment: str = Field("", max_length=4000)
    #: the scorecard reviewed (default: the call's current one)
    result_key: str | None = None


class ReviewStateBody(BaseModel):
    state: ReviewState
    result_key: str | None = None


class AppealBody(BaseModel):
    item_id: str
    reason: str = Field(..., min_length=1, max_length=4000)
    result_key: str | None = None


class DecisionBody(BaseModel):
    accept: bool
    comment: str = Field("", max_length=4000)


class CurrentBody(BaseModel):
    result_key: str


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def do_login(request: Request, username: str, password: str) -> CurrentUser:
    """Check the throttle, then the password; 429 (with Retry-After) after too many failures."""
    sessions = request.app.state.sessions
    throttle = request.app.state.login_throttle
    ip = _ip(request)
    try:
        throttle.check(username, ip)
    except LoginThrottled as exc:
        audit(sessions, username[:64], "login_throttled", detail=exc.scope, ip=ip)
        raise HTTPException(status_code=429, detail=str(exc), headers={"Retry-After": str(exc.retry_after_s)}) from None
    user = authenticate(sessions, username, password)
    if user is None:
        throttle.failed(username, ip)
        audit(sessions, username[:64], "login_failed", ip=ip)
        raise HTTPException(status_code=401, detail="wrong username or password")
    throttle.succeeded(username)
    login_session(request, user, ip=ip)
    audit(sessions, user.username, "login", ip=ip)
    return user


@router.post("/login", tags=["auth"], response_model=schemas.LoginOut)
def api_login(body: LoginBody, request: Request) -> dict[str, Any]:
    """Start a session (cookie). Returns the CSRF token to send as ``X-CSRF-Token`` on writes."""
    user = do_login(request, body.username, body.password)
    return {"username": user.username, "role": user.role.value, "csrf": request.session["csrf"]}


@router.post("/logout", tags=["auth"], response_model=schemas.StatusOut)
def api_logout(request: Request, user: User, x_csrf_token: Annotated[str | None, Header()] = None) -> dict[str, str]:
    check_csrf(request, x_csrf_token)
    audit(request.app.state.sessions, user.username, "logout", ip=_ip(request))
    logout_session(request)
    return {"status": "logged out"}


@router.get("/me", tags=["auth"], response_model=schemas.MeOut)
def api_me(request: Request, user: User) -> dict[str, Any]:
    return {"username": user.username, "role": user.role.value, "agent_id": user.agent_id, "teams": list(user.teams), "csrf": request.session.get("csrf")}


def _num(name: str, value: str | None) -> float | None:
    if value is None or value.strip() == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise HTTPException(status_code=422, detail=f"{name} must be a number") from None
    if not math.isfinite(number):
        raise HTTPException(status_code=422, detail=f"{name} must be a finite number")
    return number


def _date(name: str, value: str | None) -> datetime | None:
    if value is None or value.strip() == "":
        return None
    try:
        d = datetime.fromisoformat(value.strip())
    except ValueError:
        raise HTTPException(status_code=422, detail=f"{name} must be an ISO date (YYYY-MM-DD)") from None
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def do_load_queue_filter(
    date_from: str | None = None,
    date_to: str | None = None,
    team: str | None = None,
    agent_id: str | None = None,
    flag: str | None = None,
    score_min: str | None = None,
    score_max: str | None = None,
    item: str | None = None,
    flagged_only: bool = True,
    review: str = "open",
) -> service.QueueFilter:
    """Query filters: dates are ISO (``date_to`` exclusive), empty values are ignored;
    ``review`` is open (unreviewed or in review), reviewed or all."""
    if review not in ("open", "reviewed", "all"):
        raise HTTPException(status_code=422, detail="review must be open, reviewed or all")
    return service.QueueFilter(
        _date("date_from", date_from), _date("date_to", date_to), team or None, agent_id or None, flag or None,
        _num("score_min", score_min), _num("score_max", score_max), item or None, flagged_only, review,
    )


@router.get("/queue", tags=["queue"], response_model=schemas.QueuePage)
def api_queue(
    request: Request,
    user: User,
    f: Annotated[service.QueueFilter, Depends(do_load_queue_filter)],
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Flagged calls (current result each), fatal first then lowest final score, filtered and paged."""
    with request.app.state.sessions() as s:
        return service.queue(s, user, f, page=page, page_size=page_size)


def load_call(
    request: Request, user: CurrentUser, call_id: str, result_key: str | None = None, *, audited: bool = True
) -> schemas.CallView:
    """The call's current (or ``result_key``) result with its review, its scorecard history and
    what ``user`` may do with it, as the typed view the API returns and the review page renders;
    the read is audited (``view_call``, ``raw`` when unredacted)."""
    store = request.app.state.store
    with request.app.state.sessions() as s:
        service.check_call_access(s, user, call_id)
    try:
        reviewed = store.reviewed(call_id, raw=user.can_see_raw, result_key=result_key)
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    data = service.result_view(reviewed, raw=user.can_see_raw)
    data["scorecards"] = [
        {"result_key": v.result_key, "rubric_id": v.rubric_id, "rubric_version": v.rubric_version, "total": v.total,
         "final_total": v.final_total, "review_state": v.review_state, "scored_at": v.scored_at.isoformat(), "current": v.current}
        for v in store.scorecards(call_id)
    ]
    data["is_current"] = any(v["current"] and v["result_key"] == reviewed.result.result_key for v in data["scorecards"])
    data["can_appeal"] = user.role is UserRole.AGENT
    data["can_review"] = user.role in OVERRIDE_ROLES
    if not user.can_see_raw:
        data["metadata"]["custom"] = _redacted_custom(data["metadata"].get("custom") or {})
    if audited:
        audit(request.app.state.sessions, user.username, "view_call", call_id=call_id, detail="raw" if data["raw_text"] else "redacted", ip=_ip(request))
    return schemas.CallView.model_validate(data)


def _redacted_custom(custom: dict[str, Any]) -> dict[str, Any]:
    """Sidecar ``custom`` values with phone/ID/card numbers masked like the transcript."""
    from ..redaction import Redactor

    redactor = Redactor()
    return {k: redactor.redact_text(str(v), context=str(k))[0] for k, v in custom.items()}


@router.get("/calls/{call_id}", tags=["calls"], response_model=schemas.CallView)
def api_call(call_id: str, request: Request, user: User, result_key: str | None = None) -> schemas.CallView:
    """The call's current result (or ``result_key``; redacted unless the role allows raw text),
    its review (final score, state, overrides, appeals) and its scorecard history."""
    return load_call(request, user, call_id, result_key)


@router.get("/calls/{call_id}/audio", tags=["calls"], response_class=FileResponse, responses={200: {"content": {"audio/*": {}}, "description": "The recording"}})
def api_audio(call_id: str, request: Request, user: User) -> Response:
    """The call's scored recording (HTTP Range supported for seeking), from its recording store
    only: a local file inside its store (no links out of it) or the bucket object, streamed
    through the server; served only if it still hashes to the scored audio's sha256."""
    from .recordings import AudioRefused, open_recording

    with request.app.state.sessions() as s:
        row = service.check_call_access(s, user, call_id)
    try:
        result = request.app.state.store.latest(call_id)
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    try:
        rec = open_recording(request.app.state.settings, result.audio.path, result.audio.sha256)
    except AudioRefused as exc:
        audit(request.app.state.sessions, user.username, "audio_refused", call_id=call_id, detail=str(exc), ip=_ip(request))
        return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers={"Cache-Control": "no-store"})
    if request.headers.get("range", "bytes=0-").replace(" ", "").startswith("bytes=0-"):
        audit(request.app.state.sessions, user.username, "audio", call_id=call_id, detail=row.audio_path[-200:], ip=_ip(request))
    return FileResponse(rec.path, media_type=rec.media_type, stat_result=rec.stat)


def _review_write(request: Request, user: CurrentUser, call_id: str, x_csrf_token: str | None) -> None:
    check_csrf(request, x_csrf_token)
    require_roles(user, *OVERRIDE_ROLES)
    with request.app.state.sessions() as s:
        service.check_call_access(s, user, call_id)


def _after_review(request: Request, call_id: str) -> None:
    """Rewrite the local daily summary of the call's day: it reports final scores."""
    from ..batch import call_day
    from ..summary import write_daily_summaries

    settings = request.app.state.settings
    store = request.app.state.store
    day = call_day(store.current(call_id), settings.timezone)
    write_daily_summaries(store, [day], timezone=settings.timezone, results_dir=settings.resolved_results_dir)


def _row(s: Any, call_id: str, result_key: str | None) -> ResultRow:
    try:
        return result_row(s, call_id, result_key)
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None


@router.post("/calls/{call_id}/overrides", tags=["review"], response_model=schemas.CallView)
def api_override(
    call_id: str, body: OverrideBody, request: Request, user: User, x_csrf_token: Annotated[str | None, Header()] = None
) -> schemas.CallView:
    """Agree or disagree with one item (with a comment); the final score is re-tallied everywhere."""
    _review_write(request, user, call_id, x_csrf_token)
    sessions = request.app.state.sessions
    try:
        with sessions.begin() as s:
            row = _row(s, call_id, body.result_key)
            o = set_override(
                s, row, body.item_id, agree=body.agree, human_outcome=body.human_outcome, comment=body.comment,
                reviewer=user.username,
            )
            detail = f"{body.item_id}: {o.auto_outcome} -> {o.human_outcome} ({'agree' if body.agree else 'disagree'}) {body.comment}"
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=exc.reason) from None
    except ReviewError as exc:
        raise HTTPException(status_code=422, detail=exc.reason) from None
    audit(sessions, user.username, "override", call_id=call_id, detail=detail[:2000], ip=_ip(request))
    _after_review(request, call_id)
    return load_call(request, user, call_id, body.result_key, audited=False)  # the write itself is audited


@router.post("/calls/{call_id}/review", tags=["review"], response_model=schemas.CallView)
def api_review_state(
    call_id: str, body: ReviewStateBody, request: Request, user: User, x_csrf_token: Annotated[str | None, Header()] = None
) -> schemas.CallView:
    """Mark the scorecard in review, reviewed (who and when are kept) or unreviewed again."""
    _review_write(request, user, call_id, x_csrf_token)
    sessions = request.app.state.sessions
    with sessions.begin() as s:
        set_review_state(s, _row(s, call_id, body.result_key), body.state, user.username)
    audit(sessions, user.username, "review_state", call_id=call_id, detail=body.state.value, ip=_ip(request))
    _after_review(request, call_id)
    return load_call(request, user, call_id, body.result_key, audited=False)  # the write itself is audited


@router.post("/calls/{call_id}/appeals", tags=["review"], response_model=schemas.CallView)
def api_appeal(
    call_id: str, body: AppealBody, request: Request, user: User, x_csrf_token: Annotated[str | None, Header()] = None
) -> schemas.CallView:
    """An agent appeals (申诉) a failed item of their own call, within the appeal window."""
    check_csrf(request, x_csrf_token)
    require_roles(user, UserRole.AGENT)
    sessions = request.app.state.sessions
    with sessions() as s:
        service.check_call_access(s, user, call_id)
    window = timedelta(days=request.app.state.settings.review.appeal_window_days)
    try:
        with sessions.begin() as s:
            appeal = file_appeal(s, _row(s, call_id, body.result_key), body.item_id, agent=user.username, reason=body.reason, window=window)
            appeal_id = appeal.id
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=exc.reason) from None
    except ReviewError as exc:
        raise HTTPException(status_code=422, detail=exc.reason) from None
    audit(sessions, user.username, "appeal", call_id=call_id, detail=f"#{appeal_id} {body.item_id}: {body.reason}"[:2000], ip=_ip(request))
    return load_call(request, user, call_id, body.result_key, audited=False)  # the write itself is audited


@router.get("/appeals", tags=["review"], response_model=list[schemas.AppealListItem])
def api_appeals(request: Request, user: User, state: str = "open") -> list[dict[str, Any]]:
    """Appeals of the calls the user may see (reviewers: the appeals to decide)."""
    with request.app.state.sessions() as s:
        return service.appeals(s, user, state)


@router.post("/appeals/{appeal_id}/decision", tags=["review"], response_model=schemas.CallView)
def api_decide_appeal(
    appeal_id: int, body: DecisionBody, request: Request, user: User, x_csrf_token: Annotated[str | None, Header()] = None
) -> schemas.CallView:
    """Accept (the item passes, as an override) or reject an open appeal, with a comment."""
    sessions = request.app.state.sessions
    with sessions() as s:
        appeal = s.get(AppealRow, appeal_id)
        if appeal is None:
            raise HTTPException(status_code=404, detail=f"no appeal {appeal_id}")
        row = s.get(ResultRow, appeal.result_id)
        call_id, result_key = row.call_id, row.result_key
    _review_write(request, user, call_id, x_csrf_token)
    try:
        with sessions.begin() as s:
            decide_appeal(s, s.get(AppealRow, appeal_id), accept=body.accept, comment=body.comment, reviewer=user.username)
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=exc.reason) from None
    except ReviewError as exc:
        raise HTTPException(status_code=422, detail=exc.reason) from None
    verdict = "accepted" if body.accept else "rejected"
    audit(sessions, user.username, "appeal_decision", call_id=call_id, detail=f"#{appeal_id} {verdict}: {body.comment}"[:2000], ip=_ip(request))
    _after_review(request, call_id)
    return load_call(request, user, call_id, result_key, audited=False)  # the write itself is audited


@router.post("/calls/{call_id}/current", tags=["review"], response_model=schemas.CallView)
def api_set_current(
    call_id: str, body: CurrentBody, request: Request, user: User, x_csrf_token: Annotated[str | None, Header()] = None
) -> schemas.CallView:
    """Make another stored scorecard of the call its current one (shown and counted everywhere)."""
    _review_write(request, user, call_id, x_csrf_token)
    try:
        request.app.state.store.set_current(call_id, body.result_key)
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    audit(request.app.state.sessions, user.username, "set_current", call_id=call_id, detail=body.result_key, ip=_ip(request))
    _after_review(request, call_id)
    return load_call(request, user, call_id, audited=False)  # the write itself is audited


@router.post("/calls/{call_id}/swap-roles", tags=["review"], response_model=schemas.CallView)
def api_swap_roles(call_id: str, request: Request, user: User, x_csrf_token: Annotated[str | None, Header()] = None) -> schemas.CallView:
    """Agent <-> customer: rescores the stored transcript (no ASR) into a new current scorecard."""
    _review_write(request, user, call_id, x_csrf_token)
    from ..pipeline import CallPipeline
    from ..store import SaveOutcome

    settings = request.app.state.settings
    if request.app.state.pipeline is None:
        request.app.state.pipeline = CallPipeline(settings)
    store = request.app.state.store
    result = store.current(call_id, raw=True)
    new = request.app.state.pipeline.rescore(result, swap_roles=True)
    if store.save(new) is SaveOutcome.EXISTS:
        store.set_current(call_id, new.result_key)
    _refresh_result_json(request, new)
    audit(request.app.state.sessions, user.username, "swap_roles", call_id=call_id, detail=f"{result.scorecard.total:g} -> {new.scorecard.total:g}", ip=_ip(request))
    _after_review(request, call_id)
    return load_call(request, user, call_id, audited=False)  # the write itself is audited


def _refresh_result_json(request: Request, result: Any) -> None:
    """Rewrite ``<results_dir>/<call_id>.json`` after a web rescore so file and database agree."""
    from ..batch import write_result_json

    results_dir = request.app.state.settings.resolved_results_dir
    if (results_dir / f"{result.call_id}.json").exists():
        write_result_json(result, results_dir)


def _csv_response(request: Request, user: CurrentUser, rows: Any, filename: str, what: str) -> Response:
    """CSV with every cell neutralised against formula injection; the export is audited."""
    buf = io.StringIO()
    csvsafe.writer(buf).writerows(rows)
    audit(request.app.state.sessions, user.username, "export_csv", detail=what[:2000], ip=_ip(request))
    ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in filename)
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
    return CSVResponse(buf.getvalue(), headers={"Content-Disposition": disposition})


@router.get("/calibration", tags=["calibration"], response_model=list[schemas.CalibrationRow])
def api_calibration(request: Request, user: User) -> list[dict[str, Any]]:
    """Per rubric item: automatic vs human outcomes over reviewed items (accuracy, Cohen's kappa, confusion)."""
    require_roles(user, UserRole.ADMIN, UserRole.REVIEWER, UserRole.SUPERVISOR)
    with request.app.state.sessions() as s:
        return service.calibration(s, user)


@router.get("/coaching/agents/{agent_id}.csv", tags=["coaching"], response_class=CSVResponse)
def api_agent_csv(agent_id: str, request: Request, user: User) -> Response:
    with request.app.state.sessions() as s:
        dash = service.agent_dashboard(s, user, agent_id)
    return _csv_response(request, user, service.iter_csv_rows(dash), f"coaching_{agent_id}.csv", f"agent {agent_id}")


@router.get("/coaching/agents/{agent_id}", tags=["coaching"], response_model=schemas.AgentDashboard)
def api_agent(agent_id: str, request: Request, user: User) -> dict[str, Any]:
    """Score trend, item pass rates against the team, weakest items with examples, warmth trend."""
    with request.app.state.sessions() as s:
        return service.agent_dashboard(s, user, agent_id)


@router.get("/coaching/teams", tags=["coaching"], response_model=list[schemas.TeamMember])
def api_teams(request: Request, user: User, team: str | None = None) -> list[dict[str, Any]]:
    """Per agent of the user's teams: calls, average and lowest score, flagged calls."""
    with request.app.state.sessions() as s:
        return service.team_overview(s, user, team)


@router.get("/coaching/teams.csv", tags=["coaching"], response_class=CSVResponse)
def api_teams_csv(request: Request, user: User, team: str | None = None) -> Response:
    with request.app.state.sessions() as s:
        rows = service.team_overview(s, user, team)
    table = [["team", "agent_id", "agent_name", "calls", "average", "lowest", "flagged", "reviewed"]]
    table += [[r["team"], r["agent_id"], r["agent_name"], r["calls"], r["average"], r["lowest"], r["flagged"], r["reviewed"]] for r in rows]
    return _csv_response(request, user, table, "teams.csv", f"teams {team or 'all'}")


@router.get("/search", tags=["search"], response_model=list[schemas.SearchResult])
def api_search(request: Request, user: User, q: Annotated[str, Query(min_length=1, max_length=200)]) -> list[dict[str, Any]]:
    """Full-text search over the redacted transcripts of the calls the user may see."""
    with request.app.state.sessions() as s:
        hits = service.search(s, user, q)
    audit(request.app.state.sessions, user.username, "search", detail=f"{len(q)} characters, {len(hits)} calls", ip=_ip(request))
    return hits


@router.get("/audit", tags=["admin"], response_model=list[schemas.AuditEntry])
def api_audit(request: Request, user: User, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    require_roles(user, UserRole.ADMIN)
    with request.app.state.sessions() as s:
        rows = s.execute(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)).scalars()
        return [{"at": r.at.isoformat(), "username": r.username, "action": r.action, "call_id": r.call_id, "detail": r.detail, "ip": r.ip} for r in rows]
