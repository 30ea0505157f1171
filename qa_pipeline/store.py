"""Results database (SQLAlchemy 2.0): SQLite by default, any SQLAlchemy URL (PostgreSQL) works.

Tables
    calls            one row per call id: metadata, the latest audio seen and the pointer to the
                     call's *current* result (``current_result_id``)
    results          one row per (call, result_key): the full JSON, the automatic and the final
                     (reviewed) score, the review state
    item_results     one row per rubric item of a result (automatic outcome, points, evidence)
    result_flags     one row per flag of a result (queue filters use it, never JSON text)
    transcript_text  the redacted transcript of a result as one text (indexed for search:
                     SQLite FTS5 trigram, PostgreSQL pg_trgm)
    review_overrides / appeals   reviewers' verdicts and agents' appeals (:mod:`qa_pipeline.review`)
    failures         per-call errors (file, stage, reason), resolved when the call later scores

``result_key`` = audio hash + hash of every version/option that determines the result, so
scoring the same call again with the same versions adds nothing; ``force=True`` recomputes the
stored result in place (its reviews stay attached). Every rubric version's scorecard of a call is
kept; which one is shown and counted is the explicit ``calls.current_result_id`` pointer: a new
scoring moves it (``make_current``), :meth:`ResultStore.set_current` moves it back.

The schema is created and upgraded by Alembic (:mod:`qa_pipeline.migrations`), never by
``create_all``: a database written by an earlier release upgrades in place.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, cast

from pydantic import TypeAdapter
from sqlalchemy import create_engine, delete, event, func, select, update
from sqlalchemy.engine import URL, CursorResult, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .analytics import tables as _analytics_tables  # noqa: F401  (registers the analytics tables on Base)
from .errors import ConfigError, NotFoundError
from .records import CallResult, Transcript, Utterance
from .review import refresh_final, result_row, reviewed
from .tables import (  # noqa: F401  (Base and the row classes are re-exported: qa_pipeline.store.Base, ...)
    AppealRow,
    Base,
    CallRow,
    ClaimRow,
    FailureRow,
    FlagRow,
    ItemRow,
    OverrideRow,
    RawTranscriptRow,
    ResultRow,
    TranscriptTextRow,
    utcnow,
)

if TYPE_CHECKING:
    from .review import ReviewedResult

_UTTERANCES: TypeAdapter[tuple[Utterance, ...]] = TypeAdapter(tuple[Utterance, ...])


class SaveOutcome(str, enum.Enum):
    INSERTED = "inserted"
    REPLACED = "replaced"
    EXISTS = "exists"


@dataclass(frozen=True)
class Failure:
    call_id: str | None
    path: str
    stage: str
    error_type: str
    reason: str
    occurred_at: datetime



@dataclass(frozen=True)
class ScorecardVersion:
    """One stored scorecard of a call (see :meth:`ResultStore.scorecards`)."""

    result_id: int
    result_key: str
    rubric_id: str
    rubric_version: str
    total: float
    final_total: float
    review_state: str
    scored_at: datetime
    current: bool


class ResultStore:
    """The results database; the schema is brought to the newest Alembic revision on open.

    Raises :class:`~qa_pipeline.errors.ConfigError` when the database cannot be opened or upgraded.
    """

    def __init__(self, url: str) -> None:
        from .migrations import upgrade

        self.url = url
        self.engine = _make_engine(url)
        upgrade(self.engine)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def session(self) -> Session:
        """A new ORM session on this database (the caller closes it)."""
        return self._session()

    # -- writes -------------------------------------------------------------
    def has_result(self, call_id: str, result_key: str) -> bool:
        with self._session() as s:
            stmt = select(ResultRow.id).where(ResultRow.call_id == call_id, ResultRow.result_key == result_key)
            return s.execute(stmt).first() is not None

    def save(self, result: CallResult, *, force: bool = False, make_current: bool = True) -> SaveOutcome:
        """Store ``result``; idempotent on (call_id, result_key) unless ``force``.

        ``force`` recomputes an existing row in place (reviewers' overrides stay attached and the
        final score is re-tallied). ``make_current`` points the call at this result. Two
        processes saving the same result at once both succeed: the loser gets ``EXISTS``.
        """
        attempts = 3
        while True:
            try:
                return self._save(result, force=force, make_current=make_current)
            except IntegrityError:
                # a concurrent writer inserted the same result (or the call's row) first
                if self.has_result(result.call_id, result.result_key):
                    return SaveOutcome.EXISTS
                attempts -= 1
                if not attempts:
                    raise

    def _save(self, result: CallResult, *, force: bool, make_current: bool) -> SaveOutcome:
        key = result.result_key
        with self._session.begin() as s:
            existing = s.execute(
                select(ResultRow).where(ResultRow.call_id == result.call_id, ResultRow.result_key == key)
            ).scalar_one_or_none()
            if existing is not None and not force:
                return SaveOutcome.EXISTS
            call = s.get(CallRow, result.call_id)
            if call is None:
                call = _call_row(result)
                s.add(call)
                s.flush()
            else:
                _update_call_row(call, result)
            if existing is None:
                row = _result_row(result)
                s.add(row)
                outcome = SaveOutcome.INSERTED
            else:
                row = existing
                _fill_result_row(row, result)
                outcome = SaveOutcome.REPLACED
            s.flush()
            raw = s.get(RawTranscriptRow, row.id)
            if raw is not None:
                s.delete(raw)
            if result.raw_transcript is not None and result.redactions:
                s.add(RawTranscriptRow(result_id=row.id, utterances_json=_utterances_json(result.raw_transcript)))
            if existing is not None:
                refresh_final(s, row)
            if make_current or call.current_result_id is None:
                call.current_result_id = row.id
            s.execute(
                update(FailureRow)
                .where(FailureRow.resolved.is_(False))
                .where((FailureRow.call_id == result.call_id) | (FailureRow.path == result.audio.path))
                .values(resolved=True)
            )
        return outcome

    def insert_new(self, results: list[CallResult]) -> None:
        """Bulk-insert results of calls not stored yet (loads, benchmarks), each made current.

        One transaction; raises IntegrityError if a call or result already exists.
        """
        with self._session.begin() as s:
            rows = [_result_row(r) for r in results]
            s.add_all([_call_row(r) for r in results])
            s.flush()
            s.add_all(rows)
            s.flush()
            for call_id, row in zip((r.call_id for r in results), rows):
                s.execute(update(CallRow).where(CallRow.call_id == call_id).values(current_result_id=row.id))

    def claim(self, call_id: str, result_key: str, owner: str, *, ttl_s: float = 3600.0) -> str | None:
        """Claim scoring ``call_id`` with ``result_key`` for ``owner`` (``host:pid:token``).

        Returns None when the claim is this owner's now, else the owner holding it. A claim
        whose time ran out, or whose owner was a process on this host that no longer runs (a
        killed batch), is taken over.
        """
        now = utcnow()
        expires = now + timedelta(seconds=ttl_s)
        for _ in range(3):
            try:
                with self._session.begin() as s:
                    row = s.get(ClaimRow, (call_id, result_key))
                    if row is None:
                        s.add(ClaimRow(call_id=call_id, result_key=result_key, owner=owner, expires_at=expires))
                        return None  # committed on leaving the block
                    if row.owner != owner and not _claim_is_stale(row, now):
                        return row.owner
                    taken = cast(CursorResult[Any], s.execute(  # an UPDATE's result: rowcount
                        update(ClaimRow)
                        .where(ClaimRow.call_id == call_id, ClaimRow.result_key == result_key, ClaimRow.owner == row.owner)
                        .values(owner=owner, expires_at=expires)
                    ))
                    if taken.rowcount == 1:
                        return None
            except IntegrityError:
                continue  # another process inserted its claim first: read it
        return "another batch"

    def release(self, call_id: str, result_key: str, owner: str) -> None:
        """Drop ``owner``'s claim on the call (after its result or failure is stored)."""
        with self._session.begin() as s:
            s.execute(
                delete(ClaimRow).where(ClaimRow.call_id == call_id, ClaimRow.result_key == result_key, ClaimRow.owner == owner)
            )

    def set_current(self, call_id: str, result_key: str) -> None:
        """Point ``call_id`` at its stored result ``result_key``; NotFoundError if there is none."""
        with self._session.begin() as s:
            row_id = s.execute(
                select(ResultRow.id).where(ResultRow.call_id == call_id, ResultRow.result_key == result_key)
            ).scalar_one_or_none()
            if row_id is None:
                raise NotFoundError(f"call {call_id!r} has no result {result_key!r}")
            s.execute(update(CallRow).where(CallRow.call_id == call_id).values(current_result_id=row_id))

    def scorecards(self, call_id: str) -> list[ScorecardVersion]:
        """Every stored scorecard of ``call_id``, oldest first, the current one marked."""
        with self._session() as s:
            current = s.execute(select(CallRow.current_result_id).where(CallRow.call_id == call_id)).scalar_one_or_none()
            rows = s.execute(select(ResultRow).where(ResultRow.call_id == call_id).order_by(ResultRow.id)).scalars()
            return [
                ScorecardVersion(
                    r.id, r.result_key, r.rubric_id, r.rubric_version, r.total, r.final_total,
                    r.review_state, r.scored_at, r.id == current,
                )
                for r in rows
            ]

    def record_failure(self, *, path: str, stage: str, error_type: str, reason: str, call_id: str | None = None) -> None:
        with self._session.begin() as s:
            s.add(
                FailureRow(
                    call_id=call_id,
                    path=path,
                    stage=stage,
                    error_type=error_type,
                    reason=reason,
                    occurred_at=utcnow(),
                    resolved=False,
                )
            )

    def delete_call(self, call_id: str) -> None:
        with self._session.begin() as s:
            s.execute(delete(CallRow).where(CallRow.call_id == call_id))

    # -- reads --------------------------------------------------------------
    def current(self, call_id: str, *, raw: bool = False, result_key: str | None = None) -> CallResult:
        """The current result of ``call_id`` (or its stored result ``result_key``), redacted.

        ``raw=True`` (privileged) also loads the unredacted transcript into ``raw_transcript``.
        Raises NotFoundError for an unknown call or key.
        """
        with self._session() as s:
            stmt = select(ResultRow.id, ResultRow.result_json).where(ResultRow.call_id == call_id)
            if result_key is not None:
                stmt = stmt.where(ResultRow.result_key == result_key)
            else:
                stmt = stmt.join(CallRow, CallRow.current_result_id == ResultRow.id)
            row = s.execute(stmt).first()
            raw_json = None
            if row is not None and raw:
                raw_json = s.execute(
                    select(RawTranscriptRow.utterances_json).where(RawTranscriptRow.result_id == row.id)
                ).scalar_one_or_none()
        if row is None:
            what = f"result {result_key!r} of call {call_id!r}" if result_key else f"scored call with id {call_id!r}"
            raise NotFoundError(f"no {what} in the results database")
        result = CallResult.from_dict(json.loads(row.result_json))
        if raw:
            transcript = result.transcript
            if raw_json is not None:
                transcript = _transcript_from_json(result, json.loads(raw_json))
            result = replace(result, raw_transcript=transcript)
        return result

    #: The current result (the name of earlier releases).
    latest = current

    def reviewed(self, call_id: str, *, raw: bool = False, result_key: str | None = None) -> "ReviewedResult":
        """The current (or ``result_key``) result with its overrides, appeals and final scorecard."""
        result = self.current(call_id, raw=raw, result_key=result_key)
        with self._session() as s:
            return reviewed(s, result_row(s, call_id, result_key), result)

    def latest_results(self, call_ids: list[str] | None = None, *, raw: bool = False) -> Iterator[CallResult]:
        """The current result of each call (all calls, or ``call_ids``), streamed in id order."""
        for call_id in call_ids if call_ids is not None else self.call_ids():
            yield self.latest(call_id, raw=raw)

    def call_ids(self) -> list[str]:
        with self._session() as s:
            return list(s.execute(select(CallRow.call_id).order_by(CallRow.call_id)).scalars())

    def count_results(self) -> int:
        with self._session() as s:
            return int(s.execute(select(func.count(ResultRow.id))).scalar_one())

    def day_rows(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """Current result of every call whose start time (or, without one, scoring time) is in
        [start, end): the columns of the daily summary (final score first, the automatic one
        beside it), streamed in call-id order.

        SQLite keeps wall-clock times without their zone, so callers widen the window and
        filter exactly (:func:`qa_pipeline.summary.daily_table`)."""
        with self._session() as s:
            moment = func.coalesce(CallRow.start_time, ResultRow.scored_at)
            stmt = (
                select(CallRow, ResultRow)
                .join(ResultRow, ResultRow.id == CallRow.current_result_id)
                .where(moment >= start, moment < end)
                .order_by(CallRow.call_id)
            )
            for call, res in s.execute(stmt):
                failed = final_failed_items(s, res.id)
                yield {
                    "call_id": call.call_id,
                    "agent_id": call.agent_id,
                    "agent_name": call.agent_name,
                    "team": call.team,
                    "queue": call.queue,
                    "start_time": call.start_time,
                    "language": call.language,
                    "duration_s": call.duration_s,
                    "rubric_id": res.rubric_id,
                    "rubric_version": res.rubric_version,
                    "total": res.final_total,
                    "auto_total": res.total,
                    "review_state": res.review_state,
                    "fatal_failed": res.final_fatal_failed,
                    "failed_items": ",".join(failed),
                    "flags": ",".join(fl.flag_id for fl in sorted(res.flag_rows, key=lambda f: f.id)),
                    "asr_model": res.asr_model,
                    "pipeline_version": res.pipeline_version,
                    "scored_at": res.scored_at,
                    "result_key": res.result_key,
                    "audio": call.audio_path,
                }

    def open_failures(self) -> Iterator[Failure]:
        with self._session() as s:
            rows = s.execute(select(FailureRow).where(FailureRow.resolved.is_(False)).order_by(FailureRow.id)).scalars()
            for r in rows:
                yield Failure(r.call_id, r.path, r.stage, r.error_type, r.reason, r.occurred_at)


def claim_owner() -> str:
    """A claim owner id for this process: ``host:pid:token``."""
    import os
    import socket
    import uuid

    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _claim_is_stale(row: ClaimRow, now: datetime) -> bool:
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=timezone.utc)
    if expires < now:
        return True
    import os
    import socket

    host, _, rest = row.owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: does the claiming process still run on this host?
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _utterances_json(transcript: Transcript) -> str:
    return json.dumps(_UTTERANCES.dump_python(transcript.utterances, mode="json"), ensure_ascii=False)


