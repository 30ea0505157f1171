"""Cost-ordered recognition (issue 19): the first decode on the chunk-length encoder window
(``asr.encoder_min_s``; greedy with ``asr.beam_size = 1``), Whisper's fallback thresholds send an
unreliable window back through beam 5 on the full 30 s window.

Real model (packaged faster-whisper base) on a real sample call; no stand-ins.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from faster_whisper.transcribe import Segment, get_compression_ratio

from qa_pipeline.asr import short_context
from qa_pipeline.asr import transcriber as asr
from qa_pipeline.audio import load_audio
from qa_pipeline.config import PROJECT_ROOT

CALL = PROJECT_ROOT / "samples" / "calls" / "zh_good_agent.wav"


def _segment(text: str, avg_logprob: float) -> Segment:
    return Segment(id=1, seek=0, start=0.0, end=2.0, text=text, tokens=[], avg_logprob=avg_logprob,
                   compression_ratio=get_compression_ratio(text), no_speech_prob=0.0, words=None, temperature=0.0)


def test_whispers_fallback_thresholds_decide_what_is_unreliable() -> None:
    assert not asr.unreliable([_segment("您好，国家电网客服，请问有什么可以帮您？", -0.3)])
    assert asr.unreliable([_segment("对对对" * 40, -0.3)])  # a loop compresses far better than speech
    assert asr.unreliable([_segment("您好", -0.3), _segment("嗯", -1.4)])  # one unsure segment is enough
    assert not asr.unreliable([])


@pytest.fixture(scope="module")
def agent_channel() -> np.ndarray:
    return load_audio(CALL).channels[0]


def _texts(segments: Any) -> list[str]:
    return [seg.text for seg in segments]


def test_first_decode_encodes_each_chunk_on_its_own_length(
    pipeline, agent_channel: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    transcriber = pipeline.transcriber.with_options(beam_size=1)
    assert transcriber.model is pipeline.transcriber.model and transcriber.short_model is not transcriber.model
    kept: list[int] = []
    original = short_context.trimmed_length

    def spy(content: int, **kwargs: int) -> int:  # the real computation, the frames kept recorded
        kept.append(original(content, **kwargs))
        return kept[-1]

    monkeypatch.setattr(short_context, "trimmed_length", spy)
    segments, info = transcriber(agent_channel, language="zh")
    assert _texts(segments) and info.fallback["windows"] == 0
    # faster-whisper's VAD packs speech into chunks of up to 30 s; this channel's last chunk is
    # shorter and is encoded on its own length plus the margin, not padded to 3000 frames
    assert kept and all(n <= short_context.FULL_FRAMES for n in kept), kept
    assert kept[-1] < short_context.FULL_FRAMES and sum(kept) < short_context.FULL_FRAMES * len(kept), kept


def test_an_unreliable_window_is_decoded_again_with_beam_5_on_the_full_window(
    pipeline, agent_channel: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    transcriber = pipeline.transcriber.with_options(beam_size=1)  # greedy first
    monkeypatch.setattr(asr, "FALLBACK_MIN_LOGPROB", 0.0)  # every decode now counts as unsure
    segments, info = transcriber(agent_channel, language="zh")
    fell_back = _texts(segments)
    assert info.fallback["windows"] == 1  # a one-window call

    # exactly what a recogniser that always decodes beam 5 on the full window gives
    plain = asr.Transcriber(transcriber.model, transcriber.resolved, transcriber.settings.model_copy(
        update={"beam_size": 5, "encoder_min_s": None, "fallback_beam_size": None}))
    segments, plain_info = plain(agent_channel, language="zh")
    assert fell_back == _texts(segments) and plain_info.fallback["windows"] == 0


def test_vad_run_once_decodes_exactly_as_the_pipelines_own_vad(pipeline, agent_channel: np.ndarray) -> None:
    """The window's Silero VAD stamps, computed once and handed to the batched pipeline, give the
    segments (text, times, words) that ``BatchedInferencePipeline(vad_filter=True)`` gives itself."""
    from faster_whisper import BatchedInferencePipeline

    from qa_pipeline.asr.windows import speech_timestamps

    t = pipeline.transcriber
    opts = t.options("zh")
    stamps = speech_timestamps(agent_channel)
    assert len(stamps) > 3  # several utterances, gathered into more than one 30 s chunk below
    ours, speech_s = asr.decode_speech(t._fast, agent_channel, stamps, opts)
    own, own_info = BatchedInferencePipeline(t.short_model).transcribe(agent_channel, **opts)
    own = list(own)
    assert speech_s == pytest.approx(own_info.duration_after_vad) and speech_s > 30
    assert [(s.text, s.start, s.end) for s in ours] == [(s.text, s.start, s.end) for s in own]
    assert [(w.word, w.start, w.end) for s in ours for w in s.words] == [(w.word, w.start, w.end) for s in own for w in s.words]
    assert asr.decode_speech(t._fast, np.zeros(16_000 * 5, dtype=np.float32), [], opts) == ([], 0.0)


def test_a_stretch_decoded_alone_gives_the_same_text_every_time(pipeline) -> None:
    """The second pass's decode is repeatable within one process.  Time-reversed speech makes
    Whisper unsure, so faster-whisper's temperature schedule would sample, and CTranslate2's
    sampler cannot be re-seeded per decode: three such decodes gave three different texts."""
    speech = load_audio(PROJECT_ROOT / "samples" / "calls" / "zh_angry_customer_calmed.wav").channels[0]
    clip = np.ascontiguousarray(speech[16_000 * 3 : 16_000 * 9][::-1])
    t = pipeline.transcriber
    runs = [[(s.text, s.start, s.end, s.temperature) for s in t.decode_alone(clip, t.options("zh"))] for _ in range(3)]
    assert runs[0] and runs[0] == runs[1] == runs[2]
    assert {temperature for *_, temperature in runs[0]} == {0.0}


def test_cpu_layout_splits_the_cores_between_two_channels_unless_told_otherwise() -> None:
    from qa_pipeline.config import AsrSettings

    auto = AsrSettings()
    assert asr.cpu_layout(auto, "cpu", 2) == (2, 1)  # a stereo call's channels at once, one thread each
    assert asr.cpu_layout(auto, "cpu", 16) == (2, 8)
    assert asr.cpu_layout(auto, "cpu", 1) == (1, 1)
    assert asr.cpu_layout(auto, "cuda", 16) == (1, 16)
    assert asr.cpu_layout(AsrSettings(cpu_threads=1), "cpu", 2) == (1, 1)  # a Ray CPU worker's setting
    assert asr.cpu_layout(AsrSettings(num_workers=4), "cpu", 2) == (4, 2)


def test_a_ray_asr_actor_gets_the_automatic_layout_on_its_own_share() -> None:
    from qa_pipeline.config import AsrSettings
    from qa_pipeline.distributed.runner import actor_asr_layout

    auto = AsrSettings()
    assert actor_asr_layout(auto, 2, gpu=False) == {"num_workers": 2, "cpu_threads": 1}  # one actor, 2 cores
    assert actor_asr_layout(auto, 1, gpu=False) == {"num_workers": 1, "cpu_threads": 1}  # one actor per core
    assert actor_asr_layout(auto, 4, gpu=True) == {"cpu_threads": 4}
    assert actor_asr_layout(AsrSettings(cpu_threads=3), 2, gpu=False) == {"cpu_threads": 3}  # the user's choice
    assert actor_asr_layout(AsrSettings(num_workers=1), 2, gpu=False) == {"cpu_threads": 2}


def test_a_stereo_calls_channels_recognised_at_once_give_the_same_transcript(pipeline) -> None:
    """Two channels on two CTranslate2 workers at once (the automatic CPU layout) give exactly the
    utterances and ASR descriptions of one channel after the other on the same loaded model."""
    import os

    from qa_pipeline.records import Role
    from qa_pipeline.transcription import TranscriptionStage

    channels = load_audio(CALL).channels
    roles = [Role.AGENT, Role.CUSTOMER]
    at_once = TranscriptionStage(pipeline.settings, pipeline.transcriber)
    if (os.cpu_count() or 1) >= 2:
        assert at_once.transcriber.concurrency == 2
    in_turn = TranscriptionStage(pipeline.settings, pipeline.transcriber.with_options(num_workers=1))
    assert in_turn.transcriber.concurrency == 1
    a = at_once._recognise_channels(channels, roles, "zh")
    b = in_turn._recognise_channels(channels, roles, "zh")
    assert [utts for utts, _ in a] == [utts for utts, _ in b] and all(utts for utts, _ in a)
    assert [(i.vad_s, i.removed, i.second_pass, i.untranscribed) for _, i in a] == [
        (i.vad_s, i.removed, i.second_pass, i.untranscribed) for _, i in b
    ]
