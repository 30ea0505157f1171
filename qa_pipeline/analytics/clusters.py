"""Emerging topics: calls that match no driver, clustered so a supervisor can name them.

Each unmatched call is represented by its customer's first informative utterances (the reason
for calling is stated early; up to ``MAX_CHARS`` characters), embedded with the packaged
multilingual-e5-small (:class:`qa_pipeline.embeddings.E5Embedder`; 384-d, L2-normalised) and
clustered with scikit-learn's agglomerative clustering (average linkage on cosine distance,
cut at ``distance_threshold``; Müllner, "Modern hierarchical, agglomerative clustering
algorithms", 2011), which needs no number of clusters and leaves outliers as singletons.
Clusters of at least ``min_size`` calls are returned, largest first, each with the calls
nearest its centroid as examples and the character n-grams / words that distinguish it
(scikit-learn ``TfidfVectorizer``) as naming hints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..records import Role, Transcript

MAX_CHARS = 120
Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True, slots=True)
class Cluster:
    """``size`` calls; ``examples``: (call_id, text) nearest the centroid; ``terms``: naming hints."""

    size: int
    call_ids: tuple[str, ...]
    examples: tuple[tuple[str, str], ...]
    terms: tuple[str, ...]


def reason_text(transcript: Transcript, max_chars: int = MAX_CHARS) -> str:
    """The customer's first utterances (the whole conversation on mono calls), cut at ``max_chars``."""
    role = Role.CUSTOMER if transcript.has_roles else None
    utts = [u.text.strip() for u in transcript.by_role(role) if len(u.text.strip()) > 3]
    return " ".join(utts)[:max_chars]


def cluster_texts(
    call_ids: Sequence[str],
    texts: Sequence[str],
    embed: Embed,
    *,
    distance_threshold: float = 0.12,
    min_size: int = 3,
    examples: int = 3,
    terms: int = 6,
) -> list[Cluster]:
    """Cluster ``texts`` (one per call). ``distance_threshold`` is a cosine distance (1 - cosine).

    Raises:
        ValueError: ``call_ids`` and ``texts`` differ in length.
    """
    if len(call_ids) != len(texts):
        raise ValueError(f"{len(call_ids)} call ids for {len(texts)} texts")
    if len(texts) < max(2, min_size):
        return []
    from sklearn.cluster import AgglomerativeClustering

    vectors = np.asarray(embed(list(texts)), dtype=np.float32)
    labels = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=distance_threshold
    ).fit_predict(vectors)
    hints = _terms(texts, labels, terms)
    clusters = []
    for label in set(labels.tolist()):
        idx = np.flatnonzero(labels == label)
        if len(idx) < min_size:
            continue
        centroid = vectors[idx].mean(axis=0)
        nearest = idx[np.argsort(-(vectors[idx] @ centroid))][:examples]
        clusters.append(Cluster(
            size=len(idx),
            call_ids=tuple(call_ids[int(i)] for i in idx),
            examples=tuple((call_ids[int(i)], texts[int(i)]) for i in nearest),
            terms=hints.get(int(label), ()),
        ))  # fmt: skip
    return sorted(clusters, key=lambda c: (-c.size, c.call_ids[0]))


def _terms(texts: Sequence[str], labels: np.ndarray, top: int) -> dict[int, tuple[str, ...]]:
    """Per cluster, the n-grams with the highest mean TF-IDF (char 2-3-grams cover Chinese and English)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        matrix = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), min_df=2).fit(texts)
    except ValueError:  # empty vocabulary: too few texts
        return {}
    vocab = np.asarray(matrix.get_feature_names_out())
    weights = matrix.transform(texts)
    out: dict[int, tuple[str, ...]] = {}
    for label in set(labels.tolist()):
        rows = np.flatnonzero(labels == label)
        mean = np.asarray(weights[rows].mean(axis=0)).ravel()
        best = [vocab[i].strip() for i in np.argsort(-mean)[: top * 2] if mean[i] > 0 and vocab[i].strip()]
        out[int(label)] = tuple(dict.fromkeys(best))[:top]
    return out
