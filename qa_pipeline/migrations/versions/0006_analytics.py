"""Contact-center analytics: per-call drivers, repeat-contact gaps and spike alerts.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_analytics",
        sa.Column("call_id", sa.String(128), sa.ForeignKey("calls.call_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("result_id", sa.Integer, nullable=False),
        sa.Column("taxonomy_id", sa.String(64)),
        sa.Column("taxonomy_version", sa.String(32)),
        sa.Column("primary_driver", sa.String(64)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hour", sa.Integer, nullable=False),
        sa.Column("day", sa.Integer, nullable=False),
        sa.Column("agent_id", sa.String(64)),
        sa.Column("team", sa.String(128)),
        sa.Column("queue", sa.String(128)),
        sa.Column("area", sa.String(128)),
        sa.Column("caller_hash", sa.String(64)),
        sa.Column("linked", sa.Boolean, nullable=False),
        sa.Column("escalation", sa.Boolean, nullable=False),
        sa.Column("repeat_complaint", sa.Boolean, nullable=False),
        sa.Column("prev_gap_s", sa.Float),
        sa.Column("next_gap_s", sa.Float),
        sa.Column("prev_call_id", sa.String(128)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_call_analytics_hour_driver", "call_analytics", ["hour", "primary_driver"])
    op.create_index("ix_call_analytics_day_driver", "call_analytics", ["day", "primary_driver"])
    op.create_index("ix_call_analytics_team_repeat", "call_analytics", ["team", "day", "linked", "hour", "prev_gap_s", "next_gap_s"])
    op.create_index("ix_call_analytics_agent_repeat", "call_analytics", ["agent_id", "day", "linked", "hour", "prev_gap_s", "next_gap_s"])
    op.create_index("ix_call_analytics_caller_driver_at", "call_analytics", ["caller_hash", "primary_driver", "at"])
    op.create_index("ix_call_analytics_escalation_day", "call_analytics", ["escalation", "day"])
    op.create_table(
        "call_drivers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(128), sa.ForeignKey("calls.call_id", ondelete="CASCADE"), nullable=False),
        sa.Column("driver_id", sa.String(64), nullable=False),
        sa.Column("is_primary", sa.Boolean, nullable=False),
        sa.Column("hits", sa.Integer, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
    )
    op.create_index("ix_call_drivers_call_id", "call_drivers", ["call_id"])
    op.create_index("ix_call_drivers_driver_call", "call_drivers", ["driver_id", "call_id"])
    op.create_table(
        "analytics_alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(400), nullable=False, unique=True),
        sa.Column("granularity", sa.String(8), nullable=False),
        sa.Column("bucket", sa.Integer, nullable=False),
        sa.Column("driver_id", sa.String(64), nullable=False),
        sa.Column("dimension", sa.String(16), nullable=False),
        sa.Column("dim_value", sa.String(128), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("baseline_mean", sa.Float, nullable=False),
        sa.Column("p_value", sa.Float, nullable=False),
        sa.Column("call_ids", sa.JSON, nullable=False),
        sa.Column("cells", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("webhook_status", sa.Text),
    )
    op.create_index("ix_analytics_alerts_state_bucket", "analytics_alerts", ["state", "bucket"])


def downgrade() -> None:
    op.drop_table("analytics_alerts")
    op.drop_table("call_drivers")
    op.drop_table("call_analytics")
