"""Daily summaries: one row per call of a day (its current result), as Parquet and CSV.

``total`` is the final score (after reviewers' overrides), ``auto_total`` the automatic one,
``review_state`` whether a person reviewed it; a review rewrites its day's local summary.

Written after each batch for every day that got new results, locally under
``<results_dir>/daily/<day>/`` and, for bucket batches, under ``<results prefix>daily/<day>/``.
Rebuilt from the results database each time, so they are complete and idempotent however
the day's calls were split across batches.
"""

from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Iterable
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .csvsafe import neutralise_table
from .privfs import private_dir, write_private
from .store import ResultStore

if TYPE_CHECKING:
    from .storage import S3Store

SCHEMA = pa.schema(
    [
        ("call_id", pa.string()),
        ("agent_id", pa.string()),
        ("agent_name", pa.string()),
        ("team", pa.string()),
        ("queue", pa.string()),
        ("start_time", pa.timestamp("us", tz="UTC")),
        ("language", pa.string()),
        ("duration_s", pa.float64()),
        ("rubric_id", pa.string()),
        ("rubric_version", pa.string()),
        ("total", pa.float64()),
        ("auto_total", pa.float64()),
        ("review_state", pa.string()),
        ("fatal_failed", pa.bool_()),
        ("failed_items", pa.string()),
        ("flags", pa.string()),
        ("asr_model", pa.string()),
        ("pipeline_version", pa.string()),
        ("scored_at", pa.timestamp("us", tz="UTC")),
        ("result_key", pa.string()),
        ("audio", pa.string()),
    ]
)


def daily_table(store: ResultStore, day: date, timezone: str) -> pa.Table:
    """The summary of ``day`` (calendar day in ``timezone``)."""
    tz = ZoneInfo(timezone)
    start = datetime.combine(day, time(0), tzinfo=tz)
    # SQLite drops zones: query a window a day wider on both sides, then decide per row.
    candidates = store.day_rows(start - timedelta(days=1), start + timedelta(days=2))
    rows = []
    for row in candidates:
        start_time = _aware(row["start_time"], tz)
        scored_at = _aware(row["scored_at"], ZoneInfo("UTC"))
        moment = start_time or scored_at
        if moment is not None and moment.astimezone(tz).date() == day:
            rows.append({**row, "start_time": start_time, "scored_at": scored_at})
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def _aware(value: datetime | None, assumed: ZoneInfo) -> datetime | None:
    """Zone-less values (SQLite): start times were stored as the centre's wall clock, scoring times as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=assumed)


def to_parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def to_csv(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pacsv.write_csv(neutralise_table(table), buf)  # agent names, teams: no spreadsheet formulas
    return buf.getvalue()


def write_daily_summaries(
    store: ResultStore,
    days: Iterable[str],
    *,
    timezone: str,
    results_dir: Path,
    objects: "S3Store | None" = None,
) -> list[str]:
    """Write the summaries of ``days`` (ISO dates); returns where they went."""
    written: list[str] = []
    for day in sorted(set(days)):
        table = daily_table(store, date.fromisoformat(day), timezone)
        parquet, csv = to_parquet(table), to_csv(table)
        folder = results_dir / "daily" / day
        private_dir(folder)
        for name, payload in (("summary.parquet", parquet), ("summary.csv", csv)):
            write_private(folder / name, payload)  # atomic, 0600: agent names and scores
            written.append(str(folder / name))
        if objects is not None:
            for name, payload, kind in (
                ("summary.parquet", parquet, "application/vnd.apache.parquet"),
                ("summary.csv", csv, "text/csv"),
            ):
                written.append(objects.put_object(f"daily/{day}/{name}", payload, kind))
    return written
