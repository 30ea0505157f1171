"""Audio decoding: every format telephony systems write, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from qa_pipeline.audio import MODEL_SAMPLE_RATE, load_audio
from qa_pipeline.errors import AudioError


def tone(sr: int, seconds: float, freq: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def stereo(sr: int, seconds: float = 1.0) -> np.ndarray:
    # two different parties: 440 Hz on the left, 1000 Hz on the right
    return np.stack([tone(sr, seconds, 440), tone(sr, seconds, 1000)], axis=1)


def peak_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * MODEL_SAMPLE_RATE / len(x))


@pytest.mark.parametrize(
    "suffix,fmt,subtype,sr",
    [
        (".wav", "WAV", "PCM_16", 8000),
        (".wav", "WAV", "PCM_24", 16000),
        (".wav", "WAV", "PCM_32", 44100),
        (".wav", "WAV", "FLOAT", 48000),
        (".wav", "WAV", "ULAW", 8000),  # G.711 mu-law
        (".wav", "WAV", "ALAW", 8000),  # G.711 A-law
        (".flac", "FLAC", "PCM_16", 22050),
        (".mp3", "MP3", "MPEG_LAYER_III", 16000),
        (".ogg", "OGG", "VORBIS", 16000),
        (".opus", "OGG", "OPUS", 48000),
    ],
)
def test_decodes_formats_to_16k_per_channel(tmp_path: Path, suffix: str, fmt: str, subtype: str, sr: int) -> None:
    path = tmp_path / f"call{suffix}"
    sf.write(path, stereo(sr, 1.5), sr, format=fmt, subtype=subtype)
    audio = load_audio(path)
    assert audio.info.channels == 2 and len(audio.channels) == 2
    assert audio.info.sample_rate == sr
    assert audio.sample_rate == MODEL_SAMPLE_RATE
    for ch in audio.channels:
        assert ch.dtype == np.float32
        assert abs(len(ch) / MODEL_SAMPLE_RATE - 1.5) < 0.1  # codecs may pad a few ms
    # each party stays on its own channel through decode + resampling
    assert abs(peak_hz(audio.channels[0]) - 440) < 15
    assert abs(peak_hz(audio.channels[1]) - 1000) < 15
    assert len(audio.info.sha256) == 64


def test_mono_is_one_channel(tmp_path: Path) -> None:
    path = tmp_path / "mono.wav"
    sf.write(path, tone(8000, 1.0, 300), 8000, subtype="ULAW")
    audio = load_audio(path)
    assert len(audio.channels) == 1 and audio.info.channels == 1 and not audio.info.downmixed


def test_duplicated_mono_in_stereo_is_treated_as_mono(tmp_path: Path) -> None:
    x = tone(16000, 1.0, 300)
    path = tmp_path / "dup.wav"
    sf.write(path, np.stack([x, x * 0.999], axis=1), 16000)
    audio = load_audio(path)
    assert audio.info.channels == 2 and audio.info.downmixed and len(audio.channels) == 1


def test_ffmpeg_fallback_reads_m4a(tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    path = tmp_path / "call.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=16000, layout="stereo")
        data = stereo(16000, 1.0).T.copy()
        frame = av.AudioFrame.from_ndarray(data, format="fltp", layout="stereo")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    audio = load_audio(path)
    assert len(audio.channels) == 2
    assert abs(peak_hz(audio.channels[1]) - 1000) < 20


def _error(path: Path) -> str:
    with pytest.raises(AudioError) as info:
        load_audio(path)
    assert str(path) in str(info.value), "the error must name the file"
    return info.value.reason


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    assert "empty file" in _error(path)


def test_zero_length_audio(tmp_path: Path) -> None:
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros((0, 2), dtype=np.float32), 8000, subtype="PCM_16")
    assert "zero-length" in _error(path)


def test_silent_audio(tmp_path: Path) -> None:
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros((8000, 2), dtype=np.float32), 8000, subtype="PCM_16")
    assert "silent" in _error(path)


def test_text_file_named_wav(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("call notes: customer asked about the bill\n" * 20, encoding="utf-8")
    assert "not audio" in _error(path)


def test_corrupt_wav(tmp_path: Path) -> None:
    good = tmp_path / "good.wav"
    sf.write(good, stereo(8000), 8000, subtype="PCM_16")
    data = bytearray(good.read_bytes())
    data[8:40] = b"\x00\xff" * 16  # smash the RIFF/fmt header
    path = tmp_path / "corrupt.wav"
    path.write_bytes(bytes(data))
    assert "cannot decode" in _error(path)


def test_truncated_header(tmp_path: Path) -> None:
    good = tmp_path / "good.wav"
    sf.write(good, stereo(8000), 8000, subtype="PCM_16")
    path = tmp_path / "truncated.wav"
    path.write_bytes(good.read_bytes()[:30])
    reason = _error(path)
    assert "cannot decode" in reason or "zero-length" in reason


def test_missing_file(tmp_path: Path) -> None:
    assert "not found" in _error(tmp_path / "nope.wav")


def test_more_than_two_channels(tmp_path: Path) -> None:
    path = tmp_path / "multi.wav"
    sf.write(path, np.stack([tone(8000, 1, f) for f in (300, 500, 700)], axis=1), 8000)
    assert "3 channels" in _error(path)
