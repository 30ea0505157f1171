"""Mono-call diarization: word attribution (fast) and the packaged pyannote pipeline (slow, offline)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
from conftest import shared

from qa_pipeline.asr.diarization import SpeakerTurn, TurnIndex, assign_words, exclusive_turns, split_by_speaker
from qa_pipeline.asr.guards import AsrSegment
from qa_pipeline.config import DiarizationSettings, load_settings
from qa_pipeline.errors import ModelError
from qa_pipeline.records import Word


def _w(start: float, end: float, text: str = "x") -> Word:
    return Word(start, end, text, 0.9)


TURNS = [SpeakerTurn(0.0, 4.0, "A"), SpeakerTurn(3.5, 8.0, "B"), SpeakerTurn(9.0, 12.0, "A")]


def test_word_goes_to_speaker_with_largest_overlap() -> None:
    got = [s for _, s in assign_words([_w(0.5, 1.0), _w(3.6, 4.4), _w(3.2, 3.9), _w(10.0, 10.5)], TURNS)]
    assert got == ["A", "B", "A", "A"]


def test_word_in_gap_goes_to_nearest_turn_and_far_words_to_nobody() -> None:
    index = TurnIndex(TURNS)
    assert index.speaker_at(8.2, 8.4) == "B"
    assert index.speaker_at(30.0, 30.5) is None


def test_interval_index_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    turns = []
    for i in range(300):
        start = float(rng.uniform(0, 600))
        turns.append(SpeakerTurn(start, start + float(rng.uniform(0.2, 15)), f"S{i % 3}"))
    index = TurnIndex(turns)
    for _ in range(500):
        a = float(rng.uniform(0, 620))
        b = a + float(rng.uniform(0.05, 2))
        brute = {t for t in turns if t.start < b and t.end > a}
        assert set(index.overlapping(a, b)) == brute


def test_exclusive_turns_have_no_overlap_and_keep_coverage() -> None:
    ex = exclusive_turns(TURNS)
    assert all(a.end <= b.start + 1e-9 for a, b in zip(ex, ex[1:]))
    assert ex[0] == SpeakerTurn(0.0, 3.5, "A") and ex[1] == SpeakerTurn(3.5, 8.0, "B")
    assert sum(t.duration for t in ex) == pytest.approx(11.0)


def test_split_by_speaker_breaks_at_speaker_change_and_pause() -> None:
    words = (_w(0.1, 0.5, "您好"), _w(0.6, 1.0, "工号"), _w(5.0, 5.5, "喂"), _w(9.5, 9.9, "好"), _w(11.5, 11.9, "的"))
    seg = AsrSegment(0.1, 11.9, "", words, -0.1, 0.0)
    groups = split_by_speaker([seg], exclusive_turns(TURNS), pause_split_s=0.8)
    assert [[w.text for w in g] for g in groups["A"]] == [["您好", "工号"], ["好"], ["的"]]
    assert [[w.text for w in g] for g in groups["B"]] == [["喂"]]


def test_diarization_settings_defaults_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = DiarizationSettings()
    assert conf.pipeline == "packaged" and conf.num_speakers == 2 and conf.enabled
    monkeypatch.setenv("QA_DIARIZATION__PIPELINE", "/models/speaker-diarization-community-1")
    monkeypatch.setenv("QA_DIARIZATION__MAX_SPEAKERS", "5")
    settings = load_settings(None)
    assert settings.diarization.pipeline.endswith("community-1")
    assert settings.diarization.max_speakers == 5


def test_speaker_bounds_follow_call_direction() -> None:
    from qa_pipeline.asr.diarization import Diarizer

    d = Diarizer(None, embedding=None, model_id="x", device="cpu", settings=DiarizationSettings())  # type: ignore[arg-type]
    assert d.speaker_bounds("inbound") == {"num_speakers": 2}
    assert d.speaker_bounds("conference") == {"min_speakers": 2, "max_speakers": 4}
    assert d.speaker_bounds("transfer") == {"min_speakers": 2, "max_speakers": 4}


def test_local_pipeline_dir_without_config_is_a_model_error(tmp_path: Path) -> None:
    from qa_pipeline.asr.diarization import Diarizer

    with pytest.raises(ModelError, match="config.yaml"):
        Diarizer.from_pretrained(tmp_path)


# --------------------------------------------------------------------------- real models


@pytest.fixture(scope="module")
def diarizer():
    from qa_pipeline.asr.diarization import Diarizer

    return Diarizer.from_pretrained("packaged")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield


@pytest.mark.slow
def test_pyannote_sample_der_offline(diarizer, no_network) -> None:
    """DER on pyannote's own 2-speaker sample, with the network unreachable and telemetry off."""
    import soundfile as sf
    from pyannote.core import Annotation, Segment
    from pyannote.database.util import load_rttm
    from pyannote.metrics.diarization import DiarizationErrorRate

    assert os.environ.get("PYANNOTE_METRICS_ENABLED") == "false"
    x, sr = sf.read(shared("pyannote-audio", "sample", "sample.wav"), dtype="float32")
    out = diarizer(x, sr)
    assert len(out.speakers) == 2
    hyp = Annotation(uri="sample")
    for t in out.turns:
        hyp[Segment(t.start, t.end)] = t.speaker
    ref = load_rttm(shared("pyannote-audio", "sample", "sample.rttm"))["sample"]
    der = DiarizationErrorRate(collar=0.5)(ref, hyp)  # +-0.25 s
    assert der <= 0.12, der
    assert all(a.end <= b.start + 1e-6 for a, b in zip(out.exclusive, out.exclusive[1:]))
    # overlap near 18 s is kept in the (non-exclusive) turns
    assert any(a.end > b.start + 0.05 for a, b in zip(out.turns, out.turns[1:]))


