"""Shared fixtures.

Everything runs offline: HF_HUB_OFFLINE is set before any model code is imported.
Tests marked ``slow`` run the real faster-whisper model on real audio; CI runs them.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["PYANNOTE_METRICS_ENABLED"] = "false"

from pathlib import Path

import pytest

from qa_pipeline.config import PROJECT_ROOT, Settings, load_settings

# pytest-xdist workers start with COLUMNS=80/LINES=24; rich consoles created when the CLI is
# imported (by the test modules, after this file) would keep that width for good, while a plain
# pytest run (and a user's shell) leaves it to the terminal
for _name in ("COLUMNS", "LINES"):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.pop(_name, None)

SHARED = PROJECT_ROOT.parent / "shared" / "data"
SAMPLES = PROJECT_ROOT / "samples" / "calls"


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing():
    """Tests hash passwords with argon2-cffi's CHEAPEST profile (made for tests), not the
    production RFC 9106 parameters: 0.5 s per hash and per login made each web fixture 5 s.
    Hashes keep their ``$argon2id$`` form; servers started by tests verify them by their own
    embedded parameters."""
    from argon2 import PasswordHasher, profiles

    from qa_pipeline.web import auth

    patch = pytest.MonkeyPatch()
    patch.setattr(auth, "_HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))
    yield
    patch.undo()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded defaults, with the data folder (SQLite, JSON) in a temporary directory."""
    return load_settings(None, data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def session_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(None, data_dir=tmp_path_factory.mktemp("session-data"))


@pytest.fixture(scope="session")
def pipeline(session_settings: Settings):
    """One loaded Whisper model for the whole session (real model, packaged weights)."""
    from qa_pipeline.pipeline import CallPipeline

    # every stage loads now, so a missing model fails here with a clear error
    return CallPipeline.from_pretrained(session_settings)


def shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"reference data missing: {path} (expected ../shared/data next to the checkout)")
    return path


@pytest.fixture(scope="session")
def sample_results(pipeline, session_settings: Settings, tmp_path_factory: pytest.TempPathFactory):
    """Every sample call scored once per session from audio, with the real model: {call_id: CallResult}.

    Also checks the batch is idempotent: a second pass over the folder scores nothing again.
    """
    from qa_pipeline.batch import discover, score_sources
    from qa_pipeline.store import ResultStore

    db = tmp_path_factory.mktemp("samples-db") / "qa.db"
    store = ResultStore(f"sqlite:///{db}")
    sources = list(discover(SAMPLES, session_settings))
    outcomes = list(score_sources(sources, pipeline, store, results_dir=db.parent / "results"))
    failed = [o.error for o in outcomes if o.status != "scored"]
    assert not failed, failed
    again = list(score_sources(sources, pipeline, store, results_dir=db.parent / "results"))
    assert {o.status for o in again} == {"skipped"}
    assert store.count_results() == len(outcomes)
    store.close()
    return {o.result.call_id: o.result for o in outcomes if o.result is not None}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``-n 2 --dist loadgroup``, the README's test command) the tests that
    share the session's scored sample calls run on one worker, so those 13 calls are transcribed
    once per run, not once per worker; every other test goes to whichever worker is free."""
    for item in items:
        if "sample_results" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("sample_results"))
