"""Second chance for a two-party mono call that diarization returned as one speaker.

pyannote's clustering sometimes merges both parties of a short call with quick turns into
one speaker even when told there are two (pyannote/pyannote-audio#1553, #1448).  Scoring that
call as a monologue credits the agent with the customer's words.  :func:`recover_two_speakers`
re-clusters instead on the recogniser's own units: the call's words, split at pauses into
pieces, one CAM++ embedding per piece, two clusters by average-linkage agglomerative
clustering on cosine distance (scipy; deterministic).  The split is accepted only when both
clusters hold real speech and the pieces are clearly more alike within each cluster than across; otherwise the
diarization is returned unchanged and the call is flagged ``separation_failed``
(:mod:`qa_pipeline.recording_flags`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..records import Word
from .diarization import SAMPLE_RATE, Diarization, SpeakerTurn

#: Words further apart than this start a new region; a signal pause this long splits a piece (s).
PIECE_PAUSE_S = 0.2
#: Longest piece embedded as one (seconds): longer stretches may hold both voices.
MAX_PIECE_S = 1.5
#: A frame this far (dB) below the loud frames of the call is a pause.
PAUSE_DB = 30.0
#: Pieces shorter than this are not embedded; they take the speaker of the nearest piece.
MIN_PIECE_S = 0.4
#: Each recovered speaker needs at least this much speech (seconds) ...
MIN_SPEAKER_S = 1.5
#: ... and pieces must be this much more alike (mean cosine similarity) within each cluster
#: than across the two: a forced split of one voice gives clusters about as alike as their members.
MIN_SEPARATION = 0.1
#: Diarization "found two speakers" when the minor one has at least this share of the speech.
MIN_MINOR_SHARE = 0.05


def needs_recovery(diarization: Diarization, expected_speakers: int) -> bool:
    """True when two speakers were expected and (almost) all speech went to one."""
    if expected_speakers != 2:
        return False
    speech = sorted((diarization.speech_s(s) for s in diarization.speakers), reverse=True)
    total = sum(speech)
    return total > 0 and (len(speech) < 2 or speech[1] / total < MIN_MINOR_SHARE)


def recover_two_speakers(embedding: Any, samples: np.ndarray, diarization: Diarization, segments: Iterable[Any]) -> Diarization:
    """Two speakers from word pieces when that separates clearly, else ``diarization`` unchanged.

    ``embedding`` has ``embed(samples_16k) -> (192,)``; ``segments`` are ASR segments with words.
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    words = [w for seg in segments for w in (getattr(seg, "words", ()) or ())]
    # Whisper's word times run across short pauses, so pieces come from the signal's own pauses
    # inside the recognised speech, cut to at most MAX_PIECE_S.
    pieces = _signal_pieces(samples, _pieces(words))
    long = [p for p in pieces if p[1] - p[0] >= MIN_PIECE_S]
    if len(long) < 2:
        return diarization
    vectors = []
    for start, end in long:
        emb = embedding.embed(samples[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)])
        vectors.append(emb / (np.linalg.norm(emb) or 1.0))
    matrix = np.asarray(vectors, dtype=np.float64)
    if not np.all(np.isfinite(matrix)):
        return diarization
    labels = fcluster(linkage(matrix, method="average", metric="cosine"), t=2, criterion="maxclust")
    if len(set(labels.tolist())) != 2:
        return diarization
    durations = np.array([end - start for start, end in long])
    sims = matrix @ matrix.T
    within = []
    for k in (1, 2):
        members = labels == k
        if durations[members].sum() < MIN_SPEAKER_S or members.sum() < 2:
            return diarization
        block = sims[np.ix_(members, members)]
        within.append((block.sum() - np.trace(block)) / (members.sum() * (members.sum() - 1)))
    cross = float(sims[np.ix_(labels == 1, labels == 2)].mean())
    if min(within) - cross < MIN_SEPARATION:
        return diarization
    centroids = []
    for k in (1, 2):
        c = (matrix[labels == k] * durations[labels == k, None]).sum(axis=0)
        centroids.append(c / (np.linalg.norm(c) or 1.0))
    # name speakers by first appearance, so labels are stable
    first = {int(k): min(i for i, lab in enumerate(labels) if lab == k) for k in (1, 2)}
    names = {k: f"SPEAKER_{rank:02d}" for rank, k in enumerate(sorted(first, key=first.__getitem__))}
    labelled = {p: names[int(lab)] for p, lab in zip(long, labels)}
    turns = tuple(SpeakerTurn(round(s, 3), round(e, 3), labelled.get((s, e)) or _nearest(labelled, s, e)) for s, e in pieces)
    exclusive = _join(turns)
    spk_centroids = {names[k]: centroids[k - 1].astype(np.float32) for k in (1, 2)}
    return replace(diarization, turns=exclusive, exclusive=exclusive, centroids=spk_centroids)


def _signal_pieces(samples: np.ndarray, regions: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Regions split at pauses of the signal (10 ms frames :data:`PAUSE_DB` below the loud ones,
    for at least :data:`PIECE_PAUSE_S`), each piece cut to at most :data:`MAX_PIECE_S`."""
    hop = SAMPLE_RATE // 100
    n = len(samples) // hop
    if n == 0:
        return []
    frames = np.asarray(samples[: n * hop], dtype=np.float64).reshape(n, hop)
    level = 10 * np.log10(np.mean(frames * frames, axis=1) + 1e-12)
    loud = float(np.percentile(level, 95))
    voiced = level > loud - PAUSE_DB
    min_pause = int(PIECE_PAUSE_S * 100)
    out: list[tuple[float, float]] = []
    for start, end in regions:
        a, b = int(start * 100), min(n, int(np.ceil(end * 100)))
        i = a
        while i < b:
            while i < b and not voiced[i]:
                i += 1
            j, quiet = i, 0
            while j < b and quiet < min_pause:
                quiet = quiet + 1 if not voiced[j] else 0
                j += 1
            stop = j - quiet
            if stop > i:
                for k in range(i, stop, int(MAX_PIECE_S * 100)):
                    out.append((k / 100, min(stop, k + int(MAX_PIECE_S * 100)) / 100))
            i = j
    return out


def _pieces(words: Sequence[Word]) -> list[tuple[float, float]]:
    pieces: list[list[float]] = []
    for w in sorted(words, key=lambda w: w.start):
        if pieces and w.start - pieces[-1][1] < PIECE_PAUSE_S:
            pieces[-1][1] = max(pieces[-1][1], w.end)
        else:
            pieces.append([w.start, w.end])
    return [(a, b) for a, b in pieces if b > a]


def _nearest(labelled: dict[tuple[float, float], str], start: float, end: float) -> str:
    mid = 0.5 * (start + end)
    return min(labelled.items(), key=lambda kv: (min(abs(kv[0][0] - mid), abs(kv[0][1] - mid)), kv[0]))[1]


def _join(turns: Sequence[SpeakerTurn]) -> tuple[SpeakerTurn, ...]:
    """Consecutive pieces of one speaker become one turn (gaps between them stay gaps)."""
    out: list[SpeakerTurn] = []
    for t in turns:
        if out and out[-1].speaker == t.speaker and t.start - out[-1].end < 1.0:
            out[-1] = SpeakerTurn(out[-1].start, t.end, t.speaker)
        else:
            out.append(t)
    return tuple(out)
