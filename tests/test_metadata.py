"""Call metadata from sidecar JSON, a CSV manifest and the file name."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from qa_pipeline.errors import MetadataError
from qa_pipeline.metadata import Manifest, resolve_metadata

PATTERN = r"^(?:(?P<date>20\d{6})[-_T]?(?P<time>\d{6})[-_])?(?:(?P<agent_id>[A-Z]{1,3}\d{3,})[-_])?.+$"


def resolve(path: Path, manifest: Manifest | None = None, **kw):
    return resolve_metadata(path, manifest=manifest, filename_pattern=PATTERN, timezone="Asia/Shanghai", **kw)


def test_defaults_from_file_name(tmp_path: Path) -> None:
    meta = resolve(tmp_path / "20261120-091500_A1001_abc123.wav")
    assert meta.call_id == "20261120-091500_A1001_abc123"
    assert meta.agent_id == "A1001"
    assert meta.start_time == datetime.fromisoformat("2026-11-20T09:15:00+08:00")
    assert meta.source == "filename" and meta.direction == "inbound" and meta.language is None


def test_plain_file_name_gives_call_id_only(tmp_path: Path) -> None:
    meta = resolve(tmp_path / "my call (1).wav")
    assert meta.call_id == "my_call__1_" and meta.agent_id is None


def test_sidecar_overrides_manifest_overrides_name(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text(
        "file,agent_id,team,language,agent_channel\nA9999_x.wav,A2000,抢修二组,en,right\n", encoding="utf-8"
    )
    (tmp_path / "A9999_x.json").write_text(json.dumps({"call_id": "C-1", "agent_name": "王芳", "language": "zh"}), encoding="utf-8")
    manifest = Manifest.load(tmp_path / "manifest.csv")
    meta = resolve(tmp_path / "A9999_x.wav", manifest)
    assert meta.call_id == "C-1"  # sidecar
    assert meta.agent_name == "王芳"  # sidecar
    assert meta.language == "zh"  # sidecar beats manifest
    assert meta.agent_id == "A2000"  # manifest beats file name
    assert meta.team == "抢修二组" and meta.agent_channel == 1  # manifest, 'right' -> 1
    assert meta.source == "sidecar"


def test_invalid_sidecar_names_file_and_field(tmp_path: Path) -> None:
    sidecar = tmp_path / "c.json"
    sidecar.write_text(json.dumps({"agent_channel": 3, "direction": "sideways"}), encoding="utf-8")
    with pytest.raises(MetadataError) as info:
        resolve(tmp_path / "c.wav")
    msg = str(info.value)
    assert str(sidecar) in msg and "agent_channel" in msg and "direction" in msg


def test_unknown_sidecar_field_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(json.dumps({"agnet_id": "A1"}), encoding="utf-8")
    with pytest.raises(MetadataError, match="agnet_id"):
        resolve(tmp_path / "c.wav")


def test_sidecar_not_json(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(MetadataError, match="not valid JSON"):
        resolve(tmp_path / "c.wav")


def test_manifest_bad_row_names_line(tmp_path: Path) -> None:
    path = tmp_path / "manifest.csv"
    path.write_text("file,language\na.wav,zh\nb.wav,klingon\n", encoding="utf-8")
    with pytest.raises(MetadataError) as info:
        Manifest.load(path)
    assert "line 3" in str(info.value) and "language" in str(info.value)


def test_manifest_needs_file_column(tmp_path: Path) -> None:
    path = tmp_path / "manifest.csv"
    path.write_text("name,language\na.wav,zh\n", encoding="utf-8")
    with pytest.raises(MetadataError, match="'file' column"):
        Manifest.load(path)


def test_naive_start_time_gets_configured_timezone(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(json.dumps({"start_time": "2026-11-20T09:15:00"}), encoding="utf-8")
    meta = resolve(tmp_path / "c.wav")
    assert meta.start_time is not None and meta.start_time.utcoffset().total_seconds() == 8 * 3600
