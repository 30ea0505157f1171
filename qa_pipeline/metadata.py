"""Call metadata: sidecar JSON, a folder CSV manifest, or defaults from the file name.

Precedence per field: sidecar ``<audio>.json`` > ``manifest.csv`` row > file-name
pattern > configuration defaults.  Invalid values raise
:class:`~qa_pipeline.errors.MetadataError` naming the file and the field.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Mapping
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import MetadataError
from .records import CallMetadata

MANIFEST_NAME = "manifest.csv"
_CALL_ID_RE = re.compile(r"^[\w.\-:]{1,128}$")
#: agent ids end up in URLs (/coaching/<agent_id>), file names (CSV exports) and headers
_AGENT_ID_RE = re.compile(r"^[\w.\-]{1,64}$")
#: longest free-text metadata value (names, team, queue, custom values)
MAX_TEXT = 200


class MetadataFields(BaseModel):
    """Schema of a sidecar JSON object or a manifest row (all optional but ``call_id`` in the end)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    call_id: str | None = None
    agent_id: str | None = None
    agent_name: str | None = None
    team: str | None = None
    queue: str | None = None
    direction: Literal["inbound", "outbound", "internal", "transfer", "conference"] | None = None
    start_time: datetime | None = None
    language: Literal["zh", "en"] | None = None
    agent_channel: Literal[0, 1] | None = None
    ended_by: Literal["agent", "customer"] | None = None
    #: the customer's phone number; replaced by a keyed hash on resolution, never stored
    caller: str | None = None
    custom: dict[str, str] = Field(default_factory=dict)

    @field_validator("caller", mode="before")
    @classmethod
    def _caller_number(cls, value: Any) -> Any:
        if isinstance(value, int):
            value = str(value)
        if isinstance(value, str) and not re.fullmatch(r"[\d+\-() .]{3,32}", value.strip()):
            raise ValueError("must be a phone number: 3-32 digits, '+', '-', '(', ')', '.' or spaces")
        return value

    @field_validator("call_id")
    @classmethod
    def _safe_call_id(cls, value: str | None) -> str | None:
        if value is not None and not _CALL_ID_RE.match(value):
            raise ValueError("must be 1-128 letters, digits, '_', '-', '.' or ':'")
        return value

    @field_validator("agent_id")
    @classmethod
    def _safe_agent_id(cls, value: str | None) -> str | None:
        if value is not None and not _AGENT_ID_RE.match(value):
            raise ValueError("must be 1-64 letters, digits, '_', '-' or '.' (no spaces, quotes, slashes or line breaks)")
        return value

    @field_validator("agent_name", "team", "queue")
    @classmethod
    def _plain_text(cls, value: str | None) -> str | None:
        if value is not None:
            _check_text(value)
        return value

    @field_validator("custom")
    @classmethod
    def _plain_custom(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            if not key or len(key) > 64 or not key.isprintable():
                raise ValueError(f"key {key[:64]!r} must be 1-64 printable characters")
            try:
                _check_text(text)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return value

    @field_validator("language", mode="before")
    @classmethod
    def _language_alias(cls, value: Any) -> Any:
        aliases = {"zh-cn": "zh", "cmn": "zh", "zh_cn": "zh", "mandarin": "zh", "en-us": "en", "en-gb": "en"}
        if isinstance(value, str):
            return aliases.get(value.strip().lower(), value.strip().lower())
        return value

    @field_validator("agent_channel", mode="before")
    @classmethod
    def _channel_alias(cls, value: Any) -> Any:
        aliases = {"left": 0, "right": 1, "l": 0, "r": 1, "0": 0, "1": 1}
        if isinstance(value, str):
            return aliases.get(value.strip().lower(), value)
        return value


def _check_text(value: str) -> None:
    """Free text shown in pages and CSV: printable (no line breaks or control characters), short."""
    if len(value) > MAX_TEXT:
        raise ValueError(f"must be at most {MAX_TEXT} characters")
    if not value.isprintable():
        raise ValueError("must not contain line breaks, tabs or other control characters")


def _parse(raw: Mapping[str, Any], source: Path) -> MetadataFields:
    cleaned = {k: v for k, v in raw.items() if v not in ("", None)}
    try:
        return MetadataFields.model_validate(cleaned)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'metadata'}: {e['msg']}" for e in exc.errors()
        )
        raise MetadataError(f"invalid call metadata: {problems}", path=source) from None


