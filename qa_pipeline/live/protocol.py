"""Wire formats of live calls: Genesys AudioHook Monitor (protocol version 2) and the audio fork.

**AudioHook** (developer.genesys.cloud, "AudioHook protocol"): one WebSocket per call leg. Text
frames are JSON messages ``{"version": "2", "id": SESSION, "type", "seq", "parameters", ...}``;
client messages carry ``serverseq`` and ``position`` (ISO 8601 duration of audio sent so far),
server messages ``clientseq``. Binary frames are audio: 8 kHz PCMU (µ-law bytes) or L16 (signed
16-bit little-endian), channels interleaved sample by sample, ``external`` (customer) and
``internal`` (agent) in the order the ``open`` message lists them.

**Audio fork** (FreeSWITCH ``mod_audio_fork``, Asterisk AudioSocket bridges, any recorder): the
first frame is a JSON text frame of call metadata::

    {"call_id": "c-1", "format": "L16", "rate": 8000, "channels": ["agent", "customer"],
     "agent_id": "A1001", "team": "抢修一组", "queue": "95598-repair", "language": "zh"}

then binary frames of the same interleaved audio; the call ends when the socket closes (or on a
text frame ``{"type": "close"}``).

Everything here is pure data handling: typed, immutable records and functions; errors are
:class:`ProtocolError` with a message safe to send back to the client.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import QAError

PROTOCOL_VERSION = "2"
SAMPLE_RATE = 8000
FORMATS = ("PCMU", "L16")
#: AudioHook channel names -> party
CHANNEL_ROLES = {"external": "customer", "internal": "agent", "customer": "customer", "agent": "agent"}
_DURATION = re.compile(r"^PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$")


class ProtocolError(QAError):
    """A message or frame that does not follow the protocol (the text is sent to the client)."""

    stage = "live"


@dataclass(frozen=True)
class MediaFormat:
    """Negotiated audio: ``format`` PCMU|L16, ``rate`` Hz, party per channel in frame order."""

    format: str
    rate: int
    channels: tuple[str, ...]

    @property
    def bytes_per_sample(self) -> int:
        return 1 if self.format == "PCMU" else 2

    @property
    def frame_bytes(self) -> int:
        """Bytes of one sample on every channel."""
        return self.bytes_per_sample * len(self.channels)

    @property
    def agent_channel(self) -> int | None:
        """Index of the agent's channel in the frames, None on a mono stream."""
        if len(self.channels) < 2:
            return None
        return self.channels.index("agent") if "agent" in self.channels else 0

    def to_json(self, names: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The AudioHook ``media`` entry (``names``: the channel names as the client sent them)."""
        return {"type": "audio", "format": self.format, "channels": list(names or self.channels), "rate": self.rate}


@dataclass(frozen=True)
class CallInfo:
    """Metadata a stream brings: ids and ``customConfig`` / fork header fields (strings)."""

    call_id: str
    session_id: str
    protocol: str
    media: MediaFormat
    channel_names: tuple[str, ...]
    language: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    """One AudioHook text message (client or server)."""

    type: str
    seq: int
    session_id: str
    parameters: Mapping[str, Any]
    serverseq: int = 0
    position_s: float = 0.0


def parse_duration(text: str) -> float:
    """Seconds of an AudioHook ISO 8601 duration (``PT1.52S``, ``PT2M3S``).

    Raises:
        ProtocolError: not such a duration.
    """
    m = _DURATION.match(text or "")
    if not m or text == "PT":
        raise ProtocolError(f"invalid duration {text!r}")
    h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mi * 60 + s


def format_duration(seconds: float) -> str:
    """``PT12.34S``."""
    return f"PT{max(0.0, seconds):.3f}".rstrip("0").rstrip(".") + "S"


def parse_message(text: str) -> Message:
    """A client's AudioHook text frame.

    Raises:
        ProtocolError: not JSON, wrong version, or a required field missing.
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"message is not JSON: {exc.msg}") from None
    if not isinstance(raw, dict):
        raise ProtocolError("message must be a JSON object")
    if str(raw.get("version")) != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported protocol version {raw.get('version')!r} (expected {PROTOCOL_VERSION})")
    kind, seq, sid = raw.get("type"), raw.get("seq"), raw.get("id")
    if not isinstance(kind, str) or not isinstance(seq, int) or not isinstance(sid, str):
        raise ProtocolError("message needs string 'type', string 'id' and integer 'seq'")
    params = raw.get("parameters") or {}
    if not isinstance(params, dict):
        raise ProtocolError("'parameters' must be an object")
    position = parse_duration(raw["position"]) if isinstance(raw.get("position"), str) else 0.0
    return Message(kind, seq, sid, params, int(raw.get("serverseq") or 0), position)


def server_message(kind: str, *, session_id: str, seq: int, clientseq: int, parameters: Mapping[str, Any] | None = None) -> str:
    """A server message as JSON text."""
    return json.dumps(
        {"version": PROTOCOL_VERSION, "type": kind, "seq": seq, "clientseq": clientseq, "id": session_id,
         "parameters": dict(parameters or {})},
        ensure_ascii=False,
    )


