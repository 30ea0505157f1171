"""CPU cost and accuracy: the whole pipeline at its defaults against bare faster-whisper.

Issue 19's benchmark.  On the sample calls (stereo 8 kHz; ground-truth turns in
``*.truth.json``), in one process with the same model files and threads, alternating the order
call by call so machine drift hits every path alike:

* **bare**: faster-whisper's ``BatchedInferencePipeline`` with beam 5, the language given,
  word timestamps and Silero VAD, on each channel (``decode_audio(split_stereo=True)``);
* **pipeline** variants (``--variants``, :data:`VARIANTS`): the whole ``qa_pipeline`` (decode,
  language identification -- the call's metadata language is removed, so every call is
  identified --, recognition, guards, sentiment, warmth, rubric, redaction): ``defaults`` (beam 5
  on the chunk-length encoder window), ``greedy`` (greedy first decode, beam 5 on the full window
  for unreliable windows), ``beam2`` (beam 2 first, same fallback), ``beam5-full`` (every window beam 5 on the full 30 s window, batch 8:
  the defaults before issue 19), ``greedy-nofallback`` (greedy, no fallback decode),
  ``mono-greedy`` (greedy on mono calls too);
* **mono** (``--mono``): the same calls mixed down to one channel, diarized, each variant (at
  the first thread count);
* **threads** (``--threads 0,2,1``): every path at each CTranslate2 thread count (``asr.cpu_threads``;
  the bare path loads the same model files with the same count, one worker), each pipeline path
  compared with bare at the same count.  ``0`` is the pipeline's automatic layout (on a CPU two
  workers on half the cores each, a stereo call's channels at once) against bare on all cores;
  1 thread is the layout a local Ray batch uses on CPU (one single-thread ASR worker per core).

CPU seconds are the process's user + system time (``time.process_time``: every thread); CER
(Mandarin) / WER (English) are computed per party against the script with
:func:`qa_testkit.evaluation.error_rate`, then pooled over characters/words.

    .venv/bin/python benchmarks/bench_throughput.py [--variants defaults,greedy,beam5-full] [--threads 0,2,1] [--mono] [--limit N] [--doc NAME]

Writes ``benchmarks/results/bench_throughput.json`` and ``benchmarks/THROUGHPUT.md`` (``--doc NAME``:
``bench_name.json`` and ``NAME.md``).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import soundfile as sf
from faster_whisper import decode_audio

from qa_pipeline.asr import Transcriber
from qa_pipeline.batch import CallSource, discover
from qa_pipeline.config import load_settings
from qa_pipeline.pipeline import CallPipeline
from qa_pipeline.records import Role
from qa_testkit.evaluation import error_rate, normalize

CALLS = ROOT / "samples" / "calls"
#: Windows decoded again with the fallback beam, per benchmark path (read from each result).
FALLBACKS: Counter[str] = Counter()
#: Pipeline variants: name -> ``[asr]`` settings changed from the defaults.
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "greedy": {"beam_size": 1},  # greedy first decode on stereo calls (mono keeps mono_beam_size 5)
    "beam2": {"beam_size": 2},  # a 2-hypothesis beam first, between greedy and the default beam 5
    "beam5-full": {"beam_size": 5, "fallback_beam_size": None, "encoder_min_s": None, "batch_size": 8},
    "greedy-nofallback": {"beam_size": 1, "fallback_beam_size": None},
    "mono-greedy": {"beam_size": 1, "mono_beam_size": None},  # mono calls greedy first too
}


def truth_text(call_id: str) -> dict[int | str, tuple[str, str]]:
    """Channel (and ``"all"``, every turn in time order) -> (language, reference text)."""
    truth = json.loads((CALLS / f"{call_id}.truth.json").read_text(encoding="utf-8"))
    sep = "" if truth["language"] == "zh" else " "
    turns = sorted(truth["turns"], key=lambda t: t["start"])
    out: dict[int | str, tuple[str, str]] = {"all": (truth["language"], sep.join(t["text"] for t in turns))}
    for ch in sorted({t["channel"] for t in turns}):
        out[ch] = (truth["language"], sep.join(t["text"] for t in turns if t["channel"] == ch))
    return out


def layout(threads: int) -> str:
    """How a ``--threads`` value runs: 0 = the automatic layout (``asr.cpu_threads`` 0)."""
    if threads == 0:
        return f"automatic ({os.cpu_count()} cores; bare on all of them)"
    return f"{threads} thread{'s' if threads > 1 else ''}"


def cpu(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.process_time()
    value = fn()
    return time.process_time() - t0, value


def bare(asr: Transcriber, src: CallSource, language: str) -> dict[int | str, str]:
    opts = {"language": language, "beam_size": 5, "word_timestamps": True, "vad_filter": True,
            "condition_on_previous_text": False, "batch_size": 8}
    audio = decode_audio(str(src.path), sampling_rate=16000, split_stereo=True)
    channels = audio if isinstance(audio, tuple) else (audio,)
    out: dict[int | str, str] = {}
    for i, ch in enumerate(channels):
        segments, _ = asr._batched.transcribe(ch, **opts)
        out[i] = (" " if language == "en" else "").join(s.text.strip() for s in segments)
    return out


def _bare_given(asr: Transcriber, src: CallSource) -> dict[int | str, str]:
    return bare(asr, src, src.metadata.language or "zh")


def whole(pipeline: CallPipeline, src: CallSource, agent_channel: int, path: str) -> dict[int | str, str]:
    """Party texts of the pipeline's raw (unmasked) transcript, keyed like :func:`truth_text`."""
    result = pipeline(src)
    guards = result.versions.options.asr_guards
    FALLBACKS[path] += (guards.fallback or 0) if guards else 0
    transcript = result.raw_transcript or result.transcript
    sep = "" if result.language == "zh" else " "
    return {
        agent_channel: sep.join(u.text for u in transcript.by_role(Role.AGENT)),
        1 - agent_channel: sep.join(u.text for u in transcript.by_role(Role.CUSTOMER)),
        "all": sep.join(u.text for u in sorted(transcript.utterances, key=lambda u: u.start)),
    }


