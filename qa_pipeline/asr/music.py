"""Music (hold music, queue music, ring-back melodies) versus speech on one channel.

Whisper turns music into words ("谢谢", "Thank", lyrics), and Silero VAD lets much of it
through, so a VAD chunk that starts in hold music and ends in the agent's return greeting
gets the greeting's first words time-stamped at the music onset.  Music is not speech: it
is found here and silenced before recognition, and its spans are reported as hold/queue time.

**Feature.**  Tonal music holds its notes: the prominent spectral peaks of a frame are
still there 100 ms later.  Speech moves its harmonics and formants within a syllable, and
noise has no stable peaks.  Per 10 ms frame (32 ms Hann window, 200-3400 Hz, the telephone
band) the *peak persistence* is the share of prominent peaks (local maxima at least
:data:`PEAK_PROMINENCE_DB` above the frame's median level) found again within one bin
:data:`LAG_FRAMES` frames later.  Measured on this project's shared data: one-second windows
of speech (telephone calls, close-talk and reverberant meeting recordings) stay at or below
0.6 on a median over 3 s (telephone speech below 0.45); synthetic and recorded hold music
sits at 0.7-0.8.  A stretch of at least :data:`MIN_MUSIC_S` whose windows are all above
:data:`PERSISTENCE_THRESHOLD` (one-window dips bridged) is music.

Deterministic (numpy FFT, no threads), and computed in blocks of :data:`BLOCK_S` seconds so
memory does not grow with call length.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16_000
FRAME = 512  # 32 ms
HOP = 160  # 10 ms
LAG_FRAMES = 10  # 100 ms
PEAK_PROMINENCE_DB = 12.0
BAND_HZ = (200.0, 3400.0)
#: Frames quieter than this (dBFS, band energy) or 35 dB below the channel's loud frames are pauses.
ACTIVE_FLOOR_DB = -55.0
ACTIVE_RANGE_DB = 35.0
WINDOW_FRAMES = 100  # 1 s
WINDOW_HOP = 50  # 0.5 s
PERSISTENCE_THRESHOLD = 0.66
MIN_MUSIC_S = 3.0
BLOCK_S = 60.0


def music_spans(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> tuple[tuple[float, float], ...]:
    """Music spans of one channel as (start_s, end_s), in time order.

    ``samples`` is mono float audio at ``sample_rate`` (the pipeline gives 16 kHz).
    """
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"music_spans expects {SAMPLE_RATE} Hz audio, got {sample_rate}")
    energy, persistence = _frame_features(np.asarray(samples, dtype=np.float32))
    if energy.size < WINDOW_FRAMES:
        return ()
    loud = float(np.percentile(energy, 95))
    active = energy > max(ACTIVE_FLOOR_DB, loud - ACTIVE_RANGE_DB)
    starts = range(0, energy.size - WINDOW_FRAMES + 1, WINDOW_HOP)
    music = []
    for s in starts:
        act = active[s : s + WINDOW_FRAMES]
        music.append(act.mean() >= 0.5 and float(persistence[s : s + WINDOW_FRAMES][act].mean()) >= PERSISTENCE_THRESHOLD)
    flags = np.array(music, dtype=bool)
    # bridge one-window dips (a note change, a breath in the recording)
    for i in range(1, flags.size - 1):
        if not flags[i] and flags[i - 1] and flags[i + 1]:
            flags[i] = True
    spans: list[tuple[float, float]] = []
    i = 0
    while i < flags.size:
        if not flags[i]:
            i += 1
            continue
        j = i
        while j + 1 < flags.size and flags[j + 1]:
            j += 1
        start = i * WINDOW_HOP * HOP / SAMPLE_RATE
        end = (j * WINDOW_HOP + WINDOW_FRAMES) * HOP / SAMPLE_RATE
        if end - start >= MIN_MUSIC_S:
            spans.append((round(start, 2), round(end, 2)))
        i = j + 1
    return tuple(spans)


def silence_spans(samples: np.ndarray, spans: tuple[tuple[float, float], ...], sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A copy of ``samples`` with every span set to zero (``samples`` itself when there are none)."""
    if not spans:
        return samples
    out = np.array(samples, dtype=np.float32, copy=True)
    for start, end in spans:
        out[int(start * sample_rate) : int(end * sample_rate)] = 0.0
    return out


def _frame_features(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Band energy (dBFS) and peak persistence per 10 ms frame, computed block by block."""
    n_frames = max(0, (x.size - FRAME) // HOP + 1)
    energy = np.full(n_frames, -120.0, dtype=np.float32)
    persistence = np.zeros(n_frames, dtype=np.float32)
    if n_frames == 0:
        return energy, persistence
    freqs = np.fft.rfftfreq(FRAME, 1.0 / SAMPLE_RATE)
    band = (freqs >= BAND_HZ[0]) & (freqs <= BAND_HZ[1])
    window = np.hanning(FRAME).astype(np.float32)
    block = int(BLOCK_S * SAMPLE_RATE / HOP)
    for b0 in range(0, n_frames, block):
        b1 = min(n_frames, b0 + block + LAG_FRAMES)  # LAG_FRAMES of look-ahead for persistence
        idx = np.arange(FRAME)[None, :] + HOP * np.arange(b0, b1)[:, None]
        mag = np.abs(np.fft.rfft(x[idx] * window, axis=1))[:, band].astype(np.float32)
        level = 20.0 * np.log10(mag + 1e-7)
        energy[b0:b1] = 10.0 * np.log10(np.mean(mag * mag, axis=1) / (FRAME * FRAME / 4) + 1e-12)
        median = np.median(level, axis=1, keepdims=True)
        peaks = np.zeros_like(level, dtype=bool)
        peaks[:, 1:-1] = (level[:, 1:-1] > level[:, :-2]) & (level[:, 1:-1] >= level[:, 2:]) & (level[:, 1:-1] > median + PEAK_PROMINENCE_DB)
        near = peaks.copy()
        near[:, 1:] |= peaks[:, :-1]
        near[:, :-1] |= peaks[:, 1:]
        count = peaks[:-LAG_FRAMES].sum(axis=1)
        kept = (peaks[:-LAG_FRAMES] & near[LAG_FRAMES:]).sum(axis=1)
        end = min(b1 - LAG_FRAMES, b0 + block)
        persistence[b0:end] = (kept / np.maximum(count, 1))[: end - b0]
    return energy, persistence
