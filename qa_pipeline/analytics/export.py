"""Exports of the per-call analytics rows: CSV (formula-safe, via ``defusedcsv``) and Parquet.

Columns: :data:`COLUMNS` (the caller appears only as its keyed hash). Rows are streamed from
the database in call-time order in pages of 5000, so memory stays flat for large ranges.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import AnalyticsError
from .tables import CallAnalyticsRow as A

COLUMNS = (
    "call_id", "at", "day", "hour", "taxonomy_id", "primary_driver", "agent_id", "team", "queue", "area",
    "caller_hash", "escalation", "repeat_complaint", "prev_gap_s", "next_gap_s", "prev_call_id",
)  # fmt: skip
PAGE = 5000


def rows(s: Session, day_from: int, day_to: int, *, team: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
    """Analytics rows of calls in [day_from, day_to] (local day buckets), ordered by time."""
    cols = [getattr(A, c) for c in COLUMNS]
    stmt = select(*cols).where(A.day >= day_from, A.day <= day_to)
    if team is not None:
        stmt = stmt.where(A.team.in_(list(team)))
    result = s.execute(stmt.order_by(A.at, A.call_id).execution_options(yield_per=PAGE))
    for r in result:
        row = dict(zip(COLUMNS, r))
        row["at"] = row["at"].isoformat() if row["at"] is not None else None
        yield row


def to_csv(records: Iterator[dict[str, Any]]) -> str:
    """CSV text with a header; cells a spreadsheet would run as formulas are neutralised."""
    from defusedcsv import csv

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(COLUMNS))
    writer.writeheader()
    for rec in records:
        writer.writerow(rec)
    return buf.getvalue()


def to_parquet(records: Iterator[dict[str, Any]], path: Path | io.BytesIO) -> int:
    """Write a Parquet file (pyarrow, zstd); returns the number of rows.

    Raises:
        AnalyticsError: pyarrow is not installed.
    """
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise AnalyticsError("Parquet export needs pyarrow (pip install 'qa-pipeline[distributed]')") from None
    data = list(records)
    table = pa.Table.from_pylist(data, schema=_schema(pa)) if data else _schema(pa).empty_table()
    pq.write_table(table, path, compression="zstd")
    return len(data)


def _schema(pa: Any) -> Any:
    types = {"day": pa.int32(), "hour": pa.int32(), "escalation": pa.bool_(), "repeat_complaint": pa.bool_(),
             "prev_gap_s": pa.float64(), "next_gap_s": pa.float64()}  # fmt: skip
    return pa.schema([(c, types.get(c, pa.string())) for c in COLUMNS])


def export(s: Session, day_from: int, day_to: int, fmt: Literal["csv", "parquet"], out: Path) -> int:
    """Write the rows of [day_from, day_to] to ``out``; returns the number of rows."""
    records = list(rows(s, day_from, day_to))
    if fmt == "csv":
        out.write_text(to_csv(iter(records)), encoding="utf-8")
        return len(records)
    return to_parquet(iter(records), out)