def errors(hyp: dict[int | str, str], ref: dict[int | str, tuple[str, str]], mono: bool = False) -> tuple[float, float]:
    """(edit errors, reference length) pooled over the parties; mono: the call in time order."""
    keys = ["all"] if mono else [k for k in ref if k != "all"]
    err = length = 0.0
    for key in keys:
        lang, r = ref[key]
        n = len(normalize(r, lang).replace(" ", "")) if lang == "zh" else len(normalize(r, lang).split())
        err += error_rate(r, hyp.get(key, ""), lang) * n
        length += n
    return err, length


def _whole_auto(
    pipeline: CallPipeline, auto: Callable[[CallSource], CallSource], agent_ch: Callable[[CallSource], int], path: str,
    src: CallSource,
) -> dict[int | str, str]:
    return whole(pipeline, auto(src), agent_ch(src), path)


def _whole_mono(
    pipeline: CallPipeline, auto: Callable[[CallSource], CallSource], agent_ch: Callable[[CallSource], int], folder: Path,
    path: str, src: CallSource,
) -> dict[int | str, str]:
    return whole(pipeline, mono_copy(auto(src), folder), agent_ch(src), path)


def mono_copy(src: CallSource, folder: Path) -> CallSource:
    samples, rate = sf.read(str(src.path), dtype="float32", always_2d=True)
    path = folder / f"{src.metadata.call_id}_mono.wav"
    sf.write(str(path), samples.mean(axis=1), rate, subtype="PCM_16")
    return dataclasses.replace(src, path=path, metadata=dataclasses.replace(src.metadata, agent_channel=None))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variants", default="defaults,greedy,beam5-full", help=f"comma-separated, from {', '.join(VARIANTS)}")
    ap.add_argument("--mono", action="store_true")
    ap.add_argument("--threads", default="0", help="comma-separated CTranslate2 thread counts, e.g. 0,2,1 (0: automatic)")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    ap.add_argument("--doc", default="THROUGHPUT", help="name of the Markdown and JSON files written")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    base = load_settings(data_dir=tmp)
    sources = [s for s in discover(CALLS, base) if isinstance(s, CallSource)][: args.limit]
    counts = [int(t) for t in args.threads.split(",")]

    def auto(s: CallSource) -> CallSource:
        return dataclasses.replace(s, metadata=dataclasses.replace(s.metadata, language=None))

    def agent_ch(s: CallSource) -> int:
        return int(json.loads((CALLS / f"{s.metadata.call_id}.truth.json").read_text(encoding="utf-8"))["agent_channel"])

    paths: dict[str, Callable[[CallSource], dict[int | str, str]]] = {}
    reference: dict[str, str] = {}  # path -> the bare path it is compared with
    pipes: dict[str, CallPipeline] = {}
    for k, threads in enumerate(counts):
        tag = f", {layout(threads)}" if len(counts) > 1 else ""
        here = {f"pipeline {v}{tag}": CallPipeline.from_pretrained(
                    base.model_copy(update={"asr": base.asr.model_copy(update={**VARIANTS[v], "cpu_threads": threads})}))
                for v in args.variants.split(",")}
        bare_name = f"bare faster-whisper (beam 5, language given){tag}"
        # bare: one model on ``threads`` threads (0: all cores, one worker), channels one after the other
        bare_asr = Transcriber.from_pretrained(
            base.asr.model, models_dir=base.models_dir,
            settings=base.asr.model_copy(update={"cpu_threads": threads or os.cpu_count() or 1, "num_workers": 1}))
        paths[bare_name] = functools.partial(_bare_given, bare_asr)
        paths.update({name: functools.partial(_whole_auto, p, auto, agent_ch, name) for name, p in here.items()})
        if args.mono and k == 0:
            paths.update({f"mono, {name}": functools.partial(_whole_mono, p, auto, agent_ch, tmp, f"mono, {name}")
                          for name, p in here.items()})
        reference.update(dict.fromkeys([n for n in paths if n not in reference], bare_name))
        pipes.update(here)
    for p in pipes.values():  # warm-up: model load, VAD session, first-call allocations
        p(sources[0])
        if args.mono:
            _ = p.diarizer  # loaded by the first mono call otherwise (DiarizerLoader): not inside a timed call
    totals = {name: {"cpu_s": 0.0, "err": 0.0, "len": 0.0} for name in paths}
    audio_s = 0.0
    per_call = []
    names = list(paths)
    for i, src in enumerate(sources):
        ref = truth_text(src.metadata.call_id)
        audio_s += sf.info(str(src.path)).duration
        row: dict[str, Any] = {"call": src.metadata.call_id}
        order = names if i % 2 == 0 else names[::-1]
        for name in order:
            seconds, hyp = cpu(functools.partial(paths[name], src))
            e, n = errors(hyp, ref, mono=name.startswith("mono"))
            totals[name]["cpu_s"] += seconds
            totals[name]["err"] += e
            totals[name]["len"] += n
            row[name] = {"cpu_s": round(seconds, 2), "error": round(e / n, 4) if n else None}
        per_call.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    summary = {
        name: {
            "cpu_s": round(t["cpu_s"], 1),
            "cpu_s_per_audio_s": round(t["cpu_s"] / audio_s, 3),
            "throughput_vs_bare": round(totals[reference[name]]["cpu_s"] / t["cpu_s"], 3),
            "error_pct": round(100 * t["err"] / t["len"], 2),
            "fallback_windows": None if reference[name] == name else FALLBACKS[name],
        }
        for name, t in totals.items()
    }
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "calls": len(sources),
        "audio_s": round(audio_s, 1),
        "summary": summary,
        "per_call": per_call,
    }
    (args.out / "results").mkdir(parents=True, exist_ok=True)
    (args.out / "results" / f"bench_{args.doc.lower()}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    (args.out / f"{args.doc}.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    return 0


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Throughput and accuracy: whole pipeline vs bare faster-whisper",
        "",
        "Written by `benchmarks/bench_throughput.py`; do not edit by hand.",
        "",
        f"{report['date']}; {report['machine']}; load average at the end {report['load_average']}; "
        f"{report['calls']} sample calls, {report['audio_s']} s of stereo audio. CPU = process user+system "
        "seconds (all threads). Error = CER (zh) / WER (en) pooled over both parties against the scripts; "
        "the pipeline runs identify each call's language (metadata language removed). Throughput vs bare = bare's CPU "
        "seconds at the same CTranslate2 thread count / the path's.",
        "",
        "| path | CPU s | CPU s per audio s | throughput vs bare (same threads) | CER/WER % | windows re-decoded (fallback) |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in report["summary"].items():
        lines.append(f"| {name} | {s['cpu_s']} | {s['cpu_s_per_audio_s']} | {s['throughput_vs_bare']}x | {s['error_pct']} | {'' if s['fallback_windows'] is None else s['fallback_windows']} |")
    return "\n".join(lines + [""])


if __name__ == "__main__":
    raise SystemExit(main())
