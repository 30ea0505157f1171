"""Speech recognition stage: faster-whisper with Silero VAD and the batched pipeline.

Usage mirrors faster-whisper / pyannote.audio::

    transcriber = Transcriber.from_pretrained("faster-whisper-base", models_dir=Path("models"))
    segments, info = transcriber(samples_16k, language="zh")
    for segment in segments:   # lazy generator
        ...

``info`` is eager and records the model id and every option used, so results
can say exactly what produced them.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from ..config import AsrSettings
from ..errors import ModelError
from ..records import Word
from .guards import AsrSegment, SegmentGuard
from .models import ResolvedModel, resolve_model
from .music import music_spans, silence_spans
from .windows import (
    PAD_S,
    SAMPLE_RATE,
    VAD_MAX_SPEECH_S,
    active_regions,
    empty_speech,
    join_regions,
    plan_windows,
    speech_regions,
    speech_timestamps,
    union,
)

SUPPORTED_LANGUAGES = ("zh", "en")
#: Second-pass segments must be at least this confident (mean token log-probability) ...
SECOND_PASS_MIN_LOGPROB = -1.0
#: ... and not look like silence to Whisper itself.
SECOND_PASS_MAX_NO_SPEECH = 0.6
#: Tokens a second-pass decode may generate per second of its clip (plus
#: :data:`SECOND_PASS_TOKEN_SLACK`).  Fast Mandarin is ~6 characters/s, about as many tokens;
#: without a bound, a decode of a 1.6 s clip looped up to Whisper's 448 tokens (with the
#: temperature schedule then in use: at every temperature, 13.8 CPU-s for one clip, issue 19).
SECOND_PASS_TOKENS_PER_S = 15
SECOND_PASS_TOKEN_SLACK = 10
#: A window's first decode is unreliable, and is decoded again with ``asr.fallback_beam_size`` on
#: the full 30 s encoder window, when one of its segments compresses better than this (a loop) ...
FALLBACK_COMPRESSION_RATIO = 2.4
#: ... or its mean token log-probability is below this.  Both are Whisper's own fallback
#: thresholds (``compression_ratio_threshold``, ``logprob_threshold``; Radford et al. 2022, sec. 4.5).
FALLBACK_MIN_LOGPROB = -1.0
#: Trailing padding frames the short encoder window keeps after a chunk's audio (10 ms each).
ENCODER_MARGIN_FRAMES = 100


@dataclass(frozen=True)
class TranscriptionInfo:
    model_id: str
    language: str
    duration_s: float
    options: Mapping[str, Any]
    #: Segments the hallucination guards removed, by reason; filled while the
    #: segment generator is consumed.
    removed: Counter[str] = field(default_factory=Counter)
    #: Music spans (seconds from call start) silenced before recognition (:mod:`.music`).
    music: tuple[tuple[float, float], ...] = ()
    #: Second-pass outcomes ("recovered", "still_empty") and the VAD speech that stayed empty.
    second_pass: Counter[str] = field(default_factory=Counter)
    untranscribed: list[tuple[float, float]] = field(default_factory=list)
    #: Speech seconds after VAD, per window (filled while the segments are consumed).
    vad_s: list[float] = field(default_factory=list)
    #: Windows whose first (short-window) decode was unreliable and were decoded again with the
    #: fallback beam on the full window (filled while the segments are consumed).
    fallback: Counter[str] = field(default_factory=Counter)

    @property
    def duration_after_vad_s(self) -> float:
        """Seconds of speech the VAD kept, over the windows recognised so far."""
        return round(sum(self.vad_s), 3)


class Transcriber:
    """One loaded Whisper model; call it on 16 kHz mono float32 audio.

    Cost-ordered decoding (issue 19, measured in ``benchmarks/THROUGHPUT.md``): each window is
    first decoded with ``asr.beam_size`` (default 5; 1 = greedy) by the batched pipeline, whose
    encoder runs on each speech chunk's own length (``asr.encoder_min_s``, :mod:`.short_context`); a window
    where Whisper's own fallback thresholds fire (:data:`FALLBACK_COMPRESSION_RATIO`,
    :data:`FALLBACK_MIN_LOGPROB`) is decoded again with ``asr.fallback_beam_size`` on the full
    30 s window, exactly as a beam-5 run would.  Silero VAD runs once per window
    (:func:`.windows.speech_timestamps`); the first decode, the fallback and the second pass all use
    its stamps (:func:`decode_speech` decodes exactly as faster-whisper's own VAD path).  Everything
    is deterministic: the same audio takes the same branch on every path.
    """

    def __init__(self, model: Any, resolved: ResolvedModel, settings: AsrSettings) -> None:
        from faster_whisper import BatchedInferencePipeline

        self.model = model
        self.resolved = resolved
        self.settings = settings
        #: the loaded model with the encoder on each chunk's own frames (same CTranslate2 object)
        self.short_model = _short(model, settings)
        self._batched = BatchedInferencePipeline(model)
        self._fast = BatchedInferencePipeline(self.short_model) if self.short_model is not model else self._batched

    def with_options(self, **updates: Any) -> "Transcriber":
        """The same loaded model under ``asr`` settings changed by ``updates`` (nothing reloaded).

        Raises:
            pydantic.ValidationError: an update is not a valid :class:`AsrSettings` value.
        """
        settings = AsrSettings.model_validate({**self.settings.model_dump(), **updates})
        return Transcriber(self.model, self.resolved, settings)

    @property
    def concurrency(self) -> int:
        """Requests the loaded model serves at once (CTranslate2 workers; 0 in the settings: one)."""
        return max(1, self.settings.num_workers)

    def fork(self) -> "Transcriber":
        """The same loaded model and settings with pipeline objects of its own, for another thread
        (faster-whisper's ``BatchedInferencePipeline`` keeps per-call state)."""
        return Transcriber(self.model, self.resolved, self.settings)

    @property
    def model_id(self) -> str:
        return self.resolved.model_id

    @classmethod
    def from_pretrained(
        cls,
        model: str | Path = "faster-whisper-base",
        *,
        models_dir: Path,
        settings: AsrSettings | None = None,
    ) -> "Transcriber":
        """Load a model by manifest name, local directory or hub name (offline by default)."""
        settings = (settings or AsrSettings()).model_copy(update={"model": str(model)})
        resolved = resolve_model(str(model), models_dir)
        from faster_whisper import WhisperModel

        device = resolve_device(settings.device)
        workers, threads = cpu_layout(settings, device, os.cpu_count() or 1)
        try:
            whisper = WhisperModel(
                resolved.location,
                device=device,
                compute_type=settings.compute_type,
                cpu_threads=threads,
                num_workers=workers,
                download_root=str(models_dir / "hub") if not resolved.local else None,
                local_files_only=settings.local_files_only,
            )
        except Exception as exc:  # CTranslate2 / huggingface_hub raise assorted types
            hint = ""
            if not resolved.local and settings.local_files_only:
                hint = (
                    " (not found locally; put the model in a local directory and set asr.model to it, "
                    "or set asr.local_files_only=false on a machine with internet)"
                )
            raise ModelError(f"cannot load ASR model {str(model)!r}: {exc}{hint}") from exc
        return cls(whisper, resolved, settings.model_copy(update={"device": device, "num_workers": workers, "cpu_threads": threads}))

    def options(self, language: str) -> dict[str, Any]:
        """The exact keyword arguments given to faster-whisper for ``language``."""
        return decode_options(self.settings, language)

    def detect_language(self, channels: Sequence[np.ndarray]) -> tuple[str, float]:
        """Most likely supported language of a call, from ONE short encoder pass over its speech.

        Speech (Silero VAD) from the first :data:`LANGUAGE_SCAN_S` seconds of every channel is
        interleaved in time order and cut to :data:`LANGUAGE_SAMPLE_S` seconds, so a stereo call
        costs one detection pass instead of one per channel (issue 19: detection per channel was a
        third of a transcription's CPU), and with ``asr.encoder_min_s`` the encoder runs on that
        sample's own length rather than on a 30 s window.  Returns ``(language, probability)``, the probability
        renormalised over :data:`SUPPORTED_LANGUAGES`; ``(first supported language, 0.0)`` when
        no channel has speech.
        """
        sample = language_sample(channels) if self.settings.vad else _head(channels)
        scores = dict.fromkeys(SUPPORTED_LANGUAGES, 0.0)
        if sample.size:
            _, _, probs = self.short_model.detect_language(sample, vad_filter=False)
            for lang, p in probs:
                if lang in scores:
                    scores[lang] += p
        total = sum(scores.values())
        best = max(scores, key=scores.__getitem__)
        return best, round(scores[best] / total, 4) if total else 0.0

    def __call__(
        self,
        samples: np.ndarray,
        *,
        language: str,
        offset_s: float = 0.0,
    ) -> tuple[Iterator[AsrSegment], TranscriptionInfo]:
        """Segments of one 16 kHz channel (lazy) and the run's description.

        Music is silenced first (:mod:`.music`); a long channel is recognised in windows and
        speech the first pass left empty gets a second pass (:mod:`.windows`).  ``info.removed``,
        ``info.second_pass`` and ``info.untranscribed`` fill while the segments are consumed.
        """
        if language not in SUPPORTED_LANGUAGES:
            raise ValueError(f"unsupported language {language!r}; expected one of {SUPPORTED_LANGUAGES}")
        opts = self.options(language)
        music = music_spans(samples) if self.settings.music_filter else ()
        guard = SegmentGuard(language)
        info = TranscriptionInfo(
            model_id=self.model_id,
            language=language,
            duration_s=round(len(samples) / SAMPLE_RATE, 3),
            options={**opts, "device": self.settings.device, "compute_type": self.settings.compute_type},
            removed=guard.removed,
            music=tuple((round(s + offset_s, 2), round(e + offset_s, 2)) for s, e in music),
        )
        return self._windows(samples, music, opts, guard, info, offset_s), info

    def _windows(
        self,
        audio: np.ndarray,
        music: tuple[tuple[float, float], ...],
        opts: dict[str, Any],
        guard: SegmentGuard,
        info: TranscriptionInfo,
        offset_s: float,
    ) -> Iterator[AsrSegment]:
        """Each window recognised alone, its music silenced (a copy of the window, not the channel)."""
        batched = "batch_size" in opts
        fallback = self.settings.fallback_beam_size
        for start, end in plan_windows(audio):
            t0, t1 = start / SAMPLE_RATE, end / SAMPLE_RATE
            local = tuple((max(a, t0) - t0, min(b, t1) - t0) for a, b in music if a < t1 and b > t0)
            window = silence_spans(audio[start:end], local)
            base = offset_s + start / SAMPLE_RATE
            # Silero VAD once per window: the batched decode, its fallback and the second pass share it
            stamps = speech_timestamps(window) if batched else None
            raw, vad_s = self._recognise(window, stamps, opts, short=True)
            if fallback and unreliable(raw) and (fallback != opts["beam_size"] or self.short_model is not self.model):
                info.fallback["windows"] += 1
                raw, vad_s = self._recognise(window, stamps, {**opts, "beam_size": fallback}, short=False)
            info.vad_s.append(vad_s)
            segments = list(guard(_convert(raw, base)))
            if self.settings.second_pass and stamps is not None:
                segments = self._second_pass(window, base, join_regions(stamps), segments, opts, guard, info)
            yield from segments

    def _recognise(
        self, window: np.ndarray, stamps: list[dict[str, int]] | None, opts: dict[str, Any], *, short: bool
    ) -> tuple[list[Any], float]:
        """One window's faster-whisper segments and its seconds of speech: the batched pipeline on
        the window's VAD ``stamps``, or (``stamps`` None: no VAD) sequential decoding of the whole
        window, at temperature 0 unless set (see :meth:`decode_alone`); ``short``: the encoder on
        each chunk's own length (:mod:`.short_context`)."""
        if stamps is None:
            raw, raw_info = (self.short_model if short else self.model).transcribe(window, **{"temperature": 0.0, **opts})
            return list(raw), float(raw_info.duration_after_vad)
        return decode_speech(self._fast if short else self._batched, window, stamps, opts)

    def _second_pass(
        self,
        window: np.ndarray,
        base: float,
        regions: list[tuple[float, float]],
        segments: list[AsrSegment],
        opts: dict[str, Any],
        guard: SegmentGuard,
        info: TranscriptionInfo,
    ) -> list[AsrSegment]:
        """Decode alone (:meth:`decode_alone`) each VAD speech region (``regions``, seconds in
        ``window``) or loud stretch that got no word; keep what Whisper is confident of."""
        words = [w for seg in segments for w in seg.words]
        shifted = [(a + base, b + base) for a, b in union(regions, active_regions(window))]
        empty = empty_speech(shifted, words)
        if not empty:
            return segments
        added: list[AsrSegment] = []
        for a, b in empty:
            a0, b0 = max(base, a - PAD_S), min(base + len(window) / SAMPLE_RATE, b + PAD_S)
            clip = window[int((a0 - base) * SAMPLE_RATE) : int((b0 - base) * SAMPLE_RATE)]
            confident = (
                seg for seg in _convert(self.decode_alone(clip, opts), a0)
                if seg.avg_logprob >= SECOND_PASS_MIN_LOGPROB and seg.no_speech_prob < SECOND_PASS_MAX_NO_SPEECH
            )
            loops_before = guard.removed["repetition_loop"]
            found = list(guard(_inside(seg, a, b) for seg in confident))
            if guard.removed["repetition_loop"] > loops_before:
                # Speech the batched pass found no word in, decoded alone into a repetition loop
                # (e.g. "故事,故事,故事,…"): a hallucination, not a recovery.
                info.second_pass["loop_rejected"] += 1
                found = []
            if found:
                info.second_pass["recovered"] += 1
                added.extend(found)
            else:
                info.second_pass["still_empty"] += 1
                info.untranscribed.append((round(float(a), 2), round(float(b), 2)))
        return sorted([*segments, *added], key=lambda seg: (seg.start, seg.end))

    def decode_alone(self, clip: np.ndarray, opts: Mapping[str, Any]) -> list[Any]:
        """faster-whisper segments of one short ``clip`` (16 kHz mono, at most 30 s) decoded alone
        on the full 30 s window, timed from the clip's start, at most
        :data:`SECOND_PASS_TOKENS_PER_S` tokens per second of it.

        Temperature 0 (beam search, no sampling) unless ``asr.temperature`` says otherwise:
        CTranslate2 seeds its sampler once per worker thread (``get_random_generator`` in its
        ``src/random.cc`` is a ``thread_local`` generator; ``set_random_seed`` only affects threads
        that have not sampled yet), so a sampled decode depends on everything the process sampled
        before it -- measured: the same clip sampled after ``set_random_seed(0)`` each time gave
        three different texts in one process.  Whisper's temperature schedule would make a call's
        transcript depend on the calls scored before it in the same worker.
        """
        kwargs = {k: v for k, v in opts.items() if k not in ("batch_size", "vad_filter")}
        kwargs.setdefault("temperature", 0.0)
        max_tokens = int(SECOND_PASS_TOKENS_PER_S * len(clip) / SAMPLE_RATE) + SECOND_PASS_TOKEN_SLACK
        raw, _ = self.model.transcribe(clip, vad_filter=False, max_new_tokens=max_tokens, **kwargs)
        return list(raw)


def unreliable(segments: Sequence[Any]) -> bool:
    """True when one of a window's decoded segments (faster-whisper ``Segment``) trips Whisper's own
    fallback thresholds: a decoding loop (:data:`FALLBACK_COMPRESSION_RATIO`) or a low mean token
    log-probability (:data:`FALLBACK_MIN_LOGPROB`)."""
    return any(
        seg.compression_ratio > FALLBACK_COMPRESSION_RATIO or seg.avg_logprob < FALLBACK_MIN_LOGPROB
        for seg in segments
    )


def decode_speech(
    pipeline: Any, audio: np.ndarray, stamps: Sequence[Mapping[str, int]], opts: Mapping[str, Any]
) -> tuple[list[Any], float]:
    """faster-whisper's batched VAD decode of ``audio`` (16 kHz mono) on Silero VAD ``stamps``
    (samples, :func:`.windows.speech_timestamps`) computed beforehand.

    ``BatchedInferencePipeline.transcribe(vad_filter=True)`` runs the VAD itself, gathers the
    speech into chunks of at most 30 s (``faster_whisper.vad.collect_chunks``), decodes them and
    maps the times back (``restore_speech_timestamps``).  Here the same chunks are built from
    ``stamps`` by the same function and handed to the pipeline as ``clip_timestamps`` over their
    concatenation, so the decode is the pipeline's own without a second VAD run (the second
    pass needs the stamps too).  Returns (faster-whisper segments timed in ``audio``, seconds of
    speech); no stamps: no segments, as the pipeline gives.
    """
    from faster_whisper.transcribe import restore_speech_timestamps
    from faster_whisper.vad import collect_chunks

    if not stamps:
        return [], 0.0
    chunks, _ = collect_chunks(audio, list(stamps), SAMPLE_RATE, max_duration=VAD_MAX_SPEECH_S)
    bounds = np.cumsum([0, *(len(c) for c in chunks)])
    # seconds the pipeline turns back into exactly these sample indices (it takes int(s * 16000))
    clips = [{"start": (a + 0.25) / SAMPLE_RATE, "end": (b + 0.25) / SAMPLE_RATE} for a, b in zip(bounds[:-1], bounds[1:])]
    kwargs = {k: v for k, v in opts.items() if k != "vad_filter"}
    raw, raw_info = pipeline.transcribe(np.concatenate(chunks), vad_filter=False, clip_timestamps=clips, **kwargs)
    return list(restore_speech_timestamps(raw, list(stamps), SAMPLE_RATE)), float(raw_info.duration_after_vad)


def _short(model: Any, settings: AsrSettings) -> Any:
    """``model`` with the encoder on each input's own frames (``asr.encoder_min_s``), else ``model``."""
    if settings.encoder_min_s is None:
        return model
    from .short_context import ShortContextWhisper

    return ShortContextWhisper.of(model, margin_frames=ENCODER_MARGIN_FRAMES, min_frames=round(settings.encoder_min_s * 100))


def decode_options(settings: AsrSettings, language: str) -> dict[str, Any]:
    """faster-whisper keyword arguments for ``language`` under ``settings`` (no model needed)."""
    opts: dict[str, Any] = {
        "language": language,
        "beam_size": settings.beam_size,
        "word_timestamps": True,
        "vad_filter": settings.vad,
        "condition_on_previous_text": False,
    }
    if settings.vad:  # faster-whisper's BatchedInferencePipeline needs VAD chunks
        opts["batch_size"] = settings.batch_size
    if settings.temperature is not None:
        opts["temperature"] = settings.temperature
    if settings.hotwords.get(language):
        opts["hotwords"] = " ".join(settings.hotwords[language])
    if settings.initial_prompt.get(language):
        opts["initial_prompt"] = settings.initial_prompt[language]
    return opts


def cpu_layout(settings: AsrSettings, device: str, cores: int) -> tuple[int, int]:
    """(CTranslate2 workers, threads per worker) for ``settings`` on ``device`` with ``cores`` cores.

    ``asr.num_workers = 0`` and ``asr.cpu_threads = 0`` on a CPU: two workers on half the cores
    each, so that a stereo call's channels are recognised at once (:meth:`Transcriber.concurrency`).
    A base model's per-token matrices are too small for two threads to share well: on the 13
    sample calls (2 cores) one thread per channel gave the identical transcript for 42.8 instead
    of 67.3 CPU-s, in 28.3 instead of 52.2 s (issue 19).  Explicit values are kept; ``0`` threads
    otherwise means all cores, ``0`` workers one.
    """
    if device == "cpu" and settings.num_workers == 0 and settings.cpu_threads == 0 and cores >= 2:
        return 2, cores // 2
    return settings.num_workers or 1, settings.cpu_threads or cores


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when CTranslate2 sees a GPU, else ``"cpu"``; others unchanged."""
    if device != "auto":
        return device
    return "cuda" if _cuda_available() else "cpu"


#: Seconds at the start of each channel searched for speech to identify the language: the first
#: span first; the longer one only when the first holds less than :data:`LANGUAGE_SAMPLE_S` of
#: speech over all channels (Silero VAD on 60 s of a stereo call instead of 180 s).
LANGUAGE_SCAN_S = (30.0, 90.0)
#: Seconds of speech the language is identified from (one encoder pass on that length).  Ten
#: seconds of speech from both parties separate the supported languages (zh, en) with a wide
#: margin; Whisper's own detection reads up to 30 s.
LANGUAGE_SAMPLE_S = 10.0


def language_sample(channels: Sequence[np.ndarray]) -> np.ndarray:
    """Up to :data:`LANGUAGE_SAMPLE_S` of speech from all channels, in time order (16 kHz float32, shape (n,))."""
    want = int(LANGUAGE_SAMPLE_S * SAMPLE_RATE)
    pieces: list[tuple[float, np.ndarray]] = []
    for scan_s in LANGUAGE_SCAN_S:
        pieces = []
        for samples in channels:
            head = samples[: int(scan_s * SAMPLE_RATE)]
            for a, b in speech_regions(head):
                pieces.append((a, head[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)]))
        if sum(len(p) for _, p in pieces) >= want or all(len(c) <= scan_s * SAMPLE_RATE for c in channels):
            break
    pieces.sort(key=lambda piece: piece[0])
    joined = np.concatenate([p for _, p in pieces]) if pieces else np.zeros(0, dtype=np.float32)
    return joined[:want].astype(np.float32, copy=False)


def _head(channels: Sequence[np.ndarray]) -> np.ndarray:
    """Without VAD: the first 30 s of the loudest channel."""
    if not channels:
        return np.zeros(0, dtype=np.float32)
    loudest = max(channels, key=lambda c: float(np.max(np.abs(c[: int(LANGUAGE_SAMPLE_S * SAMPLE_RATE)]), initial=0.0)))
    return loudest[: int(LANGUAGE_SAMPLE_S * SAMPLE_RATE)]


def _inside(seg: AsrSegment, start: float, end: float) -> AsrSegment:
    """``seg`` with only the words whose middle lies in [start, end] (text rebuilt from them)."""
    words = tuple(w for w in seg.words if start <= 0.5 * (w.start + w.end) <= end)
    if len(words) == len(seg.words):
        return seg
    if not words:
        return replace(seg, words=(), text="")
    return replace(seg, words=words, text="".join(w.text for w in words).strip(), start=words[0].start, end=words[-1].end)


def _convert(raw_segments: Any, offset_s: float) -> Iterator[AsrSegment]:
    for seg in raw_segments:
        words = tuple(
            Word(
                start=round(w.start + offset_s, 3),
                end=round(w.end + offset_s, 3),
                text=w.word,
                probability=round(float(w.probability), 4),
            )
            for w in (seg.words or ())
        )
        yield AsrSegment(
            start=round(seg.start + offset_s, 3),
            end=round(seg.end + offset_s, 3),
            text=seg.text.strip(),
            words=words,
            avg_logprob=float(seg.avg_logprob),
            no_speech_prob=float(seg.no_speech_prob),
        )


def _cuda_available() -> bool:
    try:
        import ctranslate2

        return ctranslate2.get_cuda_device_count() > 0
    except Exception:  # noqa: BLE001
        return False
