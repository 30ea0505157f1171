"""Long channels in windows, and a second pass over speech the first pass left empty.

**Windows.**  faster-whisper's batched pipeline gathers a whole channel's VAD speech into
30-second chunks (speech from minutes apart can share a chunk), computes features for all of
them up front and keeps every chunk's audio: memory grows with call length (about 3 GB per
hour of stereo audio measured), and one chunk that decodes to nothing loses minutes of
speech.  :func:`plan_windows` cuts a long channel into windows of about
:data:`WINDOW_S`, each cut at the quietest point near its nominal boundary, and each window
is recognised alone; calls up to :data:`WINDOW_S` + :data:`SEARCH_S` are one window (same
result as before).

**Second pass.**  Speech that Silero VAD found but recognition returned no word for (a
greeting with the agent's name, "one moment while I look that up") is a fault of its own:
:func:`empty_speech` finds such regions, the transcriber decodes each alone with
temperature 0 (no sampling: it could not be repeated), and what stays empty is reported as untranscribed speech.

Everything here is deterministic (no thread- or time-dependent choices).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ..records import Word

SAMPLE_RATE = 16_000
#: Nominal window length (seconds).  Silero VAD (inside faster-whisper) runs a window's frames in
#: one ONNX batch of up to 10 000 frames (320 s), whose activations dominate peak memory: two
#: minutes keep a stereo hour under ~1.5 GB, and every sample call (<= 2 min) stays one window.
WINDOW_S = 120.0
#: Each cut is placed at the quietest 0.5 s within this many seconds of the nominal boundary.
SEARCH_S = 20.0
#: VAD regions closer than this are one region for the second pass (seconds).
REGION_JOIN_S = 0.5
#: Shortest word-free stretch of VAD speech worth a second pass (seconds).
MIN_EMPTY_S = 1.0
#: A 20 ms frame this far above the noise floor (dB) is active (possible speech).
ACTIVE_DB = 15.0
#: Audio added on each side of a stretch decoded in the second pass (seconds); only words
#: whose middle falls inside the stretch are kept.
PAD_S = 0.3
#: Longest region decoded alone in the second pass (seconds; Whisper's context is 30 s).
MAX_REGION_S = 28.0


def plan_windows(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> list[tuple[int, int]]:
    """(start, end) sample indices of consecutive windows covering ``samples``."""
    n = len(samples)
    window, search = int(WINDOW_S * sample_rate), int(SEARCH_S * sample_rate)
    if n <= window + search:
        return [(0, n)]
    hop = sample_rate // 2
    cuts = [0]
    while n - cuts[-1] > window + search:
        nominal = cuts[-1] + window
        lo, hi = nominal - search, min(n - hop, nominal + search)
        starts = range(lo, hi, hop // 5)
        cut = min(starts, key=lambda s: (float(np.mean(np.square(samples[s : s + hop], dtype=np.float64))), abs(s - nominal)))
        cuts.append(cut + hop // 2)
    cuts.append(n)
    return list(zip(cuts[:-1], cuts[1:]))


#: Silero VAD options of faster-whisper's batched pipeline (``BatchedInferencePipeline.transcribe``
#: with ``vad_filter=True``: chunks of at most 30 s, 160 ms silences split speech).  The
#: transcriber runs the VAD once per window with these and uses the result for the batched
#: decode and the second pass alike.
VAD_MAX_SPEECH_S = 30
VAD_MIN_SILENCE_MS = 160


def speech_timestamps(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> list[dict[str, int]]:
    """Silero VAD speech of ``samples`` (16 kHz mono float32) under the batched pipeline's own
    options, as faster-whisper returns it: ``[{"start": sample, "end": sample}, ...]``."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(max_speech_duration_s=VAD_MAX_SPEECH_S, min_silence_duration_ms=VAD_MIN_SILENCE_MS)
    return list(get_speech_timestamps(samples, options, sample_rate))


def join_regions(stamps: Sequence[Mapping[str, int]], sample_rate: int = SAMPLE_RATE) -> list[tuple[float, float]]:
    """VAD speech stamps (samples) as (start_s, end_s) regions, joined across gaps shorter than
    :data:`REGION_JOIN_S` while a region stays within :data:`MAX_REGION_S`."""
    out: list[list[float]] = []
    for st in stamps:
        start, end = float(st["start"]) / sample_rate, float(st["end"]) / sample_rate
        if out and start - out[-1][1] < REGION_JOIN_S and end - out[-1][0] <= MAX_REGION_S:
            out[-1][1] = end
        else:
            out.append([start, end])
    return [(a, b) for a, b in out]


def speech_regions(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> list[tuple[float, float]]:
    """Silero VAD speech (the batched pipeline's own settings) as (start_s, end_s), joined across short gaps."""
    return join_regions(speech_timestamps(samples, sample_rate), sample_rate)


def active_regions(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> list[tuple[float, float]]:
    """Stretches clearly above the channel's noise floor, as (start_s, end_s).

    Silero VAD misses some real speech on 8 kHz lines (a low male voice after line noise); what
    is loud enough to be speech but got no word is worth a confident second decode too.  The
    floor is the 10th percentile of 20 ms frame levels; active frames are :data:`ACTIVE_DB`
    above it, joined over gaps shorter than :data:`REGION_JOIN_S`.
    """
    hop = sample_rate // 50
    n = len(samples) // hop
    if n == 0:
        return []
    level = np.empty(n, dtype=np.float32)
    for i in range(0, n, 50 * 60):  # a minute at a time: no full-length float64 copy
        j = min(n, i + 50 * 60)
        block = np.asarray(samples[i * hop : j * hop], dtype=np.float32).reshape(j - i, hop)
        level[i:j] = 10 * np.log10(np.mean(block * block, axis=1) + 1e-10)
    audible = level > -60.0
    if not audible.any():
        return []
    floor = float(np.percentile(level[audible], 10))
    active = level > max(floor + ACTIVE_DB, -55.0)
    out: list[list[float]] = []
    for frame in np.flatnonzero(active):
        t = float(frame) / 50
        if out and t - out[-1][1] < REGION_JOIN_S:
            out[-1][1] = t + 0.02
        else:
            out.append([t, t + 0.02])
    return [(a, min(b, a + MAX_REGION_S)) for a, b in out if b - a >= MIN_EMPTY_S]


def union(*region_lists: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sorted union of interval lists (overlapping or touching intervals merged)."""
    out: list[list[float]] = []
    for a, b in sorted(r for rl in region_lists for r in rl):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def empty_speech(regions: Sequence[tuple[float, float]], words: Iterable[Word], *, min_s: float = MIN_EMPTY_S) -> list[tuple[float, float]]:
    """Stretches of VAD speech of at least ``min_s`` seconds that no recognised word overlaps.

    A whole region without words, or the word-free start, middle or end of a region (a greeting
    whose first seconds came back empty while its last word was heard).
    """
    import bisect

    spans = sorted((w.start, w.end) for w in words)
    starts = [s for s, _ in spans]
    out = []
    for a, b in regions:
        lo = max(0, bisect.bisect_left(starts, a) - 1)
        hi = bisect.bisect_left(starts, b)
        cursor = a
        for ws, we in spans[lo:hi]:
            if we <= a:
                continue
            if ws - cursor >= min_s:
                out.append((cursor, ws))
            cursor = max(cursor, we)
        if b - cursor >= min_s:
            out.append((cursor, b))
    return out
