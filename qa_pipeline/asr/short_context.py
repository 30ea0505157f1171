"""Whisper's encoder on the audio actually there, not on a 30 s window of padding.

Whisper pads every input to 30 s (3000 mel frames) and its encoder cost is fixed by that window,
so a 3 s live segment costs as much to encode as 30 s of speech. The encoder itself takes a
shorter input (its positional embedding is simply cut): whisper.cpp exposes this as
``audio_ctx`` and streaming systems use it for latency. :class:`ShortContextWhisper` is the
loaded :class:`faster_whisper.WhisperModel` (the same CTranslate2 model object, no second
copy) whose ``encode`` drops the trailing padding columns first, keeping ``margin_frames`` of
them and at least ``min_frames``, rounded up to whole seconds so that few distinct shapes occur.

Used by batch recognition (``asr.encoder_min_s``: each speech chunk of up to 30 s is encoded on
its own length, and a window whose decode trips Whisper's fallback thresholds is decoded again
on the full window; ``benchmarks/bench_throughput.py``) and by live recognition
(``live.encoder_min_s``, ``benchmarks/bench_live.py``). The result written at hang-up is
recognised exactly as in batch, so one recording gives one transcript.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from faster_whisper import WhisperModel

#: Whisper's full input window, in mel frames (10 ms each).
FULL_FRAMES = 3000
#: Shapes are rounded up to this many frames (1 s).
FRAME_STEP = 100


def content_frames(features: np.ndarray) -> int:
    """Mel frames up to the last one that is not padding, over a batch.

    ``features``: (80, n) or (batch, 80, n). Padding columns are constant over all mel bins:
    zeros from ``pad_or_trim`` or the log-mel floor of zero samples; speech never gives a
    column with one value in all 80 bins.
    """
    x = features if features.ndim == 3 else features[None]
    varying = (x.max(axis=1) - x.min(axis=1)) > 0  # (batch, n)
    any_varying = varying.any(axis=0)
    idx = np.flatnonzero(any_varying)
    return int(idx[-1]) + 1 if len(idx) else 0


def trimmed_length(content: int, *, margin_frames: int, min_frames: int, total: int = FULL_FRAMES) -> int:
    """Frames to keep: content + margin, at least ``min_frames``, whole seconds, at most ``total``."""
    want = max(min_frames, content + margin_frames)
    want = -(-want // FRAME_STEP) * FRAME_STEP
    return min(total, want)


class ShortContextWhisper(WhisperModel):
    """A loaded WhisperModel whose encoder runs only on the frames that hold audio.

    Build with :meth:`of` (shares the given model's CTranslate2 model, tokenizer and feature
    extractor); use wherever a WhisperModel goes (``transcribe``, ``BatchedInferencePipeline``).
    """

    margin_frames: int
    min_frames: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - use of()
        raise TypeError("build a ShortContextWhisper with ShortContextWhisper.of(loaded_model)")

    @classmethod
    def of(cls, model: WhisperModel, *, margin_frames: int = 100, min_frames: int = 500) -> "ShortContextWhisper":
        """``model`` with the short encoder window (``margin_frames`` of silence kept after the
        audio, at least ``min_frames`` in all; 100 frames = 1 s).

        Raises:
            ValueError: a frame count is negative or ``min_frames`` exceeds 3000.
        """
        if margin_frames < 0 or not 0 < min_frames <= FULL_FRAMES:
            raise ValueError(f"margin_frames must be >= 0 and 0 < min_frames <= {FULL_FRAMES}")
        short = cls.__new__(cls)
        short.__dict__.update(model.__dict__)
        short.margin_frames, short.min_frames = margin_frames, min_frames
        return short

    def encode(self, features: np.ndarray) -> Any:
        n = features.shape[-1]
        keep = trimmed_length(content_frames(features), margin_frames=self.margin_frames, min_frames=self.min_frames, total=n)
        return super().encode(np.ascontiguousarray(features[..., :keep]) if keep < n else features)
