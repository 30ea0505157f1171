"""Precision for fatal items: a forbidden phrase zeroes a call only when its context confirms it.

A fatal ``phrases``/``match`` item with ``expect: absent`` finds *candidate* hits with the
phrase lists. Before a call is zeroed, every hit goes through two checks:

1. **Context rules** (generic, per language; no sentence is special-cased). A hit is dropped
   when the phrase is not addressed to the customer as a dismissal:

   * negated in its clause ("I would never tell a customer to calm down"; 我不是说…);
   * reported or hypothetical speech of someone else ("he said the team told him whatever",
     上次那个人说爱找谁找谁, 如果有人跟您说不归我管, 规定不能说…);
   * English *wh-ever* words used as a free relative or determiner inside a clause about
     something else ("plus the twenty, whatever they're asking in Canada dollars", "in whatever
     currency", "for whatever reason"): the word follows a content word of its clause, or three
     or more words follow it. A bare "Whatever." / "Yeah, whatever." / "Whatever you say." stays;
   * English phrases whose clause has a third-person or non-human subject and no "you"
     ("once things calm down", "the app will shut up the notifications");
   * Chinese courteous suggestions addressed with 您 (您也可以自己上网查一下账单).

2. **Second check** (semantic): the sentence around a remaining hit is embedded with the
   packaged multilingual-e5-small (:mod:`qa_pipeline.scoring.semantic`) and compared with
   dismissive exemplars and neutral service exemplars of its language. The hit is confirmed
   when ``max cos(dismissive) - max cos(neutral) >= margin`` (margin calibrated by
   ``scripts/calibrate_fatal.py`` on ``benchmarks/data/fatal_context.yaml``; see
   ``benchmarks/FATAL.md``). If no hit is confirmed (or the embedder is unavailable) the item
   still fails, but as a **review item**: the call goes to a reviewer and is not zeroed.

Version: :data:`FATAL_CHECK_VERSION` (recorded in the item's reason).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ModelError
from .matchers import is_negated
from .phrases import PhraseMatch
from .semantic import Embedder, default_embedder

FATAL_CHECK_VERSION = "fatal-context-1"
#: Calibrated by scripts/calibrate_fatal.py (benchmarks/FATAL.md).
DEFAULT_MARGIN = 0.007

_CLAUSE = re.compile(r"[,.!?;:，。！？；：…—]|\bbut\b")
_SENTENCE = re.compile(r"[^.!?。！？]+[.!?。！？]*")
_WORD = re.compile(r"[a-z']+")
_WH_EVER = frozenset({"whatever", "whichever", "whoever", "however", "whenever", "wherever"})
#: words before a wh-ever word that do not make it part of a clause (interjections, fillers)
_FILLERS = frozenset({"oh", "yeah", "yes", "well", "look", "ok", "okay", "so", "and", "just", "like", "um", "uh", "er", "fine", "sure", "right", "man"})
_REPORT_EN = frozenset({"said", "says", "told", "tell", "tells", "telling", "asked", "heard", "claims", "claimed", "wrote", "called"})
_SELF = frozenset({"i", "i've", "i'd", "we", "we've"})
_THIRD_PERSON = frozenset({
    "it", "they", "he", "she", "things", "everything", "everyone", "system", "app", "network", "line",
    "storm", "market", "phone", "device", "crowd", "will", "would", "should", "to", "once", "until", "till",
})
_SECOND_PERSON = frozenset({"you", "your", "you're", "yours", "yourself"})
#: reported / hypothetical / prohibited speech before a Chinese hit (not preceded by 我/都: "我都说了" is the agent)
_REPORT_ZH = re.compile(r"(?<![我都])(说|讲|问|告诉|提到)|如果|要是|假如|假设|不能|不准|不许|禁止|规定|那个人|那位")

#: a courteous suggestion in the hit's clause: 您也可以自己上网查 is help, 你自己上网查 is not
_COURTEOUS_ZH = re.compile(r"您[^，。！？,.!?]{0,6}?(?:可以|方便|需要的话)|请您|麻烦您")

DISMISSIVE_EXEMPLARS = {
    "en": (
        "Whatever.", "I don't care, that's not my problem.", "Calm down and stop shouting at me.",
        "You people never listen.", "Shut up and let me talk.", "That's your problem, not mine.",
        "Are you stupid or something?", "Stop complaining, there's nothing I can do.", "Yeah, whatever, call someone else.",
    ),
    "zh": (
        "随便你。", "你听不懂吗？", "关我什么事。", "爱找谁找谁去。", "你烦不烦啊。", "跟你说了多少遍了还问。",
        "我怎么知道，不归我管。", "你有完没完。", "你爱投诉就投诉吧。",
    ),
}
NEUTRAL_EXEMPLARS = {
    "en": (
        "The total includes tax and the delivery fee.", "You can pay in any currency your card supports.",
        "I'll refund the difference once it posts.", "The technician will come by tomorrow morning.",
        "Let me check that for you.", "Whichever option works best for you.", "The network should settle after the update.",
        "I'm sorry about the trouble, let me fix it.", "The price depends on what the supplier charges.",
    ),
    "zh": (
        "电费包含基本电费和附加费。", "我帮您查一下。", "师傅明天上午过去。", "非常抱歉给您带来不便。",
        "如果有人这样跟您说，您可以投诉。", "我们已经批评了那位工作人员。", "请问还有其他可以帮您的吗？",
        "您说的情况我已经记录了。", "我们会短信通知您停电时间。",
    ),
}


@dataclass(frozen=True, slots=True)
class HitVerdict:
    """One candidate hit and what the checks said about it."""

    hit: PhraseMatch
    #: "" when the context rules keep the hit; else why it was dropped
    dropped: str
    #: second-check margin (cosine units, dismissive minus neutral); None when not run
    margin: float | None = None
    confirmed: bool = False


@dataclass(frozen=True, slots=True)
class FatalVerdict:
    """The outcome for a fatal item's candidate hits."""

    verdicts: tuple[HitVerdict, ...]
    #: "confirmed" (zero the call), "unconfirmed" (review item), "no_context" (pass)
    decision: str
    note: str

    @property
    def kept(self) -> tuple[PhraseMatch, ...]:
        return tuple(v.hit for v in self.verdicts if not v.dropped)

    @property
    def confirmed_hits(self) -> tuple[PhraseMatch, ...]:
        return tuple(v.hit for v in self.verdicts if v.confirmed)


