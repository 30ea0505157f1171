"""Per-call analytics rows from the stored current results (``qa analytics update``).

For every call whose current result has not been analysed yet (or was replaced: rescore, a
reviewer's role swap), :func:`analyse` routes the call to a taxonomy, assigns its drivers with
evidence, reads the escalation flags the rubric raised, and :func:`refresh` writes
``call_analytics`` / ``call_drivers`` and re-links the customer's contacts on that driver
(previous/next call gaps, from which repeat contacts and FCR are counted for any window).
Reads transcripts as stored (redacted); the caller number is only ever its keyed hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import delete, or_, select, text, update
from sqlalchemy.orm import Session

from ..records import CallResult
from ..store import ResultStore
from ..tables import CallRow, ResultRow, utcnow
from .tables import CallAnalyticsRow, CallDriverRow
from .taxonomy import DriverAssignment, Taxonomy, assign_drivers, select_taxonomy

ESCALATION_FLAG = "external_escalation"
REPEAT_FLAG = "repeat_complaint"
#: metadata ``custom`` keys read as the call's area (district / 供电所), first found wins
AREA_KEYS = ("area", "district", "region", "区域", "供电所")
#: pg_advisory_xact_lock key of analytics writes: "QPAN" in ASCII
_PG_LOCK_KEY = 0x5150_414E


@dataclass(frozen=True, slots=True)
class CallAnalysis:
    """What the analytics tables hold for one call (``at`` timezone-aware; hour/day: local buckets)."""

    call_id: str
    at: datetime
    hour: int
    day: int
    assignment: DriverAssignment | None
    agent_id: str | None
    team: str | None
    queue: str | None
    area: str | None
    caller_hash: str | None
    escalation: bool
    repeat_complaint: bool


@dataclass(frozen=True, slots=True)
class RefreshReport:
    analysed: int
    unmatched: int
    no_taxonomy: int


def local_hour(at: datetime, tz: str) -> int:
    """Whole hours since 1970-01-01 00:00 in ``tz`` (``at`` must be timezone-aware)."""
    local = at.astimezone(ZoneInfo(tz))
    offset = local.utcoffset()
    seconds = at.timestamp() + (offset.total_seconds() if offset else 0.0)
    return int(seconds // 3600)


def analyse(result: CallResult, taxonomies: Sequence[Taxonomy], tz: str, scored_at: datetime | None = None) -> CallAnalysis:
    """Drivers and dimensions of one stored result (no database access)."""
    meta = result.metadata
    at = meta.start_time or scored_at or utcnow()
    # stored in UTC: SQLite keeps a datetime's wall time without its offset
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    tax = select_taxonomy(taxonomies, queue=meta.queue, language=result.language)
    assignment = assign_drivers(tax, result.transcript) if tax is not None else None
    flags = {f.id for f in result.flags}
    area = next((meta.custom[k] for k in AREA_KEYS if meta.custom.get(k)), None)
    hour = local_hour(at, tz)
    return CallAnalysis(
        call_id=result.call_id,
        at=at,
        hour=hour,
        day=hour // 24,
        assignment=assignment,
        agent_id=meta.agent_id,
        team=meta.team,
        queue=meta.queue,
        area=area,
        caller_hash=meta.caller_hash,
        escalation=ESCALATION_FLAG in flags,
        repeat_complaint=REPEAT_FLAG in flags,
    )


def pending_calls(s: Session, *, force: bool = False) -> list[tuple[str, int]]:
    """(call_id, current result id) of calls without an analytics row for their current result."""
    stmt = select(CallRow.call_id, CallRow.current_result_id).where(CallRow.current_result_id.is_not(None))
    if not force:
        stmt = stmt.outerjoin(CallAnalyticsRow, CallAnalyticsRow.call_id == CallRow.call_id).where(
            or_(CallAnalyticsRow.call_id.is_(None), CallAnalyticsRow.result_id != CallRow.current_result_id)
        )
    # current_result_id is never NULL here (the where clause)
    return [(r[0], int(cast(int, r[1]))) for r in s.execute(stmt.order_by(CallRow.call_id))]


def refresh(store: ResultStore, taxonomies: Sequence[Taxonomy], tz: str, *, force: bool = False) -> RefreshReport:
    """Analyse every call whose current result is not analysed yet (all calls with ``force``).

    One transaction per call, so an interrupted run keeps what it wrote and resumes. Several
    refreshes may run at once on one database (two batches finishing together, ``qa analytics
    update`` beside a batch): their writes are serialised (:func:`write`), and a call another
    refresh analysed meanwhile is not counted again.
    """
    with store.session() as s:
        todo = pending_calls(s, force=force)
    analysed = unmatched = no_tax = 0
    for call_id, result_id in todo:
        result = store.current(call_id)
        with store.session() as s:
            scored_at = s.execute(select(ResultRow.scored_at).where(ResultRow.id == result_id)).scalar_one_or_none()
        analysis = analyse(result, taxonomies, tz, scored_at)
        with store.session() as s, s.begin():
            if not write(s, analysis, result_id, replace=force):
                continue
        analysed += 1
        if analysis.assignment is None:
            no_tax += 1
        elif analysis.assignment.primary is None:
            unmatched += 1
    return RefreshReport(analysed, unmatched, no_tax)


def write(s: Session, a: CallAnalysis, result_id: int, *, replace: bool = True) -> bool:
    """Upsert the call's analytics row and drivers, then re-link the affected contact chains.

    Returns False, writing nothing, when the row already holds ``result_id`` and not
    ``replace`` (another refresh wrote it first). The transaction is the only analytics writer
    from its first statement on (:func:`_take_write_lock`): without that, two refreshes both
    found a call unanalysed and the second insert failed (IntegrityError), and a chain
    re-linked from a snapshot missed the other refresh's call.
    """
    _take_write_lock(s, a.call_id)
    old = s.get(CallAnalyticsRow, a.call_id)
    if old is not None and old.result_id == result_id and not replace:
        return False
    s.execute(delete(CallDriverRow).where(CallDriverRow.call_id == a.call_id))
    old_chain = (old.caller_hash, old.primary_driver) if old is not None else None
    row = old or CallAnalyticsRow(call_id=a.call_id)
    asg = a.assignment
    row.result_id = result_id
    row.taxonomy_id = asg.taxonomy_id if asg else None
    row.taxonomy_version = asg.taxonomy_version if asg else None
    row.primary_driver = asg.primary if asg else None
    row.at, row.hour, row.day = a.at, a.hour, a.day
    row.agent_id, row.team, row.queue, row.area = a.agent_id, a.team, a.queue, a.area
    row.caller_hash = a.caller_hash
    row.linked = a.caller_hash is not None and row.primary_driver is not None
    row.escalation, row.repeat_complaint = a.escalation, a.repeat_complaint
    row.updated_at = utcnow()
    if old is None:
        s.add(row)
    for d in asg.drivers if asg else ():
        s.add(CallDriverRow(
            call_id=a.call_id, driver_id=d.category_id, is_primary=d.category_id == asg.primary,  # type: ignore[union-attr]
            hits=d.hits, evidence=[asdict(e) for e in d.evidence],
        ))  # fmt: skip
    s.flush()
    for chain in {old_chain, (a.caller_hash, row.primary_driver)}:
        if chain is not None:
            relink(s, *chain)
    return True


def _take_write_lock(s: Session, call_id: str) -> None:
    """Make the session's transaction the only analytics writer until it ends.

    PostgreSQL: a transaction-scoped advisory lock; later statements (read committed) see what
    the previous holder committed. SQLite: an UPDATE that changes nothing, so the transaction
    takes the database's single write lock now, before it reads (SQLite begins a transaction
    lazily, at its first write).
    """
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    else:
        touch = update(CallAnalyticsRow).where(CallAnalyticsRow.call_id == call_id).values(result_id=CallAnalyticsRow.result_id)
        s.execute(touch.execution_options(synchronize_session=False))


def relink(s: Session, caller_hash: str | None, driver: str | None) -> None:
    """Recompute prev/next gaps along one customer's contacts on one driver (time order)."""
    if caller_hash is None or driver is None:
        return
    rows = list(s.execute(
        select(CallAnalyticsRow)
        .where(CallAnalyticsRow.caller_hash == caller_hash, CallAnalyticsRow.primary_driver == driver)
        .order_by(CallAnalyticsRow.at, CallAnalyticsRow.call_id)
    ).scalars())  # fmt: skip
    for i, row in enumerate(rows):
        prev = rows[i - 1] if i > 0 else None
        nxt = rows[i + 1] if i + 1 < len(rows) else None
        row.prev_gap_s = _gap(prev.at, row.at) if prev else None
        row.prev_call_id = prev.call_id if prev else None
        row.next_gap_s = _gap(row.at, nxt.at) if nxt else None


def _gap(earlier: datetime, later: datetime) -> float:
    if earlier.tzinfo is None:  # SQLite returns naive UTC datetimes
        earlier = earlier.replace(tzinfo=UTC)
    if later.tzinfo is None:
        later = later.replace(tzinfo=UTC)
    return (later - earlier).total_seconds()

