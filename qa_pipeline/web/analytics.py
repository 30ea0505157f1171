"""Analytics in the web app: the dashboard page (``/analytics``) and its API (``/api/analytics/...``).

Who sees what: admins and reviewers everything; supervisors their teams only (every query is
filtered on ``call_analytics.team``); agents no dashboards (403), but on their own calls the
customer's earlier calls that they handled themselves. Dates are local calendar days
(``YYYY-MM-DD``, the deployment's ``timezone``); the default range is the last 30 days.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..analytics import queries
from ..analytics.alerts import payload
from ..analytics.export import rows as export_rows
from ..analytics.export import to_csv, to_parquet
from ..analytics.refresh import local_hour
from ..analytics.tables import AlertRow
from . import schemas
from .analytics_data import call_analytics
from .auth import CurrentUser, audit, check_csrf, require_roles, require_user
from .models import UserRole

api = APIRouter(prefix="/api/analytics", tags=["analytics"])
pages = APIRouter(include_in_schema=False)
User = Annotated[CurrentUser, Depends(require_user)]
DASHBOARD_ROLES = (UserRole.ADMIN, UserRole.REVIEWER, UserRole.SUPERVISOR)
EPOCH = date(1970, 1, 1)


def _tz(request: Request) -> str:
    settings = getattr(request.app.state, "settings", None)
    return settings.timezone if settings is not None else "Asia/Shanghai"


def day_range(request: Request, date_from: str | None, date_to: str | None, default_days: int = 30) -> tuple[int, int]:
    """Local day buckets of [date_from, date_to] (inclusive); 422 on a malformed or reversed range."""
    today = local_hour(datetime.now(UTC), _tz(request)) // 24

    def parse(name: str, value: str | None, fallback: int) -> int:
        if not value:
            return fallback
        try:
            return (date.fromisoformat(value.strip()) - EPOCH).days
        except ValueError:
            raise HTTPException(status_code=422, detail=f"{name} must be a date (YYYY-MM-DD)") from None

    lo, hi = parse("date_from", date_from, today - default_days + 1), parse("date_to", date_to, today)
    if lo > hi:
        raise HTTPException(status_code=422, detail="date_from is after date_to")
    return lo, hi


def teams_of(user: CurrentUser, team: str | None) -> list[str] | None:
    """The team filter the user may apply (supervisors: only their teams)."""
    require_roles(user, *DASHBOARD_ROLES)
    if user.role is UserRole.SUPERVISOR:
        if team and team not in user.teams:
            raise HTTPException(status_code=403, detail="supervisors see only their teams' calls")
        return [team] if team else list(user.teams) or ["\x00"]
    return [team] if team else None


def _day_iso(day: int) -> str:
    return date.fromordinal(EPOCH.toordinal() + day).isoformat()


def dashboard(request: Request, user: CurrentUser, date_from: str | None, date_to: str | None, team: str | None,
              window_days: float = 7.0) -> dict[str, Any]:  # fmt: skip
    """Everything the dashboard shows, as JSON-ready data."""
    lo, hi = day_range(request, date_from, date_to)
    teams = teams_of(user, team)
    now_hour = local_hour(datetime.now(UTC), _tz(request))
    window_s = window_days * 86400
    with request.app.state.sessions() as s:
        mix = queries.driver_mix(s, lo, hi, team=teams)
        trend = queries.driver_trend(s, lo, hi, team=teams)
        by_team = queries.repeat_stats(s, "team", lo, hi, window_s=window_s, now_hour=now_hour, team=teams)
        by_agent = queries.repeat_stats(s, "agent_id", lo, hi, window_s=window_s, now_hour=now_hour, team=teams)
        esc = queries.escalations(s, lo, hi, team=teams, limit=100)
        alerts = [payload(a) for a in queries.open_alerts(s) if _alert_visible(a, user)]
    days = list(range(lo, hi + 1))
    drivers = sorted({p.driver or "" for p in trend})
    cells = {(p.day, p.driver or ""): p.calls for p in trend}
    return {
        "date_from": _day_iso(lo),
        "date_to": _day_iso(hi),
        "window_days": window_days,
        "mix": [{"driver": m.driver, "calls": m.calls} for m in mix],
        "trend": {"days": [_day_iso(d) for d in days], "series": {d: [cells.get((day, d), 0) for day in days] for d in drivers}},
        "repeats_by_team": [_stat(r) for r in by_team],
        "repeats_by_agent": [_stat(r) for r in by_agent],
        "escalations": [{"call_id": e.call_id, "at": e.at.isoformat() if e.at else None, "driver": e.driver, "agent_id": e.agent_id,
                         "team": e.team, "area": e.area, "repeat_complaint": e.repeat_complaint} for e in esc],  # fmt: skip
        "alerts": alerts,
    }


def _stat(r: queries.RepeatStat) -> dict[str, Any]:
    return {"key": r.key, "calls": r.calls, "repeats": r.repeats, "repeat_rate": r.repeat_rate, "fcr_basis": r.eligible, "fcr": r.fcr}


def _alert_visible(alert: AlertRow, user: CurrentUser) -> bool:
    if user.role is not UserRole.SUPERVISOR:
        return True
    return alert.dimension == "team" and alert.dim_value in user.teams or any(
        c.get("dimension") == "team" and c.get("value") in user.teams for c in alert.cells or []
    )


@api.get("/dashboard", response_model=schemas.AnalyticsDashboard)
def api_dashboard(request: Request, user: User, date_from: str | None = None, date_to: str | None = None, team: str | None = None,
                  window_days: Annotated[float, Query(gt=0, le=90)] = 7.0) -> dict[str, Any]:  # fmt: skip
    """Driver mix and daily trend, repeat-contact rate and FCR per team and agent, escalations, open warnings."""
    return dashboard(request, user, date_from, date_to, team, window_days)


@api.get("/counts", response_model=list[schemas.BucketCount], response_model_exclude_unset=True)
def api_counts(request: Request, user: User, granularity: Annotated[str, Query(pattern="^(hour|day)$")] = "day",
               dimension: Annotated[str, Query(pattern="^(area|queue|team)$")] = "area",
               date_from: str | None = None, date_to: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Calls per driver x ``dimension`` per local hour or day (the early warning's counts), default last 7 days.

    ``bucket``: local day (``YYYY-MM-DD``) or hour (``YYYY-MM-DDTHH``). Supervisors: team dimension, their teams.
    """
    lo, hi = day_range(request, date_from, date_to, default_days=7)
    teams = teams_of(user, None)
    if teams is not None and dimension != "team":
        raise HTTPException(status_code=403, detail="supervisors see counts per team only")
    buckets = range(lo * 24, hi * 24 + 24) if granularity == "hour" else range(lo, hi + 1)
    with request.app.state.sessions() as s:
        counts = queries.bucket_counts(s, granularity, list(buckets), (dimension,))  # type: ignore[arg-type]
    out = []
    for (_, value, driver), series in sorted(counts.items()):
        if teams is not None and value not in teams:
            continue
        for b, n in sorted(series.items()):
            label = _day_iso(b) if granularity == "day" else f"{_day_iso(b // 24)}T{b % 24:02d}"
            out.append({"bucket": label, "driver": driver, dimension: value, "calls": n})
    return out


