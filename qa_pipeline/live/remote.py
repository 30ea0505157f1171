"""Live recognition on Ray actors (``[live] ray_actors = N``).

Each :class:`LiveRecognizer` actor loads the Whisper model once (on a GPU share when the cluster
has GPUs, as the batch ASR actors do) and recognises packs of live segments exactly as the
in-process worker does (:func:`~qa_pipeline.live.recognizer.transcribe_packed` with
:func:`~qa_pipeline.live.recognizer.live_transcriber`), so a segment gives the same utterances
on either path. :class:`RayRecognition` is the :class:`~qa_pipeline.live.recognizer.RecognitionService`
backend: one pack per idle actor, N packs in flight. The ``qa live`` process keeps its own
model for language identification and hang-up scoring.
"""

from __future__ import annotations

import queue
from typing import Any

from ..config import Settings
from ..records import Role, Utterance
from .recognizer import SegmentJob, SpeechSegment, live_transcriber, transcribe_packed

#: One segment as sent to an actor: (segment, sample rate, language, role, pause_split_s).
Payload = tuple[SpeechSegment, int, str, Role, float]


class LiveRecognizer:
    """Actor body: the live transcriber, loaded once."""

    def __init__(self, settings: Settings) -> None:
        from ..asr import Transcriber

        base = Transcriber.from_pretrained(settings.asr.model, models_dir=settings.models_dir, settings=settings.asr)
        self.transcriber = live_transcriber(base, settings.live)

    def recognise(self, pack: list[Payload]) -> list[list[Utterance]]:
        return transcribe_packed([SegmentJob(self.transcriber, *job) for job in pack])


class RayRecognition:
    """Runs packs of segment jobs on ``actors`` :class:`LiveRecognizer` Ray actors.

    Raises:
        ConfigError / ray errors: the cluster cannot be joined or the actors cannot start.
    """

    def __init__(self, settings: Settings, actors: int) -> None:
        import ray

        from ..distributed.cluster import connect

        self._started = connect(settings)
        gpus = float(ray.cluster_resources().get("GPU", 0))
        share = settings.ray.asr_num_gpus if settings.ray.asr_num_gpus is not None else (1.0 if gpus else 0.0)
        actor_class = ray.remote(num_cpus=1, num_gpus=share)(LiveRecognizer)
        self._actors: list[Any] = [actor_class.remote(settings) for _ in range(actors)]
        ray.get([a.__ray_ready__.remote() for a in self._actors])  # models loaded, or the error now
        self._idle: queue.Queue[Any] = queue.Queue()
        for actor in self._actors:
            self._idle.put(actor)

    def __call__(self, jobs: list[SegmentJob]) -> list[list[Utterance]]:
        import ray

        actor = self._idle.get()
        try:
            pack = [(j.segment, j.rate, j.language, j.role, j.pause_split_s) for j in jobs]
            result: list[list[Utterance]] = ray.get(actor.recognise.remote(pack))
            return result
        finally:
            self._idle.put(actor)

    def close(self) -> None:
        import ray

        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
        if self._started:
            ray.shutdown()
