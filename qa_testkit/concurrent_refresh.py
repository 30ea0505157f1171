"""Analytics refreshes run at once on one database (tests on SQLite and PostgreSQL).

:func:`seed_chained_calls` stores scored calls from returning customers (so repeat-contact
chains span calls that different refreshes analyse); :func:`refresh_at_once` starts several
processes that call :func:`qa_pipeline.analytics.refresh.refresh` at the same moment (a
barrier), as two batches finishing together do; :func:`analytics_snapshot` reads back what
they wrote, comparable across databases.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from qa_pipeline.analytics.refresh import refresh
from qa_pipeline.analytics.tables import CallAnalyticsRow, CallDriverRow
from qa_pipeline.analytics.taxonomy import load_taxonomies
from qa_pipeline.store import ResultStore

from .web_results import make_result

TZ = "Asia/Shanghai"


def seed_chained_calls(store: ResultStore, n: int, *, start: datetime, callers: int = 6) -> list[str]:
    """Store ``n`` calls (call ids ``k000``...) an hour apart, caller ``h{i % callers}``: two in
    three are outage reports (driver ``outage_repair``), one in three matches no driver."""
    ids = []
    for i in range(n):
        r = make_result(f"k{i:03d}", dialogue=4 if i % 3 == 2 else 0, start_time=start + timedelta(hours=i))
        meta = replace(r.metadata, queue="95598-repair", caller_hash=f"h{i % callers}", custom={"area": "西湖区"})
        store.save(replace(r, metadata=meta))
        ids.append(r.call_id)
    return ids


def _refresh_when_all_ready(url: str, taxonomies: Path, ready: Any, out: Any) -> None:
    with ResultStore(url) as store:
        loaded = load_taxonomies(taxonomies)
        ready.wait(120)
        out.put(refresh(store, loaded, TZ).analysed)


def refresh_at_once(url: str, taxonomies: Path, processes: int = 3) -> tuple[list[int | None], list[int]]:
    """Run ``processes`` refreshes released together; (exit codes, calls each analysed)."""
    ctx = multiprocessing.get_context("spawn")
    ready, out = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_refresh_when_all_ready, args=(url, taxonomies, ready, out)) for _ in range(processes)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    codes = [p.exitcode for p in procs]
    counts = [out.get(timeout=5) for code in codes if code == 0]
    return codes, counts


def analytics_snapshot(store: ResultStore) -> dict[str, tuple[Any, ...]]:
    """call id -> (driver, caller, previous call, previous/next gap in s, driver rows)."""
    with store.session() as s:
        drivers: dict[str, list[tuple[str, bool]]] = {}
        for d in s.execute(select(CallDriverRow).order_by(CallDriverRow.call_id, CallDriverRow.driver_id)).scalars():
            drivers.setdefault(d.call_id, []).append((d.driver_id, d.is_primary))
        return {
            r.call_id: (r.primary_driver, r.caller_hash, r.prev_call_id, r.prev_gap_s, r.next_gap_s, tuple(drivers.get(r.call_id, ())))
            for r in s.execute(select(CallAnalyticsRow)).scalars()
        }


__all__ = ["analytics_snapshot", "refresh_at_once", "seed_chained_calls"]
