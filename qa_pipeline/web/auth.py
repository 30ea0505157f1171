"""Accounts (argon2 password hashes, a password policy), server-side sessions, login
throttling, CSRF tokens, role checks, audit log.

Sessions: the signed cookie carries a random token and the CSRF token; the session itself is
a ``web_sessions`` row keyed by the token's sha256.  Logout deletes the row; saving a user
(password or role change, ``qa user add --replace``) deletes all of that user's rows; a row
unused for :data:`IDLE_TIMEOUT` or older than :data:`ABSOLUTE_TIMEOUT` is refused and deleted.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request
from limits import RateLimitItem, parse, storage, strategies
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from ..errors import QAError
from .models import RAW_TEXT_ROLES, AuditRow, SessionRow, UserRole, UserRow, utcnow

#: A session unused this long is over (the user logs in again).
IDLE_TIMEOUT = timedelta(minutes=30)
#: A session is over this long after login, however active.
ABSOLUTE_TIMEOUT = timedelta(hours=8)
#: ``last_seen`` is written at most this often per session (one UPDATE a minute, not per request).
TOUCH_EVERY = timedelta(seconds=60)
#: Password policy: at least this many characters and a zxcvbn score (0-4) of at least MIN_SCORE.
MIN_PASSWORD_LENGTH = 10
MIN_PASSWORD_SCORE = 3

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


def check_password(password: str, username: str = "") -> None:
    """The password policy: :data:`MIN_PASSWORD_LENGTH` characters and a zxcvbn strength score of
    at least :data:`MIN_PASSWORD_SCORE` (zxcvbn's frequency lists of common passwords, words, names
    and keyboard patterns, plus the username).

    Raises:
        QAError: the password is too short or too guessable; the message says why.
    """
    from zxcvbn import zxcvbn

    if len(password) < MIN_PASSWORD_LENGTH:
        raise QAError(f"password must be at least {MIN_PASSWORD_LENGTH} characters (got {len(password)})")
    if len(password) > 256:
        raise QAError("password must be at most 256 characters")
    verdict = zxcvbn(password[:100], user_inputs=[username] if username else [])
    if verdict["score"] < MIN_PASSWORD_SCORE:
        feedback = verdict.get("feedback") or {}
        why = " ".join([feedback.get("warning") or "", *(feedback.get("suggestions") or [])]).strip()
        raise QAError(f"password is too easy to guess (strength {verdict['score']}/4, need {MIN_PASSWORD_SCORE})" + (f": {why}" if why else ""))


def add_user(
    sessions: sessionmaker[Session],
    username: str,
    password: str,
    role: UserRole | str,
    *,
    agent_id: str | None = None,
    teams: Iterable[str] = (),
    replace: bool = False,
    actor: str = "cli",
) -> None:
    """Create (or with ``replace`` update) an account, end the user's sessions when it existed,
    and audit the change (``user_saved``, by ``actor``).

    Raises:
        QAError: invalid username, role fields, or a password the policy refuses (:func:`check_password`).
    """
    role = UserRole(role)
    if not username or len(username) > 64 or not username.isprintable():
        raise QAError("username must be 1-64 printable characters")
    check_password(password, username)
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
        s.flush()
        if existing is not None:  # password or role change: every open session of the user ends
            s.execute(delete(SessionRow).where(SessionRow.user_id == row.id))
        s.add(AuditRow(username=actor[:64], action="user_saved", detail=f"{username}: role={role.value} agent_id={agent_id or ''} teams={','.join(teams)} {'updated' if existing else 'created'}"[:2000]))


def authenticate(sessions: sessionmaker[Session], username: str, password: str) -> CurrentUser | None:
    with sessions() as s:
        row = s.execute(select(UserRow).where(UserRow.username == username)).scalar_one_or_none()
        if row is None:
            verify_password(_DUMMY_HASH, password)
            return None
        if not verify_password(row.password_hash, password):
            return None
        return _current(row)


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


def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)  # SQLite drops the zone


def login_session(request: Request, user: CurrentUser, *, ip: str | None = None) -> None:
    """Start a server-side session: a new token (never the pre-login one) and CSRF token."""
    token = secrets.token_urlsafe(32)
    with request.app.state.sessions.begin() as s:
        s.execute(delete(SessionRow).where(SessionRow.created_at < utcnow() - ABSOLUTE_TIMEOUT))  # expired, never used again
        s.add(SessionRow(id=_token_id(token), user_id=user.id, ip=ip))
    request.session.clear()
    request.session["sid"] = token
    request.session["csrf"] = secrets.token_urlsafe(32)


def logout_session(request: Request) -> None:
    """End the request's session: its row is deleted, so a saved copy of the cookie is worthless."""
    token = request.session.get("sid")
    if isinstance(token, str):
        with request.app.state.sessions.begin() as s:
            s.execute(delete(SessionRow).where(SessionRow.id == _token_id(token)))
    request.session.clear()


