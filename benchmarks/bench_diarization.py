"""Diarization benchmark: DER (pyannote.metrics), role accuracy, real-time factor.

    .venv/bin/python benchmarks/bench_diarization.py [--calls N] [--no-asr] [--out FILE]

* DER at collar 0 and 0.25 s (pyannote ``collar=0.5``: +-0.25 s around each reference
  boundary), overlap scored, on ``../shared/data/pyannote-audio`` (the sample and the two
  2-speaker AMI dev files) and on the sample calls downmixed to mono (reference: the
  ``.truth.json`` turns, roles as speaker labels).
* Role accuracy on the downmixed sample calls: the full mono path of ``CallPipeline``
  (diarize, Whisper, words to speakers, roles) with an empty voiceprint store (opening
  phrases, forms of address, first speaker); ``--voiceprints`` scores each stereo original
  first (enrolling its agent, i.e. the same recording: optimistic) and compares rubric items.
  Call-level: the agent speaker is right; time-level: share of single-speaker reference
  time whose role is right.
* RTF = diarization wall time / audio duration on this machine (load average recorded).

Nothing is downloaded: HF_HUB_OFFLINE=1 and PYANNOTE_METRICS_ENABLED=false are set first.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["PYANNOTE_METRICS_ENABLED"] = "false"

import argparse
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "pyannote-audio"
SAMPLES = ROOT / "samples" / "calls"
COLLARS = {"collar_0": 0.0, "collar_0.25": 0.5}  # pyannote collar = total width


def _annotation(turns: Any, uri: str) -> Any:
    from pyannote.core import Annotation, Segment

    ann = Annotation(uri=uri)
    for t in turns:
        ann[Segment(t.start, t.end)] = t.speaker
    return ann


def _der(ref: Any, hyp: Any) -> dict[str, float]:
    from pyannote.metrics.diarization import DiarizationErrorRate

    return {name: round(float(DiarizationErrorRate(collar=c)(ref, hyp)), 4) for name, c in COLLARS.items()}


def _truth(call: Path) -> dict[str, Any]:
    return json.loads(call.with_suffix(".truth.json").read_text(encoding="utf-8"))


def _truth_annotation(truth: dict[str, Any], uri: str) -> Any:
    from pyannote.core import Annotation, Segment

    ann = Annotation(uri=uri)
    for t in truth["turns"]:
        ann[Segment(t["start"], t["end"])] = t["role"]
    return ann


def _activity_annotation(audio: Any, truth: dict[str, Any], uri: str, *, threshold_dbfs: float = -40.0,
                         frame_s: float = 0.02, fill_gap_s: float = 0.2, min_speech_s: float = 0.1) -> Any:
    """Who speaks when, read off the STEREO original: each channel is one party, the TTS voices
    are clean and the noise floor is -55 dBFS, so frame energy above -40 dBFS is that party
    speaking. Unlike the script's turn spans, this excludes the pauses between sentences."""
    import numpy as np
    from pyannote.core import Annotation, Segment

    ann = Annotation(uri=uri)
    hop = int(frame_s * audio.sample_rate)
    for channel, samples in enumerate(audio.channels):
        role = "agent" if channel == truth["agent_channel"] else "customer"
        n = len(samples) // hop
        rms = np.sqrt(np.mean(samples[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
        active = 20 * np.log10(rms) > threshold_dbfs
        segments: list[list[float]] = []
        for i in np.flatnonzero(active):
            start = i * frame_s
            if segments and start - segments[-1][1] <= fill_gap_s:
                segments[-1][1] = start + frame_s
            else:
                segments.append([start, start + frame_s])
        for a, b in segments:
            if b - a >= min_speech_s:
                ann[Segment(a, b)] = role
    return ann


def bench_reference(diarizer: Any) -> list[dict[str, Any]]:
    from pyannote.database.util import load_rttm

    rows = []
    files = [
        ("sample", SHARED / "sample" / "sample.wav", SHARED / "sample" / "sample.rttm"),
        ("dev00", SHARED / "ami-debug" / "dev00.wav", SHARED / "ami-debug" / "debug.development.rttm"),
        ("dev01", SHARED / "ami-debug" / "dev01.wav", SHARED / "ami-debug" / "debug.development.rttm"),
    ]
    for uri, wav, rttm in files:
        x, sr = sf.read(wav, dtype="float32")
        t0 = time.perf_counter()
        out = diarizer(x, sr)
        elapsed = time.perf_counter() - t0
        ref = load_rttm(rttm)[uri]
        rows.append({"file": uri, **_der(ref, _annotation(out.turns, uri)), "duration_s": round(len(x) / sr, 1),
                     "diarize_s": round(elapsed, 2), "rtf": round(elapsed / (len(x) / sr), 3),
                     "speakers": len(out.speakers)})
    return rows


def _role_time_accuracy(truth: dict[str, Any], result: Any) -> float:
    """Share of single-speaker reference time (10 ms grid) whose hypothesis role is right."""
    n = int(truth["duration"] * 100) + 1
    ref = np.zeros(n, dtype=np.int8)  # 0 none, 1 agent, 2 customer, 3 both
    for t in truth["turns"]:
        ref[int(t["start"] * 100): int(t["end"] * 100)] |= 1 if t["role"] == "agent" else 2
    hyp = np.zeros(n, dtype=np.int8)
    for u in result.transcript.utterances:
        code = {"agent": 1, "customer": 2}.get(u.role.value, 0)
        for w in u.words or ():
            hyp[int(w.start * 100): int(w.end * 100)] = code
    mask = ((ref == 1) | (ref == 2)) & (hyp > 0)
    return float((ref[mask] == hyp[mask]).mean()) if mask.any() else float("nan")


def _role_items(result: Any) -> dict[str, str]:
    return {i.id: i.outcome.value for i in result.scorecard.items}


class _Recording:
    """Wraps the diarizer: keeps each call's output and wall time (one diarization per call)."""

    def __init__(self, diarizer: Any) -> None:
        self.inner = diarizer
        self.last: Any = None
        self.elapsed = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        self.last = self.inner(*args, **kwargs)
        self.elapsed = time.perf_counter() - t0
        return self.last


def bench_calls(diarizer: Any, n_calls: int | None, with_asr: bool, voiceprints: bool, log: Any) -> dict[str, Any]:
    """Per downmixed call: DER and RTF of the diarization; with ASR, the full mono path's roles."""
    from qa_pipeline.audio import Audio, load_audio
    from qa_pipeline.batch import discover
    from qa_pipeline.config import load_settings
    from qa_pipeline.pipeline import CallPipeline

    calls = sorted(SAMPLES.glob("*.wav"))[:n_calls]
    recording = _Recording(diarizer)
    der_rows, role_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(None, data_dir=Path(tmp))
        pipeline = CallPipeline.from_pretrained(settings, diarizer=recording)  # type: ignore[arg-type]
        sources = {s.metadata.call_id: s for s in discover(SAMPLES, settings) if hasattr(s, "metadata")}
        for call in calls:
            audio = load_audio(call)
            mono_audio = Audio(info=audio.info, channels=(audio.mono(),))
            truth = _truth(call)
            if with_asr:
                src = sources[call.stem]
                stereo = pipeline(src, audio=audio) if voiceprints else None  # enrols the agent
                result = pipeline(src, audio=mono_audio)
                out = recording.last
            else:
                out = recording(mono_audio.channels[0], audio.sample_rate)
            ref = _truth_annotation(truth, call.stem)
            hyp = _annotation(out.turns, call.stem)
            activity = _der(_activity_annotation(audio, truth, call.stem), hyp)
            der_row = {"call": call.stem, **_der(ref, hyp), **{f"activity_{k}": v for k, v in activity.items()},
                       "duration_s": round(audio.duration_s, 1), "rtf": round(recording.elapsed / audio.duration_s, 3),
                       "loadavg": round(os.getloadavg()[0], 1)}
            der_rows.append(der_row)
            log.write(json.dumps(der_row) + "\n")
            if with_asr:
                assignment = result.versions.options.roles
                assert assignment is not None, "a diarized mono call records its role assignment"
                row: dict[str, Any] = {"call": call.stem, "method": assignment.method,
                                       "time_accuracy": round(_role_time_accuracy(truth, result), 4),
                                       "evidence": {s: asdict(e) for s, e in assignment.evidence.items()}}
                agent_turn = next(t for t in truth["turns"] if t["role"] == "agent")
                first_agent = [u for u in result.transcript.utterances if u.start >= agent_turn["start"] - 0.5]
                row["agent_right"] = bool(first_agent) and first_agent[0].role.value == "agent"
                if stereo is not None:
                    s_items, m_items = _role_items(stereo), _role_items(result)
                    row["items_differ"] = {k: [s_items[k], m_items.get(k)] for k in s_items if s_items[k] != m_items.get(k)}
                role_rows.append(row)
                log.write(json.dumps(row, ensure_ascii=False) + "\n")
            log.flush()
    report: dict[str, Any] = {"der": der_rows}
    if role_rows:
        report["roles"] = role_rows
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=None, help="only the first N sample calls")
    parser.add_argument("--no-asr", action="store_true", help="DER/RTF only (no Whisper, no role accuracy)")
    parser.add_argument("--voiceprints", action="store_true",
                        help="score each stereo original first (enrolling its agent) and compare rubric items")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_diarization.json")
    args = parser.parse_args()

    from qa_pipeline.asr.diarization import Diarizer
    from qa_pipeline.config import load_settings

    settings = load_settings(None)
    t0 = time.perf_counter()
    diarizer = Diarizer.from_pretrained(settings.diarization.pipeline, settings=settings.diarization)
    load_s = time.perf_counter() - t0
    report: dict[str, Any] = {
        "settings": settings.diarization.model_dump(mode="json"),
        "model": diarizer.model_id,
        "load_s": round(load_s, 1),
        "loadavg_before": os.getloadavg(),
        "cpu_count": os.cpu_count(),
    }
    log = args.out.with_suffix(".log.jsonl").open("w", encoding="utf-8")
    if not args.skip_reference:
        report["reference"] = bench_reference(diarizer)
        log.write(json.dumps(report["reference"]) + "\n")
        log.flush()
    report.update(bench_calls(diarizer, args.calls, not args.no_asr, args.voiceprints, log))
    report["loadavg_after"] = os.getloadavg()
    der = report["der"]
    report["summary"] = {
        "calls_der_mean": {k: round(float(np.mean([r[k] for r in der])), 4) for k in COLLARS},
        "calls_activity_der_mean": {k: round(float(np.mean([r[f"activity_{k}"] for r in der])), 4) for k in COLLARS},
        "calls_rtf_mean": round(float(np.mean([r["rtf"] for r in der])), 3),
    }
    if "roles" in report:
        rows = report["roles"]
        report["summary"]["roles"] = {
            "voiceprints": args.voiceprints,
            "agent_right": f"{sum(r['agent_right'] for r in rows)}/{len(rows)}",
            "time_accuracy_mean": round(float(np.mean([r["time_accuracy"] for r in rows])), 4),
        }
        if args.voiceprints:
            report["summary"]["items_same_as_stereo"] = f"{sum(not r['items_differ'] for r in rows)}/{len(rows)}"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(report["summary"], indent=1))


if __name__ == "__main__":
    main()
