"""Web tables (users, audit log, reviewer overrides) on the results database's ``Base``.

They are created by ``Base.metadata.create_all`` like the result tables, so one database
(SQLite or PostgreSQL) holds both.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from ..store import Base, ItemRow, ResultRow


class UserRole(str, enum.Enum):
    REVIEWER = "reviewer"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    ADMIN = "admin"


#: Roles that may read unredacted transcripts.
RAW_TEXT_ROLES = frozenset({UserRole.ADMIN})
#: Roles that may override items and swap roles.
OVERRIDE_ROLES = frozenset({UserRole.ADMIN, UserRole.REVIEWER, UserRole.SUPERVISOR})


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UserRow(Base):
    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    #: for agents: the ``agent_id`` of their calls
    agent_id: Mapped[str | None] = mapped_column(String(64))
    #: for supervisors: the teams they see
    teams: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditRow(Base):
    __tablename__ = "web_audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32), index=True)  # login, login_failed, login_throttled, logout, override, swap_roles, view_call, audio, export_csv, search, user_saved, ...
    call_id: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[str] = mapped_column(Text, default="")
    ip: Mapped[str | None] = mapped_column(String(64))


class SessionRow(Base):
    """A server-side login session.  The cookie carries only a random token; this row (keyed by
    the token's sha256) is what makes it valid, so logout, a password or role change and the
    idle/absolute timeouts end it whatever the cookie says."""

    __tablename__ = "web_sessions"

    #: sha256 hex of the session token (the token itself is never stored)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64))


class OverrideRow(Base):
    """A reviewer's verdict on one rubric item of a call (latest per call+item wins)."""

    __tablename__ = "web_overrides"
    __table_args__ = (UniqueConstraint("call_id", "item_id", name="uq_override_call_item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.call_id", ondelete="CASCADE"), index=True)
    item_id: Mapped[str] = mapped_column(String(64), index=True)
    #: the automatic outcome the reviewer saw
    auto_outcome: Mapped[str] = mapped_column(String(8))
    #: the reviewer's outcome (equal to auto_outcome when they agree)
    human_outcome: Mapped[str] = mapped_column(String(8))
    agree: Mapped[bool] = mapped_column()
    comment: Mapped[str] = mapped_column(Text, default="")
    reviewer: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


#: Indexes the web queries need on the result tables (created by ``ensure_indexes`` for
#: databases whose tables already exist; ``create_all`` creates them with new tables).
WEB_INDEXES = (
    Index("ix_web_items_item_outcome_result", ItemRow.item_id, ItemRow.outcome, ItemRow.result_id),
    Index("ix_web_results_call_id_id", ResultRow.call_id, ResultRow.id),
    # the flagged queue's priority order: fatal first, lowest score, newest; LIMIT stops early
    Index("ix_web_results_priority", ResultRow.fatal_failed.desc(), ResultRow.total, ResultRow.id.desc()),
)


def ensure_indexes(engine: Engine) -> None:
    for index in WEB_INDEXES:
        index.create(engine, checkfirst=True)