def session_user(request: Request) -> CurrentUser | None:
    """The user of a live server-side session, or None (no token, unknown, revoked or timed out)."""
    token: Any = request.session.get("sid")
    if not isinstance(token, str) or not token:
        return None
    now = utcnow()
    with request.app.state.sessions.begin() as s:
        row = s.get(SessionRow, _token_id(token))
        if row is None:
            return None
        if now - _aware(row.last_seen) > IDLE_TIMEOUT or now - _aware(row.created_at) > ABSOLUTE_TIMEOUT:
            s.delete(row)
            return None
        user = s.get(UserRow, row.user_id)
        if user is None:
            return None
        if now - _aware(row.last_seen) > TOUCH_EVERY:
            row.last_seen = now
        return _current(user)


class LoginThrottled(Exception):
    """Too many failed logins for the account or from the address (see :class:`LoginThrottle`)."""

    def __init__(self, scope: str, retry_after_s: int) -> None:
        self.scope = scope
        self.retry_after_s = retry_after_s
        minutes = max(1, math.ceil(retry_after_s / 60))
        target = "this account" if scope == "account" else "your address"
        super().__init__(f"too many failed logins for {target}: try again in {minutes} minute{'s' if minutes > 1 else ''}")


class LoginThrottle:
    """Failed-login limits per account and per client address (``limits``, moving window, in memory:
    one instance's count; behind several instances use sticky sessions or a shared limiter).

    Only failures count; a successful login clears the account's count.
    """

    def __init__(self, per_account: str = "5/15 minutes", per_address: str = "20/15 minutes") -> None:
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self._limits: dict[str, RateLimitItem] = {"account": parse(per_account), "address": parse(per_address)}

    def _keys(self, username: str, ip: str | None) -> list[tuple[str, str]]:
        return [("account", username.strip().lower()[:64]), ("address", ip or "?")]

    def check(self, username: str, ip: str | None) -> None:
        """Raises :class:`LoginThrottled` when either limit is used up."""
        for scope, key in self._keys(username, ip):
            item = self._limits[scope]
            if not self._limiter.test(item, scope, key):
                reset = self._limiter.get_window_stats(item, scope, key).reset_time
                raise LoginThrottled(scope, max(1, math.ceil(reset - time.time())))

    def failed(self, username: str, ip: str | None) -> None:
        for scope, key in self._keys(username, ip):
            self._limiter.hit(self._limits[scope], scope, key)

    def succeeded(self, username: str) -> None:
        self._limiter.clear(self._limits["account"], "account", username.strip().lower()[:64])


def require_user(request: Request) -> CurrentUser:
    """FastAPI dependency: the logged-in user, or 401."""
    user = session_user(request)
    if user is None:
        raise HTTPException(status_code=401, detail="not logged in")
    return user


def require_roles(user: CurrentUser, *roles: UserRole) -> None:
    if user.role not in roles:
        raise HTTPException(status_code=403, detail=f"role {user.role.value!r} may not do this")
