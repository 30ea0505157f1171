"""The transcription stage: language, diarization (mono calls), ASR per party, roles.

Its output is one typed record, :class:`TranscribedCall`: the transcript plus how it was made
(the language decision, the role assignment of a mono call with its evidence, and what the
hallucination guards removed).  Nothing is handed over through side channels.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence

from .asr import Transcriber, merge_channels, split_utterances
from .asr.guards import AsrSegment
from .asr.transcriber import LANGUAGE_SAMPLE_S
from .audio import Audio
from .config import Settings
from .errors import ModelError
from .keys import AsrDescription, requested_language, swap_requested
from .records import CallMetadata, GuardCounts, LanguageDecision, LanguageSource, Role, Transcript, Utterance
from .sources import CallSource

if TYPE_CHECKING:
    from .asr.diarization import Diarizer
    from .asr.roles import RoleAssignment
    from .asr.transcriber import TranscriptionInfo
    from .asr.voiceprints import VoiceprintStore

log = logging.getLogger(__name__)


class Hook(Protocol):
    """Progress hook of every stage: ``hook(step, call_id, **info)``; stages never print.

    ``step`` is one of ``decode``, ``diarize``, ``transcribe``, ``sentiment``, ``score``,
    ``done``, ``skipped``, ``failed`` (batches add ``progress`` and ``retry``).  The diarizer's
    own pyannote steps arrive as ``diarize`` with ``pyannote_step`` (and ``completed``/``total``
    for batched steps); see :func:`pyannote_hook`.
    """

    def __call__(self, step: str, call_id: str, /, **info: Any) -> None: ...


def no_hook(step: str, call_id: str, /, **info: Any) -> None:
    return None


def pyannote_hook(hook: Hook, call_id: str) -> Any:
    """The stage hook as pyannote.audio's pipeline hook (``hook(step_name, step_artifact,
    file=None, total=None, completed=None)``), reported as ``diarize`` steps."""

    def adapter(
        step_name: str, step_artifact: Any, file: Any = None, total: int | None = None, completed: int | None = None
    ) -> None:
        info: dict[str, Any] = {"pyannote_step": step_name}
        if total is not None:
            info.update(total=total, completed=completed)
        hook("diarize", call_id, **info)

    return adapter


def guard_counts(infos: Sequence["TranscriptionInfo"]) -> GuardCounts:
    """What the recogniser's own guards did on one call: each ASR run's counts, summed."""
    removed: Counter[str] = Counter()
    second: Counter[str] = Counter()
    fallback = 0
    for info in infos:
        removed.update(info.removed)
        second.update(info.second_pass)
        fallback += info.fallback["windows"]
    return GuardCounts(
        removed=dict(sorted(removed.items())), second_pass=dict(sorted(second.items())), fallback=fallback or None
    )


@dataclass(frozen=True)
class TranscribedCall:
    """Output of the transcription stage, input of the scoring stage (crosses process boundaries)."""

    transcript: Transcript
    language: str
    language_info: LanguageDecision
    asr: AsrDescription
    #: how a mono call's speakers got their roles (None on stereo calls and undiarized mono calls)
    roles: "RoleAssignment | None"
    asr_s: float
    guards: GuardCounts = field(default_factory=GuardCounts)
    #: decode options this call's recognition used in place of ``asr.options`` (a diarized mono
    #: call: ``asr.mono_beam_size``); empty when the call was decoded exactly as ``asr`` says
    decode_updates: Mapping[str, Any] = field(default_factory=dict)


class TranscriptionStage:
    """Loaded ASR (+ diarization) models; one call in, one :class:`TranscribedCall` out.

    Stereo calls: each channel is one party.  Mono calls are diarized and their speakers given
    roles (voiceprint, opening phrases, who spoke first; a reviewer swap wins); without a
    diarizer (disabled, or the 'diarization' extra missing) they keep the speaker unknown.
    Stereo calls enrol the agent's voiceprint (``diarization.enroll_from_stereo``).
    """

    def __init__(
        self,
        settings: Settings,
        transcriber: Transcriber,
        *,
        diarizer: "Diarizer | DiarizerLoader | None" = None,
        voiceprints: "VoiceprintStore | None" = None,
    ) -> None:
        """``diarizer``: a loaded diarizer, a :class:`DiarizerLoader` (loaded when the first call
        needs it), or None (mono calls keep the speaker unknown)."""
        self.settings = settings
        self.transcriber = transcriber
        self._diarizer = diarizer
        self.voiceprints = voiceprints
        self.description = AsrDescription.of(transcriber)
        mono_beam = settings.asr.mono_beam_size
        #: decode option changes for diarized mono calls (both parties on one channel)
        self.mono_updates: dict[str, Any] = (
            {"beam_size": mono_beam} if mono_beam is not None and mono_beam != settings.asr.beam_size else {}
        )

    @property
    def diarizer(self) -> "Diarizer | None":
        """The mono-call diarizer, loaded now if it was deferred.

        Raises:
            ModelError: its model is missing or broken (the calls that need it fail with this).
        """
        return resolve_diarizer(self._diarizer)

    @cached_property
    def mono_transcriber(self) -> Transcriber:
        """The recogniser for diarized mono calls: the same loaded model with :attr:`mono_updates`."""
        return self.transcriber.with_options(**self.mono_updates) if self.mono_updates else self.transcriber

    def __call__(self, source: CallSource, audio: Audio, *, hook: Hook = no_hook) -> TranscribedCall:
        t1 = time.perf_counter()
        language, language_info = self.language(source, audio)
        transcript, roles, infos = self.transcribe(audio, source.metadata, language, hook=hook)
        return TranscribedCall(
            transcript=transcript,
            language=language,
            language_info=language_info,
            asr=self.description,
            roles=roles,
            asr_s=round(time.perf_counter() - t1, 3),
            guards=guard_counts(infos),
            decode_updates=self.mono_updates if roles is not None else {},
        )

    def language(self, source: CallSource, audio: Audio) -> tuple[str, LanguageDecision]:
        requested = requested_language(self.settings, source.metadata)
        if requested != "auto":
            origin: LanguageSource = "metadata" if source.metadata.language else "config"
            return requested, LanguageDecision(requested=requested, source=origin)
        language, probability = self.transcriber.detect_language(audio.channels)
        return language, LanguageDecision(
            requested="auto", source="detected", probability=probability,
            method=f"{LANGUAGE_SAMPLE_S:g} s of the call's speech (all channels), one encoder pass",
        )

    def transcribe(
        self, audio: Audio, metadata: CallMetadata, language: str, *, hook: Hook = no_hook
    ) -> tuple[Transcript, "RoleAssignment | None", list["TranscriptionInfo"]]:
        """The transcript, the mono call's role assignment, and each ASR run's description."""
        if len(audio.channels) == 1 and self.settings.diarization.enabled:
            diarizer = self.diarizer
            if diarizer is not None:
                return self._mono(audio, metadata, language, diarizer, hook)
        return self._channels(audio, metadata, language, hook)

    def _mono(
        self, audio: Audio, metadata: CallMetadata, language: str, diarizer: "Diarizer", hook: Hook
    ) -> tuple[Transcript, "RoleAssignment", list["TranscriptionInfo"]]:
        from .asr.diarization import speaker_embeddings, split_by_speaker
        from .asr.roles import RoleAssigner

        conf = self.settings.diarization
        pause = self.settings.asr.pause_split_s
        samples = audio.channels[0]
        hook("diarize", metadata.call_id)
        diarization = diarizer(
            samples, audio.sample_rate, direction=metadata.direction, hook=pyannote_hook(hook, metadata.call_id)
        )
        hook("transcribe", metadata.call_id, channel=0, channels=1)
        segments_iter, info = self.mono_transcriber(samples, language=language)
        segments = list(segments_iter)
        # issue 13: one speaker found although two were expected -> re-cluster word pieces
        diarization = _recover_speakers(diarizer, samples, diarization, segments, metadata.direction)
        groups = split_by_speaker(segments, diarization.exclusive, pause_split_s=pause)
        speakers = {
            spk: [
                u
                for g in grps
                for u in split_utterances(
                    [_words_segment(g)], role=Role.UNKNOWN, channel=0, pause_split_s=pause,
                    speaker=None if spk == "?" else spk,
                )
            ]
            for spk, grps in groups.items()
        }
        voiceprint = self.voiceprints.get(metadata.agent_id) if self.voiceprints is not None else None
        centroids: dict[str, Any] = {}
        if voiceprint is not None:
            embedded = speaker_embeddings(diarizer.embedding, samples, diarization.exclusive)
            centroids = {spk: emb for spk, (emb, _secs) in embedded.items()}
        assigner = RoleAssigner(voiceprint_threshold=conf.voiceprint_threshold)
        known = {spk: utts for spk, utts in speakers.items() if spk != "?"}
        assignment = assigner(known, metadata=metadata, language=language, centroids=centroids, voiceprint=voiceprint)
        utterances = [replace(u, role=assignment.role(spk)) for spk, utts in speakers.items() for u in utts]
        transcript = merge_channels(
            [utterances], language=language, duration_s=audio.duration_s, music=info.music, untranscribed=info.untranscribed
        )
        return transcript, assignment, [info]

    def _channels(
        self, audio: Audio, metadata: CallMetadata, language: str, hook: Hook
    ) -> tuple[Transcript, None, list["TranscriptionInfo"]]:
        conf = self.settings.diarization
        n = len(audio.channels)
        roles = channel_roles(n, metadata.agent_channel, swap=swap_requested(metadata))
        per_channel: list[list[Utterance]] = []
        music: list[tuple[float, float]] = []
        untranscribed: list[tuple[float, float]] = []
        infos: list["TranscriptionInfo"] = []
        for channel in range(n):
            hook("transcribe", metadata.call_id, channel=channel, channels=n)
        for utterances, info in self._recognise_channels(audio.channels, roles, language):
            per_channel.append(utterances)
            music.extend(info.music)
            untranscribed.extend(info.untranscribed)
            infos.append(info)
        if n > 1 and conf.enabled and conf.enroll_from_stereo and metadata.agent_id:
            agent = roles.index(Role.AGENT) if Role.AGENT in roles else None
            if agent is not None:
                self.enroll(metadata, audio.channels[agent], per_channel[agent])
        transcript = merge_channels(
            per_channel, language=language, duration_s=audio.duration_s, music=music, untranscribed=untranscribed
        )
        return transcript, None, infos

    def _recognise_channels(
        self, channels: Sequence[Any], roles: Sequence[Role], language: str
    ) -> list[tuple[list[Utterance], "TranscriptionInfo"]]:
        """Each channel's utterances and ASR description, in channel order.  Channels are
        recognised at once, one thread each, when the loaded model serves several requests
        (:meth:`Transcriber.concurrency`); each is recognised exactly as alone (no shared state)."""
        pause = self.settings.asr.pause_split_s
        n = len(channels)

        def one(transcriber: Transcriber, channel: int) -> tuple[list[Utterance], "TranscriptionInfo"]:
            segments, info = transcriber(channels[channel], language=language)
            speaker = f"ch{channel}" if n > 1 else None
            return split_utterances(segments, role=roles[channel], channel=channel, pause_split_s=pause, speaker=speaker), info

        workers = min(n, self.transcriber.concurrency)
        if workers <= 1:
            return [one(self.transcriber, channel) for channel in range(n)]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers, thread_name_prefix="qa-asr-channel") as pool:
            return list(pool.map(lambda channel: one(self.transcriber.fork(), channel), range(n)))

    def enroll(self, metadata: CallMetadata, samples: Any, utterances: Sequence[Any]) -> None:
        """Add this stereo call's agent speech to the agent's voiceprint (skipped, with a warning,
        without a diarizer: enrolment never fails the call)."""
        if self.voiceprints is None or not metadata.agent_id:
            return
        try:
            diarizer = self.diarizer
        except ModelError as exc:
            log.warning("voiceprint of %s not enrolled from %s: %s", metadata.agent_id, metadata.call_id, exc)
            return
        if diarizer is None:
            return
        from .asr.diarization import SpeakerTurn, speaker_embeddings

        turns = [SpeakerTurn(u.start, u.end, "agent") for u in utterances]
        embedded = speaker_embeddings(diarizer.embedding, samples, turns)
        if "agent" in embedded:
            emb, seconds = embedded["agent"]
            self.voiceprints.enroll(metadata.agent_id, emb, seconds=seconds, call_id=metadata.call_id)


def load_diarizer(settings: Settings) -> tuple["Diarizer | None", Exception | None]:
    """The mono-call diarizer, or None and why (pyannote.audio is the optional 'diarization' extra).

    A missing extra is logged and mono calls keep the speaker unknown; a missing or broken model
    (:class:`ModelError`) fails the mono calls that need it, not the batch.
    """
    if not settings.diarization.enabled:
        return None, None
    try:
        from .asr.diarization import Diarizer

        conf = settings.diarization
        return Diarizer.from_pretrained(conf.pipeline, settings=conf), None
    except ImportError:
        log.warning("diarization extra not installed: mono calls keep the speaker unknown")
        return None, None
    except ModelError as exc:
        return None, exc


class DiarizerLoader:
    """The mono-call diarizer, loaded once, by the first call that needs it (thread-safe).

    A stereo call never diarizes (unless ``diarization.enroll_from_stereo``), and importing
    pyannote.audio and torch with the packaged models adds about 0.65 GB of resident memory
    (measured 2026-12-02 on CPU: 0.27 GB with Whisper loaded, 0.92 GB once the diarizer is too),
    so a batch of stereo calls leaves them unloaded.  A failed load is remembered: every call that
    needs the diarizer fails with the same :class:`ModelError`, none retries the import.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._result: tuple["Diarizer | None", Exception | None] | None = None

    @property
    def loaded(self) -> bool:
        return self._result is not None

    def __call__(self) -> "Diarizer | None":
        """The diarizer; None when diarization is off or its extra is not installed.

        Raises:
            ModelError: the diarization model is missing or broken.
        """
        with self._lock:
            if self._result is None:
                self._result = load_diarizer(self.settings)
        diarizer, error = self._result
        if error is not None:
            raise error
        return diarizer


