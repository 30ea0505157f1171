"""Compiled matchers: find evidence spans in utterances.

Built from a :class:`~qa_pipeline.scoring.rubric.Matcher` spec by :func:`compile_matcher`
and cached per spec, so a rubric is compiled once per process.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable, Protocol, Sequence

from ..records import Utterance
from ..text import to_simplified
from .expr import All, AnyOf, Node, Not, Phrase, parse_expr, phrases_of
from .phrases import PhraseMatch, PhraseSet
from .rubric import Matcher
from .semantic import SemanticMatcher


class CompiledMatcher(Protocol):
    def find(self, utterance: Utterance) -> list[PhraseMatch]: ...


#: Words that negate a following mention ("我不是要投诉", "I'm not cancelling").
ZH_NEGATORS = ("不是", "并不", "不想", "不要", "没有", "没", "不用", "不会", "别", "不", "无需", "不打算")
#: Auxiliaries that may stand between a Chinese negator and the verb (不是*要*投诉, 不*想*投诉).
ZH_AUXILIARIES = ("要", "想", "会", "打算", "准备", "去", "是", "再", "用", "需要")
EN_NEGATORS = ("not", "don't", "dont", "no", "never", "isn't", "wasn't", "won't", "didn't", "doesn't", "without", "nor")
_CLAUSE_BREAK = re.compile(r"[，。！？；、,.!?;]|\bbut\b|但是|可是|不过")
#: A-not-A question (正反问句: 要不要, 是不是, 有没有, 愿不愿意) ending a clause before a mention.
_A_NOT_A = re.compile(r"(\w{1,2})[不没]\1\w?$")
_QUOTES = {"“": "”", "「": "」", "『": "』", '"': '"'}


def is_negated(text: str, start: int) -> bool:
    """True when the mention at ``text[start:]`` is negated in its own clause.

    Chinese: the mention follows a negator directly, allowing auxiliaries in between
    (我不是要投诉, 我不想投诉, 没有投诉) — but 不行我要投诉 is not negated, nor is a mention after
    an A-not-A question (你是不是要投诉, 要不要不归我管: 正反问句 asks, it does not deny). English: a negator
    among the previous six words of the clause (I don't want to speak to a manager).
    """
    before = text[max(0, start - 40) : start]
    parts = _CLAUSE_BREAK.split(before)
    clause = parts[-1] if parts else before
    tail = clause.replace(" ", "")
    stripped = True
    while stripped:
        stripped = False
        question = _A_NOT_A.search(tail)
        if question is not None:  # 要不要 / 是不是 / 有没有: a question, not a negation
            tail = tail[: question.start()]
            stripped = True
        for aux in ZH_AUXILIARIES:
            if tail.endswith(aux) and not any(tail.endswith(n) for n in ZH_NEGATORS):
                tail = tail[: -len(aux)]
                stripped = True
    if any(tail.endswith(neg) for neg in ZH_NEGATORS):
        return True
    words = re.findall(r"[a-z']+", clause.lower())[-6:]
    return any(w in EN_NEGATORS for w in words)


def is_quoted(text: str, start: int) -> bool:
    """True when ``text[start]`` lies inside quotation marks (someone else's words being quoted)."""
    open_quote: str | None = None
    for ch in text[:start]:
        if open_quote is None and ch in _QUOTES:
            open_quote = ch
        elif open_quote is not None and ch == _QUOTES[open_quote]:
            open_quote = None
    return open_quote is not None


class _Phrases:
    """Phrase hits, minus negated mentions, quoted words and hits inside an excepted phrase."""

    def __init__(self, phrases: Sequence[str], fuzzy: bool, ignore_negated: bool, not_within: Sequence[str] = ()) -> None:
        self.set = PhraseSet(phrases, fuzzy=fuzzy)
        self.ignore_negated = ignore_negated
        self.not_within = PhraseSet(not_within, fuzzy=False) if not_within else None

    def find(self, utterance: Utterance) -> list[PhraseMatch]:
        return filter_hits(list(self.set.find(utterance)), utterance, self.ignore_negated, self.not_within)


def filter_hits(
    hits: list[PhraseMatch], utterance: Utterance, ignore_negated: bool, not_within: PhraseSet | None
) -> list[PhraseMatch]:
    text = utterance.text
    hits = [h for h in hits if not is_quoted(text, h.char_start)]
    if ignore_negated:
        hits = [h for h in hits if not is_negated(text, h.char_start)]
    if not_within is not None and hits:
        shields = [(m.char_start, m.char_end) for m in not_within.find(utterance)]
        hits = [h for h in hits if not any(s <= h.char_start and h.char_end <= e for s, e in shields)]
    return hits


class _Expr:
    def __init__(self, node: Node, fuzzy: bool, ignore_negated: bool) -> None:
        self.node = node
        self.sets = {p: _Phrases([p], fuzzy, ignore_negated) for p in phrases_of(node)}

    def _eval(self, node: Node, utt: Utterance) -> tuple[bool, list[PhraseMatch]]:
        if isinstance(node, Phrase):
            hits = self.sets[node.text].find(utt)
            return bool(hits), hits
        if isinstance(node, Not):
            ok, _ = self._eval(node.operand, utt)
            return not ok, []
        results = [self._eval(child, utt) for child in node.operands]
        if isinstance(node, All):
            ok = all(r[0] for r in results)
        else:
            ok = any(r[0] for r in results)
        return ok, [h for r in results if r[0] for h in r[1]] if ok else []

    def find(self, utterance: Utterance) -> list[PhraseMatch]:
        ok, hits = self._eval(self.node, utterance)
        return hits if ok else []


class _Regex:
    def __init__(self, pattern: str, exclude: str | None) -> None:
        self.pattern = re.compile(pattern, re.IGNORECASE)
        self.exclude = re.compile(exclude, re.IGNORECASE) if exclude else None
        self.label = pattern

    def find(self, utterance: Utterance) -> list[PhraseMatch]:
        # NFKC per character keeps offsets; Whisper already gave Simplified text
        text = "".join(c if len(n := unicodedata.normalize("NFKC", c)) != 1 else n for c in to_simplified(utterance.text))
        if self.exclude is not None and self.exclude.search(text):
            return []
        return [
            PhraseMatch(self.label, utterance, m.start(), m.end(), False)
            for m in self.pattern.finditer(text)
            if m.end() > m.start()
        ]


_COMPILED: dict[str, CompiledMatcher] = {}


def compile_matcher(spec: Matcher) -> CompiledMatcher:
    """Compile once per distinct spec (rubrics are loaded once, scored many times)."""
    key = spec.model_dump_json()
    if key not in _COMPILED:
        _COMPILED[key] = _compile(spec)
    return _COMPILED[key]


def _compile(spec: Matcher) -> CompiledMatcher:
    if spec.any is not None:
        return _Phrases(spec.any, spec.fuzzy, spec.ignore_negated, spec.not_within)
    if spec.expr is not None:
        return _Expr(parse_expr(spec.expr), spec.fuzzy, spec.ignore_negated)
    if spec.regex is not None:
        return _Regex(spec.regex, spec.exclude)
    return SemanticMatcher(tuple(spec.similar_to or ()), spec.threshold, contrast=tuple(spec.unlike))


def find_all(matcher: CompiledMatcher, utterances: Iterable[Utterance]) -> list[PhraseMatch]:
    return [hit for utt in utterances for hit in matcher.find(utt)]


__all__ = ["AnyOf", "CompiledMatcher", "compile_matcher", "find_all", "is_negated"]
