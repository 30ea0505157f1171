"""The reviewed result: one tally for automatic and reviewed scorecards, per-result overrides and
appeals, rescoring history with an explicit current pointer, Alembic migrations from release
0.1.0, and concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import sqlite3
from datetime import timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from typer.testing import CliRunner

from qa_pipeline.cli import app
from qa_pipeline.config import PROJECT_ROOT
from qa_pipeline.errors import ReviewError
from qa_pipeline.migrations import head_revision
from qa_pipeline.pipeline import CallPipeline
from qa_pipeline.records import Outcome
from qa_pipeline.review import (
    ReviewState,
    current_row,
    decide_appeal,
    file_appeal,
    set_override,
    set_review_state,
)
from qa_pipeline.scoring import Scorer, find_rubric
from qa_pipeline.scoring.tally import reviewed_scorecard
from qa_pipeline.store import Base, ResultStore, SaveOutcome
from qa_pipeline.web import models as web_models
from qa_testkit.web_results import make_result

FIXTURE = Path(__file__).parent / "fixtures" / "qa_db_release_0_1_0.sqlite"


@pytest.fixture
def store(tmp_path: Path) -> ResultStore:
    s = ResultStore(f"sqlite:///{tmp_path / 'qa.db'}")
    yield s
    s.close()


# -- one tally -------------------------------------------------------------------------------

def test_reviewed_scorecard_uses_the_engines_tally_sections_compliance_and_fatal_rule() -> None:
    rubric = find_rubric("zh_95598_utility", PROJECT_ROOT / "rubrics")
    auto = make_result("c", dialogue=3, scorer=Scorer(rubric)).scorecard  # rude: fatal item fails
    assert auto.fatal_failed and auto.total == 0.0 and auto.flag_below is not None
    same = reviewed_scorecard(auto, {})
    assert same == auto  # no overrides: the very same scorecard
    fatal = next(i for i in auto.items if i.fatal and i.outcome is Outcome.FAIL)
    lifted = reviewed_scorecard(auto, {fatal.id: Outcome.PASS})
    assert not lifted.fatal_failed and lifted.total > 0
    # what the engine gives for the same outcomes: re-tally by hand over applicable weight
    applicable = [i for i in lifted.items if i.outcome is not Outcome.NA]
    expected = round(100 * sum(i.weight for i in applicable if i.outcome is Outcome.PASS) / sum(i.weight for i in applicable), 1)
    assert lifted.total == expected
    assert {s.name for s in lifted.sections} == {s.name for s in auto.sections}
    section = next(s for s in lifted.sections if any(i.id == fatal.id for i in lifted.items if i.section == s.name))
    before = next(s for s in auto.sections if s.name == section.name)
    assert section.points == before.points + fatal.weight
    assert lifted.needs_review == (lifted.total < lifted.flag_below or any(i.review and i.outcome is Outcome.FAIL for i in lifted.items))


# -- overrides, review state, appeals ---------------------------------------------------------

def test_override_retallies_the_stored_final_score_and_review_state(store: ResultStore) -> None:
    store.save(make_result("c1", dialogue=1))  # no greeting: 75
    with store.session() as s, s.begin():
        row = current_row(s, "c1")
        assert (row.total, row.final_total, row.review_state) == (75.0, 75.0, "unreviewed")
        set_override(s, row, "greeting", agree=False, human_outcome=None, comment="greeted", reviewer="rev")
    r = store.reviewed("c1")
    assert r.result.scorecard.total == 75.0 and r.final.total == 100.0 and r.state is ReviewState.IN_REVIEW
    with store.session() as s, s.begin():
        row = current_row(s, "c1")
        assert row.final_total == 100.0
        with pytest.raises(ReviewError):
            set_override(s, row, "greeting", agree=False, human_outcome=Outcome.FAIL, comment="", reviewer="rev")
        set_review_state(s, row, ReviewState.REVIEWED, "rev")
    r = store.reviewed("c1")
    assert r.state is ReviewState.REVIEWED and r.reviewed_by == "rev" and r.reviewed_at is not None


def test_appeal_window_and_decisions(store: ResultStore) -> None:
    store.save(make_result("c1", dialogue=2))  # no closing
    week = timedelta(days=7)
    with store.session() as s, s.begin():
        row = current_row(s, "c1")
        failed = [i.id for i in store.current("c1").scorecard.items if i.outcome is Outcome.FAIL]
        passed = next(i.id for i in store.current("c1").scorecard.items if i.outcome is Outcome.PASS)
        with pytest.raises(ReviewError, match="did not fail"):
            file_appeal(s, row, passed, agent="wang", reason="r", window=week)
        scored = row.scored_at.replace(tzinfo=timezone.utc)
        with pytest.raises(ReviewError, match="window"):
            file_appeal(s, row, failed[0], agent="wang", reason="r", window=week, now=scored + timedelta(days=8))
        day2 = scored + timedelta(days=2)
        appeal = file_appeal(s, row, failed[0], agent="wang", reason="I closed the call politely", window=week, now=day2)
        with pytest.raises(ReviewError, match="open appeal"):
            file_appeal(s, row, failed[0], agent="wang", reason="again", window=week, now=day2)
        decide_appeal(s, appeal, accept=True, comment="agreed on the recording", reviewer="rev")
        with pytest.raises(ReviewError, match="already accepted"):
            decide_appeal(s, appeal, accept=False, comment="", reviewer="rev")
    r = store.reviewed("c1")
    assert r.final.item(failed[0]).outcome is Outcome.PASS and r.final.total > r.result.scorecard.total
    assert r.appeals[0].state == "accepted" and r.overrides[failed[0]].reviewer == "rev"


# -- rescoring history and the current pointer ------------------------------------------------------

def test_rescore_is_idempotent_and_another_rubric_keeps_both_scorecards(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'qa.db'}"
    with ResultStore(db) as store:
        for i, d in enumerate((0, 1, 3)):
            store.save(make_result(f"c{i}", dialogue=d))
    runner = CliRunner()
    env = {"QA_DATA_DIR": str(tmp_path / "data")}
    first = runner.invoke(app, ["rescore", "--all", "--db", db, "--rubric", "basic_zh"], env=env)
    assert first.exit_code == 0, first.output
    assert "0 rescored, 3 already had this rubric version" in first.output  # make_result used basic_zh
    other = runner.invoke(app, ["rescore", "--all", "--db", db, "--rubric", "zh_95598_utility"], env=env)
    assert other.exit_code == 0 and "3 rescored" in other.output, other.output
    again = runner.invoke(app, ["rescore", "--all", "--db", db, "--rubric", "zh_95598_utility"], env=env)
    assert "0 rescored, 3 already had this rubric version" in again.output, again.output
    with ResultStore(db) as store:
        assert store.count_results() == 6
        history = store.scorecards("c1")
        assert [v.rubric_id for v in history] == ["basic_zh", "zh_95598_utility"]
        assert [v.current for v in history] == [False, True]
        assert store.current("c1").scorecard.rubric_id == "zh_95598_utility"
        store.set_current("c1", history[0].result_key)  # back, explicitly
        assert store.current("c1").scorecard.rubric_id == "basic_zh"
    shown = runner.invoke(app, ["show", "c1", "--db", db, "--history"], env={**env, "COLUMNS": "200"})
    assert shown.exit_code == 0 and "current" in shown.output and "zh_95598_utility" in shown.output


def test_force_recomputes_in_place_and_keeps_the_review(store: ResultStore) -> None:
    result = make_result("c1", dialogue=1)
    store.save(result)
    with store.session() as s, s.begin():
        set_override(s, current_row(s, "c1"), "greeting", agree=False, human_outcome=None, comment="", reviewer="rev")
    assert store.save(result) is SaveOutcome.EXISTS
    assert store.save(result, force=True) is SaveOutcome.REPLACED
    r = store.reviewed("c1")
    assert store.count_results() == 1 and r.final.total == 100.0 and "greeting" in r.overrides


# -- migrations --------------------------------------------------------------------------------------

def test_a_release_0_1_0_database_upgrades_with_nothing_lost(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    shutil.copy(FIXTURE, db)
    with sqlite3.connect(db) as c:
        assert "alembic_version" not in {r[0] for r in c.execute("select name from sqlite_master")}
        old_totals = dict(c.execute("select call_id, total from results"))
        old_users = sorted(r[0] for r in c.execute("select username from web_users"))
        old_audit = c.execute("select count(*) from web_audit_log").fetchone()[0]
    with ResultStore(f"sqlite:///{db}") as store:
        assert {cid: store.current(cid).scorecard.total for cid in old_totals} == old_totals
        nogreet, rude = store.reviewed("c_nogreet"), store.reviewed("c_rude")
        assert nogreet.overrides["greeting"].comment == "greeted, ASR missed it" and nogreet.final.total == 100.0
        assert rude.result.scorecard.total == 0.0 and not rude.final.fatal_failed and rude.final.total > 0
        assert nogreet.state is ReviewState.IN_REVIEW and store.reviewed("c_good").state is ReviewState.UNREVIEWED
        assert [f.path for f in store.open_failures()] == ["/recordings/bad.wav"]
        with store.session() as s:
            from sqlalchemy import select

            assert sorted(s.execute(select(web_models.UserRow.username)).scalars()) == old_users
            assert len(list(s.execute(select(web_models.AuditRow)).scalars())) == old_audit
    with sqlite3.connect(db) as c:
        assert c.execute("select version_num from alembic_version").fetchone()[0] == head_revision()
        assert c.execute("select count(*) from result_flags").fetchone()[0] > 0
        assert c.execute("select count(*) from transcript_fts where transcript_fts match '\"我家停\"'").fetchone()[0] == 4
        assert "web_overrides" not in {r[0] for r in c.execute("select name from sqlite_master")}
        final = dict(c.execute("select call_id, final_total from results"))
    assert final["c_nogreet"] == 100.0 and final["c_good"] == old_totals["c_good"]


def test_migrations_build_exactly_the_models_schema(store: ResultStore) -> None:
    """No drift between the ORM classes and what the migrations create (FTS tables aside)."""
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # Alembic cannot compare expression (DESC) indexes; that one is checked by name below
    expression_index = "ix_results_final_priority"
    diff = [
        d for d in diff
        if not (d[0] == "remove_table" and d[1].name.startswith("transcript_fts"))
        and not (d[0] in ("add_index", "remove_index") and d[1].name == expression_index)
    ]
    assert diff == []
    from sqlalchemy import inspect

    assert expression_index in {i["name"] for i in inspect(store.engine).get_indexes("results")}


# -- concurrent writers --------------------------------------------------------------------------------

def _save_many(db: str, n: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    counts: dict[str, int] = {}
    with ResultStore(db) as store:
        for i in range(n):
            outcome = store.save(make_result(f"c{i % 10}", dialogue=i % 5))
            counts[outcome.value] = counts.get(outcome.value, 0) + 1
    out.put(counts)


def test_three_processes_creating_and_saving_the_same_calls_never_fail(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'new' / 'qa.db'}"  # nothing exists yet: schema creation races too
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_save_many, args=(db, 30, out)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    totals: dict[str, int] = {}
    for _ in procs:
        for k, v in out.get(timeout=5).items():
            totals[k] = totals.get(k, 0) + v
    with ResultStore(db) as store:
        distinct = store.count_results()
    assert totals.get("inserted", 0) == distinct and sum(totals.values()) == 90
    assert distinct == len({(f"c{i % 10}", i % 5) for i in range(30)})


def test_result_json_keeps_the_automatic_score_and_show_adds_the_review(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'qa.db'}"
    with ResultStore(db) as store:
        store.save(make_result("c1", dialogue=1))
        with store.session() as s, s.begin():
            set_override(s, current_row(s, "c1"), "greeting", agree=False, human_outcome=None, comment="", reviewer="rev")
    out = CliRunner().invoke(app, ["show", "c1", "--db", db, "--json"], env={"QA_DATA_DIR": str(tmp_path / "d")})
    data = json.loads(out.output)
    assert data["scorecard"]["total"] == 75.0 and data["review"]["final_total"] == 100.0
    text = CliRunner().invoke(app, ["show", "c1", "--db", db], env={"QA_DATA_DIR": str(tmp_path / "d")}).output
    assert "Final score 100" in text and "automatic 75" in text


def test_version_flag_prints_the_version() -> None:
    from qa_pipeline import __version__

    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"qa_pipeline {__version__}"


def test_rescore_key_depends_on_what_determines_the_scorecard(store: ResultStore) -> None:
    base = make_result("c1", dialogue=1)
    from qa_pipeline.config import Settings

    pipe = CallPipeline(Settings(), rubric="zh_95598_utility")  # rescoring loads no model
    a, b = pipe.rescore(base), pipe.rescore(base)
    assert a.result_key == b.result_key and a.result_key != base.result_key
    swapped = pipe.rescore(base, swap_roles=True)
    assert swapped.result_key != a.result_key


def test_a_call_saved_between_a_batchs_look_up_and_its_claim_is_not_scored_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batch B looks the call up (not stored), batch A saves it and drops its claim, B claims
    it: B used to transcribe the call a second time."""
    from qa_pipeline.batch import ResultSink
    from qa_pipeline.records import CallResult
    from qa_pipeline.store import claim_owner

    url = f"sqlite:///{tmp_path / 'qa.db'}"
    with ResultStore(url) as store_a, ResultStore(url) as store_b:
        a, b = ResultSink(store_a, tmp_path / "a"), ResultSink(store_b, tmp_path / "b")
        result = make_result("c1")
        key = result.result_key
        assert a.start("c1", key) is None  # A scores the call
        assert b.start("c1", key) == a.owner  # B is told who holds it
        claim = store_b.claim

        def claim_after_a_saved(*args: object, **kwargs: object) -> str | None:
            a.save(result)  # A finishes inside B's window
            return claim(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(store_b, "claim", claim_after_a_saved)
        started = b.start("c1", key)
        assert isinstance(started, CallResult) and started.result_key == key
        assert (tmp_path / "b" / "c1.json").is_file()  # B's copy of the stored result
        assert store_a.claim("c1", key, claim_owner()) is None  # B kept no claim


def test_claims_keep_two_batches_from_scoring_one_call_twice(store: ResultStore) -> None:
    import socket

    from qa_pipeline.store import claim_owner

    a, b = claim_owner(), claim_owner()
    assert store.claim("c1", "k1", a) is None
    assert store.claim("c1", "k1", a) is None  # the holder may claim again (a retried call)
    assert store.claim("c1", "k1", b) == a
    assert store.claim("c1", "k2", b) is None  # another result key is another piece of work
    store.release("c1", "k1", b)  # not b's claim: nothing happens
    assert store.claim("c1", "k1", b) == a
    store.release("c1", "k1", a)
    assert store.claim("c1", "k1", b) is None
    # a killed batch on this host (no such process) or an expired claim is taken over
    dead = f"{socket.gethostname()}:999999999:dead"
    assert store.claim("c2", "k", dead) is None and store.claim("c2", "k", a) is None
    assert store.claim("c3", "k", "other-host:1:x", ttl_s=-1) is None and store.claim("c3", "k", a) is None
    assert store.claim("c4", "k", "other-host:1:x") is None and store.claim("c4", "k", a) == "other-host:1:x"