def resolve_diarizer(diarizer: "Diarizer | DiarizerLoader | None") -> "Diarizer | None":
    """``diarizer`` itself, or what its :class:`DiarizerLoader` loads (raises its ModelError)."""
    return diarizer() if isinstance(diarizer, DiarizerLoader) else diarizer


def load_voiceprints(settings: Settings) -> "VoiceprintStore":
    """Enrolled agent voiceprints (``diarization.voiceprints_path``, default <data_dir>/voiceprints.json)."""
    from .asr.voiceprints import VoiceprintStore

    return VoiceprintStore(settings.diarization.voiceprints_path or settings.data_dir / "voiceprints.json")


def _recover_speakers(diarizer: "Diarizer", samples: Any, diarization: Any, segments: Any, direction: str) -> Any:
    """Diarization, or two speakers re-clustered from word pieces when it found one (:mod:`.asr.recluster`)."""
    from .asr.recluster import needs_recovery, recover_two_speakers

    expected = diarizer.speaker_bounds(direction).get("num_speakers", 0)
    if not needs_recovery(diarization, expected):
        return diarization
    return recover_two_speakers(diarizer.embedding, samples, diarization, segments)


def _words_segment(words: Sequence[Any]) -> AsrSegment:
    return AsrSegment(
        start=words[0].start, end=words[-1].end, text="".join(w.text for w in words), words=tuple(words),
        avg_logprob=0.0, no_speech_prob=0.0,
    )


def channel_roles(n_channels: int, agent_channel: int | None, *, swap: bool = False) -> tuple[Role, ...]:
    if n_channels == 1:
        return (Role.UNKNOWN,)
    agent = 0 if agent_channel is None else agent_channel
    if swap and n_channels == 2:  # reviewer override: the channel map was wrong
        agent = 1 - agent
    return tuple(Role.AGENT if c == agent else Role.CUSTOMER for c in range(n_channels))
