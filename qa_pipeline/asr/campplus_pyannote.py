"""CAM++ as a pyannote.audio :class:`Model`, and the PLDA stand-in agglomerative clustering needs.

Imported only once pyannote.audio is (:mod:`.diarization` imports it after
:func:`.campplus.quiet_import_pyannote`), so :mod:`.campplus` and :mod:`.diarization` still import
without the ``diarization`` extra.

``SpeakerDiarization(embedding=CamPlusPlusModel(...))`` passes the model through pyannote's
public route: ``PretrainedSpeakerEmbedding`` -> ``PyannoteAudioPretrainedSpeakerEmbedding`` ->
``get_model``, which takes a :class:`Model` instance as is.  That wrapper reads
``model.audio.sample_rate`` and ``model.dimension``, calls ``model(waveforms, weights=masks)``, and
finds ``min_num_samples`` by bisection, counting an exception as "input too short".
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from pyannote.audio import Model
from pyannote.audio.core.plda import PLDA

from .campplus import SAMPLE_RATE

if TYPE_CHECKING:  # pragma: no cover
    from ..config import DiarizationSettings
    from .campplus import CamPlusPlusEmbedding


class CamPlusPlusModel(Model):
    """CAM++ (zh/en) speaker embeddings behind pyannote's ``Model`` interface.

    ``forward(waveforms (B,1,N), weights (B,F) | None) -> (B,192)``: each row keeps the samples
    its mask (nearest frame, > 0.5) selects, cut to the central ``max_seconds``; masked speech
    shorter than 0.4 s gives a NaN row, unmasked input shorter than 0.4 s raises (which is how
    pyannote's bisection finds ``min_num_samples`` = 6400).  Features (kaldi fbank) are computed
    on the CPU whatever the model's device, and rows of equal length share one forward pass (no
    padding enters CAM++'s statistics pooling).

    The CAM++ torch module is shared with ``embedding`` (the voiceprint embedder) and registered
    as a submodule, so ``.to(device)`` (pyannote's ``Pipeline.to``) moves both.
    """

    def __init__(self, embedding: "CamPlusPlusEmbedding") -> None:
        super().__init__(sample_rate=SAMPLE_RATE, num_channels=1)
        self.campplus = embedding.model
        self.featurizer = embedding
        self.min_num_samples = embedding.min_num_samples
        #: Embed at most this many samples of each (chunk, speaker) mask (speed); None: all.
        self.max_samples = embedding.max_samples
        self.eval()

    @property
    def dimension(self) -> int:
        return 192

    def forward(self, waveforms: torch.Tensor, weights: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        """(B,1,N) waveforms, optional (B,F) frame masks -> (B,192); other keywords are ignored."""
        batch, _, n = waveforms.shape
        if weights is None and n < self.min_num_samples:
            raise ValueError(f"CAM++ needs at least {self.min_num_samples} samples, got {n}")
        waveforms = waveforms.cpu()
        masks = None if weights is None else weights.cpu()
        out = torch.full((batch, self.dimension), float("nan"), dtype=torch.float32)
        feats: list[torch.Tensor] = []
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
            feats.append(self.featurizer.features(wav.float()))
            rows.append(i)
        if not feats:
            return out
        # One forward pass per distinct length: most masks are cut to ``max_seconds``, so a batch
        # is usually one or two passes instead of one per row (CAM++'s many small convolutions made
        # per-row passes ~half of a mono call's CPU).
        by_length: dict[int, list[int]] = {}
        for j, f in enumerate(feats):
            by_length.setdefault(int(f.shape[0]), []).append(j)
        emb = np.empty((len(feats), self.dimension), dtype=np.float32)
        device = next(self.campplus.parameters()).device
        with torch.inference_mode():
            for members in by_length.values():
                batch_feats = torch.stack([feats[j] for j in members]).to(device)
                emb[members] = self.campplus(batch_feats).cpu().numpy()
        out[rows] = torch.from_numpy(emb)
        return out


class ClusteringNeedsNoPLDA(PLDA):
    """The ``plda`` argument of ``SpeakerDiarization`` for a clustering that never uses one.

    pyannote's constructor always loads a PLDA (``get_plda`` raises TypeError on None, and a
    str/dict means ``xvec_transform.npz`` + ``plda.npz`` files trained for *its* embedding model,
    which CAM++ has none of), but only ``VBxClustering`` reads it; ``AgglomerativeClustering`` is
    built with the metric alone.  So this loads nothing (``PLDA.__init__`` would read the npz
    files) and fails loudly should anything ever call it.
    """

    def __init__(self) -> None:  # deliberately not PLDA.__init__: there are no files to load
        pass

    @property
    def phi(self) -> Any:
        raise NotImplementedError("no PLDA: the packaged pipeline clusters agglomeratively")

    def __call__(self, embeddings: np.ndarray) -> np.ndarray:
        raise NotImplementedError("no PLDA: the packaged pipeline clusters agglomeratively")


def packaged_pipeline(embedding: "CamPlusPlusEmbedding", segmentation: Path, settings: "DiarizationSettings") -> Any:
    """pyannote's SpeakerDiarization, built by its own constructor, on the packaged models.

    Segmentation: the segmentation-3.0 checkpoint path (pyannote loads it with
    ``Model.from_pretrained``).  Embedding: CAM++ as a pyannote :class:`Model` instance, which
    pyannote wraps in its ``PyannoteAudioPretrainedSpeakerEmbedding``.  Clustering: agglomerative
    on cosine distance, so no PLDA (see :class:`ClusteringNeedsNoPLDA`).
    Nothing is downloaded and no private attribute of pyannote's is read or set.
    """
    from pyannote.audio.pipelines.speaker_diarization import SpeakerDiarization

    pipeline = SpeakerDiarization(
        segmentation=str(segmentation),
        segmentation_step=settings.segmentation_step,
        embedding=CamPlusPlusModel(embedding),
        embedding_exclude_overlap=True,
        plda=ClusteringNeedsNoPLDA(),
        clustering="AgglomerativeClustering",
        embedding_batch_size=settings.embedding_batch_size,
        segmentation_batch_size=settings.segmentation_batch_size,
    )
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


__all__ = ["CamPlusPlusModel", "ClusteringNeedsNoPLDA", "packaged_pipeline"]
