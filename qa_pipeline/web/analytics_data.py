"""The review page's analytics data: a call's drivers with evidence and the customer's earlier calls.

Separate from :mod:`qa_pipeline.web.analytics` so that the pages module can use it without an
import cycle (that module renders its page through :mod:`qa_pipeline.web.pages`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from sqlalchemy import select

from ..analytics.tables import CallAnalyticsRow, CallDriverRow
from ..tables import CallRow
from .auth import CurrentUser
from .models import UserRole
from .service import check_call_access


def call_analytics(request: Request, user: CurrentUser, call_id: str, window_days: float = 30.0) -> dict[str, Any]:
    """Drivers and earlier calls of one call (403/404 as for the call itself); also the review page's panel."""
    with request.app.state.sessions() as s:
        check_call_access(s, user, call_id)
        row = s.get(CallAnalyticsRow, call_id)
        drivers = [
            {"driver": d.driver_id, "primary": d.is_primary, "hits": d.hits, "evidence": d.evidence}
            for d in s.execute(select(CallDriverRow).where(CallDriverRow.call_id == call_id).order_by(CallDriverRow.id)).scalars()
        ]
        earlier = earlier_calls(s, user, row, window_days * 86400) if row is not None else []
    return {"call_id": call_id, "analysed": row is not None, "primary_driver": row.primary_driver if row else None,
            "escalation": bool(row and row.escalation), "drivers": drivers, "earlier_calls": earlier}  # fmt: skip


def earlier_calls(s: Any, user: CurrentUser, row: CallAnalyticsRow, window_s: float, limit: int = 20) -> list[dict[str, Any]]:
    """The customer's calls before ``row`` (any driver) within ``window_s``, newest first, role-scoped."""
    if row.caller_hash is None:
        return []
    stmt = (
        select(CallAnalyticsRow, CallRow.agent_id, CallRow.team)
        .join(CallRow, CallRow.call_id == CallAnalyticsRow.call_id)
        .where(CallAnalyticsRow.caller_hash == row.caller_hash, CallAnalyticsRow.at < row.at, CallAnalyticsRow.call_id != row.call_id)
        .order_by(CallAnalyticsRow.at.desc())
        .limit(limit)
    )
    if user.role is UserRole.AGENT:
        stmt = stmt.where(CallRow.agent_id == (user.agent_id or "\x00"))
    elif user.role is UserRole.SUPERVISOR:
        stmt = stmt.where(CallRow.team.in_(list(user.teams) or ["\x00"]))
    out = []
    at = _aware(row.at)
    for other, agent_id, team in s.execute(stmt):
        gap = (at - _aware(other.at)).total_seconds()
        if gap > window_s:
            break
        out.append({"call_id": other.call_id, "at": _aware(other.at).isoformat(), "driver": other.primary_driver, "agent_id": agent_id,
                    "team": team, "days_before": round(gap / 86400, 2), "same_driver": other.primary_driver == row.primary_driver})  # fmt: skip
    return out


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)
