"""Immutable, timestamped records that flow through the pipeline.

Every stage returns new records instead of mutating shared dicts.  A
:class:`CallResult` serialises to the versioned JSON contract documented in the
README (``to_dict`` / ``from_dict``); later schema versions add fields, never
rename them.  The enumerations live in :mod:`.enums`, :class:`Versions` and its typed run options
in :mod:`.versions`; everything is imported from here.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Iterable, Iterator, Mapping

from pydantic import TypeAdapter

from .enums import Outcome, Role
from .versions import (  # noqa: F401  (re-exported: every record is imported from qa_pipeline.records)
    AsrOptions,
    AsrStages,
    GuardCounts,
    LanguageDecision,
    LanguageSource,
    NumericProfile,
    ReviewOverrides,
    RoleEvidence,
    RoleMethod,
    RunOptions,
    SentimentOptions,
    SpeakerEvidence,
    Versions,
)

#: Version of the JSON contract written by :meth:`CallResult.to_dict`.
SCHEMA_VERSION = "1.1"


@dataclass(frozen=True, slots=True)
class Word:
    start: float
    end: float
    text: str
    probability: float


@dataclass(frozen=True, slots=True)
class Utterance:
    """One party's stretch of speech, split from its neighbours by a pause."""

    id: str
    role: Role
    channel: int
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    #: Who spoke, before roles: the diarization label on mono calls ("SPEAKER_00") or the
    #: channel on stereo calls ("ch0"/"ch1"), so a transfer call's two agents stay apart.
    #: None on results stored before it existed, and on mono calls that were not diarized.
    speaker: str | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start

    def word_offsets(self) -> Iterator[tuple[int, int, Word]]:
        """Character span of each word inside :attr:`text`.

        ``text`` is the concatenation of the word texts with leading whitespace
        stripped; the spans index into it.
        """
        pos = 0
        joined = "".join(w.text for w in self.words)
        lead = len(joined) - len(joined.lstrip())
        for word in self.words:
            start, end = pos - lead, pos - lead + len(word.text)
            pos += len(word.text)
            yield max(start, 0), max(end, 0), word

    def time_span(self, char_start: int, char_end: int) -> tuple[float, float]:
        """Time span of the characters ``text[char_start:char_end]`` from word timestamps."""
        hits = [w for s, e, w in self.word_offsets() if s < char_end and e > char_start]
        if not hits:
            return self.start, self.end
        return hits[0].start, hits[-1].end


@dataclass(frozen=True, slots=True)
class Transcript:
    language: str
    duration_s: float
    utterances: tuple[Utterance, ...]
    #: Music (hold/queue music, ring-back) found on any channel and kept out of recognition.
    music: tuple["Span", ...] = ()
    #: Speech the VAD found but recognition left empty even after a second pass.
    untranscribed: tuple["Span", ...] = ()

    @property
    def has_roles(self) -> bool:
        """False for a mono call whose speakers have not been attributed."""
        return any(u.role is not Role.UNKNOWN for u in self.utterances)

    def by_role(self, role: Role | None) -> tuple[Utterance, ...]:
        if role is None:
            return self.utterances
        return tuple(u for u in self.utterances if u.role is role)


@dataclass(frozen=True, slots=True)
class Evidence:
    start: float
    end: float
    quote: str
    utterance_id: str | None = None


@dataclass(frozen=True, slots=True)
class ItemResult:
    id: str
    name: str
    section: str
    outcome: Outcome
    weight: float
    points: float
    fatal: bool
    reason: str
    evidence: tuple[Evidence, ...] = ()
    #: counts towards the separate compliance score
    compliance: bool = False
    #: a failure sends the call to review (without zeroing it like a fatal item)
    review: bool = False


@dataclass(frozen=True, slots=True)
class SectionScore:
    name: str
    points: float
    possible: float
    percent: float | None


@dataclass(frozen=True, slots=True)
class Scorecard:
    rubric_id: str
    rubric_version: str
    total: float
    items: tuple[ItemResult, ...]
    fatal_failed: bool = False
    #: "percent" (total out of 100) or "points" (sum of passed items' points)
    scoring: str = "percent"
    sections: tuple[SectionScore, ...] = ()
    #: Separate compliance score (percent of applicable compliance items passed), if any.
    compliance: float | None = None
    #: A fatal or review item failed, or the total is below the rubric's threshold.
    needs_review: bool = False
    #: The rubric's review threshold, in the unit of ``total`` (None on results before 1.1).
    flag_below: float | None = None

    def item(self, item_id: str) -> ItemResult:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    @property
    def failed(self) -> tuple[ItemResult, ...]:
        return tuple(i for i in self.items if i.outcome is Outcome.FAIL)


