"""Schema migrations (Alembic). :func:`upgrade` brings any database to the newest revision.

Revisions live in ``versions/``: ``0001`` is the schema of release 0.1.0 (created table by
table only where missing, so a database written before migrations existed upgrades in place),
``0002`` makes the reviewed result first-class (final score, review state, per-result
overrides, appeals, flags table, search index). New revisions: ``alembic -c
qa_pipeline/migrations/alembic.ini revision -m "..."`` with ``QA_DATABASE_URL`` set.

Two processes opening one new database at once are serialised: a file lock beside a SQLite
file, a transaction-scoped advisory lock on PostgreSQL.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from ..errors import ConfigError

HERE = Path(__file__).parent
#: pg_advisory_xact_lock key of schema upgrades: "QPMI" in ASCII
_PG_LOCK_KEY = 0x5150_4D49


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config over this package's scripts (``connection`` is used by ``env.py``)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships its revisions
        raise ConfigError("no schema revisions found in qa_pipeline/migrations/versions")
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` to ``revision`` (default: the newest).

    Raises ConfigError naming the database when a migration fails.
    """
    head = head_revision() if revision == "head" else revision
    with _lock(engine):
        try:
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
                if current_revision(conn) == head:
                    return
                command.upgrade(alembic_config(conn), revision)
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - any driver error becomes one clear message
            url = engine.url.render_as_string(hide_password=True)
            raise ConfigError(f"cannot bring the results database {url} to schema {head}: {exc}") from exc


@contextmanager
def _lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    from filelock import FileLock

    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".migrate.lock", timeout=300):
        yield
