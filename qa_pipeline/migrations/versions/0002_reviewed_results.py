"""The reviewed result is first-class; rescoring keeps history; flags and search are indexed.

* ``results``: ``final_total`` / ``final_fatal_failed`` (the score after overrides, first equal
  to the automatic one), ``review_state``, ``reviewed_by``, ``reviewed_at``.
* ``calls.current_result_id``: the explicit pointer to the result shown and counted (set to
  each call's newest result, which is what release 0.1.0 showed).
* ``review_overrides`` (per result) replaces ``web_overrides`` (per call and item): each old
  override moves to its call's current result, whose final score is then re-tallied.
* ``appeals``; ``result_flags`` (from the results' flag JSON); ``transcript_text`` (from the
  results' redacted utterances) with a trigram index: SQLite FTS5 ``trigram`` (kept in sync by
  triggers), PostgreSQL ``pg_trgm`` GIN (skipped with a notice if the extension is unavailable).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import json
import logging

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)
_TZ = sa.DateTime(timezone=True)
_BATCH = 1000


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("results") as batch:
        batch.add_column(sa.Column("final_total", sa.Float, nullable=False, server_default="0"))
        batch.add_column(sa.Column("final_fatal_failed", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("review_state", sa.String(16), nullable=False, server_default="unreviewed"))
        batch.add_column(sa.Column("reviewed_by", sa.String(64)))
        batch.add_column(sa.Column("reviewed_at", _TZ))
    op.execute("UPDATE results SET final_total = total, final_fatal_failed = fatal_failed")
    op.create_index("ix_results_final_total", "results", ["final_total"])
    op.create_index("ix_results_review_state", "results", ["review_state"])
    op.drop_index("ix_web_results_priority", table_name="results")
    op.create_index(
        "ix_results_final_priority", "results",
        [sa.text("final_fatal_failed DESC"), "final_total", sa.text("id DESC")],
    )

    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("current_result_id", sa.Integer))
    op.create_index("ix_calls_current_result_id", "calls", ["current_result_id"])
    op.execute(
        "UPDATE calls SET current_result_id = (SELECT r.id FROM results r WHERE r.call_id = calls.call_id "
        "ORDER BY r.scored_at DESC, r.id DESC LIMIT 1)"
    )

    flags = op.create_table(
        "result_flags",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("result_id", sa.Integer, sa.ForeignKey("results.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("flag_id", sa.String(64), nullable=False, index=True),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    texts = op.create_table(
        "transcript_text",
        sa.Column("result_id", sa.Integer, sa.ForeignKey("results.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
    )
    _create_search_index(bind)
    _fill_flags_and_text(bind, flags, texts)

    op.create_table(
        "review_overrides",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("result_id", sa.Integer, sa.ForeignKey("results.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("item_id", sa.String(64), nullable=False, index=True),
        sa.Column("auto_outcome", sa.String(8), nullable=False),
        sa.Column("human_outcome", sa.String(8), nullable=False),
        sa.Column("agree", sa.Boolean, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("at", _TZ, nullable=False),
        sa.UniqueConstraint("result_id", "item_id", name="uq_review_override_result_item"),
    )
    op.create_table(
        "appeals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("result_id", sa.Integer, sa.ForeignKey("results.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("requested_outcome", sa.String(8), nullable=False),
        sa.Column("agent", sa.String(64), nullable=False, index=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("decision_comment", sa.Text),
        sa.Column("decided_at", _TZ),
    )
    _move_overrides(bind)
    op.drop_table("web_overrides")


def _create_search_index(bind: sa.engine.Connection) -> None:
    if bind.dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE transcript_fts USING fts5(text, content='transcript_text', "
            "content_rowid='result_id', tokenize='trigram')"
        )
        op.execute(
            "CREATE TRIGGER transcript_text_ai AFTER INSERT ON transcript_text BEGIN "
            "INSERT INTO transcript_fts(rowid, text) VALUES (new.result_id, new.text); END"
        )
        op.execute(
            "CREATE TRIGGER transcript_text_ad AFTER DELETE ON transcript_text BEGIN "
            "INSERT INTO transcript_fts(transcript_fts, rowid, text) VALUES ('delete', old.result_id, old.text); END"
        )
        op.execute(
            "CREATE TRIGGER transcript_text_au AFTER UPDATE ON transcript_text BEGIN "
            "INSERT INTO transcript_fts(transcript_fts, rowid, text) VALUES ('delete', old.result_id, old.text); "
            "INSERT INTO transcript_fts(rowid, text) VALUES (new.result_id, new.text); END"
        )
    elif bind.dialect.name == "postgresql":
        savepoint = bind.begin_nested()
        try:
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
            bind.execute(sa.text("CREATE INDEX ix_transcript_text_trgm ON transcript_text USING gin (text gin_trgm_ops)"))
            savepoint.commit()
        except sa.exc.DBAPIError as exc:  # no pg_trgm, or no right to create it: search scans
            savepoint.rollback()
            log.warning("pg_trgm unavailable, transcript search will scan: %s", exc)


def _fill_flags_and_text(bind: sa.engine.Connection, flags: sa.Table, texts: sa.Table) -> None:
    last = 0
    while True:
        rows = bind.execute(
            sa.text("SELECT id, result_json FROM results WHERE id > :last ORDER BY id LIMIT :n"),
            {"last": last, "n": _BATCH},
        ).all()
        if not rows:
            return
        flag_rows, text_rows = [], []
        for result_id, blob in rows:
            data = json.loads(blob)
            for f in data.get("flags", []):
                flag_rows.append({"result_id": result_id, "flag_id": f["id"], "priority": int(f["priority"]), "reason": f.get("reason", "")})
            text_rows.append({"result_id": result_id, "text": "\n".join(u.get("text", "") for u in data.get("utterances", []))})
        if flag_rows:
            bind.execute(flags.insert(), flag_rows)
        bind.execute(texts.insert(), text_rows)
        last = rows[-1][0]


def _move_overrides(bind: sa.engine.Connection) -> None:
    from qa_pipeline.records import CallResult, Outcome
    from qa_pipeline.scoring.tally import reviewed_scorecard

    bind.execute(
        sa.text(
            "INSERT INTO review_overrides (result_id, item_id, auto_outcome, human_outcome, agree, comment, reviewer, at) "
            "SELECT c.current_result_id, o.item_id, o.auto_outcome, o.human_outcome, o.agree, o.comment, o.reviewer, o.at "
            "FROM web_overrides o JOIN calls c ON c.call_id = o.call_id WHERE c.current_result_id IS NOT NULL"
        )
    )
    by_result: dict[int, dict[str, str]] = {}
    for result_id, item_id, human in bind.execute(sa.text("SELECT result_id, item_id, human_outcome FROM review_overrides")):
        by_result.setdefault(result_id, {})[item_id] = human
    for result_id, outcomes in by_result.items():
        blob = bind.execute(sa.text("SELECT result_json FROM results WHERE id = :i"), {"i": result_id}).scalar_one()
        card = CallResult.from_dict(json.loads(blob)).scorecard
        final = reviewed_scorecard(card, {k: Outcome(v) for k, v in outcomes.items()})
        bind.execute(
            sa.text("UPDATE results SET final_total = :t, final_fatal_failed = :f, review_state = 'in_review' WHERE id = :i"),
            {"t": final.total, "f": final.fatal_failed, "i": result_id},
        )


def downgrade() -> None:
    raise NotImplementedError("downgrading would lose reviews and appeals; restore a backup instead")