def read_sidecar(audio_path: Path) -> MetadataFields | None:
    """``call.wav`` -> ``call.json`` next to it, if present."""
    sidecar = audio_path.with_suffix(".json")
    if not sidecar.is_file():
        return None
    try:
        raw = json.loads(sidecar.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MetadataError(f"sidecar is not valid JSON: {exc}", path=sidecar) from None
    if not isinstance(raw, dict):
        raise MetadataError("sidecar must be a JSON object", path=sidecar)
    return _parse(raw, sidecar)


class Manifest:
    """A folder's ``manifest.csv``: one row per recording, keyed by the ``file`` column."""

    def __init__(self, path: Path, rows: Mapping[str, MetadataFields]) -> None:
        self.path = path
        self._rows = dict(rows)

    @classmethod
    def load(cls, path: Path) -> "Manifest":
        try:
            with path.open(newline="", encoding="utf-8-sig") as fh:
                reader = csv.DictReader(fh)
                if not reader.fieldnames or "file" not in reader.fieldnames:
                    raise MetadataError("manifest needs a 'file' column", path=path)
                rows: dict[str, MetadataFields] = {}
                for line_no, row in enumerate(reader, start=2):
                    name = (row.pop("file") or "").strip()
                    if not name:
                        raise MetadataError(f"line {line_no}: empty 'file' column", path=path)
                    try:
                        rows[name] = _parse(row, path)
                    except MetadataError as exc:
                        raise MetadataError(f"line {line_no}: {exc.reason}", path=path) from None
        except UnicodeDecodeError as exc:
            raise MetadataError(f"manifest is not UTF-8: {exc}", path=path) from None
        return cls(path, rows)

    def get(self, audio_path: Path) -> MetadataFields | None:
        return self._rows.get(audio_path.name) or self._rows.get(audio_path.stem)


def from_filename(audio_path: Path, pattern: str, tz: str) -> MetadataFields:
    """Defaults from the file name, e.g. ``20261120-091500_A1001_callid.wav``."""
    fields: dict[str, Any] = {"call_id": _sanitize_call_id(audio_path.stem)}
    match = re.match(pattern, audio_path.stem)
    if match:
        groups = {k: v for k, v in match.groupdict().items() if v}
        if "agent_id" in groups and _AGENT_ID_RE.match(groups["agent_id"]):
            fields["agent_id"] = groups["agent_id"]
        if "call_id" in groups:
            fields["call_id"] = _sanitize_call_id(groups["call_id"])
        if "date" in groups:
            stamp = groups["date"] + groups.get("time", "000000")
            try:
                fields["start_time"] = datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=ZoneInfo(tz))
            except ValueError:
                pass
    return MetadataFields.model_validate(fields)


def _sanitize_call_id(stem: str) -> str:
    cleaned = re.sub(r"[^\w.\-:]", "_", stem)[:128]
    return cleaned or "call"


def resolve_metadata(
    audio_path: Path,
    *,
    manifest: Manifest | None,
    filename_pattern: str,
    timezone: str,
    overrides: Mapping[str, Any] | None = None,
    object_metadata: Mapping[str, Any] | None = None,
    caller_key: bytes | None = None,
) -> CallMetadata:
    """Merge every metadata source for one recording into a :class:`CallMetadata`.

    ``object_metadata`` (an S3 object's ``x-amz-meta-*`` fields) ranks above the manifest row
    and below the sidecar. A ``caller`` number becomes ``caller_hash`` (HMAC-SHA256 with
    ``caller_key``, default :func:`qa_pipeline.analytics.caller.load_caller_key`); the number
    itself is dropped here.
    """
    layers: list[tuple[str, MetadataFields]] = [
        ("filename", from_filename(audio_path, filename_pattern, timezone))
    ]
    if manifest is not None and (row := manifest.get(audio_path)) is not None:
        layers.append(("manifest", row))
    if object_metadata:
        layers.append(("object", _parse(object_metadata, audio_path)))
    if (sidecar := read_sidecar(audio_path)) is not None:
        layers.append(("sidecar", sidecar))
    if overrides:
        layers.append(("override", _parse(overrides, audio_path)))

    merged: dict[str, Any] = {}
    for _, layer in layers:
        merged.update(layer.model_dump(exclude_none=True, exclude_defaults=True))
    start = merged.get("start_time")
    if isinstance(start, datetime) and start.tzinfo is None:
        merged["start_time"] = start.replace(tzinfo=ZoneInfo(timezone))
    caller = merged.pop("caller", None)
    if caller is not None:
        from .analytics import AnalyticsError
        from .analytics.caller import caller_hash, load_caller_key

        try:
            merged["caller_hash"] = caller_hash(caller, caller_key if caller_key is not None else load_caller_key())
        except AnalyticsError as exc:
            raise MetadataError(f"caller: {exc.reason}", path=audio_path) from None
    return CallMetadata(source=layers[-1][0], **merged)
