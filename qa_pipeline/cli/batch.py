"""``qa batch``, ``qa watch`` and ``qa score``: options in, a progress line and tables out."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Optional
from zoneinfo import ZoneInfo

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..batch import CallOutcome, ResultSink, score_sources, source_for_file
from ..batch.run import BatchReport, run_batch
from ..config import Settings
from ..errors import QAError
from ..pipeline import CallPipeline
from ..render import outcome_table, render_call
from ..storage import RecordingRef, RecordingStore, S3Store, open_store
from ..store import ResultStore
from ..summary import write_daily_summaries
from .common import EXIT_CALLS_FAILED, app, cli_settings, console, err_console, fail


@app.command()
def batch(
    source: str = typer.Argument(..., help="Folder of recordings, or s3://BUCKET/PREFIX (sidecar .json / manifest.csv optional)."),
    force: bool = typer.Option(False, "--force", help="Rescore calls that already have a result with the same versions."),
    results_dir: Optional[Path] = typer.Option(None, "--results-dir", help="Per-call JSON output folder."),
    database_url: Optional[str] = typer.Option(None, "--db", help="SQLAlchemy URL of the results database."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Join this Ray cluster ('auto', 'ray://head:10001'); default: a local instance."),
    no_ray: bool = typer.Option(False, "--no-ray", help="Score in this process, one call at a time (no Ray)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="ASR workers (Ray actors); default one per GPU, or 1."),
) -> None:
    """Score every recording in SOURCE (a folder or a bucket prefix) and print a results table."""
    try:
        settings = _batch_settings(database_url, results_dir, ray_address, no_ray, workers)
        objects = open_store(source, settings)
        with ResultStore(settings.resolved_database_url) as store:
            sink = ResultSink(
                store,
                settings.resolved_results_dir,
                objects=objects if isinstance(objects, S3Store) else None,
                force=force,
                timezone=settings.timezone,
            )
            report = _run_batch(settings, objects, objects.iter_recordings(), sink)
            summaries = write_daily_summaries(
                store, sink.days, timezone=settings.timezone, results_dir=settings.resolved_results_dir, objects=sink.objects
            )
            analytics_line = _refresh_analytics(store, settings) if report.scored else None
    except QAError as exc:
        raise fail(exc) from None
    if report.shown:
        console.print(outcome_table(report.shown))
    if report.hidden:
        console.print(f"... and {report.hidden} more (see `qa failures`, the database and the JSON files)")
    where = f"database {settings.resolved_database_url} · JSON in {settings.resolved_results_dir}"
    if isinstance(objects, S3Store):
        where += f" and s3://{objects.bucket}/{objects.results_root}calls/"
    console.print(
        f"{report.scored} scored, {report.skipped} already scored (skipped), {report.failed} failed · {where}"
    )
    if report.audio_s:
        console.print(
            f"{report.audio_s / 3600:.2f} h of audio in {report.elapsed_s:.0f} s "
            f"({report.audio_s / max(report.elapsed_s, 1e-9):.1f} audio hours per hour)"
        )
    if analytics_line:
        console.print(analytics_line)
    if summaries:
        console.print(f"daily summaries: {len(summaries)} files ({', '.join(sorted({Path(p).parent.name for p in summaries}))})")
    for error in report.errors:
        err_console.print(f"[red]failed[/] {error}")
    if report.failed:
        raise typer.Exit(code=EXIT_CALLS_FAILED)


def _batch_settings(
    database_url: Optional[str], results_dir: Optional[Path], ray_address: Optional[str], no_ray: bool, workers: Optional[int]
) -> Settings:
    settings = cli_settings(database_url=database_url, results_dir=results_dir)
    ray_update: dict[str, Any] = {}
    if ray_address:
        ray_update["address"] = ray_address
    if no_ray:
        ray_update["enabled"] = False
    if workers:
        ray_update["asr_actors"] = workers
    return settings.model_copy(update={"ray": settings.ray.model_copy(update=ray_update)}) if ray_update else settings


def _refresh_analytics(store: ResultStore, settings: Settings) -> str | None:
    """Call drivers and repeat-contact links for the calls just scored (``qa analytics update``).

    A taxonomy problem is reported, never allowed to fail the batch: the scores are stored.
    """
    from ..analytics.cli import DEFAULT_TAXONOMIES
    from ..analytics.refresh import refresh
    from ..analytics.taxonomy import load_taxonomies

    folder = Path(os.environ.get("QA_TAXONOMIES") or DEFAULT_TAXONOMIES)
    if not folder.is_dir():
        return None
    try:
        done = refresh(store, load_taxonomies(folder), settings.timezone)
    except QAError as exc:
        return f"analytics not updated ({exc}); run `qa analytics update` after fixing it"
    return f"analytics: {done.analysed} call(s) analysed for call drivers ({done.unmatched} matched none)"


def _run_batch(
    settings: Settings,
    objects: RecordingStore,
    refs: Iterable[RecordingRef | None],
    sink: ResultSink,
    on_outcome: Optional[Callable[[CallOutcome], None]] = None,
    stop_after: Optional[int] = None,
) -> BatchReport:
    """:func:`~qa_pipeline.batch.run.run_batch` with a live progress line."""
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=err_console,
        transient=False,
    ) as progress:
        task = progress.add_task("scoring", total=None, status="starting")

        def hook(step: str, call_id: str, /, **info: Any) -> None:
            if step == "progress":
                total = info["listed"] if info["listing_done"] else None
                progress.update(
                    task,
                    total=total,
                    status=(
                        f"{info['scored']} scored · {info['skipped']} skipped · {info['failed']} failed · "
                        f"{info['remaining']} in flight{'' if info['listing_done'] else ' (listing…)'} · "
                        f"{info['audio_hours_per_hour']:.1f} audio h/h"
                    ),
                )
            elif step in ("decode", "diarize", "transcribe", "score", "retry"):
                extra = f" ch{info['channel']}" if "channel" in info else ""
                if "pyannote_step" in info:
                    done = f" {info['completed']}/{info['total']}" if info.get("total") else ""
                    extra = f" ({info['pyannote_step']}{done})"
                progress.update(task, status=f"{call_id}: {step}{extra}")

        def ready(where: str) -> None:
            progress.update(task, status="")
            progress.console.print(f"ready: {where}")

        def advance(outcome: CallOutcome) -> None:
            progress.advance(task)
            if on_outcome is not None:
                on_outcome(outcome)

        report = run_batch(
            settings, objects, refs, sink, hook=hook, on_ready=ready, on_outcome=advance, stop_after=stop_after
        )
        progress.update(task, total=report.finished, status="done")
    return report


@app.command()
def watch(
    source: str = typer.Argument(..., help="s3://BUCKET/PREFIX to watch; '{date:%Y-%m-%d}' in PREFIX lists only today's partition."),
    interval: float = typer.Option(2.0, "--interval", min=0.1, help="Seconds between listings (without bucket notifications)."),
    since: Optional[str] = typer.Option(None, "--since", help="ISO time: also score recordings that landed since then ('all' = everything). Default: resume, or now."),
    database_url: Optional[str] = typer.Option(None, "--db", help="SQLAlchemy URL of the results database."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Join this Ray cluster; default: a local instance."),
    no_ray: bool = typer.Option(False, "--no-ray", help="Score in this process (no Ray)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="ASR workers (Ray actors)."),
    summary_every: float = typer.Option(300.0, "--summary-every", help="Seconds between rewrites of today's daily summary."),
    stop_after: Optional[int] = typer.Option(None, "--stop-after", min=1, help="Exit after this many calls (tests, smoke checks)."),
) -> None:
    """Score new recordings as they land in a bucket; prints each call's upload-to-result latency."""
    from ..distributed.watch import BucketWatcher

    try:
        settings = _batch_settings(database_url, None, ray_address, no_ray, workers)
        objects = open_store(source, settings)
        if not isinstance(objects, S3Store):
            raise QAError("qa watch needs an s3://BUCKET/PREFIX (use qa batch for folders)", path=source)
        start = None
        if since == "all":
            start = datetime.fromtimestamp(0, timezone.utc)
        elif since:
            try:
                start = datetime.fromisoformat(since)
            except ValueError:
                raise QAError(f"--since: not an ISO time: {since!r}") from None
            if start.tzinfo is None:
                start = start.replace(tzinfo=ZoneInfo(settings.timezone))
        watcher = BucketWatcher(
            objects,
            state_dir=settings.data_dir / "watch",
            interval_s=interval,
            since=start,
            timezone_name=settings.timezone,
        )
        err_console.print(f"[green]qa watch[/] {objects.uri} (since {watcher.watermark.isoformat()}); Ctrl-C stops")
        with ResultStore(settings.resolved_database_url) as store:
            sink = ResultSink(store, settings.resolved_results_dir, objects=objects, timezone=settings.timezone)
            last_summary = time.monotonic()

            def on_outcome(outcome: CallOutcome) -> None:
                nonlocal last_summary
                landed = watcher.finished(outcome.path)
                if outcome.status == "scored" and outcome.result is not None:
                    latency = f" {(datetime.now(timezone.utc) - landed).total_seconds():.1f} s after upload" if landed else ""
                    console.print(f"scored {outcome.call_id}{latency} · total {outcome.result.scorecard.total:g}")
                elif outcome.status == "failed":
                    err_console.print(f"[red]failed[/] {outcome.error}")
                if sink.days and time.monotonic() - last_summary >= summary_every:
                    write_daily_summaries(store, sink.days, timezone=settings.timezone, results_dir=settings.resolved_results_dir, objects=objects)
                    sink.days.clear()
                    last_summary = time.monotonic()

            try:
                _run_batch(settings, objects, watcher, sink, on_outcome=on_outcome, stop_after=stop_after)
            except KeyboardInterrupt:
                err_console.print("stopping")
            finally:
                watcher.stop()
                write_daily_summaries(store, sink.days, timezone=settings.timezone, results_dir=settings.resolved_results_dir, objects=objects)
    except QAError as exc:
        raise fail(exc) from None


