"""Where recordings come from and where results go: a local folder or an S3 bucket.

``open_store("samples/calls")`` or ``open_store("s3://calls/2026-11-21/", settings)`` returns a
:class:`RecordingStore`:

* :meth:`~RecordingStore.iter_recordings` streams :class:`RecordingRef` records in key order
  (S3 listings are paged by the server; nothing is listed into memory);
* :meth:`~RecordingStore.fetch` materialises one recording and its metadata (sidecar
  ``<name>.json`` > object metadata ``x-amz-meta-*`` > folder ``manifest.csv`` > file name),
  decodes it and returns a :class:`FetchedCall`.  Errors name the file or ``s3://`` URI;
* bucket results go back with :meth:`S3Store.put_result` / :meth:`S3Store.put_object` (folder
  batches write their JSON files themselves).

S3 access goes through the ``minio`` SDK (MinIO, SeaweedFS, AWS S3, Ceph RGW ...).  Transient
failures (connection refused while a server restarts, 5xx, throttling) are retried with
exponential backoff (``s3.retries``, ``s3.retry_backoff_s``) and then raise
:class:`StorageError`, which the batch records against the call.
"""

from __future__ import annotations

import functools
import io
import json
import os
import posixpath
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Protocol, TypeVar

from .audio import AUDIO_SUFFIXES, Audio, load_audio
from .checks import file_flags
from .errors import MetadataError, QAError
from .metadata import MANIFEST_NAME, Manifest, resolve_metadata
from .sources import CallSource

if TYPE_CHECKING:
    from minio import Minio

    from .config import S3Settings, Settings

T = TypeVar("T")


class StorageError(QAError):
    """The object store could not be read or written (after retries)."""

    stage = "storage"


@dataclass(frozen=True)
class RecordingRef:
    """One recording in a store: enough to fetch it, nothing decoded."""

    uri: str
    key: str
    size: int | None = None
    etag: str | None = None
    last_modified: datetime | None = None

    @property
    def name(self) -> str:
        return posixpath.basename(self.key)


@dataclass(frozen=True)
class FetchedCall:
    """A recording after the CPU fetch-and-decode stage."""

    source: CallSource
    audio: Audio


class RecordingStore(Protocol):
    uri: str

    def iter_recordings(self, *, start_after: str | None = None) -> Iterator[RecordingRef]: ...

    def fetch(self, ref: RecordingRef) -> FetchedCall: ...


def open_store(spec: str | Path, settings: "Settings") -> RecordingStore:
    """A local folder, or ``s3://BUCKET[/PREFIX]`` with endpoint/credentials from ``settings.s3``."""
    text = str(spec)
    if text.startswith("s3://"):
        bucket, _, prefix = text[len("s3://") :].partition("/")
        if not bucket:
            raise StorageError("no bucket in the URI (expected s3://BUCKET/PREFIX)", path=text)
        return S3Store(bucket, prefix, settings.s3, filename_pattern=settings.filename_pattern, timezone=settings.timezone)
    return LocalStore(Path(text), filename_pattern=settings.filename_pattern, timezone=settings.timezone)


# --------------------------------------------------------------------------- local folders


class LocalStore:
    """A folder of recordings (recursive; names starting with '.' are ignored).

    On a cluster the folder must be on storage every worker mounts at the same path.
    """

    def __init__(self, root: Path, *, filename_pattern: str, timezone: str) -> None:
        if not root.is_dir():
            raise QAError("not a folder", path=root)
        self.root = root.resolve()
        self.uri = str(self.root)
        self._pattern = filename_pattern
        self._tz = timezone

    def iter_recordings(self, *, start_after: str | None = None) -> Iterator[RecordingRef]:
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith(".") or Path(name).suffix.lower() not in AUDIO_SUFFIXES:
                    continue
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix()
                if start_after is not None and key <= start_after:
                    continue
                yield RecordingRef(uri=str(path), key=key)

    def describe(self, ref: RecordingRef) -> CallSource:
        path = Path(ref.uri)
        manifest = _local_manifest(path.parent / MANIFEST_NAME)
        meta = resolve_metadata(path, manifest=manifest, filename_pattern=self._pattern, timezone=self._tz)
        return CallSource(path, meta)

    def fetch(self, ref: RecordingRef) -> FetchedCall:
        source = self.describe(ref)
        return FetchedCall(source, load_audio(source.path))


