"""End-to-end scoring of recorded calls.

Stages, each its own object: decode (:func:`~qa_pipeline.audio.load_audio`) ->
transcribe each channel (:class:`~qa_pipeline.asr.Transcriber`) -> merge into a
conversation -> metrics -> rubric (:class:`~qa_pipeline.scoring.Scorer`).
Progress and timing are reported through an optional ``hook`` callable::

    def hook(step: str, call_id: str, **info) -> None: ...

``step`` is one of ``decode``, ``transcribe``, ``score``, ``done``, ``skipped``,
``failed``.  The pipeline never prints.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Literal, Mapping, Protocol, Sequence

from . import __version__, checks
from .asr import Transcriber, merge_channels, split_utterances
from .asr.guards import AsrSegment
from .asr.models import resolve_model
from .asr.numerics import numeric_profile
from .asr.transcriber import (
    SECOND_PASS_TOKEN_SLACK,
    SECOND_PASS_TOKENS_PER_S,
    SUPPORTED_LANGUAGES,
    decode_options,
    resolve_device,
)
from .audio import Audio, file_sha256, load_audio
from .config import AsrSettings, Settings
from .errors import AudioError, MetadataError, ModelError, QAError
from .metadata import MANIFEST_NAME, Manifest, resolve_metadata
from .privacy import redact_result
from .recording_flags import recording_flags as recording_faults
from .records import SCHEMA_VERSION, CallMetadata, CallResult, Flag, Metrics, Role, Scorecard, Transcript, Versions
from .redaction import Redactor
from .scoring import CallContext, Rubric, Scorer, compute_metrics, find_rubric
from .scoring.rubric import STREAK_TURNS
from .sources import CallSource, DuplicateGuard, SourceError
from .storage import result_payload
from .store import ResultStore, SaveOutcome, claim_owner

if TYPE_CHECKING:
    from .asr.diarization import Diarizer
    from .asr.roles import RoleAssignment
    from .asr.voiceprints import VoiceprintStore
    from .sentiment import CallSentiment, CallSentimentAnalyzer, Warmth, WarmthScorer  # pragma: no cover
    from .storage import FetchedCall, RecordingRef, RecordingStore, S3Store

log = logging.getLogger(__name__)


class Hook(Protocol):
    def __call__(self, step: str, call_id: str, /, **info: Any) -> None: ...


def _no_hook(step: str, call_id: str, /, **info: Any) -> None:
    return None


def discover(folder: Path, settings: Settings) -> Iterator[CallSource | SourceError]:
    """Recordings under ``folder`` (sorted, recursive), with metadata from sidecars/manifest/name."""
    from .storage import LocalStore

    store = LocalStore(folder, filename_pattern=settings.filename_pattern, timezone=settings.timezone)
    seen = DuplicateGuard()
    for ref in store.iter_recordings():
        try:
            source = store.describe(ref)
            seen.check(source)
        except MetadataError as exc:
            yield SourceError(Path(ref.uri), exc)
            continue
        yield source


def source_for_file(path: Path, settings: Settings, overrides: Mapping[str, Any] | None = None) -> CallSource:
    manifest_path = path.parent / MANIFEST_NAME
    manifest = Manifest.load(manifest_path) if manifest_path.is_file() else None
    meta = resolve_metadata(
        path,
        manifest=manifest,
        filename_pattern=settings.filename_pattern,
        timezone=settings.timezone,
        overrides=overrides,
    )
    return CallSource(path, meta)


@dataclass(frozen=True)
class AsrDescription:
    """The ASR model a worker runs and its exact options per language (part of every result key)."""

    model_id: str
    device: str
    compute_type: str
    options: Mapping[str, Mapping[str, Any]]
    #: the process's numeric environment that changes transcripts (:mod:`qa_pipeline.asr.numerics`)
    numerics: Mapping[str, str]

    @classmethod
    def of(cls, transcriber: Transcriber) -> "AsrDescription":
        return cls(
            model_id=transcriber.model_id,
            device=transcriber.settings.device,
            compute_type=transcriber.settings.compute_type,
            options={lang: transcriber.options(lang) for lang in SUPPORTED_LANGUAGES},
            numerics=numeric_profile(transcriber.settings.device),
        )

    @classmethod
    def of_settings(cls, settings: AsrSettings, models_dir: Path) -> "AsrDescription":
        """The same description from the settings alone: resolves the model, never loads it.

        Equal to :meth:`of` for the transcriber these settings would load.

        Raises:
            ModelError: the model is not installed (as loading would).
        """
        resolved = resolve_model(settings.model, models_dir)
        device = resolve_device(settings.device)
        return cls(
            model_id=resolved.model_id,
            device=device,
            compute_type=settings.compute_type,
            options={lang: decode_options(settings, lang) for lang in SUPPORTED_LANGUAGES},
            numerics=numeric_profile(device),
        )


@dataclass(frozen=True)
class TranscribedCall:
    """Output of the ASR stage, input of the scoring stage (crosses process boundaries)."""

    transcript: Transcript
    language: str
    language_info: Mapping[str, Any]
    asr: AsrDescription
    roles: "RoleAssignment | None"
    asr_s: float


class CallPipeline:
    """Loads the ASR model and rubrics once; scores any number of calls."""

    def __init__(
        self,
        settings: Settings,
        transcriber: Transcriber | None = None,
        *,
        rubric: str | None = None,
        diarizer: "Diarizer | None" = None,
        voiceprints: "VoiceprintStore | None" = None,
    ) -> None:
        """``rubric`` (id or YAML path) scores every call with that rubric instead of the configured routes.

        ``diarizer``/``voiceprints`` (mono calls) load lazily from ``settings.diarization`` when not given.
        """
        self.settings = settings
        self._transcriber = transcriber
        self._description: AsrDescription | None = None
        self._scorers: dict[str, Scorer] = {}
        self.rubric_override = rubric
        self.redactor = Redactor()
        self._diarizer = diarizer
        self._voiceprints = voiceprints
        self._sentiment: CallSentimentAnalyzer | None = None
        self._warmth: WarmthScorer | None = None
        #: How each mono call's speakers got their roles ({call_id: RoleAssignment}, with evidence).
        self.role_assignments: dict[str, RoleAssignment] = {}

    @property
    def diarizer(self) -> "Diarizer":
        """The mono-call diarizer, loaded on first use (pyannote.audio is the optional 'diarization' extra)."""
        if self._diarizer is None:
            from .asr.diarization import Diarizer

            conf = self.settings.diarization
            self._diarizer = Diarizer.from_pretrained(conf.pipeline, settings=conf)
        return self._diarizer

    @property
    def voiceprints(self) -> "VoiceprintStore":
        """Enrolled agent voiceprints (``diarization.voiceprints_path``, default <data_dir>/voiceprints.json)."""
        if self._voiceprints is None:
            from .asr.voiceprints import VoiceprintStore

            path = self.settings.diarization.voiceprints_path or self.settings.data_dir / "voiceprints.json"
            self._voiceprints = VoiceprintStore(path)
        return self._voiceprints

    @property
    def sentiment_analyzer(self) -> "CallSentimentAnalyzer":
        """Sentiment model + per-call aggregation, loaded once (packaged heads or a local model)."""
        if self._sentiment is None:
            from .sentiment import CallSentimentAnalyzer, SentimentModel

            conf = self.settings.sentiment
            if conf.model == "packaged":
                model = SentimentModel.packaged(use_embeddings=conf.use_embeddings)
            else:
                model = SentimentModel.from_pretrained(conf.model, device=-1 if conf.device == "cpu" else 0)
            self._sentiment = CallSentimentAnalyzer(model)
        return self._sentiment

    @property
    def warmth_scorer(self) -> "WarmthScorer":
        if self._warmth is None:
            from .sentiment import WarmthScorer

            self._warmth = WarmthScorer()
        return self._warmth

    def analyze_sentiment(
        self, transcript: Transcript, audio: Audio | None, agent_channel: int | None
    ) -> tuple["CallSentiment | None", "Warmth | None"]:
        """Customer sentiment and agent warmth (prosody from the agent's channel on stereo calls)."""
        if not self.settings.sentiment.enabled or not transcript.utterances:
            return None, None
        sentiment = self.sentiment_analyzer(transcript)
        if not transcript.by_role(Role.AGENT):
            return sentiment, None  # no attributed agent speech (roles unknown): warmth is not judged
        agent_audio = None
        if audio is not None and len(audio.channels) == 2:
            agent_audio = audio.channels[agent_channel or 0]
        return sentiment, self.warmth_scorer(transcript, sentiment, agent_audio, audio.sample_rate if audio else 16000)

    @property
    def transcriber(self) -> Transcriber:
        if self._transcriber is None:
            self._transcriber = Transcriber.from_pretrained(
                self.settings.asr.model, models_dir=self.settings.models_dir, settings=self.settings.asr
            )
        return self._transcriber

    def scorer(self, language: str, queue: str | None = None) -> Scorer:
        """The scorer of the rubric routed to this queue/language (rubrics load once)."""
        name = self.rubric_override or self.settings.rubric_for(queue, language)
        if name not in self._scorers:
            self._scorers[name] = Scorer(find_rubric(name, self.settings.rubrics_dir))
        return self._scorers[name]

    def _requested_language(self, source: CallSource) -> str:
        return source.metadata.language or self.settings.default_language

    @property
    def asr_description(self) -> AsrDescription:
        """What the ASR model is and runs with; from the settings while no model is loaded.

        Result keys use it, so already-scored calls are skipped without loading Whisper.
        """
        if self._transcriber is None:
            if self._description is None:
                self._description = AsrDescription.of_settings(self.settings.asr, self.settings.models_dir)
            return self._description
        return AsrDescription.of(self._transcriber)

    def input_key(self, source: CallSource, asr: AsrDescription | None = None) -> str:
        """Hash of every input that determines a call's result, except the audio itself.

        Known before decoding, so already-scored calls are skipped without any model work.
        ``asr`` describes the ASR model of the worker that will transcribe (distributed runs);
        by default this pipeline's own model.
        """
        requested = self._requested_language(source)
        languages = list(SUPPORTED_LANGUAGES) if requested == "auto" else [requested]
        asr = asr or self.asr_description
        blob = {
            "pipeline": __version__,
            "schema": SCHEMA_VERSION,
            "asr_model": asr.model_id,
            "asr_options": {lang: dict(asr.options[lang]) for lang in languages},
            "device": [asr.device, asr.compute_type],
            "numerics": dict(asr.numerics),
            "asr_stages": self._asr_stages(),
            "language": requested,
            "agent_channel": source.metadata.agent_channel,
            "pause_split_s": self.settings.asr.pause_split_s,
            "rubrics": {lang: self.scorer(lang, source.metadata.queue).rubric.fingerprint for lang in languages},
            "sentiment": self.settings.sentiment.model_dump(),
            "diarization": self.settings.diarization.model_dump(mode="json"),
            "swap_roles": _swap_requested(source.metadata),
        }
        return _digest(blob)

    def _asr_stages(self) -> dict[str, Any]:
        """The pipeline's own recognition stages around faster-whisper (music filter, second pass)."""
        conf = self.settings.asr
        return {
            "music_filter": conf.music_filter,
            "second_pass": conf.second_pass,
            "second_pass_tokens_per_s": [SECOND_PASS_TOKENS_PER_S, SECOND_PASS_TOKEN_SLACK] if conf.second_pass else None,
        }

    def result_key(self, source: CallSource, audio_sha256: str, asr: AsrDescription | None = None) -> str:
        return f"{audio_sha256[:16]}-{self.input_key(source, asr)}"

    def _versions(
        self,
        rubric: Rubric,
        language: str,
        language_info: Mapping[str, Any],
        asr: AsrDescription,
        roles: "RoleAssignment | None" = None,
    ) -> Versions:
        return Versions(
            pipeline=__version__,
            schema=SCHEMA_VERSION,
            asr_model=asr.model_id,
            rubric_id=rubric.id,
            rubric_version=rubric.version,
            options={
                "asr": dict(asr.options[language]) | {"device": asr.device, "compute_type": asr.compute_type},
                "numerics": dict(asr.numerics),
                "asr_stages": self._asr_stages(),
                "language": dict(language_info),
                "pause_split_s": self.settings.asr.pause_split_s,
                "rubric_sha": rubric.fingerprint,
                "sentiment": self.settings.sentiment.model_dump() if self.settings.sentiment.enabled else None,
                # how a mono call's speakers got their roles, with the evidence (plain JSON numbers)
                **({"roles": json.loads(json.dumps(roles.to_dict(), default=float))} if roles is not None else {}),
            },
        )

    def _language(self, source: CallSource, audio: Audio) -> tuple[str, dict[str, Any]]:
        requested = self._requested_language(source)
        if requested != "auto":
            origin = "metadata" if source.metadata.language else "config"
            return requested, {"requested": requested, "source": origin}
        language, probability = self.transcriber.detect_language(audio.channels)
        return language, {
            "requested": "auto", "source": "detected", "probability": probability,
            "method": "one 30 s window of the call's speech (all channels)",
        }

    def __call__(self, source: CallSource, *, hook: Hook = _no_hook, audio: Audio | None = None) -> CallResult:
        """Score one call in this process: decode, :meth:`transcribe_call`, then :meth:`finish`."""
        t0 = time.perf_counter()
        hook("decode", source.metadata.call_id, path=str(source.path))
        audio = audio or load_audio(source.path)
        decode_s = round(time.perf_counter() - t0, 3)
        transcribed = self.transcribe_call(source, audio, hook=hook)
        return self.finish(source, audio, transcribed, hook=hook, timings={"decode_s": decode_s}, started=t0)

    def transcribe_call(self, source: CallSource, audio: Audio, *, hook: Hook = _no_hook) -> TranscribedCall:
        """The model-heavy stage (GPU on clusters): language, diarization (mono), ASR per party."""
        t1 = time.perf_counter()
        language, language_info = self._language(source, audio)
        transcript = self.transcribe(audio, source.metadata, language, hook=hook)
        return TranscribedCall(
            transcript=transcript,
            language=language,
            language_info=language_info,
            asr=self.asr_description,
            roles=self.role_assignments.pop(source.metadata.call_id, None),
            asr_s=round(time.perf_counter() - t1, 3),
        )

    def finish(
        self,
        source: CallSource,
        audio: Audio,
        transcribed: TranscribedCall,
        *,
        hook: Hook = _no_hook,
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
        roles = transcribed.roles.to_dict() if transcribed.roles else None
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
            versions=self._versions(scorer.rubric, language, transcribed.language_info, transcribed.asr, transcribed.roles),
            scored_at=datetime.now(timezone.utc).replace(microsecond=0),
            result_key=self.result_key(source, audio.info.sha256, transcribed.asr),
            timings=all_timings,
            sentiment=sentiment,
            warmth=warmth,
        )
        return redact_result(result, self.redactor)

    def rescore_needed(self, result: CallResult) -> bool:
        """False when ``result`` already carries the rubric (and pipeline) a rescore would apply."""
        scorer = self.scorer(result.language, result.metadata.queue)
        return not (
            result.versions.options.get("rubric_sha") == scorer.rubric.fingerprint
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
            + recording_faults(result.audio, transcript, result.versions.options.get("roles"))
        )
        card, flags = checks.apply_checks(card, flags, found)
        rubric = scorer.rubric
        overrides = dict(result.versions.options.get("overrides", {}))
        if swap_roles:
            overrides["swap_roles"] = not overrides.get("swap_roles", False)
        options = {**result.versions.options, "rubric_sha": rubric.fingerprint, "overrides": overrides}
        versions = replace(
            result.versions, pipeline=__version__, schema=SCHEMA_VERSION, rubric_id=rubric.id,
            rubric_version=rubric.version, options=options,
        )
        key_blob = {
            "transcript": _digest({"utterances": [asdict(u) for u in transcript.utterances]}),
            "asr_model": result.versions.asr_model,
            "rubric": rubric.fingerprint,
            "sentiment": sentiment,
            "overrides": overrides,
            "pipeline": __version__,
            "schema": SCHEMA_VERSION,
        }
        key = f"{result.audio.sha256[:16]}-r{_digest(key_blob)[:15]}"
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

    def transcribe(self, audio: Audio, metadata: CallMetadata, language: str, *, hook: Hook = _no_hook) -> Transcript:
        """Each channel is one party on stereo calls; mono calls are diarized and their speakers
        given roles (voiceprint, opening phrases, who spoke first; a reviewer swap wins).

        With diarization disabled, mono calls keep the speaker unknown.  Stereo calls enrol the
        agent's voiceprint (``diarization.enroll_from_stereo``) when the extra is installed.
        """
        pause = self.settings.asr.pause_split_s
        conf = self.settings.diarization
        if len(audio.channels) == 1 and conf.enabled and self._diarization_available():
            from .asr.diarization import speaker_embeddings, split_by_speaker
            from .asr.roles import RoleAssigner

            samples = audio.channels[0]
            hook("diarize", metadata.call_id)
            diarization = self.diarizer(samples, audio.sample_rate, direction=metadata.direction)
            hook("transcribe", metadata.call_id, channel=0, channels=1)
            segments, info = self.transcriber(samples, language=language)
            segments = list(segments)
            # issue 13: one speaker found although two were expected -> re-cluster word pieces
            diarization = _recover_speakers(self.diarizer, samples, diarization, segments, conf, metadata.direction)
            groups = split_by_speaker(segments, diarization.exclusive, pause_split_s=pause)
            speakers = {
                spk: [u for g in grps for u in split_utterances([_words_segment(g)], role=Role.UNKNOWN, channel=0, pause_split_s=pause)]
                for spk, grps in groups.items()
            }
            voiceprint = self.voiceprints.get(metadata.agent_id)
            centroids: dict[str, Any] = {}
            if voiceprint is not None:
                embedded = speaker_embeddings(self.diarizer.embedding, samples, diarization.exclusive)
                centroids = {spk: emb for spk, (emb, _secs) in embedded.items()}
            assigner = RoleAssigner(voiceprint_threshold=conf.voiceprint_threshold)
            known = {spk: utts for spk, utts in speakers.items() if spk != "?"}
            assignment = assigner(known, metadata=metadata, language=language, centroids=centroids, voiceprint=voiceprint)
            self.role_assignments[metadata.call_id] = assignment
            utterances = [
                replace(u, role=assignment.role(spk)) for spk, utts in speakers.items() for u in utts
            ]
            return merge_channels([utterances], language=language, duration_s=audio.duration_s, music=info.music, untranscribed=info.untranscribed)

        roles = _channel_roles(len(audio.channels), metadata.agent_channel, swap=_swap_requested(metadata))
        per_channel, music, untranscribed = [], [], []
        for channel, (samples, role) in enumerate(zip(audio.channels, roles)):
            hook("transcribe", metadata.call_id, channel=channel, channels=len(audio.channels))
            segments, info = self.transcriber(samples, language=language)
            per_channel.append(split_utterances(segments, role=role, channel=channel, pause_split_s=pause))
            music.extend(info.music)
            untranscribed.extend(info.untranscribed)
        if len(audio.channels) > 1 and conf.enabled and conf.enroll_from_stereo and metadata.agent_id:
            agent = roles.index(Role.AGENT) if Role.AGENT in roles else None
            if agent is not None:
                self._enroll(metadata, audio.channels[agent], per_channel[agent])
        return merge_channels(per_channel, language=language, duration_s=audio.duration_s, music=music, untranscribed=untranscribed)

    def _diarization_available(self) -> bool:
        """False (mono calls keep the speaker unknown) when the diarization extra is not installed."""
        try:
            _ = self.diarizer
        except ImportError:
            log.warning("diarization extra not installed: mono calls keep the speaker unknown")
            return False
        return True

    def _enroll(self, metadata: CallMetadata, samples: Any, utterances: Sequence[Any]) -> None:
        """Add this stereo call's agent speech to the agent's voiceprint (skipped without the extra)."""
        try:
            embedding = self.diarizer.embedding
        except (ModelError, ImportError):
            return
        from .asr.diarization import SpeakerTurn, speaker_embeddings

        turns = [SpeakerTurn(u.start, u.end, "agent") for u in utterances]
        embedded = speaker_embeddings(embedding, samples, turns)
        if "agent" in embedded and metadata.agent_id:
            emb, seconds = embedded["agent"]
            self.voiceprints.enroll(metadata.agent_id, emb, seconds=seconds, call_id=metadata.call_id)


def _digest(blob: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(blob, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


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


def _recover_speakers(diarizer: Any, samples: Any, diarization: Any, segments: Any, conf: Any, direction: str) -> Any:
    """Diarization, or two speakers re-clustered from word pieces when it found one (:mod:`.asr.recluster`)."""
    from .asr.recluster import needs_recovery, recover_two_speakers

    expected = diarizer.speaker_bounds(direction).get("num_speakers", 0)
    if not needs_recovery(diarization, expected):
        return diarization
    return recover_two_speakers(diarizer.embedding, samples, diarization, segments)


def swap_transcript_roles(transcript: Transcript) -> Transcript:
    """Agent <-> customer on every utterance (the reviewer's "swap roles" override)."""
    swap = {Role.AGENT: Role.CUSTOMER, Role.CUSTOMER: Role.AGENT, Role.UNKNOWN: Role.UNKNOWN}
    return replace(transcript, utterances=tuple(replace(u, role=swap[u.role]) for u in transcript.utterances))


def _words_segment(words: Sequence[Any]) -> AsrSegment:
    return AsrSegment(start=words[0].start, end=words[-1].end, text="".join(w.text for w in words), words=tuple(words), avg_logprob=0.0, no_speech_prob=0.0)


def _swap_requested(metadata: CallMetadata) -> bool:
    from .asr.roles import swap_requested

    return swap_requested(metadata)


def _channel_roles(n_channels: int, agent_channel: int | None, *, swap: bool = False) -> tuple[Role, ...]:
    if n_channels == 1:
        return (Role.UNKNOWN,)
    agent = 0 if agent_channel is None else agent_channel
    if swap and n_channels == 2:  # reviewer override: the channel map was wrong
        agent = 1 - agent
    return tuple(Role.AGENT if c == agent else Role.CUSTOMER for c in range(n_channels))


# --------------------------------------------------------------------------- batch


@dataclass(frozen=True)
class CallOutcome:
    """What happened to one recording in a batch (``path`` is a file path or an ``s3://`` URI)."""

    path: str
    call_id: str | None
    status: Literal["scored", "skipped", "failed"]
    result: CallResult | None = None
    stage: str | None = None
    error: str | None = None
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]


def write_result_json(result: CallResult, results_dir: Path) -> Path:
    """One JSON file per call, written atomically."""
    from .privfs import private_dir, write_private

    target = private_dir(results_dir) / f"{result.call_id}.json"
    write_private(target, json.dumps(result.to_dict(), ensure_ascii=False, indent=2).encode("utf-8"))  # 0600
    return target


class ResultSink:
    """Where a batch puts results: the database, ``<results_dir>/<call_id>.json`` and, for
    object-store batches, ``<results prefix>/calls/<call_id>.json`` in the bucket.

    The database write comes first; a result whose JSON copies went missing is rewritten
    when the call is next skipped, so re-running a batch repairs them.
    """

    def __init__(
        self,
        store: ResultStore,
        results_dir: Path,
        *,
        objects: "S3Store | None" = None,
        force: bool = False,
        timezone: str = "UTC",
    ) -> None:
        self.store = store
        self.timezone = timezone
        self.results_dir = results_dir
        self.objects = objects
        self.force = force
        #: Days (of the calls) that got new results in this batch: their daily summaries are rewritten.
        self.days: set[str] = set()
        #: this batch's id in the per-call claims (``host:pid:token``)
        self.owner = claim_owner()
        self._claims: dict[str, str] = {}

    def claim(self, call_id: str, result_key: str) -> str | None:
        """Claim the call for this batch before any model work; None, or the batch that holds it."""
        holder = self.store.claim(call_id, result_key, self.owner)
        if holder is None:
            self._claims[call_id] = result_key
        return holder

    def _release(self, call_id: str | None) -> None:
        key = self._claims.pop(call_id, None) if call_id else None
        if key is not None:
            self.store.release(call_id, key, self.owner)  # type: ignore[arg-type]

    def cached(self, call_id: str, result_key: str) -> CallResult | None:
        """The stored result when this call was already scored with the same inputs (and not ``force``)."""
        if self.force or not self.store.has_result(call_id, result_key):
            return None
        result = self.store.current(call_id, result_key=result_key)
        if not (self.results_dir / f"{call_id}.json").is_file():
            write_result_json(result, self.results_dir)
        if self.objects is not None and not self.objects.has_result(call_id):
            self.objects.put_result(call_id, result_payload(result))
        return result

    def save(self, result: CallResult) -> None:
        """Bucket copy, JSON file, then the database row: the database is the commit point, so a
        call whose copies could not be written has no result and is scored again next run."""
        if self.objects is not None:
            self.objects.put_result(result.call_id, result_payload(result))
        write_result_json(result, self.results_dir)
        self.store.save(result, force=self.force)
        self._release(result.call_id)
        self.days.add(call_day(result, self.timezone))

    def fail(self, location: str, call_id: str | None, exc: BaseException) -> CallOutcome:
        stage = exc.stage if isinstance(exc, QAError) else "internal"
        reason = exc.reason if isinstance(exc, QAError) else f"{type(exc).__name__}: {exc}"
        return self.record_failure(location, call_id, stage=stage, error_type=type(exc).__name__, reason=reason)

    def record_failure(self, location: str, call_id: str | None, *, stage: str, error_type: str, reason: str) -> CallOutcome:
        """Store the failure (``qa failures`` lists it until the call scores) and report it."""
        self.store.record_failure(path=location, stage=stage, error_type=error_type, reason=reason, call_id=call_id)
        self._release(call_id)
        return CallOutcome(location, call_id, "failed", stage=stage, error=f"{location}: {reason}")


def call_day(result: CallResult, tz: str) -> str:
    """The day a call belongs to (its start time in the centre's time zone, else when scored)."""
    from zoneinfo import ZoneInfo

    moment = result.metadata.start_time or result.scored_at
    return moment.astimezone(ZoneInfo(tz)).date().isoformat()


def fetch_each(objects: "RecordingStore", refs: Iterable["RecordingRef"]) -> Iterator["FetchedCall | SourceError"]:
    """Fetch and decode recordings one at a time (the in-process path)."""
    for ref in refs:
        try:
            yield objects.fetch(ref)
        except QAError as exc:
            yield SourceError(ref.uri, exc)


def score_sources(
    sources: Iterable["CallSource | SourceError | FetchedCall"],
    pipeline: CallPipeline,
    store: ResultStore,
    *,
    results_dir: Path,
    force: bool = False,
    hook: Hook = _no_hook,
    sink: ResultSink | None = None,
) -> Iterator[CallOutcome]:
    """Score each source in this process; one bad call never stops the batch, and every call
    is accounted for (scored, skipped as already scored, or failed with its reason)."""
    from .storage import FetchedCall

    sink = sink or ResultSink(store, results_dir, force=force, timezone=pipeline.settings.timezone)
    guard = DuplicateGuard()
    for item in sources:
        if isinstance(item, SourceError):
            outcome = sink.fail(str(item.path), None, item.error)
            hook("failed", outcome.name, reason=outcome.error)
            yield outcome
            continue
        source, audio = (item.source, item.audio) if isinstance(item, FetchedCall) else (item, None)
        call_id = source.metadata.call_id
        try:
            guard.check(source)
            if audio is None:
                if not source.path.is_file() or source.path.stat().st_size == 0:
                    load_audio(source.path)  # raises the precise AudioError
                sha = file_sha256(source.path)
            else:
                sha = audio.info.sha256
            key = pipeline.result_key(source, sha)
            cached = sink.cached(call_id, key)
            if cached is not None:
                hook("skipped", call_id)
                yield CallOutcome(source.location, call_id, "skipped", cached)
                continue
            holder = sink.claim(call_id, key)
            if holder is not None:
                hook("skipped", call_id)
                yield CallOutcome(source.location, call_id, "skipped", error=f"being scored by another batch ({holder})")
                continue
            result = pipeline(source, hook=hook, audio=audio)
            sink.save(result)
        except Exception as exc:  # noqa: BLE001 - a bug on one call must not lose the batch
            if not isinstance(exc, QAError):
                log.exception("unexpected error scoring %s", source.location)
            outcome = sink.fail(source.location, call_id, exc)
            hook("failed", call_id, reason=outcome.error)
            yield outcome
            continue
        hook("done", call_id, total=result.scorecard.total)
        yield CallOutcome(source.location, call_id, "scored", result, timings=result.timings)


__all__ = [
    "AudioError",
    "CallOutcome",
    "CallPipeline",
    "CallSource",
    "DuplicateGuard",
    "Hook",
    "ResultSink",
    "SaveOutcome",
    "SourceError",
    "discover",
    "fetch_each",
    "score_sources",
    "source_for_file",
    "write_result_json",
]
