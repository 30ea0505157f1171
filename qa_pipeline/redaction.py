"""PII redaction of call transcripts before they are stored or shown.

What is redacted (``kind`` values):

* ``cn_id``: mainland resident ID, 18 characters, last one a digit or X.  The
  GB 11643-1999 check character must match, the first digit must be a region
  (1-6, or 81/82/83 for residence permits) and digits 7-14 a real birth date.
* ``phone``: mainland mobile, ``1[3-9]`` + 9 digits, optionally ``86`` first,
  unless heard in North American 1-3-3-4 groups (1-800-555-0100).
* ``bank_card``: card numbers (Chinese bank cards and English card numbers),
  13-19 digits passing the Luhn check, not one repeated digit; 13-15 digits
  also need a Visa/Diners/Amex/JCB prefix or a card cue word.
* ``ssn``: US social security number, 9 digits with area not 000/666/9xx, group
  not 00, serial not 0000, *and* either heard in 3-2-4 groups ("123-45-6789",
  "one two three, four five, ...") or near a social-security cue.
* ``email``: written addresses, plus spoken ones ("zhangsan艾特qq点com",
  "john dot smith at gmail dot com"; spoken English "at" only with a
  well-known mail provider so "look at google dot com" survives).

Digits are read from every form Whisper writes: Arabic and full-width digits,
Chinese digit words (零/〇, 一/幺, 二/两 ... 九), English digit words ("oh" is
zero, "double five" is 55), in any mix, and across Whisper word boundaries.
Digit tokens separated by at most three separator characters (spaces, hyphens,
commas, dots) form one *run*; separators split a run into *groups* (spaces
between English digit words do not).  Within a run, candidates are contiguous
group ranges, taken greedily left to right, longest first, and must pass one of
the validators above; a candidate never starts or ends inside a group, nor
between two one-digit groups split by mere spaces ("3 3 0 1 ..."), so no
window slides over a longer number.  A Chinese digit directly before a unit
or classifier (三百, 两个, 十二点, 一下) or after a numeral unit (二十五) is not a
digit, so amounts, times and dates in Chinese numerals never join a digit run.

Relaxed rule near a cue word: when a run's leftover digits (not matched by a
validator) start at most :data:`CUE_WINDOW` characters after a cue word
(身份证/身分证/证件号, 卡号/银行卡/账号, 手机/电话/号码, card/phone/mobile, social security/SSN),
searched in the utterance, or anywhere in the last :data:`CONTEXT_CHARS`
characters of the previous utterance for digits in the first CUE_WINDOW
characters of this one (the agent asks, the customer answers), they are
redacted as the cue's kind with
``validated=False`` when there are 7-22 of them (8-22 for SSN): fail-safe, a number
the ASR dropped digits from is still a number.  A number read in groups over several
utterances after a request is found at transcript level (:mod:`qa_pipeline.number_answers`).
幺 misheard as 以/妖/腰/要 counts as 1 inside a digit run (以三九…, 以3507…).  Service
numbers (400/800 and US toll-free 8xx, with or without a leading 1) and
leftovers starting with a date (2026-11-22 ...) are exempt.  Short numbers
(工号一零二三, 95598, 10086, 4-digit codes, "last four digits") are never
redacted, cue or not.

Mask format: every letter/digit character inside a redacted span is replaced
by the mask character (default full-width ``＊``); separators, spaces, ``@`` and
``.`` are kept, so "138-1234-5678" becomes "＊＊＊-＊＊＊＊-＊＊＊＊".  Masking
preserves length, so character offsets, ``Utterance.word_offsets`` and evidence
offsets stay valid, a number split across Whisper words is masked in each word
consistently, and redaction is idempotent.  The kind lives in the span record,
not in the text.  Spans never carry the raw value: privileged roles read the
unredacted transcript from wherever it is kept.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, replace

from .checkdigits import (  # noqa: F401  (the validators are re-exported)
    cn_id_check_char,
    is_valid_card,
    is_valid_cn_id,
    is_valid_mobile,
    is_valid_ssn,
    luhn_check_digit,
    luhn_valid,
)
from .number_answers import answer_hits
from .numbers import (  # noqa: F401  (the kinds and span record are re-exported)
    _SEP_RE,
    ALL_KINDS,
    BANK_CARD,
    CN_ID,
    EMAIL,
    PHONE,
    SSN,
    RedactedSpan,
    _find,
    _Hit,
    _mask,
)
from .records import Transcript, Utterance, Word


@dataclass(frozen=True, slots=True)
class Redactor:
    """Finds and masks PII in transcript text.

    ``kinds`` limits what is redacted (default: all of :data:`ALL_KINDS`);
    ``mask`` is the single, non-alphanumeric character that replaces every
    letter or digit of a redacted span.
    """

    kinds: frozenset[str] = ALL_KINDS
    mask: str = "＊"

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", frozenset(self.kinds))
        unknown = self.kinds - ALL_KINDS
        if unknown:
            raise ValueError(f"unknown PII kinds {sorted(unknown)}; expected a subset of {sorted(ALL_KINDS)}")
        if len(self.mask) != 1 or self.mask.isalnum() or self.mask.isspace() or _SEP_RE.fullmatch(self.mask):
            raise ValueError(f"mask must be one non-alphanumeric, non-separator character, got {self.mask!r}")

    def redact_text(self, text: str, *, context: str = "") -> tuple[str, tuple[RedactedSpan, ...]]:
        """Masked ``text`` and its redacted spans (no times).

        ``context`` is preceding text (e.g. the previous utterance), searched
        only for cue words.
        """
        hits = _find(text, context, self.kinds)
        if not hits:
            return text, ()
        spans = tuple(RedactedSpan(h.kind, h.start, h.end, validated=h.validated) for h in hits)
        return _mask(text, hits, self.mask), spans

    def redact_utterance(
        self, utt: Utterance, *, context: str = "", extra: Iterable[_Hit] = ()
    ) -> tuple[Utterance, tuple[RedactedSpan, ...]]:
        """A new utterance with ``text`` and every ``words[*].text`` masked alike.

        Word timestamps are kept; each span gets the times of the words it touches.  ``extra``
        are hits found at transcript level (a number read over several utterances).
        """
        masked, text_spans = self.redact_text(utt.text, context=context)
        added = [h for h in extra if not any(s.start_char < h.end and h.start < s.end_char for s in text_spans)]
        if added:
            masked = _mask(masked, added, self.mask)
            text_spans = tuple(sorted(
                (*text_spans, *(RedactedSpan(h.kind, h.start, h.end, validated=h.validated) for h in added)),
                key=lambda sp: sp.start_char,
            ))
        words = self._mask_words(utt, masked, context)
        if not text_spans and all(a is b for a, b in zip(words, utt.words, strict=True)):
            return utt, ()
        timed = _word_times(utt)
        spans = tuple(_timed(s, timed(s.start_char, s.end_char)) for s in text_spans)
        return replace(utt, text=masked, words=words), spans

    def redact_transcript(self, transcript: Transcript) -> tuple[Transcript, dict[str, tuple[RedactedSpan, ...]]]:
        """Redacted transcript and the spans of each utterance that had any, by utterance id.

        Each utterance is searched with the previous one as cue context, and a number read in
        groups over several utterances after a request is found as one
        (:mod:`qa_pipeline.number_answers`).
        """
        extra = answer_hits(transcript.utterances, self.kinds - {EMAIL})
        out: list[Utterance] = []
        spans: dict[str, tuple[RedactedSpan, ...]] = {}
        previous = ""
        for index, utt in enumerate(transcript.utterances):
            new, found = self.redact_utterance(utt, context=previous, extra=extra.get(index, ()))
            if found:
                spans[utt.id] = found
            out.append(new)
            previous = utt.text
        return replace(transcript, utterances=tuple(out)), spans

    def _mask_words(self, utt: Utterance, masked: str, context: str) -> tuple[Word, ...]:
        """Word texts masked exactly where ``masked`` is (length is preserved)."""
        joined = "".join(w.text for w in utt.words)
        lead = len(joined) - len(joined.lstrip())
        if joined[lead:] == utt.text:
            masked_joined = joined[:lead] + masked
        else:  # words disagree with the text: redact them on their own
            masked_joined = self.redact_text(joined, context=context)[0]
        words: list[Word] = []
        pos = 0
        for word in utt.words:
            text = masked_joined[pos : pos + len(word.text)]
            pos += len(word.text)
            words.append(word if text == word.text else replace(word, text=text))
        return tuple(words)


def _timed(span: RedactedSpan, times: tuple[float, float]) -> RedactedSpan:
    return replace(span, start=times[0], end=times[1])


def _word_times(utt: Utterance) -> _TimeLookup:
    offsets = [(s, e, w) for s, e, w in utt.word_offsets() if e > s]
    return _TimeLookup(utt.start, utt.end, tuple(e for _, e, _ in offsets), tuple(offsets))


@dataclass(frozen=True, slots=True)
class _TimeLookup:
    start: float
    end: float
    ends: tuple[int, ...]
    offsets: tuple[tuple[int, int, Word], ...]

    def __call__(self, char_start: int, char_end: int) -> tuple[float, float]:
        """Start of the first and end of the last word overlapping the char span."""
        i = bisect.bisect_right(self.ends, char_start)
        hits = []
        while i < len(self.offsets) and self.offsets[i][0] < char_end:
            hits.append(self.offsets[i][2])
            i += 1
        if not hits:
            return self.start, self.end
        return hits[0].start, hits[-1].end
