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
from typing import Any, cast

import numpy as np
import soundfile as sf
import soxr

from .channels import channel_peak_dbfs, duplicate_lag
from .errors import AudioError
from .records import AudioInfo

#: Sample rate every model in the pipeline consumes.
MODEL_SAMPLE_RATE = 16_000
MIN_SAMPLE_RATE = 8_000
#: A recording whose loudest sample is below this level is treated as silent.
SILENCE_PEAK_DBFS = -60.0
#: Frames read per libsndfile call: block-wise reading is what GSM 6.10 WAV needs.
READ_BLOCK_FRAMES = 1 << 16

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

    samples, sample_rate, fmt, subtype, notes = _decode(path)
    if samples.shape[0] == 0:
        raise AudioError("zero-length audio: the header is valid but there are no samples", path=path)
    if sample_rate < MIN_SAMPLE_RATE:
        raise AudioError(f"sample rate {sample_rate} Hz is below the supported {MIN_SAMPLE_RATE} Hz", path=path)
    n_channels = samples.shape[1]
    if n_channels > 2:
        raise AudioError(
            f"{n_channels} channels: expected mono or stereo (one party per channel)", path=path
        )
    if not math.isfinite(float(np.sum(samples, dtype=np.float64))):
        raise AudioError("corrupt audio: samples contain NaN or infinity", path=path)
    peak = max(float(np.max(samples)), -float(np.min(samples)))  # no full-size temporary
    peak_db = 20 * math.log10(peak) if peak > 0 else -math.inf
    if peak_db < SILENCE_PEAK_DBFS:
        shown = "-inf" if peak_db == -math.inf else f"{peak_db:.0f}"
        raise AudioError(f"silent audio: peak level {shown} dBFS over {samples.shape[0] / sample_rate:.1f} s", path=path)

    levels = channel_peak_dbfs(samples)
    lag = duplicate_lag(samples[:, 0], samples[:, 1], sample_rate) if n_channels == 2 else None
    downmixed = lag is not None
    if lag is not None:
        # One mix written twice (maybe delayed / at another level): one party per channel does
        # not hold.  Keep the louder copy rather than averaging two misaligned copies.
        louder = int(np.argmax([float(np.dot(samples[:, c], samples[:, c])) for c in range(2)]))
        samples = samples[:, louder : louder + 1]
        notes = (*notes, f"both channels carry the same signal (lag {lag * 1000:.1f} ms): treated as mono")

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
        channel_peak_dbfs=levels,
        notes=notes,
    )
    return Audio(info=info, channels=channels)


def _resample(x: np.ndarray, sample_rate: int) -> np.ndarray:
    if sample_rate == MODEL_SAMPLE_RATE:
        return np.ascontiguousarray(x, dtype=np.float32)
    return soxr.resample(x, sample_rate, MODEL_SAMPLE_RATE, quality="HQ").astype(np.float32, copy=False)


def _decode(path: Path) -> tuple[np.ndarray, int, str, str, tuple[str, ...]]:
    """Samples (frames x channels, float32), rate, container, codec and repair notes.

    libsndfile first, read block-wise (GSM 6.10 WAV cannot be read in one call); FFmpeg through
    PyAV when it fails, or when it reports no frames although the file holds data after the
    header (a recorder killed before it wrote the sizes).
    """
    sndfile_error = ""
    try:
        with sf.SoundFile(path) as fh:
            data = _read_blocks(fh)
            if data.shape[0] > 0 or path.stat().st_size <= _HEADER_SLACK:
                return data, fh.samplerate, fh.format, fh.subtype, ()
            sndfile_error = _NO_FRAMES
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        sndfile_error = str(exc)
    try:
        data, rate, fmt, codec, notes = _decode_ffmpeg(path)
    except Exception as exc:  # noqa: BLE001 - PyAV raises many unrelated types
        ffmpeg_error = str(exc)
    else:
        if sndfile_error == _NO_FRAMES and data.shape[0]:
            notes = (*notes, "header sizes not finalised (0 frames): samples read to end of file")
        return data, rate, fmt, codec, notes
    if _looks_like_text(path):
        raise AudioError("not audio: the file contains text", path=path)
    raise AudioError(
        f"cannot decode audio (corrupt or unsupported): libsndfile: {_short(sndfile_error)}; "
        f"ffmpeg: {_short(ffmpeg_error)}",
        path=path,
    )