def _local_manifest(path: Path) -> Manifest | None:
    if not path.is_file():
        return None
    stat = path.stat()
    return _cached_manifest(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _cached_manifest(path: str, _mtime_ns: int, _size: int) -> Manifest:
    return Manifest.load(Path(path))


# --------------------------------------------------------------------------- S3


_TRANSIENT_S3_CODES = frozenset(
    {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "RequestTimeTooSkewed", "OperationAborted"}
)

#: x-amz-meta-* keys accepted as call metadata (dashes or underscores, any case).
_META_FIELDS = (
    "call_id", "agent_id", "agent_name", "team", "queue", "direction",
    "start_time", "language", "agent_channel", "ended_by", "caller",
)  # fmt: skip


class S3Store:
    """Recordings under ``s3://bucket/prefix``; results under ``s3://bucket/<s3.results_prefix>``.

    Picklable: the ``minio`` client is created lazily in each process that uses the store.
    """

    def __init__(
        self, bucket: str, prefix: str, settings: "S3Settings", *, filename_pattern: str, timezone: str
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.settings = settings
        self.uri = f"s3://{bucket}/{prefix}"
        self.results_root = settings.results_prefix
        self._pattern = filename_pattern
        self._tz = timezone
        self._client: Minio | None = None
        self._manifests: dict[str, Manifest | None] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_client"] = None
        state["_manifests"] = {}
        return state

    @property
    def client(self) -> "Minio":
        if self._client is None:
            from minio import Minio

            s = self.settings
            self._client = Minio(
                s.endpoint,
                access_key=s.access_key or os.environ.get("AWS_ACCESS_KEY_ID"),
                secret_key=s.secret_key or os.environ.get("AWS_SECRET_ACCESS_KEY"),
                secure=s.secure,
                region=s.region,
            )
        return self._client

    def object_uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    # -- reading -----------------------------------------------------------
    def iter_recordings(self, *, start_after: str | None = None) -> Iterator[RecordingRef]:
        """Audio objects in key order, one server page at a time; a listing interrupted by a
        transient error resumes after the last key it returned."""
        last = start_after
        attempt = 0
        while True:
            try:
                for obj in self.client.list_objects(self.bucket, prefix=self.prefix, recursive=True, start_after=last):
                    key = obj.object_name
                    last = key
                    attempt = 0
                    if obj.is_dir or not self.accepts(key):
                        continue
                    yield RecordingRef(
                        uri=self.object_uri(key),
                        key=key,
                        size=obj.size,
                        etag=(obj.etag or "").strip('"') or None,
                        last_modified=obj.last_modified,
                    )
                return
            except Exception as exc:  # noqa: BLE001 - classified below
                attempt += 1
                if not _transient(exc) or attempt >= self.settings.retries:
                    raise StorageError(f"cannot list objects: {_describe(exc)}", path=self.uri) from exc
                time.sleep(_backoff(self.settings, attempt))

    def accepts(self, key: str) -> bool:
        """An audio object under the prefix, outside the results prefix and hidden folders."""
        if not key.startswith(self.prefix) or key.startswith(self.results_root):
            return False
        if posixpath.splitext(key)[1].lower() not in AUDIO_SUFFIXES:
            return False
        return not any(part.startswith(".") for part in key[len(self.prefix) :].split("/"))

    def with_prefix(self, prefix: str) -> "S3Store":
        """The same bucket and settings under another prefix (results stay under this store's)."""
        return S3Store(self.bucket, prefix, self.settings, filename_pattern=self._pattern, timezone=self._tz)

    def fetch(self, ref: RecordingRef) -> FetchedCall:
        with tempfile.TemporaryDirectory(prefix="qa-fetch-") as tmp:
            source, local = self._materialise(ref, Path(tmp))
            try:
                audio = load_audio(local)
            except QAError as exc:
                raise type(exc)(exc.reason, path=ref.uri) from None
            source = replace(source, file_flags=file_flags(local))  # while the copy exists
        return FetchedCall(source, replace(audio, info=replace(audio.info, path=ref.uri)))

    def _materialise(self, ref: RecordingRef, tmp: Path) -> tuple[CallSource, Path]:
        """Download the recording and its sidecar into ``tmp``; resolve its metadata."""
        local = tmp / ref.name
        object_meta = self._retry(ref.uri, lambda: self._download(ref.key, local))
        stem = posixpath.splitext(ref.key)[0]
        sidecar_key = f"{stem}.json"
        sidecar = self._get_optional(sidecar_key)
        if sidecar is not None:
            (tmp / (posixpath.splitext(ref.name)[0] + ".json")).write_bytes(sidecar)
        manifest = self._manifest(posixpath.dirname(ref.key))
        try:
            meta = resolve_metadata(
                local,
                manifest=manifest,
                filename_pattern=self._pattern,
                timezone=self._tz,
                object_metadata=_metadata_fields(object_meta),
            )
        except MetadataError as exc:
            where = self.object_uri(sidecar_key) if exc.path and exc.path.endswith(".json") else ref.uri
            raise MetadataError(exc.reason, path=where) from None
        return CallSource(local, meta, uri=ref.uri), local

    def etag(self, key: str) -> str | None:
        """The object's ETag, or None when it does not exist (retried; StorageError)."""
        from minio.error import S3Error

        def stat() -> str | None:
            try:
                return (self.client.stat_object(self.bucket, key).etag or "").strip('"') or "-"
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                    return None
                raise

        return self._retry(self.object_uri(key), stat)

    def download(self, key: str, target: Path) -> None:
        """Copy one object of the bucket to the local file ``target`` (retried; StorageError)."""
        self._retry(self.object_uri(key), lambda: self._download(key, target))

    def _download(self, key: str, target: Path) -> dict[str, str]:
        response = self.client.get_object(self.bucket, key)
        try:
            with target.open("wb") as fh:
                for chunk in response.stream(1 << 20):
                    fh.write(chunk)
            return _user_metadata(response.headers)
        finally:
            response.close()
            response.release_conn()

    def _get_optional(self, key: str) -> bytes | None:
        from minio.error import S3Error

        def get() -> bytes | None:
            try:
                response = self.client.get_object(self.bucket, key)
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                    return None
                raise
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return self._retry(self.object_uri(key), get)

    def _manifest(self, directory: str) -> Manifest | None:
        if directory not in self._manifests:
            key = posixpath.join(directory, MANIFEST_NAME) if directory else MANIFEST_NAME
            data = self._get_optional(key)
            manifest = None
            if data is not None:
                with tempfile.TemporaryDirectory(prefix="qa-manifest-") as tmp:
                    path = Path(tmp) / MANIFEST_NAME
                    path.write_bytes(data)
                    try:
                        manifest = Manifest.load(path)
                    except MetadataError as exc:
                        raise MetadataError(exc.reason, path=self.object_uri(key)) from None
            if len(self._manifests) > 256:
                self._manifests.clear()
            self._manifests[directory] = manifest
        return self._manifests[directory]

    # -- writing -----------------------------------------------------------
    def result_key(self, call_id: str) -> str:
        return posixpath.join(self.results_root, "calls", f"{call_id}.json")

    def put_result(self, call_id: str, payload: bytes) -> str:
        return self.put_object(posixpath.join("calls", f"{call_id}.json"), payload, "application/json")

    def has_result(self, call_id: str) -> bool:
        from minio.error import S3Error

        def stat() -> bool:
            try:
                self.client.stat_object(self.bucket, self.result_key(call_id))
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                    return False
                raise
            return True

        return self._retry(self.object_uri(self.result_key(call_id)), stat)

    def put_recording(self, key: str, audio: bytes, sidecar: bytes) -> str:
        """Upload a recording (``key``, absolute in the bucket) and its sidecar ``<name>.json``
        (live calls at hang-up); the recording's URI. Retried like every request."""
        side_key = posixpath.splitext(key)[0] + ".json"
        self._retry(self.object_uri(side_key), lambda: self.client.put_object(
            self.bucket, side_key, io.BytesIO(sidecar), len(sidecar), content_type="application/json"))
        self._retry(self.object_uri(key), lambda: self.client.put_object(
            self.bucket, key, io.BytesIO(audio), len(audio), content_type="audio/wav"))
        return self.object_uri(key)

    def put_object(self, relative_key: str, payload: bytes, content_type: str) -> str:
        key = posixpath.join(self.results_root, relative_key)
        self._retry(
            self.object_uri(key),
            lambda: self.client.put_object(self.bucket, key, io.BytesIO(payload), len(payload), content_type=content_type),
        )
        return self.object_uri(key)

    def _retry(self, uri: str, fn: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - classified below
                attempt += 1
                if not _transient(exc) or attempt >= self.settings.retries:
                    raise StorageError(_describe(exc), path=uri) from exc
                time.sleep(_backoff(self.settings, attempt))


def _backoff(settings: "S3Settings", attempt: int) -> float:
    return min(settings.retry_backoff_s * 2 ** (attempt - 1), settings.retry_backoff_max_s)


def _user_metadata(headers: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith("x-amz-meta-"):
            out[lower[len("x-amz-meta-") :].replace("-", "_")] = value
    return out


def _metadata_fields(meta: Mapping[str, str]) -> dict[str, Any]:
    """Object metadata as metadata fields: known names map to fields, the rest to ``custom``."""
    fields: dict[str, Any] = {k: v for k, v in meta.items() if k in _META_FIELDS}
    custom = {k: v for k, v in meta.items() if k not in _META_FIELDS}
    if custom:
        fields["custom"] = custom
    return fields


def _transient(exc: BaseException) -> bool:
    from minio.error import S3Error, ServerError

    if isinstance(exc, ServerError):
        return True
    if isinstance(exc, S3Error):
        return exc.code in _TRANSIENT_S3_CODES
    import urllib3.exceptions

    return isinstance(exc, (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError, OSError))


def _describe(exc: BaseException) -> str:
    from minio.error import S3Error

    if isinstance(exc, S3Error):
        return f"{exc.code}: {exc.message}"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}"


def result_payload(result: Any) -> bytes:
    """The per-call JSON contract, as written to files and buckets."""
    return json.dumps(result.to_dict(), ensure_ascii=False, indent=2).encode("utf-8")
