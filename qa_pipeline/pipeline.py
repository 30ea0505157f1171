"""End-to-end scoring of recorded calls: a thin pipeline of explicit, already-loaded stages.

Stages, each its own object: decode (:func:`~qa_pipeline.audio.load_audio`) -> transcription
(:class:`~qa_pipeline.transcription.TranscriptionStage`: language, diarization of mono calls,
ASR per party, roles; returns a :class:`~qa_pipeline.transcription.TranscribedCall`) ->
sentiment and warmth -> metrics -> rubric (:class:`RubricScorers` -> :class:`~qa_pipeline.scoring.Scorer`).
:meth:`CallPipeline.from_pretrained` loads every stage once; the plain constructor takes the
stage objects (none of them: a pipeline that only computes keys and rescores, loading nothing).
Progress and timing are reported through an optional ``hook`` callable
(:class:`~qa_pipeline.transcription.Hook`)::

    def hook(step: str, call_id: str, /, **info) -> None: ...

The pipeline never prints.  Batches (discovery, sinks, Ray) are :mod:`qa_pipeline.batch`.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from . import __version__, checks
from .asr import Transcriber
from .audio import Audio, load_audio
from .config import Settings
from .errors import QAError
from .keys import AsrDescription, asr_stages, input_key, rescore_key
from .privacy import redact_result
from .recording_flags import recording_flags as recording_faults
from .records import (
    SCHEMA_VERSION,
    AsrOptions,
    CallMetadata,
    CallResult,
    Flag,
    Metrics,
    NumericProfile,
    ReviewOverrides,
    Role,
    RoleEvidence,
    RunOptions,
    Scorecard,
    SentimentOptions,
    Transcript,
    Versions,
)
from .redaction import Redactor
from .scoring import CallContext, Rubric, Scorer, compute_metrics, find_rubric
from .scoring.rubric import STREAK_TURNS
from .sources import CallSource
from .transcription import (
    DiarizerLoader,
    Hook,
    TranscribedCall,
    TranscriptionStage,
    load_voiceprints,
    no_hook,
    resolve_diarizer,
)

if TYPE_CHECKING:
    from .asr.diarization import Diarizer
    from .asr.voiceprints import VoiceprintStore
    from .sentiment import CallSentiment, CallSentimentAnalyzer, Warmth, WarmthScorer  # pragma: no cover


class RubricScorers:
    """The scorer factory: the rubric routed to a queue/language (or one override), loaded once each."""

    def __init__(self, settings: Settings, rubric: str | None = None) -> None:
        """``rubric`` (id or YAML path) scores every call instead of the configured routes."""
        self.settings = settings
        self.override = rubric
        self._scorers: dict[str, Scorer] = {}

    def __call__(self, language: str, queue: str | None = None) -> Scorer:
        name = self.override or self.settings.rubric_for(queue, language)
        if name not in self._scorers:
            self._scorers[name] = Scorer(find_rubric(name, self.settings.rubrics_dir))
        return self._scorers[name]


def load_sentiment_analyzer(settings: Settings) -> "CallSentimentAnalyzer":
    """Sentiment model + per-call aggregation (packaged heads or a local model)."""
    from .sentiment import CallSentimentAnalyzer, SentimentModel

    conf = settings.sentiment
    if conf.model == "packaged":
        model = SentimentModel.packaged(use_embeddings=conf.use_embeddings)
    else:
        model = SentimentModel.from_pretrained(conf.model, device=-1 if conf.device == "cpu" else 0)
    return CallSentimentAnalyzer(model)


class CallPipeline:
    """The stages of scoring one call, loaded once; scores any number of calls."""

    def __init__(
        self,
        settings: Settings,
        transcriber: Transcriber | None = None,
        *,
        diarizer: "Diarizer | DiarizerLoader | None" = None,
        voiceprints: "VoiceprintStore | None" = None,
        sentiment: "CallSentimentAnalyzer | None" = None,
        warmth: "WarmthScorer | None" = None,
        scorers: RubricScorers | None = None,
        rubric: str | None = None,
    ) -> None:
        """Stages given are used as they are; none is loaded here (see :meth:`from_pretrained`).

        Without a ``transcriber`` the pipeline computes result keys (from the settings alone)
        and rescores stored transcripts, but cannot transcribe.  ``rubric`` (id or YAML path)
        scores every call with that rubric instead of the configured routes (when ``scorers``
        is not given).  ``diarizer``: loaded, or a :class:`DiarizerLoader` that loads it on first use.
        """
        self.settings = settings
        self.scorers = scorers or RubricScorers(settings, rubric)
        self.rubric_override = self.scorers.override
        self.redactor = Redactor()
        self.transcriber = transcriber
        self._diarizer = diarizer
        self.voiceprints = voiceprints
        self.sentiment_analyzer = sentiment
        self.warmth_scorer = warmth
        self.transcription: TranscriptionStage | None = None
        if transcriber is not None:
            self.transcription = TranscriptionStage(
                settings, transcriber, diarizer=diarizer, voiceprints=voiceprints
            )
        self._description: AsrDescription | None = None

    @property
    def diarizer(self) -> "Diarizer | None":
        """The mono-call diarizer (loaded now if it was deferred; see :class:`DiarizerLoader`).

        Raises:
            ModelError: its model is missing or broken.
        """
        return resolve_diarizer(self._diarizer)

    @classmethod
    def from_pretrained(
        cls,
        settings: Settings,
        *,
        rubric: str | None = None,
        transcriber: Transcriber | None = None,
        diarizer: "Diarizer | DiarizerLoader | None" = None,
        voiceprints: "VoiceprintStore | None" = None,
        asr: bool = True,
        sentiment: bool = True,
    ) -> "CallPipeline":
        """Every stage the settings ask for: Whisper and the agents' voiceprints (``asr``), the
        sentiment model and warmth scorer (``sentiment``, when enabled in the settings), loaded
        now; the mono-call diarizer is loaded by the first call that needs it (a
        :class:`DiarizerLoader`: pyannote.audio and torch hold about 0.65 GB that stereo calls
        never use).  Stages passed in are used instead of loading them again.

        Raises:
            ModelError: the ASR or sentiment model is not installed.
        """
        if asr:
            if transcriber is None:
                transcriber = Transcriber.from_pretrained(
                    settings.asr.model, models_dir=settings.models_dir, settings=settings.asr
                )
            if diarizer is None:
                diarizer = DiarizerLoader(settings)
            if voiceprints is None:
                voiceprints = load_voiceprints(settings)
        analyzer, warmth = None, None
        if sentiment and settings.sentiment.enabled:
            from .sentiment import WarmthScorer

            analyzer, warmth = load_sentiment_analyzer(settings), WarmthScorer()
        return cls(
            settings,
            transcriber,
            diarizer=diarizer,
            voiceprints=voiceprints,
            sentiment=analyzer,
            warmth=warmth,
            rubric=rubric,
        )

    # -- keys (never load a model) ---------------------------------------------------------
    def scorer(self, language: str, queue: str | None = None) -> Scorer:
        """The scorer of the rubric routed to this queue/language (rubrics load once)."""
        return self.scorers(language, queue)

    @property
    def asr_description(self) -> AsrDescription:
        """What the ASR model is and runs with; from the settings while no model is loaded.

        Result keys use it, so already-scored calls are skipped without loading Whisper.
        """
        if self.transcription is not None:
            return self.transcription.description
        if self._description is None:
            self._description = AsrDescription.of_settings(self.settings.asr, self.settings.models_dir)
        return self._description

    def input_key(self, source: CallSource, asr: AsrDescription | None = None) -> str:
        """Hash of every input that determines a call's result, except the audio itself.

        Known before decoding, so already-scored calls are skipped without any model work.
        ``asr`` describes the ASR model of the worker that will transcribe (distributed runs);
        by default this pipeline's own model.
        """
        queue = source.metadata.queue
        return input_key(
            self.settings, source, asr or self.asr_description, lambda lang: self.scorer(lang, queue).rubric.fingerprint
        )

    def result_key(self, source: CallSource, audio_sha256: str, asr: AsrDescription | None = None) -> str:
        return f"{audio_sha256[:16]}-{self.input_key(source, asr)}"

    # -- scoring a call ----------------------------------------------------------------------
    def __call__(self, source: CallSource, *, hook: Hook = no_hook, audio: Audio | None = None) -> CallResult:
        """Score one call in this process: decode, :meth:`transcribe_call`, then :meth:`finish`."""
        t0 = time.perf_counter()
        hook("decode", source.metadata.call_id, path=str(source.path))
        audio = audio or load_audio(source.path)
        decode_s = round(time.perf_counter() - t0, 3)
        transcribed = self.transcribe_call(source, audio, hook=hook)
        return self.finish(source, audio, transcribed, hook=hook, timings={"decode_s": decode_s}, started=t0)

    def transcribe_call(self, source: CallSource, audio: Audio, *, hook: Hook = no_hook) -> TranscribedCall:
        """The model-heavy stage (GPU on clusters): language, diarization (mono), ASR per party."""
        if self.transcription is None:
            raise QAError("this pipeline has no ASR stage (build it with CallPipeline.from_pretrained)")
        return self.transcription(source, audio, hook=hook)

    def analyze_sentiment(
        self, transcript: Transcript, audio: Audio | None, agent_channel: int | None
    ) -> tuple["CallSentiment | None", "Warmth | None"]:
        """Customer sentiment and agent warmth (prosody from the agent's channel on stereo calls)."""
        if not self.settings.sentiment.enabled or not transcript.utterances:
            return None, None
        if self.sentiment_analyzer is None or self.warmth_scorer is None:
            raise QAError("this pipeline has no sentiment stage (build it with CallPipeline.from_pretrained)")
        sentiment = self.sentiment_analyzer(transcript)
        if not transcript.by_role(Role.AGENT):
            return sentiment, None  # no attributed agent speech (roles unknown): warmth is not judged
        agent_audio = None
        if audio is not None and len(audio.channels) == 2:
            agent_audio = audio.channels[agent_channel or 0]
        return sentiment, self.warmth_scorer(transcript, sentiment, agent_audio, audio.sample_rate if audio else 16000)

    def finish(
        self,
        source: CallSource,
        audio: Audio,
        transcribed: TranscribedCall,
        *,
        hook: Hook = no_hook,
        timings: Mapping[str, float] | None = None,
        started: float | None = None,
    ) -> CallResult:
        """The CPU stage after ASR: sentiment and warmth, metrics, rubric, flags, redaction."""
        call_id = source.metadata.call_id
        t2 = time.perf_counter()
        all_timings: dict[str, float] = {**(timings or {}), "asr_s": transcribed.asr_s}
        transcript, language = transcribed.transcript, transcribed.language
        hook("sentiment", call_id)
        sentiment, warmth = self.analyze_sentiment(transcript, audio, source.metadata.agent_channel)
        all_timings["sentiment_s"] = round(time.perf_counter() - t2, 3)

        t3 = time.perf_counter()
        hook("score", call_id)
        scorer = self.scorer(language, source.metadata.queue)
        metrics, card, flags = score_transcript(scorer, transcript, source.metadata, sentiment_values(sentiment))
        local = Path(source.path) if source.uri is None else None  # bucket audio: checked at fetch (file_flags)
        roles = transcribed.roles.record() if transcribed.roles else None
        found = (
            checks.recording_flags(checks.CallEvidence(audio.info, transcript, local))
            + source.file_flags
            + recording_faults(audio.info, transcript, roles)  # one-sided, duplicated, not separated
        )
        card, flags = checks.apply_checks(card, flags, found)
        warmth = _align_warmth(warmth, card)
        all_timings["score_s"] = round(time.perf_counter() - t3, 3)
        if started is not None:
            all_timings["total_s"] = round(time.perf_counter() - started, 3)
        else:
            all_timings["total_s"] = round(sum(v for k, v in all_timings.items() if k.endswith("_s")), 3)
        result = CallResult(
            call_id=call_id,
            duration_s=audio.duration_s,
            language=language,
            metadata=source.metadata,
            audio=audio.info,
            transcript=transcript,
            metrics=metrics,
            scorecard=card,
            flags=flags,
            versions=self._versions(scorer.rubric, transcribed, roles),
            scored_at=datetime.now(timezone.utc).replace(microsecond=0),
            result_key=self.result_key(source, audio.info.sha256, transcribed.asr),
            timings=all_timings,
            sentiment=sentiment,
            warmth=warmth,
        )
        return redact_result(result, self.redactor)

    def _versions(self, rubric: Rubric, transcribed: TranscribedCall, roles: RoleEvidence | None) -> Versions:
        """What produced the result: versions, and the options of the run (``versions.options``)."""
        asr, sentiment = transcribed.asr, self.settings.sentiment
        return Versions(
            pipeline=__version__,
            schema=SCHEMA_VERSION,
            asr_model=asr.model_id,
            rubric_id=rubric.id,
            rubric_version=rubric.version,
            options=RunOptions(
                asr=AsrOptions(
                    **{**asr.options[transcribed.language], **transcribed.decode_updates},
                    device=asr.device, compute_type=asr.compute_type,
                ),
                numerics=NumericProfile(ctranslate2=asr.numerics["ctranslate2"], openmp=asr.numerics.get("openmp")),
                asr_stages=asr_stages(self.settings.asr),
                # what the hallucination guards removed and the second pass recovered (per reason)
                asr_guards=transcribed.guards,
                language=transcribed.language_info,
                pause_split_s=self.settings.asr.pause_split_s,
                rubric_sha=rubric.fingerprint,
                sentiment=SentimentOptions(**sentiment.model_dump()) if sentiment.enabled else None,
                roles=roles,  # how a mono call's speakers got their roles, with the evidence
            ),
        )

    # -- rescoring a stored result (no model) ----------------------------------------------
    def rescore_needed(self, result: CallResult) -> bool:
        """False when ``result`` already carries the rubric (and pipeline) a rescore would apply."""
        scorer = self.scorer(result.language, result.metadata.queue)
        return not (
            result.versions.options.rubric_sha == scorer.rubric.fingerprint
            and result.versions.pipeline == __version__
            and result.versions.schema == SCHEMA_VERSION
        )

    def rescore(self, result: CallResult, *, swap_roles: bool = False) -> CallResult:
        """Apply the current rubric (routes or override) to a stored transcript, without ASR.

        ``swap_roles`` is the reviewer's override for a call whose parties were attributed the
        wrong way round; it is recorded in ``versions.options.overrides``. The result key is a
        hash of what determines the new scorecard (transcript, rubric fingerprint, stored
        sentiment, overrides, pipeline and schema versions), so rescoring twice adds nothing.
        """
        raw = result.raw_transcript or result.transcript  # raw when loaded from the privileged store
        transcript = swap_transcript_roles(raw) if swap_roles else raw
        scorer = self.scorer(result.language, result.metadata.queue)
        t0 = time.perf_counter()
        sentiment = sentiment_values(result.sentiment)
        metrics, card, flags = score_transcript(scorer, transcript, result.metadata, sentiment)
        found = (
            checks.recording_flags(checks.CallEvidence(result.audio, transcript))
            + tuple(f for f in result.flags if f.id in checks.FILE_FLAGS)
            + recording_faults(result.audio, transcript, result.versions.options.roles)
        )
        card, flags = checks.apply_checks(card, flags, found)
        rubric = scorer.rubric
        overrides = result.versions.options.overrides or ReviewOverrides()
        if swap_roles:
            overrides = replace(overrides, swap_roles=not overrides.swap_roles)
        options = replace(result.versions.options, rubric_sha=rubric.fingerprint, overrides=overrides)
        versions = replace(
            result.versions, pipeline=__version__, schema=SCHEMA_VERSION, rubric_id=rubric.id,
            rubric_version=rubric.version, options=options,
        )
        key = rescore_key(
            result.audio.sha256, transcript, asr_model=result.versions.asr_model, rubric_fingerprint=rubric.fingerprint,
            sentiment=sentiment, overrides=overrides.as_dict(),
        )
        rescored = replace(
            result,
            transcript=transcript,
            raw_transcript=transcript,
            metrics=metrics,
            scorecard=card,
            flags=flags,
            versions=versions,
            scored_at=datetime.now(timezone.utc).replace(microsecond=0),
            result_key=key,
            timings={"score_s": round(time.perf_counter() - t0, 3)},
            warmth=_align_warmth(result.warmth, card),
        )
        return redact_result(rescored, self.redactor)


def sentiment_values(sentiment: "CallSentiment | None") -> dict[str, float]:
    """The numbers rubric sentiment checks read ("customer.end", "customer.change", ...)."""
    if sentiment is None:
        return {}
    customer = [u.score for u in sentiment.utterances if u.role is Role.CUSTOMER and u.informative]
    values = {
        "customer.start": sentiment.customer_start,
        "customer.end": sentiment.customer_end,
        "customer.change": sentiment.customer_change,
        "customer.mean": sentiment.customer_mean,
        "agent.mean": sentiment.agent_mean,
    }
    if customer:
        values["customer.min"] = min(customer)
    moods = [u.mood for u in sentiment.utterances if u.role is Role.CUSTOMER and u.informative]
    if len(moods) >= STREAK_TURNS:
        values["customer.streak"] = min(max(moods[i : i + STREAK_TURNS]) for i in range(len(moods) - STREAK_TURNS + 1))
    return values


def _align_warmth(warmth: Any, card: Scorecard) -> Any:
    """Warmth's greeting follows the rubric's greeting item (one truth; sentiment/warmth.py)."""
    if warmth is None:
        return None
    from .sentiment.warmth import align_with_scorecard

    return align_with_scorecard(warmth, card)


def score_transcript(
    scorer: Scorer, transcript: Transcript, metadata: CallMetadata, sentiment: Mapping[str, float] | None = None
) -> tuple[Metrics, Scorecard, tuple[Flag, ...]]:
    """Metrics, scorecard and flags of one transcript (the CPU scoring stage)."""
    metrics = compute_metrics(transcript)
    ctx = CallContext(transcript=transcript, metrics=metrics, metadata=metadata, sentiment=sentiment or {})
    card = scorer(ctx)
    return metrics, card, scorer.flags(card, ctx)


def swap_transcript_roles(transcript: Transcript) -> Transcript:
    """Agent <-> customer on every utterance (the reviewer's "swap roles" override)."""
    swap = {Role.AGENT: Role.CUSTOMER, Role.CUSTOMER: Role.AGENT, Role.UNKNOWN: Role.UNKNOWN}
    return replace(transcript, utterances=tuple(replace(u, role=swap[u.role]) for u in transcript.utterances))


__all__ = [
    "AsrDescription",
    "CallPipeline",
    "Hook",
    "RubricScorers",
    "TranscribedCall",
    "load_sentiment_analyzer",
    "score_transcript",
    "sentiment_values",
    "swap_transcript_roles",
]
