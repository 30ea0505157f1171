"""Turn per-channel ASR segments into one time-ordered conversation.

Each channel of a stereo call is one party.  A channel's words are split into
utterances at pauses, the channels are merged by start time, and overlapping
utterances are kept as they are (the overtalk metrics need them).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Sequence

from ..records import Role, Span, Transcript, Utterance, Word
from .guards import AsrSegment


def split_utterances(
    segments: Iterable[AsrSegment],
    *,
    role: Role,
    channel: int,
    pause_split_s: float,
) -> list[Utterance]:
    """Group a channel's words into utterances, starting a new one at each pause."""
    groups: list[list[Word]] = []
    bare: list[AsrSegment] = []  # segments that came back without word timestamps
    for seg in segments:
        if not seg.words:
            bare.append(seg)
            continue
        for word in seg.words:
            if groups and word.start - groups[-1][-1].end < pause_split_s:
                groups[-1].append(word)
            else:
                groups.append([word])
    utterances = [_from_words(g, role, channel) for g in groups]
    utterances += [
        Utterance(id="", role=role, channel=channel, start=s.start, end=s.end, text=s.text) for s in bare
    ]
    return [u for u in utterances if u.text]


def _from_words(words: Sequence[Word], role: Role, channel: int) -> Utterance:
    text = "".join(w.text for w in words).strip()
    return Utterance(
        id="",
        role=role,
        channel=channel,
        start=words[0].start,
        end=max(w.end for w in words),
        text=text,
        words=tuple(words),
    )


def merge_channels(
    channels: Sequence[Sequence[Utterance]],
    *,
    language: str,
    duration_s: float,
    music: Iterable[tuple[float, float]] = (),
) -> Transcript:
    """Time-order every party's utterances and give them stable ids (u0001, u0002, ...).

    ``music`` are the (start, end) seconds of music found on any channel (merged here).
    """
    ordered = sorted((u for ch in channels for u in ch), key=lambda u: (u.start, u.channel, u.end))
    numbered = tuple(replace(u, id=f"u{i:04d}") for i, u in enumerate(ordered, start=1))
    spans: list[Span] = []
    for start, end in sorted(music):
        if spans and start <= spans[-1].end:
            spans[-1] = Span(spans[-1].start, max(spans[-1].end, end))
        else:
            spans.append(Span(start, end))
    return Transcript(language=language, duration_s=duration_s, utterances=numbered, music=tuple(spans))
