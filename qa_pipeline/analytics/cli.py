"""``qa analytics ...``: taxonomies, per-call drivers, repeat contacts/FCR, warnings, exports.

Part of the command line (:mod:`qa_pipeline.cli` registers this group); like it, the only place
here that prints. Domain errors become one ``error:`` line and exit code 2.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from ..config import PROJECT_ROOT, Settings, load_settings
from ..console import cli_console
from ..errors import QAError
from ..store import ResultStore

analytics_app = typer.Typer(help="Call drivers, repeat contacts/FCR, escalations and early warnings.", no_args_is_help=True)
console = cli_console()
err_console = cli_console(stderr=True)
DEFAULT_TAXONOMIES = PROJECT_ROOT / "taxonomies"
_TAX = typer.Option(DEFAULT_TAXONOMIES, "--taxonomies", envvar="QA_TAXONOMIES", help="Folder of taxonomy YAML files.")
_DB = typer.Option(None, "--db", help="Database URL (default: configuration).")


#: builds the settings from the global ``--config`` option; :mod:`qa_pipeline.cli` installs its own
def _default_settings(**overrides: object) -> Settings:
    return load_settings(None, **overrides)


settings_factory: Callable[..., Settings] = _default_settings


def _settings(database_url: str | None) -> Settings:
    return settings_factory(database_url=database_url)


def _fail(exc: Exception) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {exc}")
    return typer.Exit(code=2)


def _today(tz: str) -> int:
    from .refresh import local_hour

    return local_hour(datetime.now(UTC), tz) // 24


@analytics_app.command("check")
def check(folder: Path = _TAX) -> None:
    """Validate every taxonomy in the folder."""
    from .taxonomy import load_taxonomies

    try:
        for tax in load_taxonomies(folder):
            console.print(f"ok {tax.id} v{tax.version}: {len(tax.categories)} categories ({', '.join(c.id for c in tax.categories)})")
    except QAError as exc:
        raise _fail(exc) from None


@analytics_app.command("update")
def update(folder: Path = _TAX, force: bool = typer.Option(False, "--force", help="Re-analyse every call."), database_url: str | None = _DB) -> None:
    """Assign drivers to calls whose current result is not analysed yet; re-link repeat contacts."""
    from .refresh import refresh
    from .taxonomy import load_taxonomies

    try:
        settings = _settings(database_url)
        taxonomies = load_taxonomies(folder)
        with ResultStore(settings.resolved_database_url) as store:
            report = refresh(store, taxonomies, settings.timezone, force=force)
    except QAError as exc:
        raise _fail(exc) from None
    console.print(f"analysed {report.analysed} call(s): {report.unmatched} without a driver, {report.no_taxonomy} without a taxonomy")


@analytics_app.command("drivers")
def drivers(call_id: str, folder: Path = _TAX, database_url: str | None = _DB) -> None:
    """The drivers of one stored call with their evidence (computed now, not stored)."""
    from .refresh import analyse
    from .taxonomy import load_taxonomies

    try:
        settings = _settings(database_url)
        with ResultStore(settings.resolved_database_url) as store:
            result = store.current(call_id)
        a = analyse(result, load_taxonomies(folder), settings.timezone)
    except QAError as exc:
        raise _fail(exc) from None
    if a.assignment is None:
        console.print("no taxonomy routes this call (queue/language)")
        return
    console.print(f"{call_id}: taxonomy {a.assignment.taxonomy_id}, primary driver [bold]{a.assignment.primary or '-'}[/]")
    for d in a.assignment.drivers:
        console.print(f"  {d.category_id} ({d.name}), {d.hits} hit(s)")
        for e in d.evidence:
            console.print(f"    {e.start:7.1f}-{e.end:.1f}s  {e.quote}")
    if a.escalation:
        console.print("  [red]external_escalation[/]")


@analytics_app.command("detect")
def detect(
    granularity: str = typer.Option("hour", "--granularity", help="hour | day"),
    lookback: int = typer.Option(24, "--lookback", help="Buckets to scan, ending with the latest."),
    baseline: int = typer.Option(7, "--baseline", help="Baseline buckets (hour: same hour on N earlier days)."),
    alpha: float = typer.Option(0.001, "--alpha", help="Benjamini-Hochberg adjusted p-value threshold."),
    min_count: int = typer.Option(10, "--min-count"),
    min_ratio: float = typer.Option(3.0, "--min-ratio", help="Count at least this many times the baseline mean."),
    webhook: str | None = typer.Option(None, "--webhook", envvar="QA_WEBHOOK_URL", help="POST new alerts here (signed with QA_WEBHOOK_SECRET)."),
    database_url: str | None = _DB,
) -> None:
    """Run the spike detector over the latest buckets; store and post new warnings."""
    from pydantic import ValidationError

    from .alerts import run_detection, webhook_from_env
    from .queries import latest_hour
    from .spikes import SpikeConfig, buckets_to_scan

    try:
        config = SpikeConfig(granularity=granularity, baseline_buckets=baseline, alpha=alpha, min_count=min_count, min_ratio=min_ratio)
    except ValidationError as exc:
        raise _fail(ValueError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))) from None
    try:
        hook = webhook_from_env(webhook)
        settings = _settings(database_url)
        with ResultStore(settings.resolved_database_url) as store, store.session() as s, s.begin():
            latest = latest_hour(s)
            if latest is None:
                console.print("no analysed calls (run qa analytics update first)")
                return
            last = latest if granularity == "hour" else latest // 24
            created = run_detection(s, buckets_to_scan(last, lookback), config, hook=hook)
            lines = [f"{a.driver_id} {a.dimension}={a.dim_value} bucket {a.bucket}: {a.count} calls vs {a.baseline_mean:g} "
                     f"(p={a.p_value:.1e}) {a.webhook_status or ''}" for a in created]  # fmt: skip
    except QAError as exc:
        raise _fail(exc) from None
    console.print(f"{len(lines)} new warning(s)")
    for line in lines:
        console.print("  " + line)


@analytics_app.command("report")
def report(
    days: int = typer.Option(7, "--days", help="The last N local days."),
    by: str = typer.Option("team", "--by", help="team | agent"),
    window_days: float = typer.Option(7.0, "--window-days", help="Repeat-contact window."),
    database_url: str | None = _DB,
) -> None:
    """Driver mix, repeat-contact rate and FCR per team/agent, escalations."""
    from .queries import driver_mix, escalations, latest_hour, repeat_stats

    if by not in ("team", "agent"):
        raise _fail(ValueError("--by must be team or agent"))
    try:
        settings = _settings(database_url)
        today = _today(settings.timezone)
        with ResultStore(settings.resolved_database_url) as store, store.session() as s:
            mix = driver_mix(s, today - days + 1, today)
            stats = repeat_stats(s, "team" if by == "team" else "agent_id", today - days + 1, today,
                                 window_s=window_days * 86400, now_hour=today * 24 + 23)  # fmt: skip
            esc = escalations(s, today - days + 1, today, limit=20)
            latest = latest_hour(s) if not mix else None
    except QAError as exc:
        raise _fail(exc) from None
    if not mix:
        if latest is None:
            console.print("no analysed calls yet: `qa analytics update` after scoring (qa batch runs it)")
        else:
            # e.g. the demo's sample calls, dated some days before today
            console.print(f"no analysed calls in the last {days} day(s); the latest call is "
                          f"{today - latest // 24} day(s) old: try --days {today - latest // 24 + 1}")  # fmt: skip
        return
    table = Table("driver", "calls")
    for m in mix:
        table.add_row(m.driver or "(unmatched)", str(m.calls))
    console.print(table)
    table = Table(by, "calls", "repeat rate", "FCR", "FCR basis")
    for r in stats:
        table.add_row(r.key or "-", str(r.calls), _pct(r.repeat_rate), _pct(r.fcr), str(r.eligible))
    console.print(table)
    if not stats:
        console.print("repeat rate and FCR need caller numbers: give calls a `caller` in their metadata")
    if not esc:
        console.print("no escalation threats in the period")
    for e in esc:
        console.print(f"[red]escalation[/] {e.call_id} {e.at} {e.driver or '-'} {e.team or '-'} {e.agent_id or '-'}")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


@analytics_app.command("export")
def export_cmd(
    out: Path = typer.Argument(..., help="Output file (.csv or .parquet)."),
    days: int = typer.Option(30, "--days"),
    database_url: str | None = _DB,
) -> None:
    """Export the per-call analytics rows of the last N days (CSV or Parquet by suffix)."""
    from .export import export

    fmt = "parquet" if out.suffix == ".parquet" else "csv"
    try:
        settings = _settings(database_url)
        today = _today(settings.timezone)
        with ResultStore(settings.resolved_database_url) as store, store.session() as s:
            n = export(s, today - days + 1, today, fmt, out)  # type: ignore[arg-type]
    except (QAError, OSError) as exc:
        raise _fail(exc) from None
    console.print(f"{n} row(s) -> {out}")


@analytics_app.command("clusters")
def clusters(
    days: int = typer.Option(30, "--days"),
    limit: int = typer.Option(2000, "--limit", help="At most this many unmatched calls (newest first)."),
    threshold: float = typer.Option(0.12, "--threshold", help="Cosine distance at which clusters stop merging."),
    min_size: int = typer.Option(3, "--min-size"),
    database_url: str | None = _DB,
) -> None:
    """Cluster calls that match no driver (multilingual-e5 embeddings) to find new topics."""
    from sqlalchemy import select

    from ..embeddings import E5Embedder
    from .clusters import cluster_texts, reason_text
    from .tables import CallAnalyticsRow as A

    try:
        settings = _settings(database_url)
        today = _today(settings.timezone)
        with ResultStore(settings.resolved_database_url) as store:
            with store.session() as s:
                ids = list(s.execute(select(A.call_id).where(A.primary_driver.is_(None), A.day >= today - days + 1)
                                     .order_by(A.at.desc()).limit(limit)).scalars())  # fmt: skip
            texts = [reason_text(store.current(i).transcript) for i in ids]
        found = cluster_texts(ids, texts, E5Embedder(), distance_threshold=threshold, min_size=min_size)
    except QAError as exc:
        raise _fail(exc) from None
    console.print(f"{len(ids)} unmatched call(s), {len(found)} cluster(s) of at least {min_size}")
    for i, c in enumerate(found, 1):
        console.print(f"[bold]#{i}[/] {c.size} calls; terms: {' / '.join(c.terms)}")
        for call_id, text in c.examples:
            console.print(f"   {call_id}: {text}")
