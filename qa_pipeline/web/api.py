"""REST API (OpenAPI docs at /docs): every route checks the session user's role."""

from __future__ import annotations

import io
import math
from datetime import datetime, timezone
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from .. import csvsafe
from ..checks import UNSCORABLE_FLAGS
from ..errors import NotFoundError
from ..records import Outcome
from . import service
from .auth import CurrentUser, LoginThrottled, audit, authenticate, check_csrf, login_session, logout_session, require_roles, require_user
from .models import OVERRIDE_ROLES, AuditRow, OverrideRow, UserRole, utcnow

router = APIRouter(prefix="/api")
User = Annotated[CurrentUser, Depends(require_user)]
#: Highest page number accepted (a larger one is a 422, not an integer overflow in the database).
MAX_PAGE = 1_000_000


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


@router.post("/login", tags=["auth"])
def api_login(body: LoginBody, request: Request) -> dict[str, Any]:
    """Start a session (cookie). Returns the CSRF token to send as ``X-CSRF-Token`` on writes."""
    user = do_login(request, body.username, body.password)
    return {"username": user.username, "role": user.role.value, "csrf": request.session["csrf"]}


@router.post("/logout", tags=["auth"])
def api_logout(request: Request, user: User, x_csrf_token: Annotated[str | None, Header()] = None) -> dict[str, str]:
    check_csrf(request, x_csrf_token)
    audit(request.app.state.sessions, user.username, "logout", ip=_ip(request))
    logout_session(request)
    return {"status": "logged out"}


@router.get("/me", tags=["auth"])
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
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Flagged calls (latest result each), fatal first then lowest score, filtered and paged."""
    with request.app.state.sessions() as s:
        return service.queue(s, user, f, page=page, page_size=page_size)


def load_call(request: Request, user: CurrentUser, call_id: str, *, audited: bool = True) -> dict[str, Any]:
    """The review view of a call; the read is audited (``view_call``, ``raw`` when unredacted)."""
    store = request.app.state.store
    with request.app.state.sessions() as s:
        service.check_call_access(s, user, call_id)
        overrides = service.overrides_of(s, call_id)
    try:
        result = store.latest(call_id, raw=user.can_see_raw)
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    data = service.result_view(result, overrides, raw=user.can_see_raw)
    if {f.id for f in result.flags} & UNSCORABLE_FLAGS:
        # nothing was scored (no speech): item overrides cannot turn that into a perfect score
        data["final_score"] = result.scorecard.total
    if not user.can_see_raw:
        data["metadata"]["custom"] = _redacted_custom(data["metadata"].get("custom") or {})
    if audited:
        audit(request.app.state.sessions, user.username, "view_call", call_id=call_id, detail="raw" if data["raw_text"] else "redacted", ip=_ip(request))
    return data


def _redacted_custom(custom: dict[str, Any]) -> dict[str, Any]:
    """Sidecar ``custom`` values with phone/ID/card numbers masked like the transcript."""
    from ..redaction import Redactor

    redactor = Redactor()
    return {k: redactor.redact_text(str(v), context=str(k))[0] for k, v in custom.items()}


@router.get("/calls/{call_id}", tags=["calls"])
def api_call(call_id: str, request: Request, user: User) -> dict[str, Any]:
    """The call's latest result (redacted unless the role allows raw text), overrides and final score."""
    return load_call(request, user, call_id)


@router.get("/calls/{call_id}/audio", tags=["calls"])
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
    return load_call(request, user, call_id, audited=False)  # the write itself is audited


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
    _refresh_result_json(request, new)
    audit(request.app.state.sessions, user.username, "swap_roles", call_id=call_id, detail=f"{result.scorecard.total:g} -> {new.scorecard.total:g}", ip=_ip(request))
    return load_call(request, user, call_id, audited=False)  # the write itself is audited


def _refresh_result_json(request: Request, result: Any) -> None:
    """Rewrite ``<results_dir>/<call_id>.json`` after a web rescore so file and database agree."""
    from ..pipeline import write_result_json

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
    return Response(buf.getvalue(), media_type="text/csv", headers={"Content-Disposition": disposition})


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
    return _csv_response(request, user, service.iter_csv_rows(dash), f"coaching_{agent_id}.csv", f"agent {agent_id}")


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
    table = [["team", "agent_id", "agent_name", "calls", "average", "lowest", "flagged"]]
    table += [[r["team"], r["agent_id"], r["agent_name"], r["calls"], r["average"], r["lowest"], r["flagged"]] for r in rows]
    return _csv_response(request, user, table, "teams.csv", f"teams {team or 'all'}")


@router.get("/search", tags=["search"])
def api_search(request: Request, user: User, q: Annotated[str, Query(min_length=1, max_length=200)]) -> list[dict[str, Any]]:
    """Full-text search over the redacted transcripts of the calls the user may see."""
    with request.app.state.sessions() as s:
        hits = service.search(s, user, q)
    audit(request.app.state.sessions, user.username, "search", detail=f"{len(q)} characters, {len(hits)} calls", ip=_ip(request))
    return hits


@router.get("/audit", tags=["admin"])
def api_audit(request: Request, user: User, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    require_roles(user, UserRole.ADMIN)
    with request.app.state.sessions() as s:
        rows = s.execute(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)).scalars()
        return [{"at": r.at.isoformat(), "username": r.username, "action": r.action, "call_id": r.call_id, "detail": r.detail, "ip": r.ip} for r in rows]
