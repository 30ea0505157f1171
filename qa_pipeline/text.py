"""Text helpers shared by ASR post-processing and scoring.

* Traditional -> Simplified Chinese with OpenCC (``t2s``): Whisper often writes
  Traditional characters for Mandarin audio.
* A tokenizer that keeps character offsets: every CJK character is a token,
  every run of Latin letters/digits (with apostrophes) is a token.  Phrase
  matching works on token sequences, so "hold" never matches inside "holder"
  and punctuation/spacing differences between ASR output and rubric phrases
  do not matter.
* Toneless pinyin per CJK token, so a rubric phrase still matches when the ASR
  picked a homophone (国家电网 heard as 国家店网).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import opencc
from pypinyin import Style, lazy_pinyin

_TOKEN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[0-9a-z]+(?:'[a-z]+)*", re.IGNORECASE)
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@functools.lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Convert Traditional Chinese characters to Simplified (no-op on other scripts)."""
    if not _CJK_RE.search(text):
        return text
    return _t2s().convert(text)


@dataclass(frozen=True, slots=True)
class Token:
    text: str  # lower-cased, NFKC-normalised
    start: int  # character offsets into the original string
    end: int
    cjk: bool


def tokenize(text: str) -> tuple[Token, ...]:
    """Tokens of ``text`` with offsets into ``text`` itself.

    NFKC is applied per character (full-width Ｈｅｌｌｏ, ０１２ -> ASCII), which never
    changes the number of characters for the scripts we care about, so offsets
    remain valid.
    """
    folded = "".join(_fold(ch) for ch in text)
    return tuple(
        Token(m.group(0).lower(), m.start(), m.end(), bool(_CJK_RE.fullmatch(m.group(0))))
        for m in _TOKEN_RE.finditer(folded)
    )


def _fold(ch: str) -> str:
    folded = unicodedata.normalize("NFKC", ch)
    return folded if len(folded) == 1 else ch


def pinyin_keys(tokens: tuple[Token, ...]) -> tuple[str, ...]:
    """Toneless pinyin for CJK tokens (Latin tokens map to themselves)."""
    keys: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            keys.extend(_pinyin_run("".join(run)))
            run.clear()

    for tok in tokens:
        if tok.cjk:
            run.append(tok.text)
        else:
            flush()
            keys.append(tok.text)
    flush()
    return tuple(keys)


def _one_per_char(chars: str) -> Any:
    """pypinyin's ``errors`` callback: characters without a reading kept one by one (pypinyin accepts
    a list here; its annotation says str)."""
    return list(chars)


@functools.lru_cache(maxsize=65536)
def _pinyin_run(run: str) -> tuple[str, ...]:
    syllables = lazy_pinyin(run, style=Style.NORMAL, errors=_one_per_char)
    if len(syllables) != len(run):  # never expected; keep alignment regardless
        return tuple(lazy_pinyin(ch, style=Style.NORMAL)[0] for ch in run)
    return tuple(syllables)


def count_spoken_units(text: str, language: str) -> int:
    """Characters (Chinese) or words (English) for speaking-rate metrics."""
    tokens = tokenize(text)
    if language == "zh":
        return len(tokens)  # each Hanzi, and each Latin word or number, counts once
    return sum(1 for t in tokens if not t.cjk)