def _transcript_from_json(result: CallResult, utterances: list[Any]) -> Transcript:
    return Transcript(result.language, result.duration_s, _UTTERANCES.validate_python(utterances))


def _make_engine(url: str) -> Engine:
    """SQLAlchemy engine for ``url`` (SQLite: WAL, foreign keys, a private file).

    Raises:
        ConfigError: the URL is malformed or names a dialect or driver that is not installed
            (e.g. ``postgres://``: SQLAlchemy's name is ``postgresql``).
    """
    parsed: URL | None = None
    try:
        parsed = make_url(url)
        return _engine_for(parsed)
    except (ArgumentError, ImportError) as exc:  # NoSuchModuleError included; ImportError: driver missing
        problem = f"database driver not installed ({exc})" if isinstance(exc, ImportError) else str(exc)
        shown = parsed.render_as_string(hide_password=True) if parsed is not None else url
        hint = "; SQLAlchemy's name is postgresql://" if shown.startswith("postgres:") else ""
        raise ConfigError(
            f"database_url {shown!r}: {problem}{hint} (e.g. sqlite:////path/qa.db or postgresql+psycopg://user:pass@host/db)"
        ) from None


def _engine_for(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            from .privfs import private_dir, private_file

            private_file(private_dir(Path(url.database).parent) / Path(url.database).name)  # raw transcripts: 0600
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def _call_row(r: CallResult) -> CallRow:
    row = CallRow(call_id=r.call_id)
    _update_call_row(row, r)
    return row


def _update_call_row(row: CallRow, r: CallResult) -> None:
    m = r.metadata
    row.agent_id, row.agent_name, row.team, row.queue = m.agent_id, m.agent_name, m.team, m.queue
    row.direction, row.start_time, row.language = m.direction, m.start_time, r.language
    row.audio_path, row.audio_sha256, row.duration_s = r.audio.path, r.audio.sha256, r.duration_s
    row.updated_at = utcnow()


def _result_row(r: CallResult) -> ResultRow:
    row = ResultRow(call_id=r.call_id, result_key=r.result_key, review_state="unreviewed")
    _fill_result_row(row, r)
    return row


def transcript_text(r: CallResult) -> str:
    """The redacted utterances of ``r``, one a line (what search looks in)."""
    return "\n".join(u.text for u in r.transcript.utterances)


def _fill_result_row(row: ResultRow, r: CallResult) -> None:
    """Set every column computed from ``r`` (automatic score, items, flags, search text)."""
    data = r.to_dict()
    row.pipeline_version, row.asr_model = r.versions.pipeline, r.versions.asr_model
    row.rubric_id, row.rubric_version = r.scorecard.rubric_id, r.scorecard.rubric_version
    row.total, row.fatal_failed = r.scorecard.total, r.scorecard.fatal_failed
    row.final_total, row.final_fatal_failed = r.scorecard.total, r.scorecard.fatal_failed
    row.flags = data["flags"]
    row.result_json = json.dumps(data, ensure_ascii=False)
    row.scored_at = r.scored_at
    row.items = [
        ItemRow(
            item_id=i["id"],
            outcome=i["outcome"],
            points=i["points"],
            weight=i["weight"],
            fatal=i["fatal"],
            reason=i["reason"],
            evidence=i["evidence"],
        )
        for i in data["scorecard"]["items"]
    ]
    row.flag_rows = [FlagRow(flag_id=f.id, priority=f.priority, reason=f.reason) for f in r.flags]
    row.text_row = TranscriptTextRow(text=transcript_text(r))


def final_failed_items(s: Session, result_id: int) -> list[str]:
    """Item ids that fail after reviewers' overrides, in rubric order."""
    outcome = func.coalesce(OverrideRow.human_outcome, ItemRow.outcome)
    stmt = (
        select(ItemRow.item_id)
        .outerjoin(OverrideRow, (OverrideRow.result_id == ItemRow.result_id) & (OverrideRow.item_id == ItemRow.item_id))
        .where(ItemRow.result_id == result_id, outcome == "fail")
        .order_by(ItemRow.id)
    )
    return list(s.execute(stmt).scalars())
