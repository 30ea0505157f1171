"""Web tables (users, audit log) on the results database's ``Base``.

Created and upgraded by the Alembic migrations with the result tables, so one database (SQLite
or PostgreSQL) holds both. Reviewers' overrides and appeals belong to results and live in
:mod:`qa_pipeline.review`.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..tables import Base, OverrideRow  # noqa: F401  (OverrideRow re-exported: the reviewers' verdicts)


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