@app.command()
def score(
    file: Path = typer.Argument(..., help="A call recording (WAV, FLAC, MP3, OGG/Opus, ...)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
    force: bool = typer.Option(False, "--force", help="Rescore even if this call was scored with the same versions."),
    language: Optional[str] = typer.Option(None, "--language", "-l", help="zh or en (default: metadata, then config)."),
    agent_channel: Optional[int] = typer.Option(None, "--agent-channel", help="0 (left) or 1 (right) on stereo calls."),
    call_id: Optional[str] = typer.Option(None, "--call-id", help="Override the call id (default: file name)."),
    database_url: Optional[str] = typer.Option(None, "--db", help="SQLAlchemy URL of the results database."),
) -> None:
    """Score one recording, store it, and print its scorecard (or JSON)."""
    overrides = {"language": language, "agent_channel": agent_channel, "call_id": call_id}
    try:
        settings = cli_settings(database_url=database_url)
        if not file.is_file():  # a bad argument (exit 2), not a failed call: nothing is recorded
            raise QAError("a folder: score its recordings with `qa batch`" if file.is_dir() else "file not found", path=file)
        source = source_for_file(file, settings, {k: v for k, v in overrides.items() if v is not None})
        pipeline = CallPipeline.from_pretrained(settings)
        with ResultStore(settings.resolved_database_url) as store:
            [outcome] = list(score_sources([source], pipeline, store, results_dir=settings.resolved_results_dir, force=force))
    except QAError as exc:
        raise fail(exc) from None
    if outcome.status == "failed" or outcome.result is None:
        err_console.print(f"[bold red]error:[/] {outcome.error}")
        raise typer.Exit(code=1)
    if as_json:
        sys.stdout.write(json.dumps(outcome.result.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    render_call(console, outcome.result)
    if outcome.status == "skipped":
        console.print("[dim]already scored with the same versions; use --force to rescore[/]")
