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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from ..config import AsrSettings
from ..errors import ModelError
from ..records import Word
from .guards import AsrSegment, SegmentGuard
from .music import music_spans, silence_spans
from .models import ResolvedModel, resolve_model

SUPPORTED_LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class TranscriptionInfo:
    model_id: str
    language: str
    duration_s: float
    duration_after_vad_s: float
    options: Mapping[str, Any]
    #: Segments the hallucination guards removed, by reason; filled while the
    #: segment generator is consumed.
    removed: Counter[str] = field(default_factory=Counter)
    #: Music spans (seconds from call start) silenced before recognition (:mod:`.music`).
    music: tuple[tuple[float, float], ...] = ()


class Transcriber:
    """One loaded Whisper model; call it on 16 kHz mono float32 audio."""

    def __init__(self, model: Any, resolved: ResolvedModel, settings: AsrSettings) -> None:
        from faster_whisper import BatchedInferencePipeline

        self.model = model
        self.resolved = resolved
        self.settings = settings
        self._batched = BatchedInferencePipeline(model)

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

        device = settings.device
        if device == "auto":
            device = "cuda" if _cuda_available() else "cpu"
        try:
            whisper = WhisperModel(
                resolved.location,
                device=device,
                compute_type=settings.compute_type,
                cpu_threads=settings.cpu_threads or (os.cpu_count() or 1),
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
        return cls(whisper, resolved, settings.model_copy(update={"device": device}))

    def options(self, language: str) -> dict[str, Any]:
        """The exact keyword arguments given to faster-whisper for ``language``."""
        s = self.settings
        opts: dict[str, Any] = {
            "language": language,
            "beam_size": s.beam_size,
            "word_timestamps": True,
            "vad_filter": s.vad,
            "condition_on_previous_text": False,
        }
        if s.batch_size > 1:
            opts["batch_size"] = s.batch_size
        if s.hotwords.get(language):
            opts["hotwords"] = " ".join(s.hotwords[language])
        if s.initial_prompt.get(language):
            opts["initial_prompt"] = s.initial_prompt[language]
        return opts

    def detect_language(self, channels: Sequence[np.ndarray]) -> tuple[str, float]:
        """Most likely supported language over all channels (speech only, first 30 s of each)."""
        scores = dict.fromkeys(SUPPORTED_LANGUAGES, 0.0)
        for samples in channels:
            _, _, probs = self.model.detect_language(samples, vad_filter=self.settings.vad)
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
        if language not in SUPPORTED_LANGUAGES:
            raise ValueError(f"unsupported language {language!r}; expected one of {SUPPORTED_LANGUAGES}")
        opts = self.options(language)
        engine = self._batched if "batch_size" in opts else self.model
        music = music_spans(samples) if self.settings.music_filter else ()
        raw_segments, raw_info = engine.transcribe(silence_spans(samples, music), **opts)
        guard = SegmentGuard(language)
        info = TranscriptionInfo(
            model_id=self.model_id,
            language=language,
            duration_s=float(raw_info.duration),
            duration_after_vad_s=float(raw_info.duration_after_vad),
            options={**opts, "device": self.settings.device, "compute_type": self.settings.compute_type},
            removed=guard.removed,
            music=tuple((round(s + offset_s, 2), round(e + offset_s, 2)) for s, e in music),
        )
        return guard(_convert(raw_segments, offset_s)), info


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
