"""REST API (OpenAPI docs at /docs): every route checks the session user's role."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from ..errors import NotFoundError, ReviewError
from ..records import Outcome
from ..review import ReviewState, decide_appeal, file_appeal, result_row, set_override, set_review_state
from ..tables import AppealRow, ResultRow
from . import service
from .auth import CurrentUser, audit, authenticate, check_csrf, login_session, require_roles, require_user
from .models import OVERRIDE_ROLES, AuditRow, UserRole

router = APIRouter(prefix="/api")
User = Annotated[CurrentUser, Depends(require_user)]


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
    sessions = request.app.state.sessions
    user = authenticate(sessions, username, password)
    if user is None:
        audit(sessions, username[:64], "login_failed", ip=_ip(request))
        raise HTTPException(status_code=401, detail="wrong username or password")
    login_session(request, user)
    audit(sessions, user.username, "login", ip=_ip(request))
    return user


@router.post("/login", tags=["auth"])
def api_login(body: LoginBody, request: Request) -> dict[str, Any]:
    """Start a session (cookie). Returns the CSRF token to send as ``X-CSRF-Token`` on writes."""
    user = do_login(request, body.username, body.password)
    return {"username": user.username, "role": user.role.value, "csrf": request.session["csrf"]}


@router.post("/logout", tags=["auth"])
def api_logout(request: Request, user: User, x_csrf_token: Annotated[str | None, Header()] = None) -> dict[str, str]:
    check_csrf(request, x_csrf_token)
    audit(request.app.state.sessions, user.username, "logout", ip=_ip(request))
    request.session.clear()
    return {"status": "logged out"}


@router.get("/me", tags=["auth"])
def api_me(request: Request, user: User) -> dict[str, Any]:
    return {"username": user.username, "role": user.role.value, "agent_id": user.agent_id, "teams": list(user.teams), "csrf": request.session.get("csrf")}


def _num(name: str, value: str | None) -> float | None:
    if value is None or value.strip() == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise HTTPException(status_code=422, detail=f"{name} must be a number") from None


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


@router.get("/queue", tags=["queue"])
def api_queue(
    request: Request,
    user: User,
    f: Annotated[service.QueueFilter, Depends(do_load_queue_filter)],
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Flagged calls (current result each), fatal first then lowest final score, filtered and paged."""
    with request.app.state.sessions() as s:
        return service.queue(s, user, f, page=page, page_size=page_size)


def load_call(request: Request, user: CurrentUser, call_id: str, result_key: str | None = None) -> dict[str, Any]:
    """The call's current (or ``result_key``) result with its review, its scorecard history and
    what ``user`` may do with it."""
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
    return data


@router.get("/calls/{call_id}", tags=["calls"])
def api_call(call_id: str, request: Request, user: User, result_key: str | None = None) -> dict[str, Any]:
    """The call's current result (or ``result_key``; redacted unless the role allows raw text),
    its review (final score, state, overrides, appeals) and its scorecard history."""
    return load_call(request, user, call_id, result_key)


@router.get("/calls/{call_id}/audio", tags=["calls"])
def api_audio(call_id: str, request: Request, user: User) -> Response:
    """The recording (supports HTTP Range requests for seeking)."""
    with request.app.state.sessions() as s:
        row = service.check_call_access(s, user, call_id)
    path = Path(row.audio_path)
    if not path.is_file():
        raise HTTPException(status_code=404, detail="the call's audio file is no longer available")
    media = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".flac": "audio/flac", ".ogg": "audio/ogg", ".opus": "audio/ogg"}.get(path.suffix.lower(), "application/octet-stream")
    return FileResponse(path, media_type=media)


def _review_write(request: Request, user: CurrentUser, call_id: str, x_csrf_token: str | None) -> None:
    check_csrf(request, x_csrf_token)
    require_roles(user, *OVERRIDE_ROLES)
    with request.app.state.sessions() as s:
        service.check_call_access(s, user, call_id)


def _after_review(request: Request, call_id: str) -> None:
    """Rewrite the local daily summary of the call's day: it reports final scores."""
    from ..pipeline import call_day
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


