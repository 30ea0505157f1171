"""The three Ray stages of a distributed batch, split by resource.

* :func:`fetch_stage` (task, CPU): download and decode one recording. Returns a small
  :class:`FetchHeader` to the driver and the decoded audio as a second object that stays
  in the object store (the driver never pulls audio).
* :class:`AsrWorker` (actor, GPU when the cluster has them): loads Whisper (and the
  diarization models for mono calls) once; language detection, diarization, transcription.
* :class:`ScoreWorker` (actor, CPU): loads the sentiment model and rubrics once; sentiment,
  warmth, metrics, rubric, flags, redaction.

Domain errors (bad audio, bad metadata, an unreadable object) come back as
:class:`StageFailure` values, so Ray never retries them; only a dead worker or a lost object
raises, and the driver retries those up to ``ray.max_attempts``.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

from ..audio import Audio
from ..config import Settings
from ..errors import QAError
from ..keys import AsrDescription
from ..pipeline import CallPipeline
from ..records import CallResult
from ..sources import CallSource
from ..storage import RecordingRef, RecordingStore
from ..transcription import TranscribedCall

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageFailure:
    """A call that failed for a reason retrying will not fix."""

    stage: str
    error_type: str
    reason: str
    call_id: str | None = None

    @classmethod
    def of(cls, exc: BaseException, call_id: str | None = None) -> "StageFailure":
        if isinstance(exc, QAError):
            return cls(exc.stage, type(exc).__name__, exc.reason, call_id)
        return cls("internal", type(exc).__name__, f"{type(exc).__name__}: {exc}", call_id)


@dataclass(frozen=True)
class FetchHeader:
    """What the driver needs of a fetched call: its description and audio hash."""

    source: CallSource
    sha256: str
    duration_s: float
    decode_s: float


@dataclass(frozen=True)
class WorkerInfo:
    pid: int
    node: str
    asr: AsrDescription | None = None


def fetch_stage(objects: RecordingStore, ref: RecordingRef) -> tuple[FetchHeader | StageFailure, Audio | None]:
    import time

    t0 = time.perf_counter()
    try:
        fetched = objects.fetch(ref)
    except Exception as exc:  # noqa: BLE001 - every failure is reported with the object's URI
        if not isinstance(exc, QAError):
            log.exception("unexpected error fetching %s", ref.uri)
        return StageFailure.of(exc), None
    header = FetchHeader(
        source=fetched.source,
        sha256=fetched.audio.info.sha256,
        duration_s=fetched.audio.duration_s,
        decode_s=round(time.perf_counter() - t0, 3),
    )
    return header, fetched.audio


class AsrWorker:
    """ASR (+ diarization) actor: models load once, in the constructor."""

    def __init__(self, settings: Settings, rubric: str | None = None) -> None:
        # Whisper and voiceprints load now, not on the first call; the diarizer with the first mono call
        self.pipeline = CallPipeline.from_pretrained(settings, rubric=rubric, sentiment=False)
        self.description = self.pipeline.asr_description

    def info(self) -> WorkerInfo:
        return WorkerInfo(os.getpid(), socket.gethostname(), self.description)

    def transcribe(self, source: CallSource, audio: Audio) -> TranscribedCall | StageFailure:
        try:
            return self.pipeline.transcribe_call(source, audio)
        except Exception as exc:  # noqa: BLE001 - reported against the call, never retried
            if not isinstance(exc, QAError):
                log.exception("unexpected error transcribing %s", source.location)
            return StageFailure.of(exc, source.metadata.call_id)


class ScoreWorker:
    """Scoring actor (CPU): sentiment model and rubrics load once."""

    def __init__(self, settings: Settings, rubric: str | None = None) -> None:
        self.pipeline = CallPipeline.from_pretrained(settings, rubric=rubric, asr=False)

    def info(self) -> WorkerInfo:
        return WorkerInfo(os.getpid(), socket.gethostname())

    def finish(
        self, source: CallSource, audio: Audio, transcribed: TranscribedCall, timings: dict[str, float]
    ) -> CallResult | StageFailure:
        try:
            return self.pipeline.finish(source, audio, transcribed, timings=timings)
        except Exception as exc:  # noqa: BLE001 - reported against the call, never retried
            if not isinstance(exc, QAError):
                log.exception("unexpected error scoring %s", source.location)
            return StageFailure.of(exc, source.metadata.call_id)


def remote_classes() -> dict[str, Any]:
    """The Ray-wrapped stages (``ray`` is imported only when a distributed batch runs)."""
    import ray

    return {
        "fetch": ray.remote(fetch_stage),
        "asr": ray.remote(AsrWorker),
        "score": ray.remote(ScoreWorker),
    }
