"""Alembic environment: runs on the connection :func:`qa_pipeline.migrations.upgrade` passes,
or (for the ``alembic`` command line) on ``QA_DATABASE_URL``."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

import qa_pipeline.analytics.tables  # noqa: F401  (analytics tables on the same metadata)
import qa_pipeline.web.models  # noqa: F401  (the web tables on the same metadata)
from qa_pipeline.tables import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # pragma: no cover - developer command line
    engine = create_engine(os.environ["QA_DATABASE_URL"])
    with engine.begin() as conn:
        _run(conn)