@dataclass(frozen=True, slots=True)
class Flag:
    id: str
    reason: str
    priority: int  # 1 = highest
    evidence: tuple["Evidence", ...] = ()


@dataclass(frozen=True, slots=True)
class Span:
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Silence:
    start: float
    end: float
    after_role: Role | None  # who spoke last before the silence

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Overlap:
    start: float
    end: float
    interrupter: Role  # the party who started talking over the other
    utterance_id: str

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Metrics:
    duration_s: float
    talk_time_s: Mapping[str, float]
    talk_share: Mapping[str, float]
    silence_total_s: float
    silence_longest_s: float
    silence_longest: Silence | None
    overtalk_count: int
    overtalk_s: float
    agent_interruptions: int
    interruptions: tuple[Overlap, ...]
    agent_speaking_rate: float | None
    speaking_rate_unit: str  # "chars/min" (Chinese) or "words/min" (English)
    #: every silence of 2 s or more, in call order (for hold detection and review)
    silences: tuple[Silence, ...] = ()
    #: music spans (hold/queue music, not speech); queue = before the first utterance
    music: tuple[Span, ...] = ()
    music_hold_s: float = 0.0
    music_queue_s: float = 0.0
    #: speech found by the VAD that stayed without words (after a second pass): where and how long
    untranscribed_speech: tuple[Span, ...] = ()
    untranscribed_speech_s: float = 0.0

    def value(self, name: str) -> float | None:
        """A scalar metric by name, for rubric metric checks."""
        if name not in _SCALAR_METRICS:
            raise KeyError(name)
        derived = {
            "talk_share_agent": lambda: self.talk_share.get("agent"),
            "talk_share_customer": lambda: self.talk_share.get("customer"),
            "customer_interruptions": lambda: sum(1 for o in self.interruptions if o.interrupter is Role.CUSTOMER),
            "silence_longest_agent_turn_s": lambda: max(
                (s.duration for s in self.silences if s.after_role is Role.CUSTOMER), default=0.0
            ),
        }
        value = derived[name]() if name in derived else getattr(self, name)
        return None if value is None else float(value)


_SCALAR_METRICS = frozenset(
    {
        "duration_s",
        "silence_total_s",
        "silence_longest_s",
        "overtalk_count",
        "overtalk_s",
        "agent_interruptions",
        "agent_speaking_rate",
        "talk_share_agent",
        "talk_share_customer",
        "customer_interruptions",
        "silence_longest_agent_turn_s",
    }
)
SCALAR_METRICS = _SCALAR_METRICS


@dataclass(frozen=True, slots=True)
class AudioInfo:
    path: str
    sha256: str
    format: str
    subtype: str
    sample_rate: int
    channels: int  # channels in the file
    duration_s: float
    #: True when a stereo file carried one signal twice and was treated as mono.
    downmixed: bool = False
    #: Peak level of each channel in the file (dBFS, floor -120): a silent leg shows here.
    channel_peak_dbfs: tuple[float, ...] = ()
    #: What decoding had to repair or decide ("header data size 0: read to end of file", ...).
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CallMetadata:
    call_id: str
    agent_id: str | None = None
    agent_name: str | None = None
    team: str | None = None
    queue: str | None = None
    direction: str = "inbound"
    start_time: datetime | None = None
    language: str | None = None
    agent_channel: int | None = None
    source: str = "filename"  # where the metadata came from: sidecar | manifest | filename
    #: which party hung up, when the recorder/ACD says so: agent | customer
    ended_by: str | None = None
    custom: Mapping[str, str] = field(default_factory=dict)
    #: HMAC-SHA256 of the caller number (:mod:`qa_pipeline.analytics.caller`); never the number
    caller_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Redaction:
    """A span of personal data masked in an utterance (same-length mask, offsets stay valid)."""

    utterance_id: str
    kind: str  # cn_id | phone | bank_card | ssn | email
    start_char: int
    end_char: int
    start: float | None
    end: float | None
    validated: bool = True  # False: matched by the cue-word rule only (no check digit)