@pytest.mark.slow
def test_packaged_pipeline_is_pyannotes_own_speaker_diarization(diarizer, no_network) -> None:
    """The packaged pipeline is a plain SpeakerDiarization from pyannote's public constructor (no
    subclass, no private attribute set): CAM++ goes through pyannote's own speaker-embedding
    wrapper, which finds CAM++'s 0.4 s minimum by itself, and the pipeline left to its own speaker
    count (no num/min/max_speakers) still finds the two voices of a 16 s clip."""
    import soundfile as sf
    import torch
    from pyannote.audio import Model
    from pyannote.audio.pipelines.speaker_diarization import SpeakerDiarization
    from pyannote.audio.pipelines.speaker_verification import (
        PretrainedSpeakerEmbedding,
        PyannoteAudioPretrainedSpeakerEmbedding,
    )

    from qa_pipeline.asr.campplus_pyannote import CamPlusPlusModel

    pipeline = diarizer.pipeline
    assert type(pipeline) is SpeakerDiarization
    # diarization.cpu_threads = 1 by default: torch runs the pipeline on one intra-op thread
    assert diarizer.device != "cpu" or torch.get_num_threads() == diarizer.settings.cpu_threads == 1
    model = pipeline.embedding  # the constructor's own (public) record of its `embedding` argument
    assert isinstance(model, CamPlusPlusModel) and isinstance(model, Model)
    wrapper = PretrainedSpeakerEmbedding(model)  # what the constructor does with it
    assert type(wrapper) is PyannoteAudioPretrainedSpeakerEmbedding
    assert (wrapper.sample_rate, wrapper.dimension, wrapper.min_num_samples) == (16000, 192, 6400)

    x, sr = sf.read(shared("pyannote-audio", "sample", "sample.wav"), dtype="float32")
    assert sr == 16000
    clip = x[6 * sr : 22 * sr]
    # through pyannote's wrapper: a full mask embeds like CAM++ on the signal (the voiceprint path),
    # a mask keeping 0.2 s gives NaN (too short to embed)
    three_s = torch.from_numpy(clip[4 * sr : 7 * sr].copy())[None, None].repeat(2, 1, 1)  # < embedding_max_s
    masks = torch.zeros(2, 293)
    masks[0] = 1.0
    masks[1, :18] = 1.0
    emb = wrapper(three_s, masks=masks)
    assert emb.shape == (2, 192)
    np.testing.assert_allclose(emb[0], diarizer.embedding.embed(clip[4 * sr : 7 * sr]), rtol=1e-4, atol=1e-5)
    assert np.isnan(emb[1]).all()

    out = pipeline({"waveform": torch.from_numpy(clip)[None], "sample_rate": sr, "uri": "clip"})
    turns = out.speaker_diarization
    assert len(turns.labels()) == 2, turns
    from pyannote.core import Segment

    # reference: speaker90 talks over 10.6-14.5 s and speaker91 over 14.7-17.9 s (clip time -6 s)
    assert turns.argmax(Segment(5.0, 8.0)) != turns.argmax(Segment(9.0, 11.5))
