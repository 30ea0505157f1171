"""Server-rendered pages (Jinja2); the review page's player and overrides use small vanilla JS."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from . import service
from .api import MAX_PAGE, do_load_queue_filter, do_login, load_call
from .auth import CurrentUser, audit, check_csrf, csrf_token, logout_session, require_roles, require_user
from .models import UserRole

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)
User = Annotated[CurrentUser, Depends(require_user)]


def _page(request: Request, name: str, user: CurrentUser | None, **ctx: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"user": user, "csrf": csrf_token(request), **ctx})


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return _page(request, "login.html", None, next=next if next.startswith("/") and not next.startswith("//") else "/", error=None)


@router.post("/login")
def login_post(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    check_csrf(request, csrf)
    try:
        do_login(request, username, password)
    except HTTPException as exc:
        message = f"{str(exc.detail).capitalize()}." if exc.status_code == 429 else "Wrong username or password."
        return templates.TemplateResponse(
            request, "login.html", {"user": None, "csrf": csrf_token(request), "next": next, "error": message},
            status_code=exc.status_code, headers=exc.headers,
        )
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout_post(request: Request, user: User, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    audit(request.app.state.sessions, user.username, "logout", ip=request.client.host if request.client else None)
    logout_session(request)
    return RedirectResponse("/login", status_code=303)


@router.get("/")
def home(user: User) -> Response:
    if user.role is UserRole.AGENT:
        return RedirectResponse(f"/coaching/{user.agent_id}", status_code=303)
    return RedirectResponse("/queue", status_code=303)


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, user: User, f: Annotated[service.QueueFilter, Depends(do_load_queue_filter)], page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1) -> HTMLResponse:
    with request.app.state.sessions() as s:
        data = service.queue(s, user, f, page=page, page_size=50)
        options = service.filter_options(s, user)
    params = {k: v for k, v in request.query_params.items() if k != "page"}
    return _page(request, "queue.html", user, data=data, options=options, params=params)


@router.get("/calls/{call_id}", response_class=HTMLResponse)
def call_page(call_id: str, request: Request, user: User, result_key: str | None = None) -> HTMLResponse:
    data = load_call(request, user, call_id, result_key or None)
    return _page(request, "call.html", user, call=data, can_override=user.role is not UserRole.AGENT)


@router.get("/calibration", response_class=HTMLResponse)
def calibration_page(request: Request, user: User) -> HTMLResponse:
    require_roles(user, UserRole.ADMIN, UserRole.REVIEWER, UserRole.SUPERVISOR)
    with request.app.state.sessions() as s:
        rows = service.calibration(s, user)
    return _page(request, "calibration.html", user, rows=rows)


@router.get("/coaching", response_class=HTMLResponse)
def teams_page(request: Request, user: User) -> Response:
    if user.role is UserRole.AGENT:
        return RedirectResponse(f"/coaching/{user.agent_id}", status_code=303)
    with request.app.state.sessions() as s:
        rows = service.team_overview(s, user)
    return _page(request, "teams.html", user, rows=rows)


@router.get("/coaching/{agent_id}", response_class=HTMLResponse)
def agent_page(agent_id: str, request: Request, user: User) -> HTMLResponse:
    with request.app.state.sessions() as s:
        dash = service.agent_dashboard(s, user, agent_id)
    return _page(request, "agent.html", user, d=dash)


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, user: User, q: str = "") -> HTMLResponse:
    with request.app.state.sessions() as s:
        hits = service.search(s, user, q[:200]) if q else []
    return _page(request, "search.html", user, q=q, hits=hits)
