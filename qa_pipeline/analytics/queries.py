"""Dashboard aggregates over ``call_analytics`` (indexed SQL; SQLite and PostgreSQL).

Every query filters on the integer local ``day`` / ``hour`` buckets (see :mod:`.tables`) and
groups on indexed columns, so the cost follows the rows in the chosen range, not the table
(``benchmarks/ANALYTICS.md``: 100k and 1M synthetic calls).

Definitions (``window_s`` default 7 days):

* **repeat contact** — a call whose customer (caller hash) called about the same primary driver
  at most ``window_s`` earlier (``prev_gap_s <= window_s``);
* **repeat-contact rate** of an agent/team — repeat contacts among the calls they took that can
  be linked (caller hash and driver known);
* **FCR** (first-contact resolution, 首问负责) of an agent/team — among their linkable calls
  whose window is over (or that were already followed up), the share **not** followed by
  another call of the same customer on the same driver within ``window_s``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from .spikes import Counts
from .tables import AlertRow, CallAnalyticsRow

A = CallAnalyticsRow
WEEK_S = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class DriverCount:
    driver: str | None
    calls: int


@dataclass(frozen=True, slots=True)
class TrendPoint:
    day: int
    driver: str | None
    calls: int


@dataclass(frozen=True, slots=True)
class RepeatStat:
    """Per team or agent: ``calls`` linkable, ``repeats`` among them, FCR = resolved / eligible."""

    key: str | None
    calls: int
    repeats: int
    eligible: int
    resolved: int

    @property
    def repeat_rate(self) -> float | None:
        return self.repeats / self.calls if self.calls else None

    @property
    def fcr(self) -> float | None:
        return self.resolved / self.eligible if self.eligible else None


@dataclass(frozen=True, slots=True)
class EscalationEntry:
    call_id: str
    at: Any
    driver: str | None
    agent_id: str | None
    team: str | None
    area: str | None
    repeat_complaint: bool


def _scope(stmt: Any, day_from: int, day_to: int, team: Sequence[str] | None) -> Any:
    stmt = stmt.where(A.day >= day_from, A.day <= day_to)
    if team is not None:
        stmt = stmt.where(A.team.in_(list(team)))
    return stmt


def driver_mix(s: Session, day_from: int, day_to: int, *, team: Sequence[str] | None = None) -> list[DriverCount]:
    """Calls per primary driver in [day_from, day_to] (None = no category matched), most first."""
    stmt = _scope(select(A.primary_driver, func.count()), day_from, day_to, team).group_by(A.primary_driver)
    rows = [DriverCount(r[0], int(r[1])) for r in s.execute(stmt)]
    return sorted(rows, key=lambda r: (-r.calls, r.driver or ""))


def driver_trend(s: Session, day_from: int, day_to: int, *, team: Sequence[str] | None = None) -> list[TrendPoint]:
    """Calls per day and primary driver, in day order."""
    stmt = _scope(select(A.day, A.primary_driver, func.count()), day_from, day_to, team)
    stmt = stmt.group_by(A.day, A.primary_driver).order_by(A.day)
    return [TrendPoint(int(r[0]), r[1], int(r[2])) for r in s.execute(stmt)]


def repeat_stats(
    s: Session,
    by: Literal["team", "agent_id"],
    day_from: int,
    day_to: int,
    *,
    window_s: float = WEEK_S,
    now_hour: int,
    team: Sequence[str] | None = None,
) -> list[RepeatStat]:
    """Repeat-contact rate and FCR per team or agent (definitions in the module docstring).

    ``now_hour`` (local hour bucket) decides which calls' windows are over (hour granularity).
    """
    col = A.team if by == "team" else A.agent_id
    closed_hour = now_hour - int(window_s // 3600)
    followed = and_(A.next_gap_s.is_not(None), A.next_gap_s <= window_s)
    eligible = (A.hour <= closed_hour) | followed
    stmt = select(
        col,
        func.count(),
        func.sum(case((and_(A.prev_gap_s.is_not(None), A.prev_gap_s <= window_s), 1), else_=0)),
        func.sum(case((eligible, 1), else_=0)),
        func.sum(case((and_(eligible, ~followed), 1), else_=0)),
    ).where(A.linked.is_(True))
    stmt = _scope(stmt, day_from, day_to, team).group_by(col).order_by(col)
    return [RepeatStat(r[0], int(r[1]), int(r[2] or 0), int(r[3] or 0), int(r[4] or 0)) for r in s.execute(stmt)]


def escalations(s: Session, day_from: int, day_to: int, *, team: Sequence[str] | None = None, limit: int = 100) -> list[EscalationEntry]:
    """Calls with the external_escalation flag, newest first (at most ``limit``)."""
    stmt = select(A.call_id, A.at, A.primary_driver, A.agent_id, A.team, A.area, A.repeat_complaint).where(A.escalation.is_(True))
    stmt = _scope(stmt, day_from, day_to, team).order_by(A.at.desc()).limit(limit)
    return [EscalationEntry(*r) for r in s.execute(stmt)]


def bucket_counts(s: Session, granularity: Literal["hour", "day"], buckets: Sequence[int], dimensions: Sequence[str]) -> Counts:
    """Calls per (dimension, value, driver) in each of ``buckets`` (calls with a driver only)."""
    bucket = A.hour if granularity == "hour" else A.day
    counts: dict[tuple[str, str, str], dict[int, int]] = {}
    for dim in dimensions:
        col = getattr(A, dim)
        stmt = (
            select(bucket, col, A.primary_driver, func.count())
            .where(bucket.in_(list(buckets)), col.is_not(None), A.primary_driver.is_not(None))
            .group_by(bucket, col, A.primary_driver)
        )
        for b, value, driver, n in s.execute(stmt):
            counts.setdefault((dim, value, driver), {})[int(b)] = int(n)
    return counts


def cell_calls(
    s: Session, granularity: Literal["hour", "day"], bucket: int, driver: str, dimension: str, value: str, limit: int = 500
) -> list[str]:
    """Call ids of one cell in one bucket (the calls behind a warning)."""
    col = A.hour if granularity == "hour" else A.day
    stmt = (
        select(A.call_id)
        .where(col == bucket, A.primary_driver == driver, getattr(A, dimension) == value)
        .order_by(A.at)
        .limit(limit)
    )
    return list(s.execute(stmt).scalars())


def open_alerts(s: Session, limit: int = 100) -> list[AlertRow]:
    """Unacknowledged warnings, newest bucket first."""
    stmt = select(AlertRow).where(AlertRow.state == "open").order_by(AlertRow.bucket.desc(), AlertRow.id.desc()).limit(limit)
    return list(s.execute(stmt).scalars())


def latest_hour(s: Session) -> int | None:
    return s.execute(select(func.max(A.hour))).scalar_one_or_none()
