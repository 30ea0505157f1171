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

SHARED = PROJECT_ROOT.parent / "shared" / "data"
SAMPLES = PROJECT_ROOT / "samples" / "calls"


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

    p = CallPipeline(session_settings)
    _ = p.transcriber  # load now, so a missing model fails here with a clear error
    return p


def shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"reference data missing: {path} (expected ../shared/data next to the checkout)")
    return path
