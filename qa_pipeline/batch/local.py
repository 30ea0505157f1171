"""The in-process batch: recordings found in a folder or fetched one at a time, scored in this process."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from ..audio import file_sha256, load_audio
from ..config import Settings
from ..errors import MetadataError, QAError
from ..metadata import MANIFEST_NAME, Manifest, resolve_metadata
from ..records import CallResult
from ..sources import CallSource, DuplicateGuard, SourceError
from ..store import ResultStore
from ..transcription import Hook, no_hook
from .sinks import CallOutcome, ResultSink

if TYPE_CHECKING:
    from ..pipeline import CallPipeline
    from ..storage import FetchedCall, RecordingRef, RecordingStore

log = logging.getLogger(__name__)


def discover(folder: Path, settings: Settings) -> Iterator[CallSource | SourceError]:
    """Recordings under ``folder`` (sorted, recursive), with metadata from sidecars/manifest/name."""
    from ..storage import LocalStore

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


def fetch_each(objects: "RecordingStore", refs: Iterable["RecordingRef"]) -> Iterator["FetchedCall | SourceError"]:
    """Fetch and decode recordings one at a time (the in-process path)."""
    for ref in refs:
        try:
            yield objects.fetch(ref)
        except QAError as exc:
            yield SourceError(ref.uri, exc)


def score_sources(
    sources: Iterable["CallSource | SourceError | FetchedCall"],
    pipeline: "CallPipeline",
    store: ResultStore,
    *,
    results_dir: Path,
    force: bool = False,
    hook: Hook = no_hook,
    sink: ResultSink | None = None,
) -> Iterator[CallOutcome]:
    """Score each source in this process; one bad call never stops the batch, and every call
    is accounted for (scored, skipped as already scored, or failed with its reason)."""
    from ..storage import FetchedCall

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
            started = sink.start(call_id, key)
            if isinstance(started, CallResult):
                hook("skipped", call_id)
                yield CallOutcome(source.location, call_id, "skipped", started)
                continue
            if started is not None:
                hook("skipped", call_id)
                yield CallOutcome(source.location, call_id, "skipped", error=f"being scored by another batch ({started})")
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


__all__ = ["discover", "fetch_each", "score_sources", "source_for_file"]
