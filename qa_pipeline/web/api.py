"""REST API (OpenAPI docs at /docs): every route checks the session user's role."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from ..errors import NotFoundError
from ..records import Outcome
from . import service
from .auth import CurrentUser, audit, authenticate, check_csrf, login_session, require_roles, require_user
from .models import OVERRIDE_ROLES, AuditRow, OverrideRow, UserRole, utcnow

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
) -> service.QueueFilter:
    """Query filters: dates are ISO (``date_to`` exclusive), empty values are ignored."""
    return service.QueueFilter(
        _date("date_from", date_from), _date("date_to", date_to), team or None, agent_id or None, flag or None,
        _num("score_min", score_min), _num("score_max", score_max), item or None, flagged_only,
    )


@router.get("/queue", tags=["queue"])
def api_queue(
    request: Request,
    user: User,
    f: Annotated[service.QueueFilter, Depends(do_load_queue_filter)],
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Flagged calls (latest result each), fatal first then lowest score, filtered and paged."""
    with request.app.state.sessions() as s:
        return service.queue(s, user, f, page=page, page_size=page_size)


def load_call(request: Request, user: CurrentUser, call_id: str) -> dict[str, Any]:
    store = request.app.state.store
    with request.app.state.sessions() as s:
        service.check_call_access(s, user, call_id)
        overrides = service.overrides_of(s, call_id)
    try:
        result = store.latest(call_id, raw=user.can_see_raw)
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return service.result_view(result, overrides, raw=user.can_see_raw)


@router.get("/calls/{call_id}", tags=["calls"])
def api_call(call_id: str, request: Request, user: User) -> dict[str, Any]:
    """The call's latest result (redacted unless the role allows raw text), overrides and final score."""
    return load_call(request, user, call_id)


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


@router.post("/calls/{call_id}/overrides", tags=["calls"])
def api_override(
    call_id: str, body: OverrideBody, request: Request, user: User, x_csrf_token: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
    """Agree or disagree with one item (with a comment); the final score uses the overrides."""
    check_csrf(request, x_csrf_token)
    require_roles(user, *OVERRIDE_ROLES)
    store = request.app.state.store
    sessions = request.app.state.sessions
    with sessions() as s:
        service.check_call_access(s, user, call_id)
    result = store.latest(call_id)
    try:
        item = result.scorecard.item(body.item_id)
    except KeyError:
        raise HTTPException(status_code=404, detail=f"no rubric item {body.item_id!r} on this call") from None
    auto = item.outcome.value
    if body.agree:
        human = auto
    elif body.human_outcome is not None:
        human = body.human_outcome.value
    else:
        human = {"pass": "fail", "fail": "pass"}.get(auto, "fail")
    if not body.agree and human == auto:
        raise HTTPException(status_code=422, detail="disagreeing needs an outcome different from the automatic one")
    with sessions.begin() as s:
        row = s.execute(select(OverrideRow).where(OverrideRow.call_id == call_id, OverrideRow.item_id == body.item_id)).scalar_one_or_none()
        row = row or OverrideRow(call_id=call_id, item_id=body.item_id)
        row.auto_outcome, row.human_outcome, row.agree = auto, human, body.agree
        row.comment, row.reviewer, row.at = body.comment, user.username, utcnow()
        s.add(row)
    audit(sessions, user.username, "override", call_id=call_id, detail=f"{body.item_id}: {auto} -> {human} ({'agree' if body.agree else 'disagree'}) {body.comment}"[:2000], ip=_ip(request))
    return load_call(request, user, call_id)


@router.post("/calls/{call_id}/swap-roles", tags=["calls"])
def api_swap_roles(call_id: str, request: Request, user: User, x_csrf_token: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    """Agent <-> customer: rescores the stored transcript (no ASR) and stores the new result."""
    check_csrf(request, x_csrf_token)
    require_roles(user, *OVERRIDE_ROLES)
    with request.app.state.sessions() as s:
        service.check_call_access(s, user, call_id)
    from ..pipeline import CallPipeline

    if request.app.state.pipeline is None:
        request.app.state.pipeline = CallPipeline(request.app.state.settings)
    store = request.app.state.store
    result = store.latest(call_id, raw=True)
    new = request.app.state.pipeline.rescore(result, swap_roles=True)
    store.save(new, force=True)
    audit(request.app.state.sessions, user.username, "swap_roles", call_id=call_id, detail=f"{result.scorecard.total:g} -> {new.scorecard.total:g}", ip=_ip(request))
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
    w.writerow(["team", "agent_id", "agent_name", "calls", "average", "lowest", "flagged"])
    for r in rows:
        w.writerow([r["team"], r["agent_id"], r["agent_name"], r["calls"], r["average"], r["lowest"], r["flagged"]])
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
