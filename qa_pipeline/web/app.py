"""``create_app(settings)``: the review and coaching web application (FastAPI)."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

from fastapi_offline import FastAPIOffline
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from ..config import Settings
from ..store import ResultStore
from . import models  # noqa: F401  (the web tables' ORM classes; the schema comes from the migrations)

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
SECRET_ENV = "QA_WEB_SECRET"


def session_secret(settings: Settings) -> str:
    """``QA_WEB_SECRET`` or a random secret kept in ``<data_dir>/web_secret`` (mode 600)."""
    env = os.environ.get(SECRET_ENV)
    if env:
        return env
    path = settings.data_dir / "web_secret"
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret)
    return secret


def create_app(settings: Settings, *, store: ResultStore | None = None, https_only: bool | None = None) -> FastAPI:
    """The app over ``settings.resolved_database_url`` (or the given store)."""
    from .api import router as api_router
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
    secure = https_only if https_only is not None else os.environ.get("QA_WEB_HTTPS_ONLY", "") == "1"
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(settings),
        session_cookie="qa_session",
        max_age=8 * 3600,
        same_site="strict",
        https_only=secure,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api_router)
    app.include_router(pages_router)

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
        return response

    return app
