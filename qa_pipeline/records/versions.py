"""What produced a result: :class:`Versions` and the run options it records (``versions.options``).

Each option group is a typed record with the exact shape the JSON contract has always had.  A
field a result did not record is None and left out of the JSON instead of written as null:
schema 1.0 results have no ``numerics``, ``asr_stages`` or ``asr_guards``, stereo calls no
``roles``, results never rescored no ``overrides``; so a stored result loads and writes back
unchanged.  ``RunOptions.sentiment`` is the one exception: null there means sentiment was
disabled, and it is always written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal, Mapping, TypeVar

from pydantic import Field

from .enums import Role

T = TypeVar("T")


def _absent(value: object) -> bool:
    return value is None


#: ``Omit[X]``: an ``X`` that may be missing (None), left out of the JSON while it is.
Omit = Annotated[T | None, Field(exclude_if=_absent)]

#: How a mono call's speakers got their roles (:class:`qa_pipeline.asr.roles.RoleAssigner`).
RoleMethod = Literal["voiceprint", "opening_phrase", "first_speaker", "single_speaker", "none"]
#: Where a call's language came from: the call's metadata, the configured default, or detection.
LanguageSource = Literal["metadata", "config", "detected"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AsrOptions:
    """The keyword arguments faster-whisper decoded the call with, and where it ran.

    Exactly :func:`qa_pipeline.asr.transcriber.decode_options` for the call's language, plus
    ``device`` and ``compute_type``.  The optional ones are absent when the deployment did not
    set them: ``batch_size`` with the batched pipeline off (VAD off), ``temperature`` with
    faster-whisper's own fallback schedule (0.0, 0.2, ... 1.0), ``hotwords`` and
    ``initial_prompt`` when none are configured for the language.
    """

    language: str  # language decoded, ISO 639-1: zh | en
    beam_size: int  # beam search width (hypotheses)
    word_timestamps: bool
    vad_filter: bool  # Silero VAD inside faster-whisper
    condition_on_previous_text: bool
    batch_size: Omit[int] = None  # speech chunks decoded at once (BatchedInferencePipeline)
    temperature: Omit[float] = None  # decoding temperature, 0..1
    hotwords: Omit[str] = None  # deployment vocabulary, space-separated
    initial_prompt: Omit[str] = None  # a natural sentence of the domain
    device: str  # cpu | cuda (resolved, never auto)
    compute_type: str  # CTranslate2 compute type: int8, float16, int8_float16, ...


@dataclass(frozen=True, slots=True, kw_only=True)
class NumericProfile:
    """The ASR process's numeric environment that changes transcripts (:mod:`qa_pipeline.asr.numerics`)."""

    ctranslate2: str  # CTranslate2 version, "4.8.5" ("unknown" when it could not be read)
    openmp: Omit[str] = None  # "single" (OMP_NUM_THREADS=1) | "multi"; CPU only, absent on CUDA


@dataclass(frozen=True, slots=True, kw_only=True)
class AsrStages:
    """The pipeline's own recognition stages around faster-whisper (:func:`qa_pipeline.keys.asr_stages`)."""

    music_filter: bool  # hold/queue music silenced before recognition
    second_pass: bool  # VAD speech the batched pass left empty decoded again, alone
    #: the second pass's token budget per clip: (tokens per second of clip, slack tokens); None when off
    second_pass_tokens_per_s: tuple[int, int] | None = None
    #: beam width of the full-window re-decode of an unreliable window (absent: no fallback decode)
    fallback_beam_size: Omit[int] = None
    #: shortest encoder input in seconds when the encoder runs on each chunk's own length (absent: 30 s always)
    encoder_min_s: Omit[float] = None
    #: first-decode beam width on diarized mono calls (absent: ``beam_size`` as for stereo); the
    #: ``asr`` options of a mono result already show the beam it was decoded with
    mono_beam_size: Omit[int] = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardCounts:
    """What the recogniser's own guards did on one call, summed over its channels (segment counts)."""

    #: segments the hallucination guards removed, by reason (boilerplate, loop, repeat, no_speech, ...)
    removed: Mapping[str, int] = field(default_factory=dict)
    #: second-pass outcomes, by outcome (recovered, still_empty)
    second_pass: Mapping[str, int] = field(default_factory=dict)
    #: windows decoded again with the fallback beam on the full window (absent when none)
    fallback: Omit[int] = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LanguageDecision:
    """How the call's language was chosen: requested by metadata or configuration, or detected."""

    requested: str  # zh | en | auto (the call's metadata, else the configured default)
    source: LanguageSource
    probability: Omit[float] = None  # detected only: 0..1, renormalised over the supported languages
    method: Omit[str] = None  # detected only: which audio the detection heard


@dataclass(frozen=True, slots=True, kw_only=True)
class SentimentOptions:
    """The sentiment settings of the run (:class:`qa_pipeline.config.SentimentSettings`)."""

    enabled: bool
    model: str  # "packaged" or a local model directory
    use_embeddings: bool  # packaged model: e5 embeddings (False: n-gram heads only)
    device: str  # transformers models only: cpu | cuda


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeakerEvidence:
    """Why one diarized speaker of a mono call got its role."""

    phrase_hits: int  # agent opening/service phrases said (those in the opening count twice)
    address: float  # (you - me) / (you + me) over the speaker's words, -1..1: > 0 talks like the agent
    first_speaker: bool  # spoke first in the call
    voiceprint_similarity: Omit[float] = None  # cosine similarity to the agent's voiceprint, -1..1 (if enrolled)
    score: float  # agent score: the weighted sum of the evidence (unitless; the highest is the agent)
    decision: Omit[str] = None  # one-speaker calls only: what decided the role, or why it stayed unknown


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleEvidence:
    """How a mono call's speakers got their roles (:class:`qa_pipeline.asr.roles.RoleAssignment`)."""

    method: RoleMethod
    swapped: bool = False  # the call's metadata asked for the roles swapped (custom.swap_roles)
    roles: Mapping[str, Role] = field(default_factory=dict)  # diarization label ("SPEAKER_00") -> role
    evidence: Mapping[str, SpeakerEvidence] = field(default_factory=dict)  # label -> its evidence


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewOverrides:
    """A reviewer's overrides applied by a rescore (``{}`` when the rescore applied none)."""

    #: agent and customer swapped (True), or swapped back (False); None when never asked
    swap_roles: Omit[bool] = None

    def as_dict(self) -> dict[str, bool]:
        """The overrides set, as the rescore key hashes them."""
        return {} if self.swap_roles is None else {"swap_roles": self.swap_roles}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """Every option of the run that produced a result (``versions.options``; None: not recorded)."""

    asr: Omit[AsrOptions] = None
    numerics: Omit[NumericProfile] = None  # schema 1.1
    asr_stages: Omit[AsrStages] = None  # schema 1.1
    asr_guards: Omit[GuardCounts] = None  # schema 1.1
    language: Omit[LanguageDecision] = None
    pause_split_s: Omit[float] = None  # pause that splits a party's words into utterances, seconds
    rubric_sha: Omit[str] = None  # fingerprint of the rubric that scored the call
    sentiment: SentimentOptions | None = None  # None (null): sentiment disabled
    roles: Omit[RoleEvidence] = None  # mono calls whose speakers were diarized
    overrides: Omit[ReviewOverrides] = None  # set by a rescore


@dataclass(frozen=True, slots=True)
class Versions:
    """The software, model and rubric versions and the run options that produced a result."""

    pipeline: str
    schema: str
    asr_model: str
    rubric_id: str
    rubric_version: str
    options: RunOptions = field(default_factory=RunOptions)