def clause_of(text: str, start: int, end: int) -> tuple[str, str]:
    """(text before, text after) the span ``text[start:end]`` inside its own clause."""
    before = _CLAUSE.split(text[:start])[-1]
    after = _CLAUSE.split(text[end:])[0]
    return before, after


def sentence_of(text: str, start: int) -> str:
    """The sentence holding character ``start`` (for the semantic check)."""
    for m in _SENTENCE.finditer(text):
        if m.start() <= start < m.end():
            return m.group().strip()
    return text.strip()


def context_reason(hit: PhraseMatch) -> str:
    """Why the context says this hit is *not* a dismissal of the customer; "" when it may be."""
    text = hit.utterance.text
    if is_negated(text, hit.char_start):
        return "negated"
    phrase = hit.phrase.lower()
    before, after = clause_of(text, hit.char_start, hit.char_end)
    if re.search(r"[\u3400-\u9fff]", phrase):
        sentence_before = re.split(r"[。！？!?]", text[: hit.char_start])[-1]
        if _REPORT_ZH.search(sentence_before):
            return "reported or hypothetical speech"
        if _COURTEOUS_ZH.search(before):
            return "a courteous suggestion to the customer (您…可以 / 请您)"
        return ""
    words_before = _WORD.findall(before.lower())
    words_after = _WORD.findall(after.lower())
    report = [i for i, w in enumerate(words_before) if w in _REPORT_EN]
    if report and (report[0] == 0 or words_before[report[0] - 1] not in _SELF):
        return "reported speech"
    if phrase in _WH_EVER:
        content_before = [w for w in words_before if w not in _FILLERS]
        if content_before or len(words_after) >= 3:
            return f"“{hit.phrase}” is part of a clause about something else"
        return ""
    if not _SECOND_PERSON & set(words_before + words_after) and _THIRD_PERSON & set(words_before):
        return "the clause is about something else (third-person subject)"
    return ""


class SecondCheck:
    """Semantic confirmation of a dismissal; ``check(sentence, language) -> margin``."""

    def __init__(self, margin: float = DEFAULT_MARGIN, embedder: Embedder | None = None) -> None:
        self.margin = margin
        self._embedder = embedder

    def score(self, sentence: str, language: str) -> float:
        """max cos(dismissive) - max cos(neutral), cosine units in [-2, 2].

        Raises :class:`~qa_pipeline.errors.ModelError` when the embedder cannot be loaded.
        """
        lang = language if language in DISMISSIVE_EXEMPLARS else "en"
        embed = self._embedder or default_embedder()
        dis, neu = DISMISSIVE_EXEMPLARS[lang], NEUTRAL_EXEMPLARS[lang]
        vecs = np.asarray(embed([sentence, *dis, *neu]))
        sims = vecs[1:] @ vecs[0]
        return float(sims[: len(dis)].max() - sims[len(dis) :].max())


def judge(hits: Sequence[PhraseMatch], language: str, second: SecondCheck | None = None) -> FatalVerdict:
    """Run the context rules and the second check over a fatal item's candidate hits."""
    second = second or SecondCheck()
    verdicts: list[HitVerdict] = []
    failure = ""
    for hit in hits:
        why = context_reason(hit)
        if why:
            verdicts.append(HitVerdict(hit, why))
            continue
        margin: float | None = None
        if not failure:
            try:
                margin = second.score(sentence_of(hit.utterance.text, hit.char_start), language)
            except ModelError as exc:
                failure = f"second check unavailable: {exc}"
        verdicts.append(HitVerdict(hit, "", margin, margin is not None and margin >= second.margin))
    kept = [v for v in verdicts if not v.dropped]
    dropped = [v for v in verdicts if v.dropped]
    drop_note = "; ".join(dict.fromkeys(f"“{v.hit.phrase}” ignored: {v.dropped}" for v in dropped))
    if not kept:
        return FatalVerdict(tuple(verdicts), "no_context", f"{drop_note} [{FATAL_CHECK_VERSION}]")
    confirmed = [v for v in kept if v.confirmed]
    if confirmed:
        best = max(v.margin or 0.0 for v in confirmed)
        note = f"confirmed by the semantic second check (margin {best:+.3f} ≥ {second.margin:+.3f}) [{FATAL_CHECK_VERSION}]"
        return FatalVerdict(tuple(verdicts), "confirmed", note)
    margins = [v.margin for v in kept if v.margin is not None]
    why = failure or f"semantic second check did not confirm a dismissal (best margin {max(margins):+.3f} < {second.margin:+.3f})"
    return FatalVerdict(tuple(verdicts), "unconfirmed", f"{why}: review item, call not zeroed [{FATAL_CHECK_VERSION}]")
