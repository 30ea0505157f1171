"""Per-call conversation metrics computed from the diarized transcript.

Talk time and share per party, dead air (total and longest silence, and who
spoke last before it), overtalk (count and seconds), interruptions (who started
talking over whom), agent speaking rate, duration.  Intervals are merged with a
sort-and-sweep, so cost is O(n log n) in the number of utterances.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from ..records import Metrics, Overlap, Role, Silence, Transcript, Utterance
from ..text import count_spoken_units, tokenize


@dataclass(frozen=True)
class MetricParams:
    #: Overlaps shorter than this are backchannel noise, not overtalk.
    overtalk_min_s: float = 0.3
    #: A party interrupts when it starts inside the other's utterance and overlaps at least this long.
    interruption_min_overlap_s: float = 0.5
    #: silences at least this long are listed individually in the metrics
    silence_report_min_s: float = 2.0
    #: an overlapping utterance made only of these is a backchannel, not an interruption
    backchannels: frozenset[str] = frozenset(
        {"嗯", "对", "好", "是", "哦", "啊", "呃", "行", "噢", "嗯嗯", "对对", "好的", "是的", "对的", "明白", "知道",
         "ok", "okay", "yeah", "yes", "yep", "right", "sure", "mhm", "uh", "huh", "hmm", "mm", "i", "see", "got", "it"}
    )


Interval = tuple[float, float]


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """Intersection of two sorted, merged interval lists (two-pointer sweep)."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _total(intervals: Iterable[Interval]) -> float:
    return sum(e - s for s, e in intervals)


def compute_metrics(transcript: Transcript, params: MetricParams = MetricParams()) -> Metrics:
    utts = transcript.utterances
    roles = [Role.AGENT, Role.CUSTOMER] if transcript.has_roles else [Role.UNKNOWN]
    by_role = {r: merge_intervals((u.start, u.end) for u in utts if u.role is r) for r in roles}
    talk = {r.value: round(_total(iv), 3) for r, iv in by_role.items()}
    talk_sum = sum(talk.values()) or 1.0
    share = {k: round(v / talk_sum, 4) for k, v in talk.items()}

    silences = _silences(utts)
    longest = max(silences, key=lambda s: s.duration, default=None)

    overtalk: list[Interval] = []
    interruptions: tuple[Overlap, ...] = ()
    if transcript.has_roles:
        overtalk = [iv for iv in intersect(by_role[Role.AGENT], by_role[Role.CUSTOMER]) if iv[1] - iv[0] >= params.overtalk_min_s]
        interruptions = _interruptions(utts, params.interruption_min_overlap_s, params.backchannels)

    agent = transcript.by_role(Role.AGENT)
    agent_minutes = _total(merge_intervals((u.start, u.end) for u in agent)) / 60.0
    rate = None
    if agent_minutes > 0:
        units = sum(count_spoken_units(u.text, transcript.language) for u in agent)
        rate = round(units / agent_minutes, 1)

    return Metrics(
        duration_s=round(transcript.duration_s, 3),
        talk_time_s=talk,
        talk_share=share,
        silence_total_s=round(sum(s.duration for s in silences), 3),
        silence_longest_s=round(longest.duration, 3) if longest else 0.0,
        silence_longest=longest,
        overtalk_count=len(overtalk),
        overtalk_s=round(_total(overtalk), 3),
        agent_interruptions=sum(1 for o in interruptions if o.interrupter is Role.AGENT),
        interruptions=interruptions,
        agent_speaking_rate=rate,
        speaking_rate_unit="chars/min" if transcript.language == "zh" else "words/min",
        silences=tuple(s for s in silences if s.duration >= params.silence_report_min_s),
        **_music(transcript),
    )


def _music(transcript: Transcript) -> dict[str, Any]:
    """Music spans and how much of it was queue (before anyone spoke) vs. hold time (seconds)."""
    first = min((u.start for u in transcript.utterances), default=transcript.duration_s)
    queue = sum(max(0.0, min(m.end, first) - m.start) for m in transcript.music)
    total = sum(m.end - m.start for m in transcript.music)
    return {
        "music": transcript.music,
        "music_queue_s": round(queue, 2),
        "music_hold_s": round(total - queue, 2),
        "untranscribed_speech": transcript.untranscribed,
        "untranscribed_speech_s": round(sum(s.end - s.start for s in transcript.untranscribed), 2),
    }


def _silences(utts: Sequence[Utterance]) -> list[Silence]:
    """Gaps where nobody speaks, between the first and the last utterance."""
    out: list[Silence] = []
    last_end, last_role = None, None
    for u in sorted(utts, key=lambda u: u.start):
        if last_end is not None and u.start > last_end:
            out.append(Silence(start=round(last_end, 3), end=round(u.start, 3), after_role=last_role))
        if last_end is None or u.end >= last_end:
            last_end, last_role = u.end, u.role
    return out


def _is_backchannel(u: Utterance, backchannels: frozenset[str]) -> bool:
    toks = tokenize(u.text)
    if not toks:
        return True
    if all(t.cjk for t in toks):  # Chinese: the whole utterance is one backchannel word (好的, 嗯嗯)
        return "".join(t.text for t in toks) in backchannels or all(t.text in backchannels for t in toks)
    return all(t.text in backchannels for t in toks)


def _interruptions(utts: Sequence[Utterance], min_overlap: float, backchannels: frozenset[str] = frozenset()) -> tuple[Overlap, ...]:
    """Utterances that start inside the other party's utterance and overlap long enough.

    Backchannels (嗯, 对对, "uh-huh", "right") overlapping the other party are listening, not interrupting.
    """
    out: list[Overlap] = []
    active: dict[Role, Utterance] = {}
    for u in sorted(utts, key=lambda u: u.start):
        other = Role.CUSTOMER if u.role is Role.AGENT else Role.AGENT
        host = active.get(other)
        if host is not None and host.start < u.start < host.end and not _is_backchannel(u, backchannels):
            end = min(u.end, host.end)
            if end - u.start >= min_overlap:
                out.append(Overlap(start=u.start, end=round(end, 3), interrupter=u.role, utterance_id=u.id))
        if u.role not in active or u.end > active[u.role].end:
            active[u.role] = u
    return tuple(out)
