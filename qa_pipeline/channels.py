"""Facts about the two channels of a stereo call: are they one signal, is one of them empty?

Call recorders get channels wrong in two common ways:

* **The same mix on both channels.**  A PBX taps the mixed call twice (or a converter
  duplicates mono), often with a small delay and a level difference between the taps.  A
  zero-lag correlation misses a copy delayed by a few milliseconds (at 8 kHz, 12 ms is 96
  samples: speech decorrelates long before that), so :func:`duplicate_lag` searches lags up to
  :data:`MAX_LAG_S` and normalises the level of each window (a copy 6 dB down is still a copy).
* **One silent channel.**  A failed recording leg leaves digital zero or line noise on
  one side; :func:`channel_peak_dbfs` measures each channel so the call can be flagged.

All functions are deterministic and run on bounded windows, so their cost does not grow with
thread count and stays small for hour-long calls.
"""

from __future__ import annotations

import math

import numpy as np

#: Largest delay between two taps of one mix that is searched (seconds).
MAX_LAG_S = 0.08
#: Normalised correlation at the best lag above which two channels are one signal.
#: Two parties on their own channels, even with echo leakage, stay far below it.
DUPLICATE_CORRELATION = 0.9
#: Length of each analysed window (seconds) and how many of the loudest are used.
WINDOW_S = 4.0
MAX_WINDOWS = 8
#: A channel whose loudest sample is below this is silent (no party recorded on it).
SILENT_CHANNEL_DBFS = -50.0
#: Floor of reported levels (digital zero), so results stay finite JSON numbers.
LEVEL_FLOOR_DBFS = -120.0


def channel_peak_dbfs(samples: np.ndarray) -> tuple[float, ...]:
    """Peak level of each column of ``samples`` (frames x channels, float in [-1, 1]) in dBFS."""
    if samples.shape[0] == 0:
        peaks = np.zeros(samples.shape[1])
    else:  # max and -min: no full-size temporary of |samples|
        peaks = np.maximum(np.max(samples, axis=0), -np.min(samples, axis=0))
    return tuple(
        round(max(LEVEL_FLOOR_DBFS, 20 * math.log10(float(p))) if p > 0 else LEVEL_FLOOR_DBFS, 1) for p in peaks
    )


def duplicate_lag(a: np.ndarray, b: np.ndarray, sample_rate: int, *, threshold: float = DUPLICATE_CORRELATION) -> float | None:
    """Delay of ``b`` behind ``a`` in seconds when both carry the same signal, else None.

    ``a`` and ``b`` are one channel each (same length, float).  The loudest windows of ``a``
    (up to :data:`MAX_WINDOWS` of :data:`WINDOW_S`) are each cross-correlated with ``b`` over
    lags of +-:data:`MAX_LAG_S`; correlation is normalised per window, so a gain difference
    does not matter.  The channels are one signal when the median best correlation exceeds
    ``threshold`` and the windows agree on the lag (within 1 ms).
    """
    if a.shape != b.shape or a.size == 0:
        return None
    if np.array_equal(a, b):
        return 0.0
    max_lag = max(1, int(MAX_LAG_S * sample_rate))
    win = int(WINDOW_S * sample_rate)
    if a.size < 2 * max_lag + sample_rate // 4:
        return None
    win = min(win, a.size - 2 * max_lag)
    starts = _loudest_windows(a, b, win, max_lag)
    if not starts:
        return None
    best: list[tuple[float, int]] = []
    for s in starts:
        seg_a = a[s : s + win].astype(np.float64)
        seg_b = b[s - max_lag : s + win + max_lag].astype(np.float64)
        corr, lag = _best_lag(seg_a, seg_b, max_lag)
        best.append((corr, lag))
    corrs = sorted(c for c, _ in best)
    median = corrs[len(corrs) // 2]
    if median < threshold:
        return None
    lags = [lag for c, lag in best if c >= threshold]
    if max(lags) - min(lags) > max(1, sample_rate // 1000):
        return None
    return round(float(np.median(lags)) / sample_rate, 4)


def _loudest_windows(a: np.ndarray, b: np.ndarray, win: int, max_lag: int) -> list[int]:
    """Start indices of the windows where both channels have the most energy (deterministic)."""
    n = (a.size - 2 * max_lag) // win
    if n <= 0:
        return []
    starts = [max_lag + i * win for i in range(n)]
    energy = [min(float(np.dot(a[s : s + win], a[s : s + win])), float(np.dot(b[s : s + win], b[s : s + win]))) for s in starts]
    order = sorted(range(n), key=lambda i: (-energy[i], i))[:MAX_WINDOWS]
    return [starts[i] for i in sorted(order) if energy[i] > 0]


def _best_lag(seg_a: np.ndarray, seg_b: np.ndarray, max_lag: int) -> tuple[float, int]:
    """Best normalised correlation of ``seg_a`` against ``seg_b`` shifted by -max_lag..max_lag."""
    win = seg_a.size
    seg_a = seg_a - seg_a.mean()
    seg_b = seg_b - seg_b.mean()
    size = 1 << int(math.ceil(math.log2(seg_a.size + seg_b.size)))
    xc = np.fft.irfft(np.fft.rfft(seg_b, size) * np.conj(np.fft.rfft(seg_a, size)), size)[: 2 * max_lag + 1]
    # energy of each lag's window of seg_b (sliding sum of squares)
    csum = np.concatenate(([0.0], np.cumsum(seg_b * seg_b)))
    energy_b = csum[win : win + 2 * max_lag + 1] - csum[: 2 * max_lag + 1]
    denom = np.sqrt(np.maximum(energy_b, 1e-20) * max(float(np.dot(seg_a, seg_a)), 1e-20))
    norm = xc / denom
    k = int(np.argmax(norm))
    return float(norm[k]), k - max_lag
