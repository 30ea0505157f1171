"""Stored calls and rubrics: ``qa show``, ``qa failures``, ``qa export``, ``qa rescore``, ``qa rubric check|test``."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

import typer

from ..batch import write_result_json
from ..config import Settings
from ..errors import NotFoundError, QAError
from ..pipeline import CallPipeline, score_transcript
from ..records import CallResult
from ..render import render_call, render_history, render_review, render_scorecard, render_transcript
from ..review import review_block
from ..scoring import Scorer, find_rubric, load_rubric
from ..scoring.dialogue import load_dialogue
from ..store import ResultStore
from . import batch  # noqa: F401  (``qa --help`` lists the batch commands first)
from .common import app, cli_settings, console, err_console, fail, rubric_app


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
        settings = cli_settings(database_url=database_url)
        with ResultStore(settings.resolved_database_url) as store:
            if history:
                render_history(console, call_id, store.scorecards(call_id))
                return
            try:
                reviewed = store.reviewed(call_id, raw=raw, result_key=result_key)
            except NotFoundError:
                _raise_if_live(store, call_id)
                raise
    except QAError as exc:
        raise fail(exc) from None
    result = reviewed.result
    if raw and result.raw_transcript is not None:
        result = replace(result, transcript=result.raw_transcript)
    if as_json:
        data = result.to_dict() | {"review": review_block(reviewed)}
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return
    render_call(console, result)
    render_review(console, reviewed)


def _raise_if_live(store: ResultStore, call_id: str) -> None:
    """A call `qa live` is still streaming or scoring has no result yet: say so (QAError)."""
    from ..live.store import LiveStore

    view = LiveStore(store).call(call_id)
    if view is not None and view.state in ("live", "scoring"):
        doing = "still on (streaming to qa live)" if view.state == "live" else "being scored after hang-up"
        raise QAError(f"call {call_id!r} is {doing}: its result is not stored yet; show it again in a few seconds")


@app.command()
def failures(database_url: Optional[str] = typer.Option(None, "--db")) -> None:
    """List calls that failed and have not been scored since."""
    try:
        settings = cli_settings(database_url=database_url)
        with ResultStore(settings.resolved_database_url) as store:
            rows = list(store.open_failures())
    except QAError as exc:
        raise fail(exc) from None
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
        settings = cli_settings(database_url=database_url)
        with ResultStore(settings.resolved_database_url) as store:
            path = write_result_json(store.latest(call_id), out)
    except QAError as exc:
        raise fail(exc) from None
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
        settings = cli_settings(database_url=database_url)
        scorer = Scorer(find_rubric(str(rubric_file), settings.rubrics_dir))
        transcript, metadata, result = _load_transcript(source, settings)
        metrics, card, flags = score_transcript(scorer, transcript, metadata)
    except QAError as exc:
        raise fail(exc) from None
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
        raise fail(QAError("name call ids or pass --all"))
    try:
        settings = cli_settings(database_url=database_url)
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
        raise fail(exc) from None
    console.print(f"{counts['inserted']} rescored, {counts['exists']} already had this rubric version")