@router.post("/calls/{call_id}/overrides", tags=["review"])
def api_override(
    call_id: str, body: OverrideBody, request: Request, user: User, x_csrf_token: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
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
    return load_call(request, user, call_id, body.result_key)


@router.post("/calls/{call_id}/review", tags=["review"])
def api_review_state(
    call_id: str, body: ReviewStateBody, request: Request, user: User, x_csrf_token: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
    """Mark the scorecard in review, reviewed (who and when are kept) or unreviewed again."""
    _review_write(request, user, call_id, x_csrf_token)
    sessions = request.app.state.sessions
    with sessions.begin() as s:
        set_review_state(s, _row(s, call_id, body.result_key), body.state, user.username)
    audit(sessions, user.username, "review_state", call_id=call_id, detail=body.state.value, ip=_ip(request))
    _after_review(request, call_id)
    return load_call(request, user, call_id, body.result_key)


@router.post("/calls/{call_id}/appeals", tags=["review"])
def api_appeal(
    call_id: str, body: AppealBody, request: Request, user: User, x_csrf_token: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
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
    return load_call(request, user, call_id, body.result_key)


@router.get("/appeals", tags=["review"])
def api_appeals(request: Request, user: User, state: str = "open") -> list[dict[str, Any]]:
    """Appeals of the calls the user may see (reviewers: the appeals to decide)."""
    with request.app.state.sessions() as s:
        return service.appeals(s, user, state)


@router.post("/appeals/{appeal_id}/decision", tags=["review"])
def api_decide_appeal(
    appeal_id: int, body: DecisionBody, request: Request, user: User, x_csrf_token: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
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
    return load_call(request, user, call_id, result_key)


@router.post("/calls/{call_id}/current", tags=["review"])
def api_set_current(
    call_id: str, body: CurrentBody, request: Request, user: User, x_csrf_token: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
    """Make another stored scorecard of the call its current one (shown and counted everywhere)."""
    _review_write(request, user, call_id, x_csrf_token)
    try:
        request.app.state.store.set_current(call_id, body.result_key)
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    audit(request.app.state.sessions, user.username, "set_current", call_id=call_id, detail=body.result_key, ip=_ip(request))
    _after_review(request, call_id)
    return load_call(request, user, call_id)


@router.post("/calls/{call_id}/swap-roles", tags=["review"])
def api_swap_roles(call_id: str, request: Request, user: User, x_csrf_token: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    """Agent <-> customer: rescores the stored transcript (no ASR) into a new current scorecard."""
    _review_write(request, user, call_id, x_csrf_token)
    from ..pipeline import CallPipeline, write_result_json
    from ..store import SaveOutcome

    settings = request.app.state.settings
    if request.app.state.pipeline is None:
        request.app.state.pipeline = CallPipeline(settings)
    store = request.app.state.store
    result = store.current(call_id, raw=True)
    new = request.app.state.pipeline.rescore(result, swap_roles=True)
    if store.save(new) is SaveOutcome.EXISTS:
        store.set_current(call_id, new.result_key)
    write_result_json(new, settings.resolved_results_dir)
    audit(request.app.state.sessions, user.username, "swap_roles", call_id=call_id, detail=f"{result.scorecard.total:g} -> {new.scorecard.total:g}", ip=_ip(request))
    _after_review(request, call_id)
    return load_call(request, user, call_id)


@router.get("/calibration", tags=["calibration"])
def api_calibration(request: Request, user: User) -> list[dict[str, Any]]:
    """Per rubric item: automatic vs human outcomes over reviewed items (accuracy, Cohen's kappa, confusion)."""
    require_roles(user, UserRole.ADMIN, UserRole.REVIEWER, UserRole.SUPERVISOR)
    with request.app.state.sessions() as s:
        return service.calibration(s, user)


@router.get("/coaching/agents/{agent_id}.csv", tags=["coaching"])
def api_agent_csv(agent_id: str, request: Request, user: User) -> Response:
    with request.app.state.sessions() as s:
        dash = service.agent_dashboard(s, user, agent_id)
    buf = io.StringIO()
    csv.writer(buf).writerows(service.iter_csv_rows(dash))
    return Response(buf.getvalue(), media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="coaching_{agent_id}.csv"'})


@router.get("/coaching/agents/{agent_id}", tags=["coaching"])
def api_agent(agent_id: str, request: Request, user: User) -> dict[str, Any]:
    """Score trend, item pass rates against the team, weakest items with examples, warmth trend."""
    with request.app.state.sessions() as s:
        return service.agent_dashboard(s, user, agent_id)


@router.get("/coaching/teams", tags=["coaching"])
def api_teams(request: Request, user: User, team: str | None = None) -> list[dict[str, Any]]:
    """Per agent of the user's teams: calls, average and lowest score, flagged calls."""
    with request.app.state.sessions() as s:
        return service.team_overview(s, user, team)


@router.get("/coaching/teams.csv", tags=["coaching"])
def api_teams_csv(request: Request, user: User, team: str | None = None) -> Response:
    with request.app.state.sessions() as s:
        rows = service.team_overview(s, user, team)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["team", "agent_id", "agent_name", "calls", "average", "lowest", "flagged", "reviewed"])
    for r in rows:
        w.writerow([r["team"], r["agent_id"], r["agent_name"], r["calls"], r["average"], r["lowest"], r["flagged"], r["reviewed"]])
    return Response(buf.getvalue(), media_type="text/csv", headers={"Content-Disposition": 'attachment; filename="teams.csv"'})


@router.get("/search", tags=["search"])
def api_search(request: Request, user: User, q: Annotated[str, Query(min_length=1, max_length=200)]) -> list[dict[str, Any]]:
    """Full-text search over the redacted transcripts of the calls the user may see."""
    with request.app.state.sessions() as s:
        return service.search(s, user, q)


@router.get("/audit", tags=["admin"])
def api_audit(request: Request, user: User, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    require_roles(user, UserRole.ADMIN)
    with request.app.state.sessions() as s:
        rows = s.execute(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)).scalars()
        return [{"at": r.at.isoformat(), "username": r.username, "action": r.action, "call_id": r.call_id, "detail": r.detail, "ip": r.ip} for r in rows]