@dataclass(frozen=True, slots=True)
class CallResult:
    call_id: str
    duration_s: float
    language: str
    metadata: CallMetadata
    audio: AudioInfo
    transcript: Transcript
    metrics: Metrics
    scorecard: Scorecard
    flags: tuple[Flag, ...]
    versions: Versions
    scored_at: datetime
    #: Audio hash + hash of every input that determines the result (idempotency key).
    result_key: str
    timings: Mapping[str, float] = field(default_factory=dict)
    #: PII masked in ``transcript`` and in every evidence quote
    redactions: tuple[Redaction, ...] = ()
    #: per-utterance sentiment, customer trajectory and negative moments (None when disabled)
    sentiment: "CallSentiment | None" = None
    #: agent service warmth (服务温度) 0-100 with coachable sub-scores (None when disabled)
    warmth: "Warmth | None" = None
    #: the unredacted transcript: stored apart for privileged roles, never in the JSON
    raw_transcript: Transcript | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract (see README): flat top level, ``utterances`` inline."""
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
        for f in fields(self):
            if f.name == "raw_transcript":
                continue
            if f.name == "transcript":
                out["utterances"] = _to_jsonable(self.transcript.utterances)
            else:
                out[f.name] = _to_jsonable(getattr(self, f.name))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "CallResult":
        version = str(data.get("schema_version", ""))
        if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
            raise ValueError(f"unsupported result schema_version {version!r} (expected {SCHEMA_VERSION})")
        body = {k: v for k, v in data.items() if k not in ("schema_version", "utterances", "raw_transcript")}
        body["transcript"] = {
            "language": data["language"],
            "duration_s": data["duration_s"],
            "utterances": data.get("utterances", []),
            "music": (data.get("metrics") or {}).get("music", []),
            "untranscribed": (data.get("metrics") or {}).get("untranscribed_speech", []),
        }
        return _adapter(CallResult).validate_python(body)


def _to_jsonable(value: Any) -> Any:
    if _is_record(value):
        record_type: type = type(value)
        return _adapter(record_type).dump_python(value, mode="json")
    return _plain(value)


@functools.lru_cache(maxsize=None)
def _adapter(tp: type) -> TypeAdapter[Any]:
    return TypeAdapter(tp)


def _is_record(value: Any) -> bool:
    return hasattr(value, "__dataclass_fields__")


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def iter_evidence(items: Iterable[ItemResult]) -> Iterator[tuple[ItemResult, Evidence]]:
    for item in items:
        for ev in item.evidence:
            yield item, ev



# -- records of the sentiment and warmth stages (qa_pipeline.sentiment computes them) ---------------

@dataclass(frozen=True, slots=True)
class UtteranceSentiment:
    utterance_id: str
    role: Role
    start: float
    end: float
    score: float  # model score in [-1, 1] on the politeness-masked text
    label: str  # positive | neutral | negative
    mood: float  # score blended with conversational cues, in [-1, 1]
    informative: bool  # False for turns that carry no mood on their own
    cues: tuple[str, ...] = ()  # cue phrases found (mood cues and masked polite formulas)


@dataclass(frozen=True, slots=True)
class NegativeMoment:
    role: Role
    score: float
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class CallSentiment:
    model: str
    utterances: tuple[UtteranceSentiment, ...]
    customer_quarters: tuple[float | None, ...]  # 4 entries; None where the customer said nothing informative
    customer_start: float
    customer_end: float
    customer_change: float
    change_label: str  # up | down | flat
    customer_mean: float
    agent_mean: float
    negative_moments: tuple[NegativeMoment, ...]

    def for_utterance(self, utterance_id: str) -> UtteranceSentiment:
        for u in self.utterances:
            if u.utterance_id == utterance_id:
                return u
        raise KeyError(utterance_id)


@dataclass(frozen=True, slots=True)
class Prosody:
    voiced_s: float
    pitch_median_hz: float
    pitch_variation_st: float
    level_db: float  # median speech level, dBFS
    level_variation_db: float  # interquartile range of frame levels
    loud_spikes: int
    loud_spike_times: tuple[float, ...]
    speaking_rate: float
    rate_unit: str  # "chars/min" | "words/min"


@dataclass(frozen=True, slots=True)
class WarmthComponent:
    id: str
    name: str
    score: float  # 0..1
    weight: float  # maximum points
    points: float  # score * weight (0 when not applicable)
    applicable: bool
    reason: str
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True, slots=True)
class Warmth:
    total: float  # 0..100, renormalised over applicable components
    level: str  # warm | neutral | cold
    components: tuple[WarmthComponent, ...]
    prosody: Prosody | None = None

    def component(self, component_id: str) -> WarmthComponent:
        for c in self.components:
            if c.id == component_id:
                return c
        raise KeyError(component_id)
