"""The driver of a distributed batch: streams recordings through the Ray stages.

::

    with RayRunner(settings) as runner:               # local Ray instance, or settings.ray.address
        for outcome in runner.run(objects, objects.iter_recordings(), sink):
            ...

The driver pulls recording references lazily and keeps at most ``ray.max_in_flight`` calls
in flight (fetched, transcribing or scoring), so memory stays bounded however long the
listing is.  Each call is accounted for exactly once: scored, skipped (already scored with
the same inputs) or failed with its reason.  A dead worker or lost object is retried from
the fetch, up to ``ray.max_attempts`` attempts per call; actors restart by themselves.
Results are written by the driver (bucket copy, JSON file, database row: the commit point).

A ``None`` in the reference stream means "nothing new yet" (``qa watch``): the driver keeps
finishing calls in flight and asks again.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, cast

from ..asr.transcriber import cpu_layout
from ..batch.sinks import CallOutcome, ResultSink
from ..config import AsrSettings, Settings
from ..errors import ConfigError, QAError
from ..pipeline import CallPipeline
from ..records import CallResult
from ..sources import DuplicateGuard
from ..storage import RecordingRef, RecordingStore
from ..transcription import Hook, no_hook
from .cluster import connect
from .stages import FetchHeader, StageFailure, WorkerInfo, remote_classes

log = logging.getLogger(__name__)

#: Default ASR actors on CPU-only clusters: one per core (benchmarks/DISTRIBUTED.md: 2 one-thread
#: workers score 1.4x the calls of one two-thread worker on 2 cores), at most this many.
_MAX_DEFAULT_CPU_ACTORS = 16


def actor_asr_layout(asr: AsrSettings, threads: int, *, gpu: bool) -> dict[str, int]:
    """ASR settings of an actor holding ``threads`` CPU threads: the process's automatic CPU
    layout (:func:`~qa_pipeline.asr.transcriber.cpu_layout`) on the actor's share when neither
    ``asr.num_workers`` nor ``asr.cpu_threads`` is set, so one actor on two cores recognises a
    stereo call's channels at once as ``--no-ray`` does; otherwise ``cpu_threads`` = ``threads``
    unless set.  GPU actors keep one CTranslate2 worker."""
    if not gpu and not asr.num_workers and not asr.cpu_threads:
        workers, per_worker = cpu_layout(asr, "cpu", threads)
        return {"num_workers": workers, "cpu_threads": per_worker}
    return {"cpu_threads": asr.cpu_threads or threads}


@dataclass
class _Call:
    """Driver-side state of one call in flight."""

    ref: RecordingRef
    attempts: int = 0
    #: Waits for a restarting worker (not counted as attempts, but capped).
    waits: int = 0
    header: FetchHeader | None = None
    audio: Any = None  # ObjectRef of the decoded audio
    actor: int | None = None
    started: float = field(default_factory=time.perf_counter)


@dataclass
class BatchProgress:
    """Counters a progress display reads (the runner updates them; ``hook('progress', ...)``)."""

    listed: int = 0
    listing_done: bool = False
    scored: int = 0
    skipped: int = 0
    failed: int = 0
    retried: int = 0
    audio_s: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    @property
    def finished(self) -> int:
        return self.scored + self.skipped + self.failed

    @property
    def remaining(self) -> int:
        return self.listed - self.finished

    @property
    def audio_hours_per_hour(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.audio_s / elapsed if elapsed > 0 else 0.0


class RayRunner:
    """Ray actors and the driver loop of distributed batches (``qa batch``, ``qa watch``)."""

    def __init__(self, settings: Settings, *, rubric: str | None = None, hook: Hook = no_hook) -> None:
        self.settings = settings
        self.rubric = rubric
        self.hook = hook
        self.progress = BatchProgress()
        # Used on the driver only for result keys and rubric fingerprints (no models load here).
        self._keys = CallPipeline(settings, rubric=rubric)
        self._started_ray = False
        self._asr: list[Any] = []
        self._scorers: list[Any] = []
        self._asr_info: list[WorkerInfo] = []
        self._remote: dict[str, Any] = {}

    # -- cluster -----------------------------------------------------------
    def __enter__(self) -> "RayRunner":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def start(self) -> None:
        """Join ``ray.address`` or start a local instance, then start the actors (models load now)."""
        import ray

        conf = self.settings.ray
        self._started_ray = connect(self.settings)  # workers compute exactly as this process does
        self._remote = remote_classes()
        resources = ray.cluster_resources()
        gpus = float(resources.get("GPU", 0))
        cpus = float(resources.get("CPU", 1))
        num_gpus = conf.asr_num_gpus if conf.asr_num_gpus is not None else (1.0 if gpus else 0.0)
        if conf.asr_actors:
            n_asr = conf.asr_actors
        elif gpus and num_gpus:
            n_asr = max(1, int(gpus / num_gpus))
        else:  # CPU only: single-threaded CTranslate2 workers give the most calls per core
            n_asr = max(1, min(int(cpus), _MAX_DEFAULT_CPU_ACTORS))
        threads = conf.asr_cpu_threads or max(1, int(cpus // n_asr))
        asr_settings = self.settings.model_copy(
            update={
                "asr": self.settings.asr.model_copy(update=actor_asr_layout(self.settings.asr, threads, gpu=bool(num_gpus))),
                "diarization": self.settings.diarization.model_copy(
                    update={"cpu_threads": self.settings.diarization.cpu_threads or threads}
                ),
            }
        )
        # Scheduling tokens, not thread counts: ASR actors hold a CPU (or their GPU share);
        # fetch tasks and scoring actors take none, the in-flight window bounds them instead.
        asr_cls = self._remote["asr"].options(
            num_cpus=0 if num_gpus else min(1.0, cpus / n_asr), num_gpus=num_gpus, max_restarts=-1, max_task_retries=0
        )
        score_cls = self._remote["score"].options(num_cpus=0, max_restarts=-1, max_task_retries=0)
        self._asr = [asr_cls.remote(asr_settings, self.rubric) for _ in range(n_asr)]
        self._scorers = [score_cls.remote(self.settings, self.rubric) for _ in range(conf.scorer_actors)]
        try:
            self._asr_info = ray.get([a.info.remote() for a in self._asr])
            ray.get([s.info.remote() for s in self._scorers])
        except ray.exceptions.RayError as exc:
            self.shutdown()
            raise QAError(f"the Ray workers could not start: {_first_line(exc)}") from None
        first = self._asr_info[0].asr
        if any(info.asr != first for info in self._asr_info):
            self.shutdown()
            raise ConfigError(f"ASR workers run different models or options: {[i.asr for i in self._asr_info]}")

    @property
    def workers(self) -> list[WorkerInfo]:
        return list(self._asr_info)

    def shutdown(self) -> None:
        import ray

        for actor in self._asr + self._scorers:
            try:
                ray.kill(actor)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._asr, self._scorers = [], []
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
        self._started_ray = False

    # -- the driver loop -----------------------------------------------------
    def run(
        self, objects: RecordingStore, refs: Iterable[RecordingRef | None], sink: ResultSink
    ) -> Iterator[CallOutcome]:
        """Score every referenced recording; yields one outcome per recording as it finishes."""
        if not self._asr:
            raise QAError("RayRunner.run() needs start() first (or use it as a context manager)")
        return _Batch(self, objects, sink).run(refs)

    def report(self) -> None:
        p = self.progress
        self.hook(
            "progress",
            "",
            listed=p.listed,
            listing_done=p.listing_done,
            scored=p.scored,
            skipped=p.skipped,
            failed=p.failed,
            remaining=p.remaining,
            audio_hours_per_hour=p.audio_hours_per_hour,
        )


class _Batch:
    """One run of the driver loop: the calls in flight and where each one is."""

    def __init__(self, runner: RayRunner, objects: RecordingStore, sink: ResultSink) -> None:
        self.runner = runner
        self.objects = objects
        self.sink = sink
        self.progress = runner.progress
        self.hook = runner.hook
        self.max_attempts = runner.settings.ray.max_attempts
        self.window = runner.settings.ray.max_in_flight or 2 * len(runner._asr) + 2
        self.asr_desc = runner._asr_info[0].asr
        self.pending: dict[Any, tuple[str, _Call]] = {}
        #: Calls waiting to be resubmitted: (when, call).
        self.delayed: list[tuple[float, _Call]] = []
        self.load = [0] * len(runner._asr)
        self.score_rr = itertools.cycle(range(len(runner._scorers)))
        self.guard = DuplicateGuard()
        self.fetch = runner._remote["fetch"].options(num_cpus=0, num_returns=2, max_retries=0)

    def run(self, refs: Iterable[RecordingRef | None]) -> Iterator[CallOutcome]:
        import ray

        stream = iter(refs)
        exhausted = False
        while True:
            idle = False
            now = time.monotonic()
            for due in [d for d in self.delayed if d[0] <= now]:
                self.delayed.remove(due)
                self.submit_fetch(due[1])
            while not exhausted and not idle and len(self.pending) + len(self.delayed) < self.window:
                ref = next(stream, _END)
                if ref is _END:
                    exhausted = self.progress.listing_done = True
                elif ref is None:  # watch mode: nothing new right now
                    idle = True
                else:
                    self.progress.listed += 1
                    self.submit_fetch(_Call(cast(RecordingRef, ref)))
            if not self.pending:
                if exhausted and not self.delayed:
                    return
                self.runner.report()
                time.sleep(0.2)
                continue
            ready, _ = ray.wait(list(self.pending), num_returns=1, timeout=0.5)
            for obj in ready:
                stage, call = self.pending.pop(obj)
                if stage == "asr" and call.actor is not None:
                    self.load[call.actor] -= 1
                    call.actor = None
                try:
                    value = ray.get(obj)
                except ray.exceptions.RayError as exc:
                    outcome = self.retry_or_fail(call, stage, exc)
                else:
                    outcome = self.advance(stage, call, value)
                if outcome is not None:
                    yield outcome
            self.runner.report()

    # -- stage transitions
    def submit_fetch(self, call: _Call) -> None:
        call.attempts += 1
        call.header = None
        header_ref, audio_ref = self.fetch.remote(self.objects, call.ref)
        call.audio = audio_ref
        self.pending[header_ref] = ("fetch", call)

    def submit_asr(self, call: _Call, header: FetchHeader) -> None:
        call.actor = min(range(len(self.load)), key=self.load.__getitem__)
        self.load[call.actor] += 1
        worker = self.runner._asr_info[call.actor]
        self.hook("transcribe", header.source.metadata.call_id, worker_pid=worker.pid, node=worker.node)
        self.pending[self.runner._asr[call.actor].transcribe.remote(header.source, call.audio)] = ("asr", call)

    def advance(self, stage: str, call: _Call, value: Any) -> CallOutcome | None:
        if isinstance(value, StageFailure):
            call_id = value.call_id or (call.header.source.metadata.call_id if call.header else None)
            return self.failed(call, call_id, value.stage, value.error_type, value.reason)
        if stage == "fetch":
            return self.fetched(call, value)
        header = call.header
        if header is None:
            raise RuntimeError(f"{call.ref.uri}: {stage} result without a fetched header")
        if stage == "asr":
            scorer = self.runner._scorers[next(self.score_rr)]
            timings = {"decode_s": header.decode_s}
            self.pending[scorer.finish.remote(header.source, call.audio, value, timings)] = ("score", call)
            return None
        return self.save(call, header, value)

    def fetched(self, call: _Call, header: FetchHeader) -> CallOutcome | None:
        call.header = header
        source = header.source
        call_id = source.metadata.call_id
        try:
            self.guard.check(source)
            key = self.runner._keys.result_key(source, header.sha256, self.asr_desc)
            started = self.sink.start(call_id, key)
        except QAError as exc:
            return self.failed(call, call_id, exc.stage, type(exc).__name__, exc.reason)
        if started is None:
            self.submit_asr(call, header)
            return None
        self.progress.skipped += 1
        self.hook("skipped", call_id)
        if isinstance(started, CallResult):
            return CallOutcome(source.location, call_id, "skipped", started)
        return CallOutcome(source.location, call_id, "skipped", error=f"being scored by another batch ({started})")

    def save(self, call: _Call, header: FetchHeader, result: CallResult) -> CallOutcome:
        try:
            self.sink.save(result)
        except QAError as exc:
            return self.failed(call, result.call_id, exc.stage, type(exc).__name__, exc.reason)
        self.progress.scored += 1
        self.progress.audio_s += result.duration_s
        self.hook("done", result.call_id, total=result.scorecard.total, elapsed_s=time.perf_counter() - call.started)
        return CallOutcome(header.source.location, result.call_id, "scored", result, timings=result.timings)

    def retry_or_fail(self, call: _Call, stage: str, exc: Exception) -> CallOutcome | None:
        """A worker died or an object was lost: start the call again from the fetch, after a pause.

        A worker that is restarting (reloading its models) is waited for without spending
        one of the call's attempts, up to ``_MAX_WAITS`` pauses.
        """
        import ray

        reason = f"{stage} worker failed: {_first_line(exc)}"
        call_id = call.header.source.metadata.call_id if call.header else None
        restarting = isinstance(exc, ray.exceptions.ActorUnavailableError)
        if restarting and call.waits < _MAX_WAITS:
            call.waits += 1
            call.attempts -= 1  # submit_fetch counts it again
            self.progress.retried += 1
            self.hook("retry", call_id or call.ref.name, reason=reason, attempt=call.attempts)
            self.delayed.append((time.monotonic() + _WAIT_S, call))
            return None
        if call.attempts < self.max_attempts:
            log.warning("%s: %s (attempt %d of %d); retrying", call.ref.uri, reason, call.attempts, self.max_attempts)
            self.progress.retried += 1
            self.hook("retry", call_id or call.ref.name, reason=reason, attempt=call.attempts)
            self.delayed.append((time.monotonic() + _WAIT_S * call.attempts, call))
            return None
        return self.failed(call, call_id, "worker", type(exc).__name__, f"{reason} ({call.attempts} attempts)")

    def failed(self, call: _Call, call_id: str | None, stage: str, error_type: str, reason: str) -> CallOutcome:
        outcome = self.sink.record_failure(call.ref.uri, call_id, stage=stage, error_type=error_type, reason=reason)
        self.progress.failed += 1
        self.hook("failed", call_id or call.ref.name, reason=outcome.error)
        return outcome


_END = object()
#: Pause before a call is resubmitted, and how many pauses a restarting worker may take.
_WAIT_S = 2.0
_MAX_WAITS = 90


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


__all__ = ["BatchProgress", "RayRunner"]
