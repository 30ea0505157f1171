"""One batch, in this process or on Ray (``settings.ray.enabled``), with its counts.

::

    report = run_batch(settings, objects, objects.iter_recordings(), sink, hook=hook)

The caller (the CLI) only parses options and prints: progress arrives through ``hook``
(``hook("progress", "", scored=..., ...)`` from the Ray driver, per-call steps from both paths)
and ``on_ready`` says once where the calls will be scored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from ..config import Settings
from ..storage import RecordingRef, RecordingStore
from ..transcription import Hook, no_hook
from .local import fetch_each, score_sources
from .sinks import CallOutcome, ResultSink

#: Outcomes a report keeps (the rest are counted): a long batch does not hold every transcript.
KEPT_OUTCOMES = 200


@dataclass
class BatchReport:
    """What happened in one batch: counts, the first outcomes and errors, audio hours."""

    shown: list[CallOutcome] = field(default_factory=list)
    hidden: int = 0
    scored: int = 0
    skipped: int = 0
    failed: int = 0
    audio_s: float = 0.0
    elapsed_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def finished(self) -> int:
        return self.scored + self.skipped + self.failed

    def add(self, outcome: CallOutcome) -> None:
        if len(self.shown) < KEPT_OUTCOMES:
            self.shown.append(outcome)
        else:
            self.hidden += 1
        if outcome.status == "scored":
            self.scored += 1
            self.audio_s += outcome.result.duration_s if outcome.result else 0.0
        elif outcome.status == "skipped":
            self.skipped += 1
        else:
            self.failed += 1
            if len(self.errors) < KEPT_OUTCOMES:
                self.errors.append(outcome.error or outcome.path)


def run_batch(
    settings: Settings,
    objects: RecordingStore,
    refs: Iterable[RecordingRef | None],
    sink: ResultSink,
    *,
    hook: Hook = no_hook,
    on_ready: Callable[[str], None] | None = None,
    on_outcome: Callable[[CallOutcome], None] | None = None,
    stop_after: int | None = None,
    rubric: str | None = None,
) -> BatchReport:
    """Score every referenced recording (a ``None`` reference: nothing new yet, ``qa watch``).

    ``on_outcome`` sees each outcome as it finishes; ``stop_after`` ends the batch after that
    many calls.  Models load before the first call (``on_ready`` is told where they run).
    """
    report = BatchReport()
    started = time.perf_counter()

    def consume(outcomes: Iterable[CallOutcome]) -> None:
        for outcome in outcomes:
            report.add(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
            if stop_after is not None and report.finished >= stop_after:
                return

    if settings.ray.enabled:
        from ..distributed import RayRunner

        with RayRunner(settings, rubric=rubric, hook=hook) as runner:
            nodes = sorted({w.node for w in runner.workers})
            if on_ready is not None:
                on_ready(f"{len(runner.workers)} ASR worker(s) on {', '.join(nodes)}")
            consume(runner.run(objects, refs, sink))
    else:
        from ..pipeline import CallPipeline

        pipeline = CallPipeline.from_pretrained(settings, rubric=rubric)
        if on_ready is not None:
            on_ready("scoring in this process")
        fetched = fetch_each(objects, (r for r in refs if r is not None))
        consume(score_sources(fetched, pipeline, sink.store, results_dir=sink.results_dir, hook=hook, sink=sink))
    report.elapsed_s = time.perf_counter() - started
    return report


__all__ = ["BatchReport", "KEPT_OUTCOMES", "run_batch"]
