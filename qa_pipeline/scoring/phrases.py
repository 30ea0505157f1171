"""Phrase spotting in utterances, with evidence spans from word timestamps.

Matching is on token sequences (see :func:`qa_pipeline.text.tokenize`): exact
token equality first; for Chinese phrases of two or more characters, equality
of toneless pinyin as a fallback, which absorbs the commonest ASR error on
Mandarin (a homophone character).  Single-character phrases never match by
sound.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from ..records import Evidence, Utterance
from ..text import Token, pinyin_keys, to_simplified, tokenize

QUOTE_CONTEXT = 24  # characters of context on each side of a match in a quote


@dataclass(frozen=True, slots=True)
class PhraseMatch:
    phrase: str
    utterance: Utterance
    char_start: int
    char_end: int
    by_sound: bool

    def evidence(self) -> Evidence:
        start, end = self.utterance.time_span(self.char_start, self.char_end)
        return Evidence(start=start, end=end, quote=quote(self.utterance.text, self.char_start, self.char_end), utterance_id=self.utterance.id)


def quote(text: str, start: int, end: int, context: int = QUOTE_CONTEXT) -> str:
    left = max(0, start - context)
    right = min(len(text), end + context)
    return ("…" if left > 0 else "") + text[left:right] + ("…" if right < len(text) else "")


@dataclass(frozen=True)
class _Pattern:
    phrase: str
    texts: tuple[str, ...]
    sounds: tuple[str, ...] | None  # None: not eligible for sound matching


class PhraseSet:
    """A compiled set of phrases (OR)."""

    def __init__(self, phrases: Sequence[str], *, fuzzy: bool = True) -> None:
        self.phrases = tuple(phrases)
        patterns = []
        for phrase in self.phrases:
            toks = tokenize(to_simplified(phrase))
            if not toks:
                continue
            cjk = sum(t.cjk for t in toks)
            sounds = pinyin_keys(toks) if fuzzy and cjk >= 2 else None
            patterns.append(_Pattern(phrase, tuple(t.text for t in toks), sounds))
        self._patterns = tuple(patterns)

    def find(self, utterance: Utterance) -> Iterator[PhraseMatch]:
        toks = _tokens(utterance.text)
        texts = tuple(t.text for t in toks)
        sounds: tuple[str, ...] | None = None
        for pat in self._patterns:
            m = len(pat.texts)
            for i in range(len(toks) - m + 1):
                by_sound = False
                window = texts[i : i + m]
                if window != pat.texts:
                    if pat.sounds is None:
                        continue
                    if sounds is None:
                        sounds = _sounds(utterance.text)
                    if sounds[i : i + m] != pat.sounds:
                        continue
                    # a homophone substitutes at most half the characters (公号 for 工号,
                    # 国家店网 for 国家电网), so 在建 does not pass for 再见
                    if 2 * sum(a == b for a, b in zip(window, pat.texts)) < m:
                        continue
                    by_sound = True
                if _inside_number(texts, i, m, pat.texts):
                    continue
                yield PhraseMatch(pat.phrase, utterance, toks[i].start, toks[i + m - 1].end, by_sound)

    def first(self, utterances: Iterable[Utterance]) -> PhraseMatch | None:
        for utt in utterances:
            for match in self.find(utt):
                return match
        return None

    def all(self, utterances: Iterable[Utterance]) -> list[PhraseMatch]:
        return [m for utt in utterances for m in self.find(utt)]


_DIGIT_CHARS = frozenset("0123456789零〇一二三四五六七八九幺两")


def _is_digit_token(tok: str) -> bool:
    return bool(tok) and all(ch in _DIGIT_CHARS for ch in tok)


def _inside_number(texts: tuple[str, ...], i: int, m: int, pattern: tuple[str, ...]) -> bool:
    """A phrase that starts/ends with digits must not be part of a longer number
    (一二三四五 inside the phone number 一三九一二三四五六七八 is not the 12345 hotline)."""
    if _is_digit_token(pattern[0]) and i > 0 and _is_digit_token(texts[i - 1]):
        return True
    return _is_digit_token(pattern[-1]) and i + m < len(texts) and _is_digit_token(texts[i + m])


@functools.lru_cache(maxsize=1024)
def phrase_set(phrases: tuple[str, ...], fuzzy: bool = True) -> PhraseSet:
    """A compiled :class:`PhraseSet`, built once per distinct phrase list (rubrics are scored per call)."""
    return PhraseSet(phrases, fuzzy=fuzzy)


@functools.lru_cache(maxsize=8192)
def _tokens(text: str) -> tuple[Token, ...]:
    return tokenize(text)


@functools.lru_cache(maxsize=8192)
def _sounds(text: str) -> tuple[str, ...]:
    return pinyin_keys(_tokens(text))
