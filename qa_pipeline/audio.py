"""Decode call recordings into per-channel 16 kHz float32 arrays.

libsndfile (through ``soundfile``) reads WAV in every PCM/float subtype and the
G.711 mu-law/A-law variants telephony recorders write, plus FLAC, OGG/Vorbis,
OGG/Opus and MP3.  Containers libsndfile does not know (M4A/AAC, AMR, ...) fall
back to FFmpeg through PyAV, which faster-whisper already depends on.
Every failure is an :class:`~qa_pipeline.errors.AudioError` naming the file.
"""

from __future__ import annotations

import codecs
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .errors import AudioError
from .records import AudioInfo

#: Sample rate every model in the pipeline consumes.
MODEL_SAMPLE_RATE = 16_000
MIN_SAMPLE_RATE = 8_000
#: A recording whose loudest sample is below this level is treated as silent.
SILENCE_PEAK_DBFS = -60.0
#: Stereo channels correlated above this are one signal recorded twice, not two parties.
#: Two-party telephony channels, even with echo leakage, stay far below it.
DUPLICATE_CHANNEL_CORRELATION = 0.95

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg", ".opus", ".oga", ".m4a", ".aac", ".amr", ".wma"})


@dataclass(frozen=True)
class Audio:
    """A decoded recording: one 16 kHz float32 array per channel (party)."""

    info: AudioInfo
    channels: tuple[np.ndarray, ...]

    sample_rate: int = MODEL_SAMPLE_RATE

    @property
    def duration_s(self) -> float:
        return self.info.duration_s

    def mono(self) -> np.ndarray:
        if len(self.channels) == 1:
            return self.channels[0]
        return np.mean(np.stack(self.channels), axis=0).astype(np.float32)


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def load_audio(path: str | Path) -> Audio:
    """Decode, validate and resample ``path``.

    Raises:
        AudioError: missing, empty, zero-length, corrupt, non-audio, silent, or
            more than two channels.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError("file not found", path=path)
    size = path.stat().st_size
    if size == 0:
        raise AudioError("empty file (0 bytes)", path=path)

    samples, sample_rate, fmt, subtype = _decode(path)
    if samples.shape[0] == 0:
        raise AudioError("zero-length audio: the header is valid but there are no samples", path=path)
    if sample_rate < MIN_SAMPLE_RATE:
        raise AudioError(f"sample rate {sample_rate} Hz is below the supported {MIN_SAMPLE_RATE} Hz", path=path)
    n_channels = samples.shape[1]
    if n_channels > 2:
        raise AudioError(
            f"{n_channels} channels: expected mono or stereo (one party per channel)", path=path
        )
    if not np.all(np.isfinite(samples)):
        raise AudioError("corrupt audio: samples contain NaN or infinity", path=path)
    peak = float(np.max(np.abs(samples)))
    peak_db = 20 * math.log10(peak) if peak > 0 else -math.inf
    if peak_db < SILENCE_PEAK_DBFS:
        shown = "-inf" if peak_db == -math.inf else f"{peak_db:.0f}"
        raise AudioError(f"silent audio: peak level {shown} dBFS over {samples.shape[0] / sample_rate:.1f} s", path=path)

    downmixed = n_channels == 2 and _same_signal(samples[:, 0], samples[:, 1])
    if downmixed:
        # Mono written as two (near-)identical channels: one party per channel does not hold.
        samples = samples.mean(axis=1, keepdims=True)

    channels = tuple(_resample(samples[:, c], sample_rate) for c in range(samples.shape[1]))
    info = AudioInfo(
        path=str(path),
        sha256=file_sha256(path),
        format=fmt,
        subtype=subtype,
        sample_rate=int(sample_rate),
        channels=n_channels,
        duration_s=round(samples.shape[0] / sample_rate, 3),
        downmixed=downmixed,
    )
    return Audio(info=info, channels=channels)


def _same_signal(a: np.ndarray, b: np.ndarray, threshold: float = DUPLICATE_CHANNEL_CORRELATION) -> bool:
    """True when both channels carry the same signal (correlation above ``threshold``)."""
    if np.array_equal(a, b):
        return True
    a = a - a.mean()
    b = b - b.mean()
    denom = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    return denom > 0 and float(np.dot(a, b)) / denom > threshold


def _resample(x: np.ndarray, sample_rate: int) -> np.ndarray:
    if sample_rate == MODEL_SAMPLE_RATE:
        return np.ascontiguousarray(x, dtype=np.float32)
    return soxr.resample(x, sample_rate, MODEL_SAMPLE_RATE, quality="HQ").astype(np.float32, copy=False)


def _decode(path: Path) -> tuple[np.ndarray, int, str, str]:
    try:
        with sf.SoundFile(path) as fh:
            data = fh.read(dtype="float32", always_2d=True)
            return data, fh.samplerate, fh.format, fh.subtype
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        sndfile_error = str(exc)
    try:
        return _decode_ffmpeg(path)
    except Exception as exc:  # noqa: BLE001 - PyAV raises many unrelated types
        ffmpeg_error = str(exc)
    if _looks_like_text(path):
        raise AudioError("not audio: the file contains text", path=path)
    raise AudioError(
        f"cannot decode audio (corrupt or unsupported): libsndfile: {_short(sndfile_error)}; "
        f"ffmpeg: {_short(ffmpeg_error)}",
        path=path,
    )


def _decode_ffmpeg(path: Path) -> tuple[np.ndarray, int, str, str]:
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ValueError("no audio stream")
        stream = container.streams.audio[0]
        rate = int(stream.rate or MODEL_SAMPLE_RATE)
        resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=rate)
        chunks = [
            out.to_ndarray()
            for frame in container.decode(stream)
            for out in resampler.resample(frame)
        ]
        chunks.extend(out.to_ndarray() for out in resampler.resample(None))
        codec = stream.codec_context.name.upper()
        if not chunks:
            return np.zeros((0, stream.channels or 1), dtype=np.float32), rate, container.format.name, codec
        data = np.concatenate(chunks, axis=1)  # (channels, samples), planar float
        return np.ascontiguousarray(data.T, dtype=np.float32), rate, container.format.name.upper(), codec


def _looks_like_text(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(4096)
    if not head or b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _short(message: str, limit: int = 120) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1] + "…"
