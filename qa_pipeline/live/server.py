"""``qa live``: the WebSocket server live calls stream to (AudioHook Monitor and audio fork).

* any path but ``/fork...``: Genesys AudioHook protocol v2 (``open``/``opened`` media
  negotiation, ``ping``/``pong``, ``paused``/``resumed`` (hold time), ``update``/``updated``,
  ``discarded``, ``close``/``closed``, server ``disconnect``; sequence numbers checked);
* ``/fork``: the audio fork (a JSON metadata frame, then binary audio; the socket's close or a
  ``{"type": "close"}`` frame ends the call).

The upgrade request is authenticated before the WebSocket opens (:mod:`.auth`): AudioHook
needs ``X-API-KEY`` and a valid signature; the fork needs ``X-API-KEY`` (its signature is
checked when it sends one). A refused request gets HTTP 401 and is logged with the reason.

Hang-up work (recognising the last segments, storing and scoring the recording) runs after the
client has its ``closed``, in background tasks :meth:`LiveServer.drain` waits for.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.http11 import Request, Response

from .auth import ApiKeyAuthenticator, AuthError
from .protocol import (
    CallInfo,
    ProtocolError,
    fork_info,
    open_info,
    parse_duration,
    parse_message,
    server_message,
)
from .session import LiveCall, LiveRuntime

log = logging.getLogger(__name__)
#: Largest WebSocket message accepted (bytes): 1 s of 8 kHz stereo L16 is 32 kB.
MAX_MESSAGE = 1 << 20


class LiveServer:
    """The live WebSocket server of one process; ``await start()``, then ``await stop()``."""

    def __init__(self, runtime: LiveRuntime) -> None:
        self.rt = runtime
        self.auth = ApiKeyAuthenticator(dict(runtime.settings.live.api_keys))
        self.calls: dict[str, LiveCall] = {}
        self.finishing: set[asyncio.Task[None]] = set()
        #: AudioHook session id -> a call whose client closed with reason "reconnect", and its expiry
        self.suspended: dict[str, tuple[LiveCall, asyncio.TimerHandle]] = {}
        self._ticks: set[asyncio.Task[None]] = set()
        self.refused = 0
        self._server: Server | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the live server is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str | None = None, port: int | None = None) -> None:
        conf = self.rt.settings.live
        self._server = await serve(
            self._handle, host or conf.host, conf.port if port is None else port,
            process_request=self._check, max_size=MAX_MESSAGE, ping_interval=20, ping_timeout=20,
        )

    async def stop(self) -> None:
        """Stop accepting, end open streams as disconnects, wait for their hang-up work."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for sid in list(self.suspended):
            self.suspended[sid][1].cancel()
            self._expire(sid)
        await self.drain()
        for task in list(self._ticks):
            task.cancel()
        if self._ticks:
            await asyncio.wait(set(self._ticks))

    async def drain(self) -> None:
        """Wait until every ended call is stored and scored."""
        while self.finishing:
            await asyncio.wait(set(self.finishing))

    # ------------------------------------------------------------------ upgrade
    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        headers = {k: v for k, v in request.headers.raw_items()}
        signed = not request.path.startswith("/fork") or any(k.lower() == "signature" for k in headers)
        try:
            self.auth(request.path, headers, signed=signed)
        except AuthError as exc:
            self.refused += 1
            peer = connection.remote_address[0] if connection.remote_address else "?"
            log.warning("live: refused %s from %s: %s", request.path, peer, exc.reason)
            return connection.respond(401, "unauthorized\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request else "/"
        try:
            if path.startswith("/fork"):
                await self._fork(ws)
            else:
                await self._audiohook(ws)
        except ConnectionClosed:
            pass

    def _finish(self, call: LiveCall | None, reason: str) -> None:
        if call is None or call.closed:
            return
        self.calls.pop(call.info.call_id, None)
        task = asyncio.get_running_loop().create_task(call.close(reason))
        self.finishing.add(task)
        task.add_done_callback(self.finishing.discard)

    def _suspend(self, call: LiveCall, session_id: str) -> None:
        """Hold a call whose client closed its session to reconnect: a new session naming this one
        in ``continuedSessions`` continues it; after ``live.reconnect_wait_s`` it ends as a disconnect."""
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.rt.settings.live.reconnect_wait_s, self._expire, session_id)
        self.suspended[session_id] = (call, timer)

    def _expire(self, session_id: str) -> None:
        held = self.suspended.pop(session_id, None)
        if held is not None:
            log.warning("live: %s did not reconnect; ending it", held[0].info.call_id)
            self._finish(held[0], "disconnect")

    def _resume(self, info: CallInfo, continued: Any) -> LiveCall | None:
        """The suspended call an ``open`` continues (same conversation and media), or None."""
        for entry in continued if isinstance(continued, list) else []:
            sid = entry.get("id") if isinstance(entry, dict) else None
            if not isinstance(sid, str) or sid not in self.suspended:
                continue
            held = self.suspended[sid]
            call, timer = held
            if call.info.call_id != info.call_id or call.info.media != info.media:
                raise ProtocolError(f"continuedSessions: session {sid} was another conversation or media format")
            timer.cancel()
            del self.suspended[sid]
            log.info("live: %s continues in session %s", info.call_id, info.session_id)
            return call
        return None

    def _start(self, info: CallInfo) -> LiveCall:
        call = LiveCall(info, self.rt)
        self.calls[info.call_id] = call
        tick = asyncio.get_running_loop().create_task(self._tick(call))
        self._ticks.add(tick)
        tick.add_done_callback(self._ticks.discard)
        return call

    async def _tick(self, call: LiveCall) -> None:
        """Judge silences still going on and publish the call's clock while it streams."""
        period = self.rt.settings.live.tick_s
        n = 0
        while not call.closed:
            await asyncio.sleep(period)
            if call.closed:
                return
            call.evaluate(tick=True)
            n += 1
            if n * period >= 1.0:
                n = 0
                self.rt.live.update_call(call.info.call_id, position_s=call.position_s, lag_s=call.lag_s,
                                         hold_s=round(call.hold_s, 2))

    # ------------------------------------------------------------------ AudioHook
    async def _audiohook(self, ws: ServerConnection) -> None:
        call: LiveCall | None = None
        state = {"seq": 0, "clientseq": 0}

        async def send(kind: str, sid: str, parameters: dict[str, Any] | None = None) -> None:
            state["seq"] += 1
            await ws.send(server_message(kind, session_id=sid, seq=state["seq"], clientseq=state["clientseq"], parameters=parameters))

        reason = "disconnect"
        try:
            async for frame in ws:
                if isinstance(frame, bytes):
                    if call is None:
                        raise ProtocolError("audio before 'open'")
                    call.feed(frame)
                    continue
                msg = parse_message(frame)
                if msg.seq != state["clientseq"] + 1:
                    raise ProtocolError(f"sequence number {msg.seq}, expected {state['clientseq'] + 1}")
                state["clientseq"] = msg.seq
                if msg.type == "open":
                    if call is not None:
                        raise ProtocolError("second 'open'")
                    info = open_info(msg)
                    org = ws.request.headers.get("audiohook-organization-id") if ws.request else None
                    if org is not None and str(msg.parameters.get("organizationId")) != org:
                        raise ProtocolError("organizationId does not match the audiohook-organization-id header")
                    call = self._resume(info, msg.parameters.get("continuedSessions")) or self._start(info)
                    await send("opened", msg.session_id, {"media": [info.media.to_json(info.channel_names)], "startPaused": False})
                elif call is None:
                    raise ProtocolError(f"'{msg.type}' before 'open'")
                elif msg.type == "ping":
                    await send("pong", msg.session_id)
                elif msg.type in ("paused", "pause"):
                    call.pause()
                elif msg.type in ("resumed", "resume"):
                    call.resume()
                    lost = _seconds(msg.parameters.get("discarded"))
                    if lost > 0:
                        call.discarded(_seconds(msg.parameters.get("start")), lost)
                elif msg.type == "discarded":
                    call.discarded(_seconds(msg.parameters.get("start")), _seconds(msg.parameters.get("discarded")))
                elif msg.type == "update":
                    language = str(msg.parameters.get("language") or "").split("-")[0].lower()
                    if call.language is None and language in ("zh", "en"):
                        call.language = language
                    await send("updated", msg.session_id)
                elif msg.type == "close":
                    reason = str(msg.parameters.get("reason") or "end")
                    if reason == "reconnect":  # the client goes on in a new session (continuedSessions)
                        self._suspend(call, msg.session_id)
                        call = None
                    else:
                        self._finish(call, reason)
                    await send("closed", msg.session_id)
                    return
                elif msg.type == "error":
                    log.warning("live: client error on %s: %s", call.info.call_id, msg.parameters)
                else:
                    log.info("live: ignoring '%s' on %s", msg.type, call.info.call_id)
        except ProtocolError as exc:
            reason = "error"
            log.warning("live: protocol error%s: %s", f" on {call.info.call_id}" if call else "", exc.reason)
            try:
                await send("disconnect", call.info.session_id if call else "", {"reason": "error", "info": exc.reason})
                await ws.close(1008, close_text(exc.reason))
            except ConnectionClosed:
                pass
        finally:
            self._finish(call, reason)

    # ------------------------------------------------------------------ audio fork
    async def _fork(self, ws: ServerConnection) -> None:
        call: LiveCall | None = None
        reason = "end"
        try:
            async for frame in ws:
                if call is None:
                    if not isinstance(frame, str):
                        raise ProtocolError("the first frame must be the JSON metadata")
                    call = self._start(fork_info(frame, stream_id=str(ws.id)))
                    await ws.send(json.dumps({"type": "started", "call_id": call.info.call_id}))
                elif isinstance(frame, bytes):
                    call.feed(frame)
                elif _fork_control(frame).get("type") == "close":
                    return
        except ConnectionClosedError:
            reason = "disconnect"  # dropped: no close frame (a closed socket or {"type": "close"} ends the call)
        except ProtocolError as exc:
            reason = "error"
            log.warning("live: fork protocol error: %s", exc.reason)
            try:  # the whole reason as a text frame: a close frame's reason holds 123 bytes
                await ws.send(json.dumps({"type": "error", "reason": exc.reason}, ensure_ascii=False))
                await ws.close(1008, close_text(exc.reason))
            except ConnectionClosed:
                pass
        finally:
            self._finish(call, reason)


def close_text(reason: str, limit: int = 123) -> str:
    """``reason`` cut to fit a WebSocket close frame (at most 123 UTF-8 bytes, RFC 6455 5.5),
    on a character boundary, with "..." when cut."""
    data = reason.encode("utf-8")
    if len(data) <= limit:
        return reason
    return data[: limit - 3].decode("utf-8", errors="ignore") + "..."


def _fork_control(text: str) -> dict[str, Any]:
    """A fork's text frame after the metadata (``{"type": "close"}``).

    Raises:
        ProtocolError: not a JSON object.
    """
    try:
        msg = json.loads(text)
    except json.JSONDecodeError:
        msg = None
    if not isinstance(msg, dict):
        raise ProtocolError("text frames must be JSON objects")
    return msg


def _seconds(value: Any) -> float:
    if isinstance(value, str):
        return parse_duration(value)
    return 0.0


__all__ = ["LiveServer"]
