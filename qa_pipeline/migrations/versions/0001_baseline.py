"""Baseline: the schema of release 0.1.0 (results tables and the web tables).

Databases written before migrations existed have some or all of these tables (the web tables
and indexes only if ``qa serve`` ran): each table and index is created only where it is
missing, so such a database continues from here with nothing lost.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_meta = sa.MetaData()
_TZ = sa.DateTime(timezone=True)

calls = sa.Table(
    "calls", _meta,
    sa.Column("call_id", sa.String(128), primary_key=True),
    sa.Column("agent_id", sa.String(64), index=True),
    sa.Column("agent_name", sa.String(128)),
    sa.Column("team", sa.String(128), index=True),
    sa.Column("queue", sa.String(128)),
    sa.Column("direction", sa.String(32)),
    sa.Column("start_time", _TZ, index=True),
    sa.Column("language", sa.String(8)),
    sa.Column("audio_path", sa.Text, nullable=False),
    sa.Column("audio_sha256", sa.String(64), nullable=False),
    sa.Column("duration_s", sa.Float, nullable=False),
    sa.Column("updated_at", _TZ, nullable=False),
)
results = sa.Table(
    "results", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("call_id", sa.String(128), sa.ForeignKey("calls.call_id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("result_key", sa.String(64), nullable=False),
    sa.Column("pipeline_version", sa.String(32), nullable=False),
    sa.Column("asr_model", sa.String(256), nullable=False),
    sa.Column("rubric_id", sa.String(64), nullable=False, index=True),
    sa.Column("rubric_version", sa.String(32), nullable=False),
    sa.Column("total", sa.Float, nullable=False, index=True),
    sa.Column("fatal_failed", sa.Boolean, nullable=False),
    sa.Column("flags", sa.JSON, nullable=False),
    sa.Column("result_json", sa.Text, nullable=False),
    sa.Column("scored_at", _TZ, nullable=False, index=True),
    sa.UniqueConstraint("call_id", "result_key", name="uq_results_call_key"),
)
item_results = sa.Table(
    "item_results", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("result_id", sa.Integer, sa.ForeignKey("results.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("item_id", sa.String(64), nullable=False, index=True),
    sa.Column("outcome", sa.String(8), nullable=False, index=True),
    sa.Column("points", sa.Float, nullable=False),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("fatal", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
)
raw_transcripts = sa.Table(
    "raw_transcripts", _meta,
    sa.Column("result_id", sa.Integer, sa.ForeignKey("results.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("utterances_json", sa.Text, nullable=False),
)
failures = sa.Table(
    "failures", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("call_id", sa.String(128), index=True),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("stage", sa.String(32), nullable=False),
    sa.Column("error_type", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("occurred_at", _TZ, nullable=False),
    sa.Column("resolved", sa.Boolean, nullable=False, index=True),
)
web_users = sa.Table(
    "web_users", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("agent_id", sa.String(64)),
    sa.Column("teams", sa.JSON, nullable=False),
    sa.Column("created_at", _TZ, nullable=False),
)
web_audit_log = sa.Table(
    "web_audit_log", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", _TZ, nullable=False, index=True),
    sa.Column("username", sa.String(64), nullable=False, index=True),
    sa.Column("action", sa.String(32), nullable=False, index=True),
    sa.Column("call_id", sa.String(128)),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("ip", sa.String(64)),
)
web_overrides = sa.Table(
    "web_overrides", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("call_id", sa.String(128), sa.ForeignKey("calls.call_id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("item_id", sa.String(64), nullable=False, index=True),
    sa.Column("auto_outcome", sa.String(8), nullable=False),
    sa.Column("human_outcome", sa.String(8), nullable=False),
    sa.Column("agree", sa.Boolean, nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("reviewer", sa.String(64), nullable=False),
    sa.Column("at", _TZ, nullable=False),
    sa.UniqueConstraint("call_id", "item_id", name="uq_override_call_item"),
)
_INDEXES = (
    sa.Index("ix_web_items_item_outcome_result", item_results.c.item_id, item_results.c.outcome, item_results.c.result_id),
    sa.Index("ix_web_results_call_id_id", results.c.call_id, results.c.id),
    sa.Index("ix_web_results_priority", results.c.fatal_failed.desc(), results.c.total, results.c.id.desc()),
)


def upgrade() -> None:
    bind = op.get_bind()
    _meta.create_all(bind, checkfirst=True)  # creates each missing table with its own indexes
    for index in _INDEXES:
        index.create(bind, checkfirst=True)


def downgrade() -> None:
    raise NotImplementedError("0001 is the first schema; drop the database instead")
