"""``create_app(settings)``: the review and coaching web application (FastAPI)."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from sqlalchemy.orm import sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from ..config import Settings
from ..errors import ConfigError
from ..privfs import private_dir, write_private
from ..store import ResultStore
from . import models  # noqa: F401  (the web tables' ORM classes; the schema comes from the migrations)

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
SECRET_ENV = "QA_WEB_SECRET"


#: Shortest accepted session-signing secret (characters); token_urlsafe(48) gives 64.
MIN_SECRET_LENGTH = 32
#: Content-Security-Policy of the app's pages: scripts, styles and media only from the app itself.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
#: The Swagger UI / ReDoc pages start themselves with an inline script.
DOCS_CSP = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'").replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
DOCS_PATHS = ("/docs", "/redoc")


def _check_secret(secret: str, where: str, hint: str) -> str:
    if len(secret) < MIN_SECRET_LENGTH or len(set(secret)) < 8:
        raise ConfigError(
            f"the web session secret is too weak ({len(secret)} characters, {len(set(secret))} distinct; "
            f"need at least {MIN_SECRET_LENGTH} random characters): {hint}",
            path=where,
        )
    return secret


def session_secret(settings: Settings) -> str:
    """``QA_WEB_SECRET`` or a random secret kept in ``<data_dir>/web_secret`` (mode 600).

    The file is created atomically (written, flushed, then linked into place), so a crash never
    leaves an empty or partial secret.

    Raises:
        ConfigError: the secret is shorter than :data:`MIN_SECRET_LENGTH` characters or barely
            random (an empty file, ``QA_WEB_SECRET=x``): the server must not start with it.
    """
    env = os.environ.get(SECRET_ENV)
    if env is not None:
        return _check_secret(env.strip(), SECRET_ENV, "set it to e.g. the output of python -c 'import secrets; print(secrets.token_urlsafe(48))'")
    path = private_dir(settings.data_dir) / "web_secret"
    if not path.exists():
        write_private(path, secrets.token_urlsafe(48).encode(), exclusive=True)  # False: another process won
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the web session secret: {exc}", path=path) from None
    return _check_secret(text, str(path), "delete the file and start again to generate a new one (every session ends)")


def create_app(settings: Settings, *, store: ResultStore | None = None, https_only: bool | None = None) -> FastAPI:
    """The app over ``settings.resolved_database_url`` (or the given store)."""
    from .api import router as api_router
    from .auth import ABSOLUTE_TIMEOUT, LoginThrottle
    from .live import router as live_router
    from .pages import router as pages_router

    store = store or ResultStore(settings.resolved_database_url)
    # FastAPIOffline serves the Swagger UI / ReDoc assets from the package: /docs works offline
    app = FastAPIOffline(
        title="qa_pipeline review and coaching",
        version="1.0",
        description="Flagged queue, call review with overrides, calibration, coaching and search over the results database.",
    )
    app.state.settings = settings
    app.state.store = store
    app.state.sessions = sessionmaker(store.engine, expire_on_commit=False)
    app.state.pipeline = None
    app.state.login_throttle = LoginThrottle()
    secure = https_only if https_only is not None else os.environ.get("QA_WEB_HTTPS_ONLY", "") == "1"
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(settings),
        session_cookie="qa_session",
        max_age=int(ABSOLUTE_TIMEOUT.total_seconds()),  # the server-side session row decides; see auth
        same_site="strict",
        https_only=secure,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api_router)
    app.include_router(live_router)
    app.include_router(pages_router)
    from .analytics import api as analytics_api
    from .analytics import pages as analytics_pages

    app.include_router(analytics_api)
    app.include_router(analytics_pages)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        is_page = not request.url.path.startswith("/api/") and request.url.path != "/openapi.json"
        if is_page and exc.status_code == 401:
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        if is_page and "text/html" in request.headers.get("accept", ""):
            from .pages import templates

            return templates.TemplateResponse(request, "error.html", {"status": exc.status_code, "detail": exc.detail, "user": None}, status_code=exc.status_code)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        path = request.url.path
        response.headers.setdefault("Content-Security-Policy", DOCS_CSP if path.startswith(DOCS_PATHS) else CSP)
        if not path.startswith("/static/"):
            # pages, JSON, CSV and audio hold personal data: never kept by browsers or proxies
            response.headers["Cache-Control"] = "no-store"
        return response

    return app
