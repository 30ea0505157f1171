"""Results database (SQLAlchemy 2.0): SQLite by default, any SQLAlchemy URL (PostgreSQL) works.

Tables
    calls         one row per call id: metadata and the latest audio seen
    results       one row per (call, result_key): the full JSON plus queryable columns
    item_results  one row per rubric item of a result (outcome, points, evidence)
    failures      per-call errors (file, stage, reason), resolved when the call later scores

``result_key`` = audio hash + hash of every version/option that determines the
result, so scoring the same call again with the same versions adds nothing;
``force=True`` replaces the stored result.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url
from pydantic import TypeAdapter
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from .errors import NotFoundError
from .records import CallResult, Transcript, Utterance

_UTTERANCES: TypeAdapter[tuple[Utterance, ...]] = TypeAdapter(tuple[Utterance, ...])


class Base(DeclarativeBase):
    pass


class CallRow(Base):
    __tablename__ = "calls"

    call_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    agent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    agent_name: Mapped[str | None] = mapped_column(String(128))
    team: Mapped[str | None] = mapped_column(String(128), index=True)
    queue: Mapped[str | None] = mapped_column(String(128))
    direction: Mapped[str | None] = mapped_column(String(32))
    start_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    language: Mapped[str | None] = mapped_column(String(8))
    audio_path: Mapped[str] = mapped_column(Text)
    audio_sha256: Mapped[str] = mapped_column(String(64))
    duration_s: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    results: Mapped[list["ResultRow"]] = relationship(back_populates="call", cascade="all, delete-orphan")


class ResultRow(Base):
    __tablename__ = "results"
    __table_args__ = (UniqueConstraint("call_id", "result_key", name="uq_results_call_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.call_id", ondelete="CASCADE"), index=True)
    result_key: Mapped[str] = mapped_column(String(64))
    pipeline_version: Mapped[str] = mapped_column(String(32))
    asr_model: Mapped[str] = mapped_column(String(256))
    rubric_id: Mapped[str] = mapped_column(String(64), index=True)
    rubric_version: Mapped[str] = mapped_column(String(32))
    total: Mapped[float] = mapped_column(Float, index=True)
    fatal_failed: Mapped[bool] = mapped_column(Boolean)
    flags: Mapped[list[Any]] = mapped_column(JSON)
    result_json: Mapped[str] = mapped_column(Text)
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

    call: Mapped[CallRow] = relationship(back_populates="results")
    items: Mapped[list["ItemRow"]] = relationship(back_populates="result", cascade="all, delete-orphan")


class ItemRow(Base):
    __tablename__ = "item_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(8), index=True)
    points: Mapped[float] = mapped_column(Float)
    weight: Mapped[float] = mapped_column(Float)
    fatal: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list[Any]] = mapped_column(JSON)

    result: Mapped[ResultRow] = relationship(back_populates="items")


class RawTranscriptRow(Base):
    """Unredacted utterances of a result; read only for privileged roles (``raw=True``)."""

    __tablename__ = "raw_transcripts"

    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), primary_key=True)
    utterances_json: Mapped[str] = mapped_column(Text)


class FailureRow(Base):
    __tablename__ = "failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str | None] = mapped_column(String(128), index=True)
    path: Mapped[str] = mapped_column(Text)
    stage: Mapped[str] = mapped_column(String(32))
    error_type: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


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


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class ResultStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _make_engine(url)
        Base.metadata.create_all(self.engine)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes -------------------------------------------------------------
    def has_result(self, call_id: str, result_key: str) -> bool:
        with self._session() as s:
            stmt = select(ResultRow.id).where(ResultRow.call_id == call_id, ResultRow.result_key == result_key)
            return s.execute(stmt).first() is not None

    def save(self, result: CallResult, *, force: bool = False) -> SaveOutcome:
        """Store ``result``; idempotent on (call_id, result_key) unless ``force``."""
        key = result.result_key
        with self._session.begin() as s:
            existing = s.execute(
                select(ResultRow).where(ResultRow.call_id == result.call_id, ResultRow.result_key == key)
            ).scalar_one_or_none()
            if existing is not None and not force:
                return SaveOutcome.EXISTS
            outcome = SaveOutcome.INSERTED
            if existing is not None:
                s.delete(existing)
                s.flush()
                outcome = SaveOutcome.REPLACED
            s.merge(_call_row(result))
            row = _result_row(result)
            s.add(row)
            if result.raw_transcript is not None and result.redactions:
                s.flush()
                s.add(RawTranscriptRow(result_id=row.id, utterances_json=_utterances_json(result.raw_transcript)))
            s.execute(
                update(FailureRow)
                .where(FailureRow.resolved.is_(False))
                .where((FailureRow.call_id == result.call_id) | (FailureRow.path == result.audio.path))
                .values(resolved=True)
            )
        return outcome

    def record_failure(self, *, path: str, stage: str, error_type: str, reason: str, call_id: str | None = None) -> None:
        with self._session.begin() as s:
            s.add(
                FailureRow(
                    call_id=call_id,
                    path=path,
                    stage=stage,
                    error_type=error_type,
                    reason=reason,
                    occurred_at=_utcnow(),
                    resolved=False,
                )
            )

    def delete_call(self, call_id: str) -> None:
        with self._session.begin() as s:
            s.execute(delete(CallRow).where(CallRow.call_id == call_id))

    # -- reads --------------------------------------------------------------
    def latest(self, call_id: str, *, raw: bool = False) -> CallResult:
        """The newest result of ``call_id`` (redacted). ``raw=True`` (privileged) also loads the
        unredacted transcript into ``raw_transcript``."""
        with self._session() as s:
            row = s.execute(
                select(ResultRow.id, ResultRow.result_json)
                .where(ResultRow.call_id == call_id)
                .order_by(ResultRow.scored_at.desc(), ResultRow.id.desc())
                .limit(1)
            ).first()
            raw_json = None
            if row is not None and raw:
                raw_json = s.execute(
                    select(RawTranscriptRow.utterances_json).where(RawTranscriptRow.result_id == row.id)
                ).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"no scored call with id {call_id!r} in the results database")
        result = CallResult.from_dict(json.loads(row.result_json))
        if raw:
            transcript = result.transcript
            if raw_json is not None:
                transcript = _transcript_from_json(result, json.loads(raw_json))
            result = replace(result, raw_transcript=transcript)
        return result

    def latest_results(self, call_ids: list[str] | None = None, *, raw: bool = False) -> Iterator[CallResult]:
        """The newest result of each call (all calls, or ``call_ids``), streamed in id order."""
        for call_id in call_ids if call_ids is not None else self.call_ids():
            yield self.latest(call_id, raw=raw)

    def call_ids(self) -> list[str]:
        with self._session() as s:
            return list(s.execute(select(CallRow.call_id).order_by(CallRow.call_id)).scalars())

    def count_results(self) -> int:
        with self._session() as s:
            return int(s.execute(select(func.count(ResultRow.id))).scalar_one())

    def day_rows(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """Latest result of every call whose start time (or, without one, scoring time) is in
        [start, end): the columns of the daily summary, streamed in call-id order.

        SQLite keeps wall-clock times without their zone, so callers widen the window and
        filter exactly (:func:`qa_pipeline.summary.daily_table`)."""
        with self._session() as s:
            latest = (
                select(func.max(ResultRow.id).label("id")).group_by(ResultRow.call_id).subquery()
            )
            moment = func.coalesce(CallRow.start_time, ResultRow.scored_at)
            stmt = (
                select(CallRow, ResultRow)
                .join(ResultRow, ResultRow.call_id == CallRow.call_id)
                .join(latest, latest.c.id == ResultRow.id)
                .where(moment >= start, moment < end)
                .order_by(CallRow.call_id)
            )
            for call, res in s.execute(stmt):
                failed = s.execute(
                    select(ItemRow.item_id).where(ItemRow.result_id == res.id, ItemRow.outcome == "fail").order_by(ItemRow.id)
                ).scalars()
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
                    "total": res.total,
                    "fatal_failed": res.fatal_failed,
                    "failed_items": ",".join(failed),
                    "flags": ",".join(f.get("id", "") if isinstance(f, dict) else str(f) for f in res.flags or []),
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


def _utterances_json(transcript: Transcript) -> str:
    return json.dumps(_UTTERANCES.dump_python(transcript.utterances, mode="json"), ensure_ascii=False)


def _transcript_from_json(result: CallResult, utterances: list[Any]) -> Transcript:
    return Transcript(result.language, result.duration_s, _UTTERANCES.validate_python(utterances))


def _make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            from .privfs import private_dir, private_file

            private_file(private_dir(Path(parsed.database).parent) / Path(parsed.database).name)  # raw transcripts: 0600
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
    m = r.metadata
    return CallRow(
        call_id=r.call_id,
        agent_id=m.agent_id,
        agent_name=m.agent_name,
        team=m.team,
        queue=m.queue,
        direction=m.direction,
        start_time=m.start_time,
        language=r.language,
        audio_path=r.audio.path,
        audio_sha256=r.audio.sha256,
        duration_s=r.duration_s,
        updated_at=_utcnow(),
    )


def _result_row(r: CallResult) -> ResultRow:
    data = r.to_dict()
    card = data["scorecard"]
    return ResultRow(
        call_id=r.call_id,
        result_key=r.result_key,
        pipeline_version=r.versions.pipeline,
        asr_model=r.versions.asr_model,
        rubric_id=r.scorecard.rubric_id,
        rubric_version=r.scorecard.rubric_version,
        total=r.scorecard.total,
        fatal_failed=r.scorecard.fatal_failed,
        flags=data["flags"],
        result_json=json.dumps(data, ensure_ascii=False),
        scored_at=r.scored_at,
        items=[
            ItemRow(
                item_id=i["id"],
                outcome=i["outcome"],
                points=i["points"],
                weight=i["weight"],
                fatal=i["fatal"],
                reason=i["reason"],
                evidence=i["evidence"],
            )
            for i in card["items"]
        ],
    )
