"""Live call monitoring: calls streamed to ``qa live`` and the alerts raised while they were on.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_calls",
        sa.Column("call_id", sa.String(128), primary_key=True),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("protocol", sa.String(16), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=True, index=True),
        sa.Column("agent_name", sa.String(128), nullable=True),
        sa.Column("team", sa.String(128), nullable=True, index=True),
        sa.Column("queue", sa.String(128), nullable=True),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("position_s", sa.Float, nullable=False),
        sa.Column("hold_s", sa.Float, nullable=False),
        sa.Column("lag_s", sa.Float, nullable=False),
        sa.Column("mood", sa.Float, nullable=True),
        sa.Column("utterances", sa.JSON, nullable=False),
        sa.Column("recording_uri", sa.Text, nullable=True),
        sa.Column("close_reason", sa.String(64), nullable=True),
        sa.Column("server", sa.String(160), nullable=False),
    )
    op.create_table(
        "live_alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(128), nullable=False, index=True),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("severity", sa.Integer, nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("quote", sa.Text, nullable=False),
        sa.Column("at_s", sa.Float, nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("latency_s", sa.Float, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("live_alerts")
    op.drop_table("live_calls")
