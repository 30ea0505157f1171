"""A client that streams a recording to a live server in real time, as Genesys AudioHook or an
audio fork does (used by the tests and ``benchmarks/bench_live.py``; handy to check a setup).

Written from the published AudioHook protocol: signed upgrade request (:func:`.auth.sign_headers`),
``open`` with stereo PCMU/L16 offers (external = customer, internal = agent), ``opened``, binary
frames paced to the clock, a ``ping``, ``close``/``closed``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from websockets.asyncio.client import connect

from .auth import sign_headers
from .protocol import format_duration, ulaw_table

ORG_ID = "d7934305-0972-4844-938e-9060eef73d05"


@dataclass(frozen=True)
class StreamReport:
    """What one streamed call saw: seconds of audio sent, wall seconds, server messages by type."""

    call_id: str
    sent_s: float
    wall_s: float
    received: Mapping[str, int] = field(default_factory=dict)


def ulaw_encode(samples: np.ndarray) -> bytes:
    """int16 samples that are G.711 µ-law values (a decoded µ-law file) back to µ-law bytes.

    Other values are rounded to the nearest µ-law level.
    """
    table = ulaw_table().astype(np.int32)
    order = np.argsort(table)
    levels = table[order]
    idx = np.clip(np.searchsorted(levels, samples.astype(np.int32)), 1, 255)
    nearer = np.where(np.abs(levels[idx - 1] - samples) <= np.abs(levels[idx] - samples), idx - 1, idx)
    return order[nearer].astype(np.uint8).tobytes()


def check_recording(path: Path) -> None:
    """What the clients stream: a readable stereo 8 kHz recording, agent and customer on their own channels.

    Raises:
        ValueError: it is not (the message says what it is instead; it does not repeat the path).
    """
    if not path.is_file():
        raise ValueError("not a file" if path.exists() else "no such file")
    try:
        info = sf.info(str(path))
    except sf.LibsndfileError as exc:
        raise ValueError(f"not a readable recording ({exc})") from None
    if info.samplerate != 8000 or info.channels != 2:
        channels = f"{info.channels} channel" + ("s" if info.channels != 1 else "")
        raise ValueError(f"the live clients play stereo 8 kHz recordings, agent and customer on their own channels; this one is "
                         f"{info.samplerate} Hz, {channels} (a stereo file at another rate: ffmpeg -i IN -ar 8000 OUT.wav)")


def read_call(path: Path, *, agent_channel: int = 0) -> np.ndarray:
    """A stereo 8 kHz recording as int16 (n, 2) in AudioHook order: customer (external), agent (internal).

    Raises:
        ValueError: not such a recording (:func:`check_recording`), the path in the message.
    """
    try:
        check_recording(path)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    x, _rate = sf.read(path, dtype="int16", always_2d=True)
    return x[:, [1 - agent_channel, agent_channel]]


async def stream_audiohook(url: str, path: Path, *, call_id: str, api_key: str, secret: str, custom: Mapping[str, Any],
                           language: str | None = None, fmt: str = "PCMU", chunk_s: float = 0.1, speed: float = 1.0,
                           agent_channel: int = 0, headers: Mapping[str, str] | None = None,
                           reconnect_at_s: float | None = None) -> StreamReport:
    """Stream ``path`` to an AudioHook endpoint ``url`` (ws://host:port/path) paced at ``speed``
    x real time; returns when the server sent ``closed``. With ``reconnect_at_s`` the client closes
    its session there with reason ``reconnect`` and goes on in a new session whose ``open`` names the
    old one in ``continuedSessions`` (as a Genesys client moving to another connection does).

    Raises:
        websockets.exceptions.InvalidStatus: the server refused the upgrade (401).
        RuntimeError: the server answered with ``disconnect`` or not as the protocol says.
    """
    audio = read_call(path, agent_channel=agent_channel)
    cut = len(audio) if reconnect_at_s is None else min(len(audio), int(reconnect_at_s * 8000))
    received: dict[str, int] = {}
    t0 = time.monotonic()
    stream = _Stream(url, audio, call_id=call_id, api_key=api_key, secret=secret, custom=custom, language=language, fmt=fmt,
                     chunk_s=chunk_s, speed=speed, headers=headers, received=received, start=time.monotonic())
    previous = await stream.session(0, cut, close_reason="end" if cut == len(audio) else "reconnect")
    if cut < len(audio):
        await stream.session(cut, len(audio), close_reason="end", continued=previous)
    return StreamReport(call_id, round(len(audio) / 8000, 3), round(time.monotonic() - t0, 3), received)


@dataclass
class _Stream:
    """One call streamed as one or more AudioHook sessions (paced on one clock)."""

    url: str
    audio: np.ndarray
    call_id: str
    api_key: str
    secret: str
    custom: Mapping[str, Any]
    language: str | None
    fmt: str
    chunk_s: float
    speed: float
    headers: Mapping[str, str] | None
    received: dict[str, int]
    start: float

    async def session(self, first: int, end: int, *, close_reason: str,
                      continued: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Samples [first, end) in one session; its id and last sequence numbers."""
        session = str(uuid.uuid4())
        rest = self.url.split("://", 1)[1]
        authority = rest.split("/", 1)[0]
        target = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
        base = {"audiohook-organization-id": ORG_ID, "audiohook-session-id": session,
                "audiohook-correlation-id": str(uuid.uuid4())}
        signed = dict(self.headers) if self.headers is not None else sign_headers(target, authority, base, api_key=self.api_key,
                                                                                   secret=self.secret)
        seq, serverseq = 0, 0
        async with connect(self.url, additional_headers=signed, max_size=1 << 20) as ws:

            async def send(kind: str, position: float, parameters: dict[str, Any]) -> None:
                nonlocal seq
                seq += 1
                await ws.send(json.dumps({"version": "2", "id": session, "type": kind, "seq": seq, "serverseq": serverseq,
                                          "position": format_duration(position), "parameters": parameters}))

            async def expect(kind: str) -> dict[str, Any]:
                nonlocal serverseq
                while True:
                    msg = json.loads(await ws.recv())
                    serverseq = max(serverseq, int(msg.get("seq", 0)))
                    self.received[msg["type"]] = self.received.get(msg["type"], 0) + 1
                    if msg["type"] == kind:
                        return msg
                    if msg["type"] == "disconnect":
                        said = msg.get("parameters") or {}
                        raise RuntimeError(f"the server ended the session: {said.get('info') or said.get('reason') or said}")

            parameters: dict[str, Any] = {
                "organizationId": ORG_ID, "conversationId": self.call_id,
                "participant": {"id": str(uuid.uuid4()), "ani": "+8613900000000", "aniName": "", "dnis": "95598"},
                "media": [{"type": "audio", "format": self.fmt, "channels": ["external", "internal"], "rate": 8000},
                          {"type": "audio", "format": self.fmt, "channels": ["external"], "rate": 8000}],
                "language": self.language or "", "customConfig": dict(self.custom)}
            if continued is not None:
                parameters["continuedSessions"] = [dict(continued)]
            await send("open", 0.0, parameters)
            opened = await expect("opened")
            if len(opened["parameters"]["media"][0]["channels"]) != 2:
                raise RuntimeError("server did not choose the stereo offer")
            step = int(self.chunk_s * 8000)
            for i in range(first, end, step):
                chunk = self.audio[i : min(end, i + step)]
                await ws.send(ulaw_encode(chunk.reshape(-1)) if self.fmt == "PCMU" else chunk.astype("<i2").tobytes())
                sent = (i + len(chunk)) / 8000
                if (i - first) // step % 50 == 25:
                    await send("ping", sent - first / 8000, {})
                delay = self.start + sent / self.speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await send("close", (end - first) / 8000, {"reason": close_reason})
            await expect("closed")
        return {"id": session, "serverseq": serverseq, "clientseq": seq}


async def stream_fork(url: str, path: Path, *, metadata: Mapping[str, Any], api_key: str, chunk_s: float = 0.1,
                      speed: float = 1.0, agent_channel: int = 0) -> StreamReport:
    """Stream ``path`` as an audio fork: a JSON metadata frame, then L16 frames (agent, customer)."""
    audio = read_call(path, agent_channel=agent_channel)[:, [1, 0]]
    t0 = time.monotonic()
    async with connect(url, additional_headers={"x-api-key": api_key}) as ws:
        await ws.send(json.dumps({"format": "L16", "rate": 8000, "channels": ["agent", "customer"], **metadata}))
        step = int(chunk_s * 8000)
        start = time.monotonic()
        for i in range(0, len(audio), step):
            await ws.send(audio[i : i + step].astype("<i2").tobytes())
            delay = start + (i + step) / 8000 / speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await ws.send(json.dumps({"type": "close"}))
    return StreamReport(str(metadata.get("call_id")), round(len(audio) / 8000, 3), round(time.monotonic() - t0, 3))
