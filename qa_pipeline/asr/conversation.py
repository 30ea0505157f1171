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
    speaker: str | None = None,
) -> list[Utterance]:
    """Group a channel's words into utterances, starting a new one at each pause.

    ``speaker`` labels every utterance (:attr:`Utterance.speaker`: "ch0", "SPEAKER_01", ...).
    """
    groups: list[list[Word]] = []
    bare: list[AsrSegment] = []  # segments that came back without word timestamps
    for seg in segments:
        if not seg.words:
            bare.append(seg)
            continue
        for word in seg.words:
            if groups and word.start - groups[-1][-1].end < pause_split_s:
                groups[-1].append(word)
            elif groups and _continues_latin_word(groups[-1][-1], word):
                # "i" + "Phone": Whisper stretched the first piece of a Latin word over the pause;
                # the word belongs where it ends, so the piece moves to the new utterance.
                piece = groups[-1].pop()
                if not groups[-1]:
                    groups.pop()
                start = max(piece.start, word.start - 0.2)
                groups.append([replace(piece, start=round(start, 3), end=round(word.start, 3)), word])
            else:
                groups.append([word])
    utterances = [_from_words(g, role, channel, speaker) for g in groups]
    utterances += [
        Utterance(id="", role=role, channel=channel, start=s.start, end=s.end, text=s.text, speaker=speaker)
        for s in bare
    ]
    return [u for u in utterances if u.text]


def _continues_latin_word(piece: Word, word: Word) -> bool:
    """True when ``word`` continues the Latin word whose first piece is ``piece`` ("i" + "Phone").

    Whisper marks a new word with a leading space; in Chinese text a Latin word glued to the
    Hanzi before it has none, so the piece is a short Latin fragment and the next token starts
    with a Latin letter and no space.
    """
    text = piece.text.strip()
    return (
        0 < len(text) <= 3
        and not piece.text[:1].isspace()
        and text.isascii()
        and text.isalpha()
        and not word.text[:1].isspace()
        and word.text[:1].isascii()
        and word.text[:1].isalpha()
    )


def _from_words(words: Sequence[Word], role: Role, channel: int, speaker: str | None = None) -> Utterance:
    text = "".join(w.text for w in words).strip()
    return Utterance(
        id="",
        role=role,
        channel=channel,
        start=words[0].start,
        end=max(w.end for w in words),
        text=text,
        words=tuple(words),
        speaker=speaker,
    )


def merge_channels(
    channels: Sequence[Sequence[Utterance]],
    *,
    language: str,
    duration_s: float,
    music: Iterable[tuple[float, float]] = (),
    untranscribed: Iterable[tuple[float, float]] = (),
) -> Transcript:
    """Time-order every party's utterances and give them stable ids (u0001, u0002, ...).

    ``music`` are the (start, end) seconds of music found on any channel (merged here);
    ``untranscribed`` the speech recognition left empty.
    """
    ordered = sorted((u for ch in channels for u in ch), key=lambda u: (u.start, u.channel, u.end))
    numbered = tuple(replace(u, id=f"u{i:04d}") for i, u in enumerate(ordered, start=1))
    return Transcript(
        language=language,
        duration_s=duration_s,
        utterances=numbered,
        music=_merged(music),
        untranscribed=_merged(untranscribed),
    )


def _merged(intervals: Iterable[tuple[float, float]]) -> tuple[Span, ...]:
    spans: list[Span] = []
    for start, end in sorted(intervals):
        if spans and start <= spans[-1].end:
            spans[-1] = Span(spans[-1].start, max(spans[-1].end, end))
        else:
            spans.append(Span(start, end))
    return tuple(spans)
