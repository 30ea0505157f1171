"""The pipeline's explicit stages (fast, no model): the transcription stage returns one typed
record (roles, guard counts), utterances carry their speaker, stages report through one hook."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qa_pipeline.asr.diarization import Diarization, SpeakerTurn
from qa_pipeline.asr.guards import AsrSegment
from qa_pipeline.asr.transcriber import TranscriptionInfo
from qa_pipeline.audio import Audio
from qa_pipeline.config import AsrSettings, DiarizationSettings, Settings
from qa_pipeline.errors import ModelError
from qa_pipeline.pipeline import CallPipeline
from qa_pipeline.records import AudioInfo, CallMetadata, CallResult, GuardCounts, Role, Word
from qa_pipeline.sources import CallSource
from qa_pipeline.transcription import DiarizerLoader, TranscribedCall, TranscriptionStage, guard_counts, pyannote_hook


class _AsrSettings:
    device = "cpu"
    compute_type = "int8"


class FakeTranscriber:
    """Speaks fixed phrases per call of __call__; the guards 'removed' one boilerplate segment each time."""

    model_id = "fake-whisper"
    settings = _AsrSettings()
    concurrency = 1  # one channel after the other: the phrases are handed out in call order

    def __init__(self, phrases: list[list[tuple[float, float, str]]]) -> None:
        self.phrases = list(phrases)

    def options(self, language: str) -> dict[str, Any]:
        return {"language": language, "beam_size": 1}

    def with_options(self, **updates: Any) -> "FakeTranscriber":
        self.updates = updates  # the real one returns a Transcriber on the same model; here: the same phrases
        return self

    def detect_language(self, channels: Any) -> tuple[str, float]:
        return "en", 0.99

    def __call__(self, samples: Any, *, language: str) -> tuple[Any, TranscriptionInfo]:
        info = TranscriptionInfo(model_id=self.model_id, language=language, duration_s=len(samples) / 16000, options={})
        spoken = self.phrases.pop(0)

        def segments() -> Any:
            info.removed["boilerplate"] += 1  # filled while consumed, as the real guards do
            for start, end, text in spoken:
                yield AsrSegment(start, end, text, (Word(start, end, text, 0.9),), -0.1, 0.01)

        return segments(), info


class FakeDiarizer:
    def __init__(self, turns: list[SpeakerTurn]) -> None:
        self.turns = tuple(turns)
        self.embedding = None

    def speaker_bounds(self, direction: str) -> dict[str, int]:
        return {"num_speakers": 2}

    def __call__(self, samples: Any, sample_rate: int, *, direction: str = "inbound", hook: Any = None) -> Diarization:
        if hook is not None:  # pyannote calls its hook like this
            hook("segmentation", None)
            hook("embeddings", None, total=2, completed=1)
        return Diarization(self.turns, self.turns, {}, len(samples) / sample_rate)


class Steps(list[tuple[str, dict[str, Any]]]):
    """A stage hook that records (step, info)."""

    def __call__(self, step: str, call_id: str, /, **info: Any) -> None:
        self.append((step, info))


def _audio(channels: int, seconds: float = 6.0) -> Audio:
    info = AudioInfo(path="x.wav", sha256="0" * 64, format="WAV", subtype="PCM_16", sample_rate=16000,
                     channels=channels, duration_s=seconds)
    return Audio(info=info, channels=tuple(np.zeros(int(seconds * 16000), dtype=np.float32) for _ in range(channels)))


def _source(**meta: Any) -> CallSource:
    return CallSource(Path("x.wav"), CallMetadata(call_id="c1", language="en", **meta))


def test_stereo_utterances_carry_their_channel_and_guard_counts_come_back_in_the_record() -> None:
    settings = Settings()
    asr = FakeTranscriber([[(0.5, 1.5, " Hello, thank you for calling.")], [(2.0, 3.0, " Hi, my power is out.")]])
    steps = Steps()
    stage = TranscriptionStage(settings, asr)  # type: ignore[arg-type]
    out = stage(_source(agent_channel=0), _audio(2), hook=steps)
    assert isinstance(out, TranscribedCall)
    assert [(u.role, u.speaker) for u in out.transcript.utterances] == [(Role.AGENT, "ch0"), (Role.CUSTOMER, "ch1")]
    assert out.roles is None and out.decode_updates == {}
    assert out.guards == GuardCounts(removed={"boilerplate": 2}, second_pass={})
    assert [s for s, _ in steps] == ["transcribe", "transcribe"]


def test_mono_call_keeps_diarization_labels_and_returns_the_role_assignment() -> None:
    settings = Settings(asr=AsrSettings(beam_size=1))  # stereo calls greedy; mono keeps asr.mono_beam_size
    asr = FakeTranscriber([[(0.2, 1.2, " Thank you for calling, my name is Ann."), (3.0, 4.0, " My bill is wrong.")]])
    diarizer = FakeDiarizer([SpeakerTurn(0.0, 2.0, "SPEAKER_00"), SpeakerTurn(2.5, 5.0, "SPEAKER_01")])
    steps = Steps()
    stage = TranscriptionStage(settings, asr, diarizer=diarizer)  # type: ignore[arg-type]
    out = stage(_source(), _audio(1), hook=steps)
    assert [u.speaker for u in out.transcript.utterances] == ["SPEAKER_00", "SPEAKER_01"]
    assert out.roles is not None and out.roles.role("SPEAKER_00") is Role.AGENT
    assert [u.role for u in out.transcript.utterances] == [Role.AGENT, Role.CUSTOMER]
    assert out.guards.removed == {"boilerplate": 1}
    # both parties share the channel: the first decode uses the mono beam (asr.mono_beam_size)
    assert asr.updates == {"beam_size": 5} and out.decode_updates == {"beam_size": 5}
    # the diarizer reports through the same hook, pyannote's steps as "diarize" steps
    assert ("diarize", {"pyannote_step": "embeddings", "total": 2, "completed": 1}) in steps
    assert [s for s, _ in steps].count("diarize") == 3


def test_the_diarizer_loads_with_the_first_mono_call_and_a_failed_load_fails_every_mono_call(tmp_path: Path) -> None:
    missing = tmp_path / "no-pipeline"  # not a pyannote pipeline directory: loading it fails
    settings = Settings(diarization=DiarizationSettings(pipeline=str(missing)))
    loader = DiarizerLoader(settings)
    asr = FakeTranscriber([[(0.5, 1.5, " Hello, thank you for calling.")], [(2.0, 3.0, " Hi.")]])
    stage = TranscriptionStage(settings, asr, diarizer=loader)  # type: ignore[arg-type]
    out = stage(_source(agent_channel=0), _audio(2))  # a stereo call never needs the diarizer
    assert len(out.transcript.utterances) == 2 and not loader.loaded
    for _ in range(2):  # the failed load is remembered, and fails each mono call the same way
        with pytest.raises(ModelError, match="no config.yaml") as caught:
            stage(_source(), _audio(1))
        assert caught.value.path == str(missing)
    assert loader.loaded


def test_pyannote_hook_adapter_signature() -> None:
    seen = Steps()
    adapter = pyannote_hook(seen, "c9")
    adapter("speaker_counting", object(), file={"uri": "call"})
    assert seen == [("diarize", {"pyannote_step": "speaker_counting"})]


def test_a_keys_only_pipeline_loads_nothing_and_has_no_side_channels() -> None:
    pipe = CallPipeline(Settings())
    assert pipe.transcriber is None and pipe.transcription is None and pipe.sentiment_analyzer is None
    assert not hasattr(pipe, "role_assignments")


def test_results_stored_before_speaker_existed_still_load(tmp_path: Path) -> None:
    from qa_testkit.web_results import synthetic_results

    result = next(iter(synthetic_results(1)))
    data = result.to_dict()
    assert all("speaker" in u for u in data["utterances"])
    for u in data["utterances"]:
        del u["speaker"]
    loaded = CallResult.from_dict(data)
    assert all(u.speaker is None for u in loaded.transcript.utterances)


def test_guard_counts_sum_over_channels() -> None:
    a = TranscriptionInfo(model_id="m", language="zh", duration_s=1.0, options={}, removed=Counter(loop=1))
    b = TranscriptionInfo(model_id="m", language="zh", duration_s=1.0, options={}, removed=Counter(loop=2, no_speech=1))
    b.second_pass["recovered"] += 1
    assert guard_counts([a, b]) == GuardCounts(removed={"loop": 3, "no_speech": 1}, second_pass={"recovered": 1})
