"""Synthetic analytics rows for tests and benchmarks (no transcripts, no scoring).

:func:`insert_rows` writes minimal ``calls`` rows and their ``call_analytics`` rows with Core
bulk inserts, computing the repeat-contact gaps in Python exactly as
:func:`qa_pipeline.analytics.refresh.relink` does (same caller hash and primary driver, time
order). :func:`generate` draws a realistic-looking mix: Poisson arrivals with a diurnal profile,
drivers, areas, teams, agents and returning customers.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from qa_pipeline.analytics.refresh import local_hour
from qa_pipeline.analytics.tables import CallAnalyticsRow
from qa_pipeline.tables import CallRow

DRIVERS = ("outage_repair", "billing_tariff", "payment", "meter", "new_connection", "account_change", "complaint", "inquiry")
#: relative volume of each driver (sums to 1)
DRIVER_WEIGHTS = (0.30, 0.20, 0.15, 0.08, 0.05, 0.07, 0.05, 0.10)
#: relative call volume per local hour of day (night low, 9-11 and 14-16 peaks)
DIURNAL = (0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 0.8, 1.4, 2.0, 2.2, 2.0, 1.5, 1.6, 2.0, 2.1, 1.9, 1.6, 1.3, 1.2, 1.0, 0.8, 0.5, 0.3)


@dataclass(frozen=True, slots=True)
class SynthCall:
    """One synthetic call (``at`` timezone-aware)."""

    call_id: str
    at: datetime
    driver: str | None
    agent_id: str
    team: str
    queue: str
    area: str
    caller_hash: str | None
    escalation: bool = False
    repeat_complaint: bool = False


def generate(
    n: int, *, start: datetime, days: int, areas: int = 20, teams: int = 10, agents_per_team: int = 12,
    customers: int | None = None, seed: int = 7,
) -> Iterator[SynthCall]:
    """``n`` calls over ``days`` days from ``start`` (diurnal profile), about 1 in 6 from returning customers."""
    rng = random.Random(seed)
    customers = customers or max(1, int(n * 0.8))
    weights = [DIURNAL[h] for h in range(24)]
    for i in range(n):
        day = rng.randrange(days)
        hour = rng.choices(range(24), weights)[0]
        at = start + timedelta(days=day, hours=hour, seconds=rng.randrange(3600))
        team = rng.randrange(teams)
        yield SynthCall(
            call_id=f"syn{i:08d}",
            at=at,
            driver=rng.choices(DRIVERS, DRIVER_WEIGHTS)[0] if rng.random() > 0.03 else None,
            agent_id=f"A{team:02d}{rng.randrange(agents_per_team):02d}",
            team=f"team{team:02d}",
            queue="95598-repair" if rng.random() < 0.4 else "95598-general",
            area=f"area{rng.randrange(areas):02d}",
            caller_hash=f"{rng.randrange(customers):032x}",
            escalation=rng.random() < 0.004,
            repeat_complaint=rng.random() < 0.02,
        )


def insert_rows(engine: Engine, calls: Iterable[SynthCall], *, tz: str = "Asia/Shanghai", batch: int = 20000) -> int:
    """Insert ``calls`` (new call ids) with linked gaps; returns the number inserted."""
    calls = sorted(calls, key=lambda c: (c.caller_hash or "", c.driver or "", c.at, c.call_id))
    prev: dict[str, tuple[float | None, str | None]] = {}
    nxt: dict[str, float | None] = {}
    for a, b in zip(calls, calls[1:]):
        if a.caller_hash and a.driver and (a.caller_hash, a.driver) == (b.caller_hash, b.driver):
            gap = (b.at - a.at).total_seconds()
            prev[b.call_id] = (gap, a.call_id)
            nxt[a.call_id] = gap
    now = datetime.now(UTC)
    total = 0
    calls.sort(key=lambda c: c.call_id)  # primary-key order: appends to the B-trees instead of random inserts
    for chunk in _chunks(calls, batch):
        call_rows = [
            {"call_id": c.call_id, "agent_id": c.agent_id, "team": c.team, "queue": c.queue, "direction": "inbound",
             "start_time": c.at, "language": "zh", "audio_path": "", "audio_sha256": "", "duration_s": 60.0, "updated_at": now}
            for c in chunk
        ]  # fmt: skip
        rows = []
        for c in chunk:
            hour = local_hour(c.at, tz)
            gap, prev_id = prev.get(c.call_id, (None, None))
            rows.append({
                "call_id": c.call_id, "result_id": 0, "taxonomy_id": "state_grid_95598", "taxonomy_version": "1.0.0",
                "primary_driver": c.driver, "at": c.at.astimezone(UTC), "hour": hour, "day": hour // 24,
                "agent_id": c.agent_id, "team": c.team, "queue": c.queue, "area": c.area, "caller_hash": c.caller_hash,
                "linked": bool(c.caller_hash and c.driver), "escalation": c.escalation, "repeat_complaint": c.repeat_complaint, "prev_gap_s": gap,
                "next_gap_s": nxt.get(c.call_id), "prev_call_id": prev_id, "updated_at": now,
            })  # fmt: skip
        with engine.begin() as conn:
            conn.execute(insert(CallRow), call_rows)
            conn.execute(insert(CallAnalyticsRow), rows)
        total += len(rows)
    return total


def _chunks(items: Sequence[SynthCall], size: int) -> Iterator[Sequence[SynthCall]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]