#: A file this small holds a header and nothing else.
_HEADER_SLACK = 256
_NO_FRAMES = "the header says 0 frames"


def _read_blocks(fh: sf.SoundFile) -> np.ndarray:
    """All frames of an open file, read :data:`READ_BLOCK_FRAMES` at a time (frames x channels).

    When the header gives the length, blocks are read straight into one array (no second copy).
    """
    if fh.seekable() and fh.frames > 0:
        out = np.empty((fh.frames, fh.channels), dtype=np.float32)
        pos = 0
        while pos < fh.frames:
            got = fh.read(frames=min(READ_BLOCK_FRAMES, fh.frames - pos), dtype="float32", always_2d=True, out=out[pos : pos + READ_BLOCK_FRAMES])
            if got.shape[0] == 0:
                break
            pos += got.shape[0]
        return out[:pos]
    blocks = []
    while True:
        block = fh.read(frames=READ_BLOCK_FRAMES, dtype="float32", always_2d=True)
        if block.shape[0]:
            blocks.append(block)
        if block.shape[0] < READ_BLOCK_FRAMES:
            break
    if not blocks:
        return np.zeros((0, fh.channels), dtype=np.float32)
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


#: FFmpeg decoders that reject valid frames of their codec, and the reference decoder used
#: instead when PyAV's FFmpeg has it (AMR: the native decoders refuse DTX SID/NO_DATA frames).
_PREFERRED_DECODERS = {"amrnb": "libopencore_amrnb", "amrwb": "libopencore_amrwb"}


def _decode_ffmpeg(path: Path) -> tuple[np.ndarray, int, str, str, tuple[str, ...]]:
    """Decode with FFmpeg; a packet the decoder rejects becomes silence of its duration.

    Telephony codecs send comfort-noise (DTX) and lost-frame markers; one such packet must not
    lose the call, so rejected packets are zero-filled and counted in the returned notes.  When
    most packets are rejected the file is not decodable and ``ValueError`` is raised.
    """
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ValueError("no audio stream")
        stream = container.streams.audio[0]
        rate = int(stream.rate or MODEL_SAMPLE_RATE)
        name = stream.codec_context.name
        decoder: av.AudioCodecContext = stream.codec_context
        preferred = _PREFERRED_DECODERS.get(name)
        if preferred is not None and preferred in av.codecs_available:
            decoder = cast("av.AudioCodecContext", av.CodecContext.create(preferred, "r"))  # an audio codec by name
            decoder.sample_rate = rate
            name = preferred
        n_channels = stream.channels or 1
        resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=rate)
        chunks: list[np.ndarray] = []
        decoded = concealed = 0
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            try:
                frames = decoder.decode(packet)
            except av.error.FFmpegError:
                concealed += 1
                samples = _packet_samples(packet, rate)
                if samples:
                    chunks.append(np.zeros((n_channels, samples), dtype=np.float32))
                continue
            decoded += 1
            for frame in frames:
                chunks.extend(out.to_ndarray() for out in resampler.resample(frame))
        chunks.extend(out.to_ndarray() for out in resampler.resample(None))
        fmt, codec = container.format.name.upper(), name.upper()
        if concealed and concealed > decoded:
            raise ValueError(f"{concealed} of {concealed + decoded} packets rejected by the {name} decoder")
        notes = (f"{concealed} undecodable packet(s) replaced by silence",) if concealed else ()
        if not chunks:
            return np.zeros((0, n_channels), dtype=np.float32), rate, fmt, codec, notes
        data = np.concatenate(chunks, axis=1)  # (channels, samples), planar float
        return np.ascontiguousarray(data.T, dtype=np.float32), rate, fmt, codec, notes


def _packet_samples(packet: Any, rate: int) -> int:
    """Samples a packet stands for (its duration in its time base), 0 when unknown."""
    if not packet.duration or packet.time_base is None:
        return 0
    return int(round(float(packet.duration * packet.time_base) * rate))


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
