"""Live recognition accuracy and cost, without the real-time clock.

Each sample call's channels are cut into live segments by the live endpointer
(:class:`qa_pipeline.live.recognizer.Endpointer`, the ``[live]`` settings), and every segment is
recognised alone as the live path does (:func:`transcribe_segment`, the live decoding options),
once per configuration:

* ``full``: Whisper's encoder on the usual 30 s window;
* ``short``: what ``qa live`` runs (:func:`qa_pipeline.live.recognizer.live_transcriber`):
  :class:`qa_pipeline.asr.short_context.ShortContextWhisper` (the encoder on the segment's own
  frames plus 2 s, at least ``live.encoder_min_s``), and the full window again for a segment that
  decoded into a loop;
* ``short-MARGIN-MIN``: the short window alone with other margins (mel frames, 100 = 1 s).

It reports, per configuration, the CPU seconds spent recognising, the seconds per segment
(mean / p95, one segment at a time on this machine: the latency floor of an alert), and the
CER (zh) / WER (en) of the channel's live text against the script (``*.truth.json``), beside
the batch pipeline's own figure for the same call when it is in ``--batch-results``. Writes
``--out`` (default benchmarks/LIVE_ASR.md)::

    .venv/bin/python benchmarks/bench_live_asr.py [--calls zh_rude_agent,...] [--configs full,short]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

import numpy as np
import soundfile as sf

from qa_pipeline.asr import Transcriber
from qa_pipeline.asr.short_context import ShortContextWhisper
from qa_pipeline.config import load_settings
from qa_pipeline.live.recognizer import Endpointer, live_transcriber, transcribe_segment
from qa_pipeline.records import Role
from qa_testkit.evaluation import error_rate

SAMPLES = PROJECT_ROOT / "samples" / "calls"


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def segments_of(path: Path, conf) -> tuple[int, list]:
    data, rate = sf.read(path, dtype="int16", always_2d=True)
    out = []
    for ch in range(data.shape[1]):
        ep = Endpointer(ch, rate=rate, margin_db=conf.vad_margin_db, floor_dbfs=conf.vad_floor_dbfs,
                        silence_s=conf.endpoint_silence_s, max_segment_s=conf.max_segment_s, cut_search_s=conf.cut_search_s)
        step = int(0.02 * rate) * 5  # 100 ms frames, as a stream delivers them
        for i in range(0, data.shape[0], step):
            out += ep.feed(np.ascontiguousarray(data[i : i + step, ch]))
        out += ep.flush()
    return rate, out


def engine(config: str, base: Transcriber, options) -> Transcriber:
    """``full``, ``short`` (the live default window) or ``short-MARGIN-MIN`` (frames)."""
    if config == "full":
        return Transcriber(base.model, base.resolved, options)
    if config == "short":  # what qa live runs: the short window, the full one for segments that loop
        return live_transcriber(base, load_settings(None).live)
    _, margin, least = config.split("-")
    return Transcriber(ShortContextWhisper.of(base.model, margin_frames=int(margin), min_frames=int(least)), base.resolved, options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default=None, help="comma-separated sample call ids (default: all)")
    parser.add_argument("--configs", default="full,short")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "benchmarks" / "LIVE_ASR.md")
    args = parser.parse_args()
    settings = load_settings(None)
    conf = settings.live
    base = Transcriber.from_pretrained(settings.asr.model, models_dir=settings.models_dir, settings=settings.asr)
    options = base.settings.model_copy(update={"beam_size": conf.beam_size, "second_pass": conf.second_pass, "temperature": 0.0})
    configs = args.configs.split(",")
    engines = {c: engine(c, base, options) for c in configs}
    names = args.calls.split(",") if args.calls else sorted(p.stem for p in SAMPLES.glob("*.wav"))
    rows: dict[str, dict[str, list]] = {c: {"cpu": [], "seg_s": [], "err": [], "lang": []} for c in configs}
    per_call = []
    load_before = os.getloadavg()[0]
    for name in names:
        truth = json.loads((SAMPLES / f"{name}.truth.json").read_text(encoding="utf-8"))
        lang = truth["language"]
        rate, segs = segments_of(SAMPLES / f"{name}.wav", conf)
        agent = truth.get("agent_channel", 0)
        line = {"call": name, "segments": len(segs)}
        order = configs if len(per_call) % 2 == 0 else list(reversed(configs))
        for c in order:
            texts: dict[int, list[tuple[float, str]]] = {}
            cpu0 = _cpu()
            for seg in segs:
                t0 = time.perf_counter()
                role = Role.AGENT if seg.channel == agent else Role.CUSTOMER
                utts = transcribe_segment(engines[c], seg, rate=rate, language=lang, role=role, pause_split_s=settings.asr.pause_split_s)
                rows[c]["seg_s"].append(time.perf_counter() - t0)
                for u in utts:
                    texts.setdefault(seg.channel, []).append((u.start, u.text))
            rows[c]["cpu"].append(_cpu() - cpu0)
            errs = []
            for ch in sorted({t["channel"] for t in truth["turns"]}):
                ref = "".join(t["text"] for t in truth["turns"] if t["channel"] == ch) if lang == "zh" else \
                    " ".join(t["text"] for t in truth["turns"] if t["channel"] == ch)
                hyp = ("" if lang == "zh" else " ").join(x for _, x in sorted(texts.get(ch, [])))
                errs.append(error_rate(ref, hyp, lang))
            err = float(np.mean(errs))
            rows[c]["err"].append(err)
            rows[c]["lang"].append(lang)
            line[c] = round(100 * err, 2)
        per_call.append(line)
        print(json.dumps(line, ensure_ascii=False), flush=True)
    lines = [
        "# Live recognition: accuracy and cost per segment (`benchmarks/bench_live_asr.py`)", "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()} ({os.cpu_count()} CPU cores); "
        f"packaged faster-whisper base int8 on CPU, live options (beam {conf.beam_size}, second pass {conf.second_pass}); "
        f"endpointing silence {conf.endpoint_silence_s} s, longest segment {conf.max_segment_s} s. "
        f"Load average before: {load_before:.2f}. Segments recognised one at a time, calls in alternating order.", "",
        "| config | segments | CPU s | s per segment mean | p95 | CER zh % | WER en % |", "|---|---|---|---|---|---|---|",
    ]
    for c in configs:
        r = rows[c]
        zh = [e for e, lg in zip(r["err"], r["lang"]) if lg == "zh"]
        en = [e for e, lg in zip(r["err"], r["lang"]) if lg == "en"]
        lines.append(f"| {c} | {len(r['seg_s'])} | {sum(r['cpu']):.1f} | {np.mean(r['seg_s']):.3f} | {pct(r['seg_s'], 95):.3f} | "
                     f"{100 * np.mean(zh) if zh else float('nan'):.2f} | {100 * np.mean(en) if en else float('nan'):.2f} |")
    lines += ["", "Per call (CER/WER %, mean of the two channels):", "", "| call | segments | " + " | ".join(configs) + " |",
              "|---|---|" + "---|" * len(configs)]
    for line in per_call:
        lines.append(f"| {line['call']} | {line['segments']} | " + " | ".join(str(line[c]) for c in configs) + " |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
