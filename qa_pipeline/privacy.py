"""Apply PII redaction to a scored call: transcript, evidence quotes and flags.

Scoring runs on the raw transcript (so rules see what was said); everything that is
stored or shown is then masked with :class:`~qa_pipeline.redaction.Redactor`. The mask is
same-length, so evidence quotes are masked by taking the same slice of the masked
utterance text; quotes that are not plain slices are redacted as text.
"""

from __future__ import annotations

from dataclasses import replace

from .records import CallResult, Evidence, Flag, ItemResult, Redaction
from .redaction import Redactor


def redact_result(result: CallResult, redactor: Redactor) -> CallResult:
    raw = result.raw_transcript or result.transcript
    masked, spans = redactor.redact_transcript(raw)
    records = tuple(
        Redaction(uid, s.kind, s.start_char, s.end_char, s.start, s.end, s.validated)
        for uid, found in spans.items()
        for s in found
    )
    if not records:
        return replace(result, transcript=raw, raw_transcript=raw, redactions=())
    texts = {u.id: (u.text, m.text) for u, m in zip(raw.utterances, masked.utterances)}

    def fix(ev: Evidence) -> Evidence:
        quote = _mask_quote(ev.quote, texts.get(ev.utterance_id or ""), redactor)
        return ev if quote == ev.quote else replace(ev, quote=quote)

    def fix_item(item: ItemResult) -> ItemResult:
        return replace(item, evidence=tuple(fix(e) for e in item.evidence))

    def fix_flag(flag: Flag) -> Flag:
        return replace(flag, evidence=tuple(fix(e) for e in flag.evidence))

    card = replace(result.scorecard, items=tuple(fix_item(i) for i in result.scorecard.items))
    sentiment = result.sentiment
    if sentiment is not None:
        moments = tuple(replace(m, evidence=fix(m.evidence)) for m in sentiment.negative_moments)
        sentiment = replace(sentiment, negative_moments=moments)
    warmth = result.warmth
    if warmth is not None:
        comps = tuple(replace(c, evidence=tuple(fix(e) for e in c.evidence)) for c in warmth.components)
        warmth = replace(warmth, components=comps)
    return replace(
        result,
        transcript=masked,
        raw_transcript=raw,
        scorecard=card,
        flags=tuple(fix_flag(f) for f in result.flags),
        redactions=records,
        sentiment=sentiment,
        warmth=warmth,
    )


def _mask_quote(quote: str, texts: tuple[str, str] | None, redactor: Redactor) -> str:
    if texts is not None:
        original, masked = texts
        core = quote.strip("…")
        at = original.find(core) if core else -1
        if at >= 0:
            return quote.replace(core, masked[at : at + len(core)], 1)
    return redactor.redact_text(quote)[0]

