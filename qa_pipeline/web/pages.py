"""Server-rendered pages (Jinja2); the review page's player and overrides use small vanilla JS."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from . import i18n, schemas, service, trends, view
from .api import MAX_PAGE, do_load_queue_filter, do_login, load_call
from .auth import CurrentUser, audit, check_csrf, csrf_token, logout_session, require_roles, require_user
from .models import UserRole


def _i18n_context(request: Request) -> dict[str, Any]:
    """Every page's locale, translator and rubric-name helpers (zh-CN unless the user chose English)."""
    locale = i18n.negotiate(request.cookies.get(i18n.COOKIE), request.query_params.get("lang"))
    settings = getattr(request.app.state, "settings", None)
    names = i18n.rubric_names(settings.rubrics_dir) if settings is not None else {"": {}}

    def item_name(item_id: str, rubric_id: str = "") -> str:
        return names.get(rubric_id, {}).get(item_id) or names[""].get(item_id) or item_id

    def flag_name(flag_id: str, rubric_id: str = "") -> str:
        builtin = i18n.ZH.get(flag_id) if flag_id in i18n.BUILTIN_FLAGS else None
        if builtin:
            return builtin if locale == "zh-CN" else flag_id.replace("_", " ")
        return item_name(flag_id, rubric_id)

    return {
        "locale": locale,
        "locales": i18n.LOCALES,
        "_": i18n.translator(locale),
        "flag_ids": i18n.flag_ids(settings.rubrics_dir) if settings is not None else i18n.BUILTIN_FLAGS,
        "item_name": item_name,
        "flag_name": flag_name,
        "reason": lambda text: i18n.translate_reason(text, locale),
        "flag_reason": lambda flag_id, text: i18n.flag_reason(flag_id, text, locale),
        "quote": lambda text: i18n.evidence_quote(text, locale),
        "warmth_text": lambda text: i18n.warmth_text(text, locale),
        "warmth_name": lambda cid, name: (i18n.WARMTH_NAMES.get(cid) or name) if locale == "zh-CN" else name,
    }


templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"), context_processors=[_i18n_context])
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
        _ = i18n.translator(i18n.negotiate(request.cookies.get(i18n.COOKIE)))
        message = f"{str(exc.detail).capitalize()}." if exc.status_code == 429 else _("Wrong username or password.")
        return templates.TemplateResponse(
            request, "login.html", {"user": None, "csrf": csrf_token(request), "next": next, "error": message},
            status_code=exc.status_code, headers=exc.headers,
        )
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    return RedirectResponse(target, status_code=303)


@router.get("/lang/{locale}")
def set_language(locale: str, request: Request, next: str = "/") -> Response:
    """Remember the user's page language (zh-CN or en) in a cookie and go back to ``next``."""
    if locale not in i18n.LOCALES:
        raise HTTPException(status_code=404, detail=f"unknown language {locale!r} (one of {', '.join(i18n.LOCALES)})")
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(i18n.COOKIE, locale, max_age=365 * 86400, httponly=True, samesite="lax")
    return response


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
    from ..live.store import LiveStore
    from .analytics_data import call_analytics

    data = load_call(request, user, call_id, result_key or None).model_dump(mode="json")
    live_alerts = LiveStore(request.app.state.store).alerts(call_id)
    return _page(request, "call.html", user, call=data, can_override=user.role is not UserRole.AGENT, glance=view.glance(data),
                 analytics=call_analytics(request, user, call_id), live_alerts=live_alerts)  # fmt: skip


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
    # grouped here, not with Jinja's groupby: calls without metadata have no team (None), which
    # its sort cannot compare with a team name; they come last (rows are sorted by team, agent)
    rows = sorted(rows, key=lambda r: r["team"] is None)
    groups = [(team, list(members)) for team, members in itertools.groupby(rows, key=lambda r: r["team"] or "")]
    return _page(request, "teams.html", user, groups=groups)


@router.get("/coaching/{agent_id}", response_class=HTMLResponse)
def agent_page(agent_id: str, request: Request, user: User, period: str = "week") -> HTMLResponse:
    chosen: trends.Period = "month" if period == "month" else "week"
    with request.app.state.sessions() as s:
        dash = schemas.AgentDashboard.model_validate(service.agent_dashboard(s, user, agent_id)).model_dump(mode="json")
        trend = trends.agent_trends(s, user, dash, chosen)
    item_name = _i18n_context(request)["item_name"]
    trend["items"] = [{**i, "name": item_name(i["item_id"])} for i in trend["items"]]
    return _page(request, "agent.html", user, d=dash, trend=trend)


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, user: User, q: str = "") -> HTMLResponse:
    with request.app.state.sessions() as s:
        hits = service.search(s, user, q[:200]) if q else []
    return _page(request, "search.html", user, q=q, hits=hits)
