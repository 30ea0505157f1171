"""The Live page: calls in progress with their alerts, and a call's rolling transcript.

Reads ``live_calls`` / ``live_alerts`` (written by every ``qa live`` server on the database),
so one web app shows the calls of all live servers. Supervisors see their teams' calls, reviewers
and admins every call, agents none (403). The page polls ``/api/live/calls`` every second.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from ..live.store import LiveStore
from . import schemas
from .auth import CurrentUser, require_roles, require_user
from .models import UserRole

router = APIRouter()
User = Annotated[CurrentUser, Depends(require_user)]


def _visible(user: CurrentUser) -> tuple[str, ...] | None:
    """The teams ``user`` may watch (None: all). Agents get 403."""
    require_roles(user, UserRole.ADMIN, UserRole.REVIEWER, UserRole.SUPERVISOR)
    return tuple(user.teams) if user.role is UserRole.SUPERVISOR else None


@router.get("/api/live/calls", tags=["live"], response_model=schemas.LiveCalls)
def live_calls(request: Request, user: User) -> dict[str, Any]:
    """Calls streaming now and recently ended, with their alerts (no transcripts)."""
    teams = _visible(user)
    calls = LiveStore(request.app.state.store).calls(teams=teams)
    return {"calls": [c.to_dict(transcript=False) for c in calls]}


@router.get("/api/live/calls/{call_id}", tags=["live"], response_model=schemas.LiveCallDetail)
def live_call(call_id: str, request: Request, user: User) -> dict[str, Any]:
    """One live call with its rolling transcript (roles, seconds) and alerts."""
    teams = _visible(user)
    view = LiveStore(request.app.state.store).call(call_id)
    if view is None or (teams is not None and view.team not in teams):
        raise HTTPException(status_code=404, detail=f"no live call {call_id!r}")
    return view.to_dict()


@router.get("/live", response_class=HTMLResponse, include_in_schema=False)
def live_page(request: Request, user: User) -> HTMLResponse:
    from .pages import _page

    _visible(user)
    return _page(request, "live.html", user)
