"""ASR benchmark: the whole pipeline against bare faster-whisper, and CER/WER on real clips.

1. Real-time factor (processing seconds / audio seconds) of
   * bare faster-whisper: ``decode_audio(split_stereo=True)`` + ``BatchedInferencePipeline.transcribe``
     on each channel, segments consumed, with the pipeline's exact options;
   * the whole qa_pipeline: decode + validate + resample, transcribe each channel,
     guards + Simplified conversion, conversation merge, metrics, rubric, SQLite write, JSON file;
   on the same audio (the sample calls), with the same loaded model and the same threads.
   Runs alternate bare/pipeline per call so machine drift hits both equally.
2. CER (Mandarin) / WER (English) of the pipeline's transcripts on ../shared/data, after
   standard normalisation (punctuation stripped, Traditional -> Simplified, full -> half width).

Usage:  .venv/bin/python benchmarks/bench_asr.py [--limit N] [--out benchmarks/results/bench_asr.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # qa_testkit

from faster_whisper import decode_audio  # noqa: E402

from qa_pipeline.batch import CallSource, discover, score_sources  # noqa: E402
from qa_pipeline.config import PROJECT_ROOT, load_settings  # noqa: E402
from qa_pipeline.metadata import resolve_metadata  # noqa: E402
from qa_pipeline.pipeline import CallPipeline  # noqa: E402
from qa_pipeline.store import ResultStore  # noqa: E402
from qa_testkit.evaluation import error_rate  # noqa: E402

SHARED = PROJECT_ROOT.parent / "shared" / "data"


def bare_transcribe(pipeline: CallPipeline, path: Path, language: str) -> float:
    """Seconds for bare faster-whisper on every channel of ``path``."""
    asr = pipeline.transcriber
    opts = asr.options(language)
    t0 = time.perf_counter()
    audio = decode_audio(str(path), sampling_rate=16000, split_stereo=True)
    channels = audio if isinstance(audio, tuple) else (audio,)
    for ch in channels:
        segments, _ = asr._batched.transcribe(ch, **opts)
        for _ in segments:
            pass
    return time.perf_counter() - t0


def rtf_comparison(pipeline: CallPipeline, settings, limit: int | None) -> dict:
    sources = [s for s in discover(PROJECT_ROOT / "samples" / "calls", settings) if isinstance(s, CallSource)]
    sources = sources[:limit] if limit else sources
    if not sources:
        raise SystemExit("no sample calls found in samples/calls")
    # warm-up: first call pays one-off costs (allocations, VAD session) for both paths
    bare_transcribe(pipeline, sources[0].path, sources[0].metadata.language or "zh")
    rows, bare_total, pipe_total, audio_total = [], 0.0, 0.0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        store = ResultStore(f"sqlite:///{tmp}/bench.db")
        for i, src in enumerate(sources):
            language = src.metadata.language or "zh"
            duration = float(len(decode_audio(str(src.path), sampling_rate=16000)) / 16000)

            def run_pipeline() -> float:
                t = time.perf_counter()
                [outcome] = list(score_sources([src], pipeline, store, results_dir=Path(tmp) / "results", force=True))
                if outcome.status != "scored":
                    raise SystemExit(f"pipeline failed on {src.path}: {outcome.error}")
                return time.perf_counter() - t

            if i % 2 == 0:
                bare = bare_transcribe(pipeline, src.path, language)
                pipe = run_pipeline()
            else:
                pipe = run_pipeline()
                bare = bare_transcribe(pipeline, src.path, language)
            rows.append({"call": src.metadata.call_id, "audio_s": round(duration, 2), "bare_s": round(bare, 2), "pipeline_s": round(pipe, 2)})
            bare_total += bare
            pipe_total += pipe
            audio_total += duration
            print(f"  {src.metadata.call_id:32} {duration:6.1f} s audio  bare {bare:6.2f} s  pipeline {pipe:6.2f} s", flush=True)
        store.close()
    return {
        "calls": len(rows),
        "audio_s": round(audio_total, 1),
        "bare_rtf": round(bare_total / audio_total, 4),
        "pipeline_rtf": round(pipe_total / audio_total, 4),
        "ratio": round(pipe_total / bare_total, 4),
        "overhead_pct": round(100 * (pipe_total / bare_total - 1), 1),
        "per_call": rows,
    }


def _kaldi(path: Path) -> dict[str, str]:
    return dict(line.split(maxsplit=1) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def accuracy(pipeline: CallPipeline, settings) -> list[dict]:
    """(clip, language, reference, channel or None) -> CER/WER of the pipeline transcript."""
    cases: list[tuple[str, Path, str, str, int | None]] = []
    wenet = _kaldi(SHARED / "wenet" / "text")
    cases.append(("aishell BAC009S0724W0121", SHARED / "wenet" / "aishell-BAC009S0724W0121.wav", "zh", wenet["aishell-BAC009S0724W0121"], None))
    s3 = _kaldi(SHARED / "s3tokenizer" / "text")
    cases.append(("aishell BAC009S0764W0122", SHARED / "s3tokenizer" / "BAC009S0764W0122.wav", "zh", s3["BAC009S0764W0122"], None))
    cases.append(("librispeech 1995-1837-0001", SHARED / "wenet" / "librispeech-1995-1837-0001.wav", "en", wenet["librispeech-1995-1837-0001"], None))
    cases.append(("jfk", SHARED / "openai-whisper" / "jfk.flac", "en", (SHARED / "openai-whisper" / "jfk.txt").read_text(), None))
    stm = [line.split(maxsplit=5)[5] for line in (SHARED / "pyannote-audio" / "sample" / "sample.stm").read_text().splitlines()]
    cases.append(("pyannote sample (2-party call)", SHARED / "pyannote-audio" / "sample" / "sample.wav", "en", " ".join(stm), None))
    stereo = dict(line.split("\t", 1) for line in (SHARED / "faster-whisper" / "stereo_diarization.txt").read_text().splitlines())
    cases.append(("stereo_diarization left", SHARED / "faster-whisper" / "stereo_diarization.wav", "en", stereo["left"], 0))
    cases.append(("stereo_diarization right", SHARED / "faster-whisper" / "stereo_diarization.wav", "en", stereo["right"], 1))
    uberi = dict(line.split("\t", 1) for line in (SHARED / "speech_recognition-uberi" / "text.tsv").read_text(encoding="utf-8").splitlines())
    cases.append(("uberi chinese (1 s)", SHARED / "speech_recognition-uberi" / "chinese.flac", "zh", uberi["chinese.flac"], None))
    cases.append(("uberi english (2.7 s)", SHARED / "speech_recognition-uberi" / "english.wav", "en", uberi["english.wav"], None))

    from qa_pipeline.audio import load_audio

    rows = []
    for name, path, language, reference, channel in cases:
        audio = load_audio(path)
        meta = resolve_metadata(path, manifest=None, filename_pattern=settings.filename_pattern, timezone=settings.timezone)
        assert pipeline.transcription is not None
        transcript, _roles, _infos = pipeline.transcription.transcribe(audio, meta, language)
        utts = [u for u in transcript.utterances if channel is None or u.channel == channel]
        hyp = (" " if language == "en" else "").join(u.text for u in utts)
        rate = error_rate(reference, hyp, language)
        rows.append({"clip": name, "metric": "CER" if language == "zh" else "WER", "error_rate": round(rate, 4), "hypothesis": hyp})
        print(f"  {name:32} {rows[-1]['metric']} {rate:6.1%}  {hyp[:70]}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N sample calls")
    parser.add_argument("--skip-rtf", action="store_true")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "benchmarks" / "results" / "bench_asr.json")
    args = parser.parse_args()

    settings = load_settings(None)
    t = time.perf_counter()
    pipeline = CallPipeline.from_pretrained(settings, sentiment=False)
    assert pipeline.transcriber is not None
    model_id = pipeline.transcriber.model_id
    print(f"model {model_id} loaded in {time.perf_counter() - t:.1f} s; device {settings.asr.device} "
          f"{settings.asr.compute_type}, {os.cpu_count()} threads, batch {settings.asr.batch_size}, beam {settings.asr.beam_size}")
    report: dict = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "model": model_id,
        "asr_options": pipeline.transcriber.options("zh"),
    }
    if not args.skip_rtf:
        print("RTF: bare faster-whisper vs whole pipeline, same audio, same model, same threads")
        report["rtf"] = rtf_comparison(pipeline, settings, args.limit)
        r = report["rtf"]
        print(f"bare RTF {r['bare_rtf']:.4f} · pipeline RTF {r['pipeline_rtf']:.4f} · ratio {r['ratio']:.3f} "
              f"({r['overhead_pct']:+.1f}% time) over {r['calls']} calls, {r['audio_s']} s audio")
    print("Accuracy on ../shared/data (after normalisation)")
    report["accuracy"] = accuracy(pipeline, settings)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
