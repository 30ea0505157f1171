"""Finding 5 of issue 14: recordings with no speech, or cut short, are flagged with priority 1
and never get a perfect score.  Every audio file here is written by the test; the slow tests
run the real Whisper model on them."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import SAMPLES
from sqlalchemy.orm import sessionmaker

from qa_pipeline.checks import CallEvidence, apply_checks, declared_duration, recording_flags
from qa_pipeline.config import PROJECT_ROOT, load_settings
from qa_pipeline.records import AudioInfo, Outcome, Transcript
from qa_pipeline.scoring import CallContext, Scorer, compute_metrics, find_rubric


def white_noise(path: Path, seconds: float, *, channels: int = 2, rate: int = 8000, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    sf.write(path, (rng.standard_normal((int(seconds * rate), channels)) * 0.3).clip(-1, 1), rate, subtype="PCM_16")
    return path


def truncate(src: Path, dst: Path, keep: float) -> Path:
    """The first ``keep`` share of the file's bytes: the header still declares the full length."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def info(path: Path, channels: int = 2, duration: float = 0.0) -> AudioInfo:
    return AudioInfo(str(path), "0" * 64, "WAV", "PCM_16", 8000, channels, duration)


# -- header checks (no model) --------------------------------------------------------------------------


def test_wav_cut_to_a_third_is_truncated_and_a_whole_one_is_not(tmp_path: Path) -> None:
    whole = white_noise(tmp_path / "whole.wav", 30.0)
    cut = truncate(whole, tmp_path / "cut.wav", 1 / 3)
    assert declared_duration(whole) == pytest.approx((30.0, 30.0))
    declared, held = declared_duration(cut)
    assert declared == pytest.approx(30.0) and held == pytest.approx(10.0, abs=0.05)
    assert sf.info(cut).duration == pytest.approx(10.0, abs=0.05)  # libsndfile decodes what is there, silently
    flags = recording_flags(CallEvidence(info(cut), Transcript("zh", 10.0, ()), cut))
    assert [f.id for f in flags] == ["no_speech", "truncated"] and all(f.priority == 1 for f in flags)
    assert "declares 30.0 s, the file holds 10.0 s (67 % missing)" in flags[1].reason
    assert [f.id for f in recording_flags(CallEvidence(info(whole), Transcript("zh", 30.0, ()), whole))] == ["no_speech"]


def test_mu_law_sample_call_and_flac_truncation(tmp_path: Path) -> None:
    call = SAMPLES / "zh_no_closing.wav"
    assert declared_duration(call)[0] == pytest.approx(declared_duration(call)[1])
    declared, held = declared_duration(truncate(call, tmp_path / "cut.wav", 0.5))
    assert held == pytest.approx(declared / 2, rel=0.02)
    flac = tmp_path / "noise.flac"
    sf.write(flac, np.random.default_rng(1).standard_normal((8000 * 20, 2)) * 0.2, 8000, format="FLAC")
    assert declared_duration(flac) == pytest.approx((20.0, 20.0))
    declared, held = declared_duration(truncate(flac, tmp_path / "cut.flac", 0.4))
    assert declared == pytest.approx(20.0) and held < 10.0


def test_streaming_wav_header_of_unknown_length_is_not_truncated(tmp_path: Path) -> None:
    wav = white_noise(tmp_path / "live.wav", 5.0)
    data = bytearray(wav.read_bytes())
    pos = data.index(b"data")
    data[pos + 4 : pos + 8] = struct.pack("<I", 0xFFFFFFFF)
    wav.write_bytes(bytes(data))
    assert declared_duration(wav) is None


