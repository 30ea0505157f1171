"""A number read out in groups over several utterances, after someone asked for it.

Customers read phone, ID and card numbers in chunks and pause while they look at the card
("一三九。" … "零五七一。" … "二二三四。").  The recogniser then writes each group as its own
utterance, and no single utterance holds enough digits for a validator.  This module finds
those answers at transcript level:

* a **number request** is an utterance with a cue word (手机/号码/身份证/卡号, "card number",
  ...; see :mod:`qa_pipeline.redaction`);
* the **answer** is the following utterances of one party (the first that holds digits),
  each holding digits, at most :data:`~qa_pipeline.redaction.MAX_ANSWER_GAP_S` apart; short
  digit-free backchannels of the other party ("嗯", "好的") may come between groups;
* the digits of all groups, in order, are one number: a validator (GB 11643, mobile, Luhn)
  gives its kind, and otherwise it is masked **fail-safe** as the cue's kind with
  ``validated=False`` once it has :data:`~qa_pipeline.redaction.FAILSAFE_MIN_DIGITS` digits
  (a dropped digit must not leave the rest of a number readable).

Short answers (工号一零二三, "the last four digits") stay readable, as everywhere else.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from . import numbers as r
from .records import Utterance
from .text import tokenize


def answer_hits(utterances: Sequence[Utterance], kinds: frozenset[str]) -> dict[int, list[r._Hit]]:
    """Hits (``numbers._Hit``) per utterance index for numbers read over several utterances."""
    out: dict[int, list[r._Hit]] = defaultdict(list)
    i, n = 0, len(utterances)
    while i < n:
        cue = _last_cue(utterances[i].text)
        if cue is None or cue[0] not in kinds:
            i += 1
            continue
        kind, cue_end = cue
        run = _answer_run(utterances, i, cue_end)
        if not run:
            i += 1
            continue
        pieces = [(k, g) for k, start in run for rr in r._runs(utterances[k].text) for g in rr if g.start >= start]
        pieces = [(k, g) for k, g in pieces if len(g.digits) >= 2 or len(pieces) > 1]
        digits = "".join(g.digits for _, g in pieces)
        sizes = tuple(len(g.digits) for _, g in pieces)
        found = r._classify(digits, sizes, kind, kinds) if len(run) > 1 and digits else None
        validated = found is not None
        if found is None and len(digits) >= r.FAILSAFE_MIN_DIGITS and not r._is_service_number(digits) \
                and not r._starts_with_date([g for _, g in pieces]):
            found = kind
        if found is not None:
            for k, g in pieces:
                out[k].append(r._Hit(found, g.start, g.end, validated))
        i = run[-1][0] + 1 if run[-1][0] > i else i + 1
    return dict(out)


def _last_cue(text: str) -> tuple[str, int] | None:
    found = r.cue_words(text)  # written or heard (homophones), sorted by position
    return (found[-1][1], found[-1][0]) if found else None


def _has_digits(text: str, start: int = 0) -> bool:
    return any(t.start >= start for t in r._tokens(text) if t.digits != "X")


#: An utterance is one group of a read-out number when at least this share of its tokens are digits.
MIN_DIGIT_SHARE = 0.4


def _digit_share(text: str) -> float:
    """Share of the tokens of ``text`` (Hanzi, Latin words, single digits) that are digits."""
    digits = sum(len(t.digits) if t.word else t.end - t.start for t in r._tokens(text) if t.digits != "X")
    words = sum(len(t.text) if t.cjk or t.text.isdigit() else 1 for t in tokenize(text))
    return digits / words if words else 0.0


def _answer_run(utterances: Sequence[Utterance], i: int, cue_end: int) -> list[tuple[int, int]]:
    """(utterance index, first char searched) of the answer to the request in utterance ``i``."""
    asking = utterances[i]
    run: list[tuple[int, int]] = []
    answerer = None
    if _has_digits(asking.text, cue_end):  # "我的手机号是一三九" … "零五七一"
        run.append((i, cue_end))
        answerer = asking.role
    last_end = asking.end
    lead_in = 0
    for j in range(i + 1, len(utterances)):
        u = utterances[j]
        if len(run) >= r.MAX_ANSWER_UTTERANCES or u.start - last_end > r.MAX_ANSWER_GAP_S:
            break
        digits = _digit_share(u.text) >= MIN_DIGIT_SHARE
        if answerer is None:
            if _last_cue(u.text) and not digits:
                break  # a new request: it starts its own answer
            if not digits:
                lead_in += 1  # "好的，稍等，我看一下" before the first group
                if lead_in > 2:
                    break
                continue
            answerer = u.role
        if u.role is answerer:
            if not digits:
                break
            run.append((j, 0))
            last_end = u.end
        elif _has_digits(u.text) or len(tokenize(u.text)) > r.MAX_BACKCHANNEL_TOKENS or _last_cue(u.text):
            break
    return run


__all__ = ["answer_hits"]
