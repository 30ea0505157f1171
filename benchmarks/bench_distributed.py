"""Throughput of distributed scoring: the single-process path vs Ray with 1 and 2 ASR workers.

Same calls (samples/calls, a local folder, so object-store latency is not part of it), same
models and options, a fresh results database per run (every call is scored).  Per run:

* startup: from the start of a fresh Python process (imports included) until every model is
  loaded (the pipeline's, or Ray's instance and its actors');
* steady: scoring every call (fetch+decode, ASR, sentiment+rubric, writing results);
* per-stage CPU seconds from the results' timings.

Configurations alternate over ``--rounds`` rounds; the median is reported.  Ray's overhead =
Ray (1 worker) / single process - 1 on the steady part and on the total.

    .venv/bin/python benchmarks/bench_distributed.py [--rounds 2] [--calls N] [--out benchmarks/DISTRIBUTED.md]
"""

from __future__ import annotations

import time

PROCESS_START = time.perf_counter()

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from qa_pipeline.batch import ResultSink, fetch_each, score_sources  # noqa: E402
from qa_pipeline.config import Settings, load_settings  # noqa: E402
from qa_pipeline.pipeline import CallPipeline  # noqa: E402
from qa_pipeline.storage import LocalStore, RecordingRef  # noqa: E402
from qa_pipeline.store import ResultStore  # noqa: E402

SAMPLES = PROJECT_ROOT / "samples" / "calls"
STAGES = ("decode_s", "asr_s", "sentiment_s", "score_s")


@dataclass
class Run:
    config: str
    startup_s: float
    steady_s: float
    audio_s: float
    calls: int
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def total_s(self) -> float:
        return self.startup_s + self.steady_s


def _settings(data_dir: Path, *, workers: int | None) -> Settings:
    ray = {"enabled": workers is not None, "asr_actors": workers or 0, "temp_dir": Path("/tmp") / f"qa-ray-bench{os.getpid()}"}
    return load_settings(None, data_dir=data_dir, ray=ray)


def run_once(config: str, refs: list[RecordingRef], store_root: Path) -> Run:
    workers = {"single process": None, "ray, 1 worker": 1, "ray, 2 workers": 2}[config]
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        settings = _settings(Path(tmp), workers=workers)
        objects = LocalStore(store_root, filename_pattern=settings.filename_pattern, timezone=settings.timezone)
        with ResultStore(settings.resolved_database_url) as db:
            sink = ResultSink(db, settings.resolved_results_dir, timezone=settings.timezone)
            t0 = PROCESS_START
            if workers is None:
                pipeline = CallPipeline.from_pretrained(settings)
                t1 = time.perf_counter()
                outcomes = list(score_sources(fetch_each(objects, refs), pipeline, db, results_dir=sink.results_dir, sink=sink))
                t2 = time.perf_counter()
            else:
                from qa_pipeline.distributed import RayRunner

                runner = RayRunner(settings)
                runner.start()
                try:
                    t1 = time.perf_counter()
                    outcomes = list(runner.run(objects, refs, sink))
                    t2 = time.perf_counter()
                finally:
                    runner.shutdown()
    failed = [o.error for o in outcomes if o.status != "scored"]
    if failed:
        raise SystemExit(f"{config}: calls failed: {failed}")
    stages = {k: sum(o.result.timings.get(k, 0.0) for o in outcomes if o.result) for k in STAGES}
    audio = sum(o.result.duration_s for o in outcomes if o.result)
    return Run(config, t1 - t0, t2 - t1, audio, len(outcomes), stages)


def _child(config: str, calls: int) -> Run:
    """One run in a fresh Python process, so every configuration pays its own imports."""
    cmd = [sys.executable, __file__, "--one", config, "--calls", str(calls)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RUN ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"{config}: run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return Run(**json.loads(line[4:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--calls", type=int, default=0, help="first N sample calls (0 = all)")
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown report here")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child process: one run, JSON out
    args = parser.parse_args()

    settings = load_settings(None)
    store = LocalStore(SAMPLES, filename_pattern=settings.filename_pattern, timezone=settings.timezone)
    refs = list(store.iter_recordings())
    if args.calls:
        refs = refs[: args.calls]
    if args.one:
        print("RUN " + json.dumps(asdict(run_once(args.one, refs, SAMPLES))), flush=True)
        return
    configs = ["single process", "ray, 1 worker", "ray, 2 workers"]
    runs: dict[str, list[Run]] = {c: [] for c in configs}
    for r in range(args.rounds):
        order = configs if r % 2 == 0 else list(reversed(configs))
        for config in order:
            run = _child(config, args.calls)
            runs[config].append(run)
            print(
                f"round {r + 1} {config:15s} startup {run.startup_s:6.1f} s  steady {run.steady_s:6.1f} s  "
                f"({run.audio_s / run.steady_s:5.2f} x real time)",
                flush=True,
            )

    def med(config: str, attr: str) -> float:
        return statistics.median(getattr(run, attr) for run in runs[config])

    single_steady, single_total = med("single process", "steady_s"), med("single process", "total_s")
    ray1_steady, ray1_total = med("ray, 1 worker", "steady_s"), med("ray, 1 worker", "total_s")
    ray2_steady, ray2_total = med("ray, 2 workers", "steady_s"), med("ray, 2 workers", "total_s")
    audio = runs[configs[0]][0].audio_s
    lines = [
        "# Distributed scoring — throughput benchmark",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.node()}: {os.cpu_count()} CPUs, no GPU, Python "
        f"{platform.python_version()}; {len(refs)} sample calls ({audio:.0f} s of stereo 8 kHz audio, both "
        f"channels transcribed), faster-whisper base int8, sentiment on; {args.rounds} rounds, "
        "configurations alternating, medians reported.",
        "",
        "Reproduce: `.venv/bin/python benchmarks/bench_distributed.py --rounds "
        f"{args.rounds}{' --calls ' + str(args.calls) if args.calls else ''}`",
        "",
        "| configuration | startup (s) | scoring all calls (s) | total (s) | audio s per wall s (steady) | "
        + " | ".join(f"{s} (sum)" for s in STAGES)
        + " |",
        "|---|---|---|---|---|" + "---|" * len(STAGES),
    ]
    for config in configs:
        stage_cells = " | ".join(f"{statistics.median(run.stages[s] for run in runs[config]):.1f}" for s in STAGES)
        lines.append(
            f"| {config} | {med(config, 'startup_s'):.1f} | {med(config, 'steady_s'):.1f} | {med(config, 'total_s'):.1f} | "
            f"{audio / med(config, 'steady_s'):.2f} | {stage_cells} |"
        )
    lines += [
        "",
        f"* **Ray overhead (1 worker vs single process)**: scoring {100 * (ray1_steady / single_steady - 1):+.1f} %, "
        f"including startup {100 * (ray1_total / single_total - 1):+.1f} % (target ≤ 10 %).",
        f"* **Ray, 2 workers vs single process**: scoring {single_steady / ray2_steady:.2f}x as fast, "
        f"including startup {single_total / ray2_total:.2f}x.",
        f"* **2 workers vs 1**: speed-up {ray1_steady / ray2_steady:.2f}x.",
        "* ASR layouts (all on the same cores): the single process and the one Ray worker use the automatic "
        "CPU layout (two CTranslate2 workers on half the cores each, a stereo call's two channels at once); "
        "with two Ray workers each actor holds one core (one CTranslate2 thread) and two calls are in "
        "flight, with fetch/decode and scoring beside them.",
        "* Stage sums are CPU-bound seconds inside each stage, summed over calls (stages overlap under Ray: "
        "fetch/decode and scoring run beside ASR).",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