@api.get("/alerts", response_model=list[schemas.AlertOut])
def api_alerts(request: Request, user: User) -> list[dict[str, Any]]:
    """Open (unacknowledged) spike warnings with the calls behind them."""
    require_roles(user, *DASHBOARD_ROLES)
    with request.app.state.sessions() as s:
        return [payload(a) for a in queries.open_alerts(s) if _alert_visible(a, user)]


@api.post("/alerts/{alert_id}/ack", response_model=schemas.AlertOut)
def api_ack(alert_id: int, request: Request, user: User) -> dict[str, Any]:
    """Acknowledge a warning (it leaves the active list); needs the CSRF header."""
    check_csrf(request, request.headers.get("x-csrf-token"))
    return _acknowledge(request, user, alert_id)


def _acknowledge(request: Request, user: User, alert_id: int) -> dict[str, Any]:
    """Mark a visible alert acknowledged and audit it (CSRF already checked by the caller).

    Raises:
        HTTPException: 403 for roles that may not acknowledge, 404 for an alert not visible.
    """
    require_roles(user, UserRole.ADMIN, UserRole.SUPERVISOR)
    with request.app.state.sessions() as s, s.begin():
        alert = s.get(AlertRow, alert_id)
        if alert is None or not _alert_visible(alert, user):
            raise HTTPException(status_code=404, detail=f"no alert {alert_id}")
        alert.state = "acknowledged"
        data = payload(alert)
    audit(request.app.state.sessions, user.username, "alert_ack", detail=str(alert_id))
    return data


