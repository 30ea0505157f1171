"""Per-call claims: two batches over the same recordings transcribe each call once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_claims",
        sa.Column("call_id", sa.String(128), primary_key=True),
        sa.Column("result_key", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(160), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("call_claims")
