"""Builders for synthetic transcripts used by the scoring and metrics tests."""

from __future__ import annotations

from qa_pipeline.records import CallMetadata, Role, Transcript, Utterance, Word


def utt(role: str, start: float, end: float, text: str, channel: int | None = None) -> Utterance:
    """An utterance whose words spread evenly over its span (one word per token-ish chunk)."""
    pieces = text.split(" ") if " " in text else list(text)
    step = (end - start) / max(len(pieces), 1)
    words = []
    for i, piece in enumerate(pieces):
        prefix = " " if (" " in text and i > 0) else ""
        words.append(Word(start=round(start + i * step, 3), end=round(start + (i + 1) * step, 3), text=prefix + piece, probability=0.9))
    r = Role(role)
    ch = channel if channel is not None else (0 if r is Role.AGENT else 1 if r is Role.CUSTOMER else 0)
    return Utterance(id="", role=r, channel=ch, start=start, end=end, text=text, words=tuple(words))


def transcript(utterances: list[Utterance], duration: float, language: str = "zh") -> Transcript:
    ordered = sorted(utterances, key=lambda u: u.start)
    numbered = tuple(
        Utterance(id=f"u{i:04d}", role=u.role, channel=u.channel, start=u.start, end=u.end, text=u.text, words=u.words)
        for i, u in enumerate(ordered, start=1)
    )
    return Transcript(language=language, duration_s=duration, utterances=numbered)


def meta(call_id: str = "c1", **kw) -> CallMetadata:
    return CallMetadata(call_id=call_id, **kw)
