"""Accounts (argon2 password hashes), signed-cookie sessions, CSRF tokens, role checks, audit log."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..errors import QAError
from .models import RAW_TEXT_ROLES, AuditRow, UserRole, UserRow

_HASHER = PasswordHasher()
#: Hash checked when the user does not exist, so timing does not reveal valid usernames.
_DUMMY_HASH = _HASHER.hash("not-a-real-password")


@dataclass(frozen=True)
class CurrentUser:
    id: int
    username: str
    role: UserRole
    agent_id: str | None = None
    teams: tuple[str, ...] = field(default_factory=tuple)

    @property
    def can_see_raw(self) -> bool:
        return self.role in RAW_TEXT_ROLES


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def add_user(
    sessions: sessionmaker[Session],
    username: str,
    password: str,
    role: UserRole | str,
    *,
    agent_id: str | None = None,
    teams: Iterable[str] = (),
    replace: bool = False,
) -> None:
    """Create (or with ``replace`` update) an account; raises QAError on invalid input."""
    role = UserRole(role)
    if not username or len(username) > 64:
        raise QAError("username must be 1-64 characters")
    if len(password) < 8:
        raise QAError("password must be at least 8 characters")
    if role is UserRole.AGENT and not agent_id:
        raise QAError("an agent account needs --agent-id (the agent_id of their calls)")
    if role is UserRole.SUPERVISOR and not list(teams):
        raise QAError("a supervisor account needs at least one --team")
    with sessions.begin() as s:
        existing = s.execute(select(UserRow).where(UserRow.username == username)).scalar_one_or_none()
        if existing is not None and not replace:
            raise QAError(f"user {username!r} already exists (use --replace to update)")
        row = existing or UserRow(username=username)
        row.password_hash = hash_password(password)
        row.role = role.value
        row.agent_id = agent_id
        row.teams = list(teams)
        s.add(row)


def authenticate(sessions: sessionmaker[Session], username: str, password: str) -> CurrentUser | None:
    with sessions() as s:
        row = s.execute(select(UserRow).where(UserRow.username == username)).scalar_one_or_none()
        if row is None:
            verify_password(_DUMMY_HASH, password)
            return None
        if not verify_password(row.password_hash, password):
            return None
        return _current(row)


def load_user(sessions: sessionmaker[Session], user_id: int) -> CurrentUser | None:
    with sessions() as s:
        row = s.get(UserRow, user_id)
        return None if row is None else _current(row)


def _current(row: UserRow) -> CurrentUser:
    return CurrentUser(row.id, row.username, UserRole(row.role), row.agent_id, tuple(row.teams or ()))


def audit(sessions: sessionmaker[Session], username: str, action: str, *, call_id: str | None = None, detail: str = "", ip: str | None = None) -> None:
    with sessions.begin() as s:
        s.add(AuditRow(username=username, action=action, call_id=call_id, detail=detail, ip=ip))


# -- request helpers ------------------------------------------------------------------

def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


def check_csrf(request: Request, supplied: str | None) -> None:
    expected = request.session.get("csrf")
    if not expected or not supplied or not secrets.compare_digest(str(expected), supplied):
        raise HTTPException(status_code=403, detail="CSRF token missing or invalid")


def login_session(request: Request, user: CurrentUser) -> None:
    request.session.clear()
    request.session["uid"] = user.id
    request.session["csrf"] = secrets.token_urlsafe(32)


def session_user(request: Request) -> CurrentUser | None:
    uid: Any = request.session.get("uid")
    if not isinstance(uid, int):
        return None
    return load_user(request.app.state.sessions, uid)


def require_user(request: Request) -> CurrentUser:
    """FastAPI dependency: the logged-in user, or 401."""
    user = session_user(request)
    if user is None:
        raise HTTPException(status_code=401, detail="not logged in")
    return user


def require_roles(user: CurrentUser, *roles: UserRole) -> None:
    if user.role not in roles:
        raise HTTPException(status_code=403, detail=f"role {user.role.value!r} may not do this")