def test_no_speech_is_not_scored_and_never_a_perfect_score() -> None:
    empty = Transcript("zh", 60.0, ())
    scorer = Scorer(find_rubric("zh_95598_utility", PROJECT_ROOT / "rubrics"))
    from qa_pipeline.records import CallMetadata

    ctx = CallContext(transcript=empty, metrics=compute_metrics(empty), metadata=CallMetadata(call_id="n"))
    card = scorer(ctx)
    assert card.total == 100.0  # what the rubric engine alone makes of no speech
    card, flags = apply_checks(card, scorer.flags(card, ctx), recording_flags(CallEvidence(info(Path("n.wav"), 2, 60.0), empty)))
    assert card.total == 0.0 and card.needs_review and all(i.outcome is Outcome.NA and i.reason.startswith("not scored") for i in card.items)
    assert [f.id for f in flags] == ["no_speech"] and "60.0 s of audio (2 channels)" in flags[0].reason


def test_no_speech_call_in_the_web_shows_zero_even_after_overrides(tmp_path: Path) -> None:
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from qa_pipeline.store import ResultStore
    from qa_pipeline.web import create_app
    from qa_pipeline.web.auth import add_user
    from qa_testkit.web_results import make_result

    settings = load_settings(None, data_dir=tmp_path / "data")
    store = ResultStore(settings.resolved_database_url)
    base = make_result("silent")
    empty = Transcript("zh", 12.0, ())
    card, flags = apply_checks(base.scorecard, (), recording_flags(CallEvidence(base.audio, empty)))
    store.save(replace(base, transcript=empty, raw_transcript=empty, scorecard=card, flags=flags, redactions=()))
    add_user(sessionmaker(store.engine), "rev", "correct horse 1", "reviewer")
    c = TestClient(create_app(settings, store=store))
    c.headers["X-CSRF-Token"] = c.post("/api/login", json={"username": "rev", "password": "correct horse 1"}).json()["csrf"]
    queue = c.get("/api/queue").json()["items"]
    assert queue[0]["call_id"] == "silent" and queue[0]["total"] == 0.0 and queue[0]["priority"] == 1
    assert queue[0]["flags"][0]["id"] == "no_speech"
    data = c.post("/api/calls/silent/overrides", json={"item_id": "greeting", "agree": False, "human_outcome": "pass"}).json()
    assert data["final_score"] == 0.0
    store.close()


# -- the real pipeline (Whisper) on files written here ---------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("seconds", [60.0, 0.2])
def test_stereo_white_noise_and_a_tiny_clip_are_no_speech_not_100(pipeline, tmp_path: Path, seconds: float) -> None:
    from qa_pipeline.batch import source_for_file

    path = white_noise(tmp_path / f"noise_{seconds:g}.wav", seconds, seed=int(seconds * 10))
    result = pipeline(source_for_file(path, pipeline.settings, {"language": "zh"}))
    ids = [f.id for f in result.flags]
    assert result.transcript.utterances == () or sum(u.end - u.start for u in result.transcript.utterances) < 1.0
    assert ids[0] == "no_speech" and result.flags[0].priority == 1
    assert "roles_unknown" not in ids  # a stereo call: "mono call" was the wrong reason
    assert result.scorecard.total == 0.0 and result.scorecard.needs_review


@pytest.mark.slow
def test_a_sample_call_cut_to_a_third_is_flagged_truncated(pipeline, tmp_path: Path) -> None:
    from qa_pipeline.batch import source_for_file

    cut = truncate(SAMPLES / "zh_missing_greeting.wav", tmp_path / "zh_missing_greeting.wav", 1 / 3)
    (tmp_path / "zh_missing_greeting.json").write_bytes((SAMPLES / "zh_missing_greeting.json").read_bytes())
    result = pipeline(source_for_file(cut, pipeline.settings))
    assert result.duration_s == pytest.approx(42.6 / 3, abs=0.5)
    truncated = [f for f in result.flags if f.id == "truncated"]
    assert truncated and truncated[0].priority == 1 and "declares 42.6 s" in truncated[0].reason
    assert result.flags[0].priority == 1 and result.scorecard.needs_review
    assert result.transcript.utterances  # the part that is there was still transcribed and scored
