"""Recording checks that decide whether a call could be scored at all.

A call with no speech (white noise, a 0.2 s clip, a dead line) has every rubric item
``na``, which the rubric engine's percentage turns into 100: a perfect score for nothing.
A recording cut short (a WAV or FLAC whose header promises more audio than the file holds)
would be scored as if complete.  These checks turn such calls into priority-1 flags:

* ``no_speech`` (priority 1): less than :data:`MIN_SPEECH_S` of recognised speech.  The call is
  *not scored*: every item becomes ``na`` with the reason, the total is 0, ``needs_review`` is
  set, and the ``roles_unknown`` flag (meaningless without speech) is dropped.
* ``truncated`` (priority 1): the file holds less audio than its header declares.  The partial
  call keeps its item outcomes and score, with ``needs_review`` set.

Other checks (e.g. one-sided audio) plug in as a :data:`Check` with :func:`recording_flags`
``checks=`` and declare their flag ids in :data:`REVIEW_FLAGS` / :data:`UNSCORABLE_FLAGS`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

from .records import AudioInfo, Flag, ItemResult, Outcome, Scorecard, Transcript

#: Less recognised speech than this (seconds, both parties together) is "no speech".
MIN_SPEECH_S = 1.0
#: A file missing more than this share of its declared audio (and MIN_MISSING_S) is truncated.
MIN_MISSING_SHARE = 0.01
MIN_MISSING_S = 0.25

#: Flags after which nothing was scored: the total is 0 and item overrides cannot lift it.
UNSCORABLE_FLAGS = frozenset({"no_speech"})
#: Flags that make the scorecard need human review (the unscorable ones included).
REVIEW_FLAGS = frozenset({"no_speech", "truncated", "one_sided_audio", "separation_failed"})
#: Flags about the file itself, kept when a stored transcript is rescored (no file to re-read).
FILE_FLAGS = frozenset({"truncated"})


@dataclass(frozen=True)
class CallEvidence:
    """What the checks look at: the decoded audio's description, the transcript and, when still
    on local disk, the recording file (for header checks)."""

    audio: AudioInfo
    transcript: Transcript
    path: Path | None = None


Check = Callable[[CallEvidence], Iterable[Flag]]


def speech_seconds(transcript: Transcript) -> float:
    """Recognised speech: the sum of utterance durations (seconds; overlaps counted twice)."""
    return sum(max(0.0, u.end - u.start) for u in transcript.utterances if u.text.strip())


def no_speech(ev: CallEvidence) -> list[Flag]:
    """``no_speech`` when less than :data:`MIN_SPEECH_S` of speech was recognised."""
    speech = speech_seconds(ev.transcript)
    if speech >= MIN_SPEECH_S:
        return []
    channels = f"{ev.audio.channels} channel{'s' if ev.audio.channels != 1 else ''}"
    return [Flag("no_speech", f"no speech recognised ({speech:.1f} s) in {ev.audio.duration_s:.1f} s of audio ({channels}): not scored", 1)]


def truncated(ev: CallEvidence) -> list[Flag]:
    """``truncated`` when the local file holds less audio than its header declares."""
    return list(file_flags(ev.path)) if ev.path is not None else []


def file_flags(path: Path) -> tuple[Flag, ...]:
    """Checks of the recording file itself (now: ``truncated``); () when it is fine, gone or
    of a format without a declared length.  Bucket fetches run it on their temporary copy."""
    if not path.is_file():
        return ()
    found = declared_duration(path)
    if found is None:
        return ()
    declared_s, held_s = found
    missing = declared_s - held_s
    if missing <= max(MIN_MISSING_S, MIN_MISSING_SHARE * declared_s):
        return ()
    share = 100.0 * missing / declared_s
    return (Flag("truncated", f"recording truncated: the header declares {declared_s:.1f} s, the file holds {held_s:.1f} s ({share:.0f} % missing)", 1),)


#: The checks every scored call goes through, in order.
CHECKS: tuple[Check, ...] = (no_speech, truncated)


def recording_flags(ev: CallEvidence, checks: Sequence[Check] = CHECKS) -> tuple[Flag, ...]:
    return tuple(flag for check in checks for flag in check(ev))


def apply_checks(card: Scorecard, flags: Sequence[Flag], found: Sequence[Flag]) -> tuple[Scorecard, tuple[Flag, ...]]:
    """The scorecard and flags after the checks' flags ``found`` (see the module docstring)."""
    if not found:
        return card, tuple(flags)
    ids = {f.id for f in found}
    kept = [f for f in flags if f.id not in ids]
    unscorable = [f for f in found if f.id in UNSCORABLE_FLAGS]
    if unscorable:
        why = unscorable[0].reason
        items = tuple(_not_scored(i, why) for i in card.items)
        sections = tuple(replace(s, points=0.0, possible=0.0, percent=None) for s in card.sections)
        card = replace(card, items=items, total=0.0, sections=sections, compliance=None, needs_review=True)
        kept = [f for f in kept if f.id not in {"roles_unknown", "low_score"}]
    elif ids & REVIEW_FLAGS:
        card = replace(card, needs_review=True)
    return card, tuple(sorted([*found, *kept], key=lambda f: f.priority))


def _not_scored(item: ItemResult, why: str) -> ItemResult:
    return replace(item, outcome=Outcome.NA, points=0.0, reason=f"not scored: {why}", evidence=())


# --------------------------------------------------------------------------- file headers


def declared_duration(path: Path) -> tuple[float, float] | None:
    """(declared, held) seconds of a WAV (RIFF data chunk vs bytes present) or FLAC
    (STREAMINFO total samples vs decodable frames); None for other formats, streaming
    headers (unknown length) or unreadable files."""
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            return _wav_declared(path)
        if head[:4] == b"fLaC":
            return _flac_declared(path)
    except (OSError, struct.error, ValueError):
        return None
    return None


def _wav_declared(path: Path) -> tuple[float, float] | None:
    size = path.stat().st_size
    byte_rate = None
    with path.open("rb") as fh:
        fh.seek(12)
        while True:
            header = fh.read(8)
            if len(header) < 8:
                return None
            chunk, length = header[:4], struct.unpack("<I", header[4:])[0]
            start = fh.tell()
            if chunk == b"fmt ":
                fmt = fh.read(min(length, 16))
                if len(fmt) < 12:
                    return None
                byte_rate = struct.unpack("<I", fmt[8:12])[0]
            elif chunk == b"data":
                if not byte_rate or length in (0, 0xFFFFFFFF):  # no format yet, or a streaming header
                    return None
                held = max(0, size - start)
                return length / byte_rate, min(length, held) / byte_rate
            fh.seek(start + length + (length & 1))


def _flac_declared(path: Path) -> tuple[float, float] | None:
    import soundfile as sf

    with path.open("rb") as fh:
        block = fh.read(4 + 4 + 18)
    if len(block) < 26 or block[4] & 0x7F != 0:  # STREAMINFO must come first
        return None
    info = block[8:]
    rate = (info[10] << 12) | (info[11] << 4) | (info[12] >> 4)
    total = ((info[13] & 0x0F) << 32) | struct.unpack(">I", info[14:18])[0]
    if not rate or not total:
        return None
    held = 0
    try:
        with sf.SoundFile(path) as fh:
            for chunk in fh.blocks(blocksize=1 << 16, dtype="int16"):
                held += len(chunk)
    except (sf.LibsndfileError, RuntimeError):
        pass
    return total / rate, held / rate
