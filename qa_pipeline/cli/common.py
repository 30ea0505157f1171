"""What every ``qa`` command shares: the Typer app and its groups, consoles, settings, exit codes."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Optional

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a model hub at run time
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")

import typer  # noqa: E402
from rich.logging import RichHandler  # noqa: E402
from rich.markup import escape  # noqa: E402

from .. import __version__  # noqa: E402
from ..allocator import limit_arenas  # noqa: E402
from ..analytics import cli as analytics_cli  # noqa: E402  (the ``qa analytics`` group)
from ..config import Settings, load_settings  # noqa: E402
from ..console import cli_console  # noqa: E402

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
app.add_typer(analytics_cli.analytics_app, name="analytics")
user_app = typer.Typer(help="Web application accounts (qa serve).", no_args_is_help=True)
app.add_typer(user_app, name="user")

console = cli_console()
err_console = cli_console(stderr=True)


class _State:
    config: Optional[Path] = None


def cli_settings(**overrides: Any) -> Settings:
    return load_settings(_State.config, **overrides)


analytics_cli.settings_factory = cli_settings


#: Exit codes (README "Exit codes"): every call scored or skipped / some calls failed (the others
#: were stored) / the command could not run (arguments, configuration, store or database).
EXIT_OK, EXIT_CALLS_FAILED, EXIT_ERROR = 0, 1, 2


def fail(exc: Exception) -> "typer.Exit":
    err_console.print(f"[bold red]error:[/] {escape(str(exc))}")  # the message's own [brackets] are text
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
    limit_arenas()  # before any model starts its threads (qa_pipeline.allocator)
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(message)s", handlers=[RichHandler(console=err_console, show_path=False)])
    _State.config = config


