"""The results database's tables (SQLAlchemy 2.0 ORM), one module that everything imports.

``calls`` (metadata, latest audio, ``current_result_id``), ``results`` (one row per call and
``result_key``: JSON, automatic and final score, review state), ``item_results``,
``result_flags``, ``transcript_text`` (search source), ``raw_transcripts``, ``failures``,
``review_overrides`` and ``appeals``; the web app's users and audit log are in
:mod:`qa_pipeline.web.models` on the same ``Base``. The schema itself is created by the Alembic
migrations (:mod:`qa_pipeline.migrations`); tests check the two agree.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """Now, timezone-aware UTC (column defaults and timestamps of the results database)."""
    return datetime.now(timezone.utc)


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
    #: the result shown and counted for this call (explicit; see the module docstring)
    current_result_id: Mapped[int | None] = mapped_column(Integer, index=True)

    results: Mapped[list["ResultRow"]] = relationship(
        back_populates="call", cascade="all, delete-orphan", foreign_keys="ResultRow.call_id"
    )


class ResultRow(Base):
    __tablename__ = "results"
    __table_args__ = (
        UniqueConstraint("call_id", "result_key", name="uq_results_call_key"),
        Index("ix_web_results_call_id_id", "call_id", "id"),
        # the flagged queue's priority order: fatal first, lowest final score, newest
        Index("ix_results_final_priority", text("final_fatal_failed DESC"), "final_total", text("id DESC")),
    )

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
    #: the score after reviewers' overrides (equal to ``total`` until someone overrides an item)
    final_total: Mapped[float] = mapped_column(Float, index=True)
    final_fatal_failed: Mapped[bool] = mapped_column(Boolean)
    #: unreviewed | in_review | reviewed (:class:`qa_pipeline.review.ReviewState`)
    review_state: Mapped[str] = mapped_column(String(16), index=True, default="unreviewed")
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    call: Mapped[CallRow] = relationship(back_populates="results", foreign_keys=[call_id])
    items: Mapped[list["ItemRow"]] = relationship(back_populates="result", cascade="all, delete-orphan")
    flag_rows: Mapped[list["FlagRow"]] = relationship(cascade="all, delete-orphan")
    text_row: Mapped["TranscriptTextRow | None"] = relationship(cascade="all, delete-orphan")


class ItemRow(Base):
    __tablename__ = "item_results"
    __table_args__ = (Index("ix_web_items_item_outcome_result", "item_id", "outcome", "result_id"),)

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


class FlagRow(Base):
    """One flag of a result (the queue's flag filter and "flagged" test use these rows)."""

    __tablename__ = "result_flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), index=True)
    flag_id: Mapped[str] = mapped_column(String(64), index=True)
    priority: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)


class TranscriptTextRow(Base):
    """The redacted transcript of a result as one text, one utterance a line (search index source)."""

    __tablename__ = "transcript_text"

    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), primary_key=True)
    text: Mapped[str] = mapped_column(Text)


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


class OverrideRow(Base):
    """A reviewer's verdict on one rubric item of one stored result."""

    __tablename__ = "review_overrides"
    __table_args__ = (UniqueConstraint("result_id", "item_id", name="uq_review_override_result_item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[str] = mapped_column(String(64), index=True)
    #: the automatic outcome the reviewer saw
    auto_outcome: Mapped[str] = mapped_column(String(8))
    #: the reviewer's outcome (equal to auto_outcome when they agree)
    human_outcome: Mapped[str] = mapped_column(String(8))
    agree: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str] = mapped_column(Text, default="")
    reviewer: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AppealRow(Base):
    """An agent's appeal against one item of one stored result, and the reviewer's decision."""

    __tablename__ = "appeals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[str] = mapped_column(String(64))
    #: the outcome the agent asks for (normally ``pass``)
    requested_outcome: Mapped[str] = mapped_column(String(8))
    agent: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True, default="open")  # open | accepted | rejected
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decision_comment: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ClaimRow(Base):
    """A batch's claim on scoring one call with one result key, so that two batches started on
    the same recordings do not transcribe a call twice (:meth:`qa_pipeline.store.ResultStore.claim`)."""

    __tablename__ = "call_claims"

    call_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    result_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: ``host:pid:token`` of the claiming process
    owner: Mapped[str] = mapped_column(String(160))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class LiveCallRow(Base):
    """A call streamed to ``qa live``: its metadata, state and rolling transcript while it is on,
    and where its recording went once it ended (the result is an ordinary ``results`` row)."""

    __tablename__ = "live_calls"

    call_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    #: AudioHook session id (or the fork's stream id)
    session_id: Mapped[str] = mapped_column(String(64))
    protocol: Mapped[str] = mapped_column(String(16))  # audiohook | fork
    agent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    agent_name: Mapped[str | None] = mapped_column(String(128))
    team: Mapped[str | None] = mapped_column(String(128), index=True)
    queue: Mapped[str | None] = mapped_column(String(128))
    language: Mapped[str | None] = mapped_column(String(8))
    #: live | scoring | scored | failed
    state: Mapped[str] = mapped_column(String(16), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: seconds of audio received / on hold / recognition is behind the audio
    position_s: Mapped[float] = mapped_column(Float, default=0.0)
    hold_s: Mapped[float] = mapped_column(Float, default=0.0)
    lag_s: Mapped[float] = mapped_column(Float, default=0.0)
    #: the customer's mood over their recent utterances, [-1, 1] (None: not known yet)
    mood: Mapped[float | None] = mapped_column(Float)
    #: rolling transcript: [{"role", "start", "end", "text"}, ...]
    utterances: Mapped[Any] = mapped_column(JSON, default=list)
    recording_uri: Mapped[str | None] = mapped_column(Text)
    close_reason: Mapped[str | None] = mapped_column(String(64))
    #: ``host:pid`` of the live server holding the stream
    server: Mapped[str] = mapped_column(String(160))


class LiveAlertRow(Base):
    """An alert raised while a call was on: the rubric item or flag, severity, quote and moment."""

    __tablename__ = "live_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(128), index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # item | flag
    #: 1 (highest) .. 5, as flag priorities
    severity: Mapped[int] = mapped_column(Integer)
    agent_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    quote: Mapped[str] = mapped_column(Text, default="")
    #: the moment in the call (seconds) the alert is about, and when it was raised
    at_s: Mapped[float] = mapped_column(Float)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    #: seconds from the moment (end of the phrase, silence threshold) to the alert
    latency_s: Mapped[float] = mapped_column(Float)
    evidence: Mapped[Any] = mapped_column(JSON, default=list)