@api.get("/export", response_class=Response, responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}, "description": "The rows"}})
def api_export(request: Request, user: User, format: Annotated[str, Query(pattern="^(csv|parquet)$")] = "csv",
               date_from: str | None = None, date_to: str | None = None, team: str | None = None) -> Response:  # fmt: skip
    """Per-call analytics rows (driver, team, area, caller hash, escalation, repeat gaps) as CSV or Parquet."""
    lo, hi = day_range(request, date_from, date_to)
    teams = teams_of(user, team)
    with request.app.state.sessions() as s:
        records = list(export_rows(s, lo, hi, team=teams))
    audit(request.app.state.sessions, user.username, "export_analytics", detail=f"{format} {_day_iso(lo)}..{_day_iso(hi)} {len(records)} rows")
    name = f"analytics_{_day_iso(lo)}_{_day_iso(hi)}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "csv":
        return Response(to_csv(iter(records)), media_type="text/csv", headers=headers)
    buf = io.BytesIO()
    to_parquet(iter(records), buf)
    return Response(buf.getvalue(), media_type="application/vnd.apache.parquet", headers=headers)


@api.get("/calls/{call_id}", response_model=schemas.CallAnalytics)
def api_call_analytics(call_id: str, request: Request, user: User, window_days: Annotated[float, Query(gt=0, le=365)] = 30.0) -> dict[str, Any]:
    """The call's drivers with evidence and the same customer's earlier calls (within ``window_days``)
    that the user may open (agents: their own; supervisors: their teams)."""
    return call_analytics(request, user, call_id, window_days)




# -- page ---------------------------------------------------------------------------------------
@pages.get("/analytics", response_class=HTMLResponse)
def analytics_page(request: Request, user: User, date_from: str | None = None, date_to: str | None = None, team: str | None = None) -> Response:
    from .pages import _page

    if user.role is UserRole.AGENT:
        return RedirectResponse(f"/coaching/{user.agent_id}", status_code=303)
    data = schemas.AnalyticsDashboard.model_validate(dashboard(request, user, date_from, date_to, team)).model_dump(mode="json")
    return _page(request, "analytics.html", user, d=data, team=team or "", driver_names=driver_names(request))


@pages.post("/analytics/alerts/{alert_id}/ack")
def ack_page(alert_id: int, request: Request, user: User, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    _acknowledge(request, user, alert_id)
    return RedirectResponse("/analytics", status_code=303)


def driver_names(request: Request) -> dict[str, dict[str, str]]:
    """``{driver_id: {"zh-CN": name, "en": name_en}}`` from the deployment's taxonomies (ids when unreadable)."""
    from ..analytics.cli import DEFAULT_TAXONOMIES
    from ..analytics.taxonomy import load_taxonomies
    from ..errors import QAError

    folder = getattr(request.app.state, "taxonomies_dir", None) or DEFAULT_TAXONOMIES
    try:
        taxonomies = load_taxonomies(folder)
    except QAError:
        return {}
    out: dict[str, dict[str, str]] = {}
    # Chinese names from the zh taxonomies first; English: name_en, else the en taxonomy's name
    for tax in sorted(taxonomies, key=lambda t: t.language != "zh"):
        for c in tax.categories:
            names = out.setdefault(c.id, {})
            if tax.language == "zh":
                names.setdefault("zh-CN", c.name)
                if c.name_en:
                    names.setdefault("en", c.name_en)
            else:
                names.setdefault("en", c.name_en or c.name)
                names.setdefault("zh-CN", c.name)
    return out

