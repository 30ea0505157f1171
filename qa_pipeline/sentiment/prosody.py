"""Prosody of one party's audio (numpy only): pitch variation, loudness, shouting spikes, rate.

Analysis is restricted to the party's utterance spans.  Pitch is a normalised
autocorrelation estimate per 32 ms frame (10 ms hop) over 70–400 Hz, kept on frames
that are loud enough and clearly periodic; pitch variation is the standard deviation
of log-pitch in semitones (monotone speech is below ~2 st, lively speech 3–6 st).
A *loud spike* is a 100 ms stretch more than ``spike_db`` above the party's median
speech level.  Speaking rate comes from the transcript (characters/min for Chinese,
words/min otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import AudioError
from ..records import Prosody, Utterance
from ..text import tokenize

FRAME_S = 0.032
HOP_S = 0.010
F0_MIN, F0_MAX = 70.0, 400.0


@dataclass(frozen=True, slots=True)
class ProsodyParams:
    voicing_threshold: float = 0.6  # normalised autocorrelation peak for a voiced frame
    silence_db: float = 30.0  # frames this far below the loudest speech are ignored
    spike_db: float = 10.0  # a loud spike: 100 ms this far above the median speech level


#: Frames analysed at a time (memory bound for long channels): 10 s of audio, about 30 MB of
#: float64/complex FFT work arrays at 16 kHz (6000 frames took ~150 MB at the end of an hour-long
#: call, more than recognition's own working set).  Every frame is computed alone, so the block
#: size never changes a number.
_BLOCK_FRAMES = 1000


class ProsodyAnalyzer:
    """``analyzer(signal, sample_rate, utterances) -> Prosody`` for one party's channel."""

    def __init__(self, params: ProsodyParams = ProsodyParams()) -> None:
        self.params = params

    def __call__(self, signal: np.ndarray, sample_rate: int, utterances: Sequence[Utterance]) -> Prosody:
        x = np.asarray(signal, dtype=np.float32).reshape(-1)
        if x.size == 0 or sample_rate <= 0:
            raise AudioError("empty signal for prosody analysis")
        frame, hop = int(FRAME_S * sample_rate), int(HOP_S * sample_rate)
        if x.size < frame:
            raise AudioError("signal shorter than one analysis frame")
        n = 1 + (x.size - frame) // hop
        starts = np.arange(n) * hop
        centers = (starts + frame / 2) / sample_rate
        in_speech = np.zeros(n, dtype=bool)
        for u in utterances:
            in_speech |= (centers >= u.start) & (centers <= u.end)
        if not in_speech.any():
            in_speech[:] = True
        frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop][:n]  # a view: no copy
        # Block by block, so memory stays bounded on hour-long channels (same numbers as whole).
        db = np.empty(n, dtype=np.float64)
        for b0 in range(0, n, _BLOCK_FRAMES):
            block = frames[b0 : b0 + _BLOCK_FRAMES].astype(np.float64)
            db[b0 : b0 + block.shape[0]] = 20 * np.log10(np.sqrt(np.mean(block**2, axis=1)) + 1e-9)
        speech_db = db[in_speech]
        loud = in_speech & (db > speech_db.max() - self.params.silence_db)
        pitches = [
            self._pitch(frames[b0 : b0 + _BLOCK_FRAMES][loud[b0 : b0 + _BLOCK_FRAMES]], sample_rate)
            for b0 in range(0, n, _BLOCK_FRAMES)
        ]
        f0 = np.concatenate([p[0] for p in pitches]) if pitches else np.zeros(0)
        strength = np.concatenate([p[1] for p in pitches]) if pitches else np.zeros(0)
        voiced = strength >= self.params.voicing_threshold
        f0v = f0[voiced]
        if f0v.size >= 10:
            semis = 12 * np.log2(f0v / np.median(f0v))
            lo, hi = np.percentile(semis, [10, 90])
            variation = float((hi - lo) / 2.563)  # robust standard deviation (octave errors are outliers)
            median_f0 = float(np.median(f0v))
        else:
            variation, median_f0 = 0.0, 0.0
        level = float(np.median(db[loud])) if loud.any() else float(np.median(speech_db))
        q1, q3 = np.percentile(db[loud] if loud.any() else speech_db, [25, 75])
        spikes = self._spikes(db, in_speech, centers, level)
        rate, unit = speaking_rate(utterances)
        return Prosody(
            voiced_s=round(float(voiced.sum()) * HOP_S, 2),
            pitch_median_hz=round(median_f0, 1),
            pitch_variation_st=round(variation, 2),
            level_db=round(level, 1),
            level_variation_db=round(float(q3 - q1), 1),
            loud_spikes=len(spikes),
            loud_spike_times=tuple(round(t, 2) for t in spikes),
            speaking_rate=round(rate, 1),
            rate_unit=unit,
        )

    @staticmethod
    def _pitch(frames: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
        if frames.shape[0] == 0:
            return np.zeros(0), np.zeros(0)
        f = frames - frames.mean(axis=1, keepdims=True)
        f = f * np.hanning(f.shape[1])
        nfft = 1 << int(np.ceil(np.log2(2 * f.shape[1])))
        spec = np.fft.rfft(f, nfft, axis=1)
        ac = np.fft.irfft(np.abs(spec) ** 2, nfft, axis=1)[:, : f.shape[1]]
        ac /= ac[:, :1] + 1e-12
        lag_min, lag_max = int(sample_rate / F0_MAX), min(int(sample_rate / F0_MIN), f.shape[1] - 1)
        seg = ac[:, lag_min:lag_max]
        best = np.argmax(seg, axis=1)
        strength = seg[np.arange(seg.shape[0]), best]
        return sample_rate / (best + lag_min), strength

    def _spikes(self, db: np.ndarray, in_speech: np.ndarray, centers: np.ndarray, level: float) -> list[float]:
        win = 10  # 100 ms
        if db.size < win:
            return []
        padded = np.pad(db, (win // 2, win - 1 - win // 2), mode="edge")
        smooth = np.convolve(padded, np.ones(win) / win, mode="valid")
        hot = in_speech & (smooth > level + self.params.spike_db)
        times: list[float] = []
        prev = False
        for i, h in enumerate(hot):
            if h and not prev:
                times.append(float(centers[i]))
            prev = bool(h)
        return times


def speaking_rate(utterances: Sequence[Utterance]) -> tuple[float, str]:
    """Characters/min (when the text is mostly CJK) or words/min over the utterances' durations."""
    toks = [t for u in utterances for t in tokenize(u.text)]
    dur = sum(max(u.end - u.start, 0.0) for u in utterances)
    cjk = sum(t.cjk for t in toks)
    unit = "chars/min" if toks and cjk >= len(toks) / 2 else "words/min"
    if dur <= 0:
        return 0.0, unit
    return len(toks) / dur * 60.0, unit