def choose_media(offers: Any) -> tuple[MediaFormat, tuple[str, ...]]:
    """The offer to accept from an ``open`` message's ``media`` list: stereo before mono,
    PCMU before L16 (half the bytes), 8 kHz only.

    Raises:
        ProtocolError: no acceptable offer (the client is told which formats are accepted).
    """
    usable: list[tuple[int, int, MediaFormat, tuple[str, ...]]] = []
    for offer in offers if isinstance(offers, list) else []:
        if not isinstance(offer, dict) or offer.get("type", "audio") != "audio":
            continue
        fmt, rate, names = offer.get("format"), offer.get("rate"), offer.get("channels")
        if fmt not in FORMATS or rate != SAMPLE_RATE or not isinstance(names, list) or not 1 <= len(names) <= 2:
            continue
        if any(n not in CHANNEL_ROLES for n in names) or len(set(names)) != len(names):
            continue
        parties = tuple(CHANNEL_ROLES[n] for n in names)
        usable.append((-len(names), FORMATS.index(fmt), MediaFormat(fmt, rate, parties), tuple(names)))
    if not usable:
        raise ProtocolError("no acceptable media: PCMU or L16 at 8000 Hz, channels external/internal")
    usable.sort(key=lambda u: (u[0], u[1]))
    return usable[0][2], usable[0][3]


def open_info(msg: Message) -> CallInfo:
    """Call metadata from an AudioHook ``open``: conversation id -> call id, ``customConfig``
    (agentId, agentName, team, queue, language, direction) -> metadata fields.

    Raises:
        ProtocolError: no usable media, or no conversation id.
    """
    p = msg.parameters
    conversation = p.get("conversationId")
    if not isinstance(conversation, str) or not conversation:
        raise ProtocolError("open: 'conversationId' missing")
    media, names = choose_media(p.get("media"))
    custom_config, participant_info = p.get("customConfig"), p.get("participant")
    custom = custom_config if isinstance(custom_config, dict) else {}
    participant = participant_info if isinstance(participant_info, dict) else {}
    fields: dict[str, Any] = {_snake(k): v for k, v in custom.items() if isinstance(v, (str, int, float))}
    if participant.get("id"):
        fields.setdefault("participant_id", str(participant["id"]))
    if p.get("organizationId"):
        fields.setdefault("organization_id", str(p["organizationId"]))
    language = _language(fields.pop("language", None) or p.get("language"))
    call_id = str(fields.pop("call_id", None) or conversation)
    return CallInfo(call_id, msg.session_id, "audiohook", media, names, language, fields)


def fork_info(text: str, stream_id: str) -> CallInfo:
    """Call metadata from an audio fork's first (JSON) frame.

    Raises:
        ProtocolError: not JSON, unknown format/rate/channels, or no ``call_id``.
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"first frame is not JSON metadata: {exc.msg}") from None
    if not isinstance(raw, dict) or not raw.get("call_id"):
        raise ProtocolError("first frame must be a JSON object with 'call_id'")
    offer = {"type": "audio", "format": raw.get("format", "L16"), "rate": raw.get("rate", SAMPLE_RATE),
             "channels": raw.get("channels", ["agent", "customer"])}
    try:
        media, names = choose_media([offer])
    except ProtocolError:
        got = f"format {offer['format']!r}, rate {offer['rate']!r}, channels {offer['channels']!r}"
        raise ProtocolError(f"unsupported audio ({got}): format L16 or PCMU, rate 8000, "
                            "channels one or two of agent/customer") from None
    fields = {_snake(k): v for k, v in raw.items()
              if k not in ("call_id", "format", "rate", "channels", "language") and isinstance(v, (str, int, float))}
    return CallInfo(str(raw["call_id"]), stream_id, "fork", media, names, _language(raw.get("language")), fields)


_ULAW = None


def ulaw_table() -> np.ndarray:
    """G.711 µ-law byte -> int16 sample (256 entries)."""
    global _ULAW
    if _ULAW is None:
        b = ~np.arange(256, dtype=np.int32) & 0xFF
        sign, exponent, mantissa = b & 0x80, (b >> 4) & 0x07, b & 0x0F
        magnitude = ((mantissa << 3) + 0x84) << exponent
        _ULAW = np.where(sign != 0, 0x84 - magnitude, magnitude - 0x84).astype(np.int16)
    return _ULAW


def decode_frame(data: bytes, media: MediaFormat) -> np.ndarray:
    """Samples of one binary frame, shape (n_samples, n_channels), int16.

    Raises:
        ProtocolError: the frame is not a whole number of samples on every channel.
    """
    if len(data) % media.frame_bytes:
        raise ProtocolError(f"audio frame of {len(data)} bytes is not a multiple of {media.frame_bytes}")
    if media.format == "PCMU":
        samples = ulaw_table()[np.frombuffer(data, dtype=np.uint8)]
    else:
        samples = np.frombuffer(data, dtype="<i2").astype(np.int16)
    return samples.reshape(-1, len(media.channels))


def _language(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    code = value.split("-")[0].lower()
    return code if code in ("zh", "en") else None


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", str(key)).lower()
