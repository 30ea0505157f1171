"""The audio the review page plays: only the call's own scored recording, from its store.

* **Local recordings** are served only from inside a recording store root: the configured
  ``QA_WEB_AUDIO_ROOTS`` folders (``os.pathsep``-separated), else the folder the recording was
  scored from.  The stored path is resolved (every link followed) and must still lie inside
  that root, so a recording replaced by a link to ``data/web_secret`` or ``/etc/passwd`` is
  refused.
* **Bucket recordings** (``s3://bucket/key``) are fetched through the server with the
  configured S3 credentials (the browser never gets bucket access) into a private cache
  per recording and content hash (``<data_dir>/audio-cache``, 0700/0600); every request checks
  the object's ETag, so an object deleted from the bucket is no longer served.
* Either way the bytes must hash to the ``audio.sha256`` recorded when the call was scored,
  otherwise nothing is served (409): a file swapped or edited since is not the call's audio.
"""

from __future__ import annotations

import functools
import hashlib
import os
import posixpath
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..audio import file_sha256
from ..config import Settings
from ..privfs import private_dir, write_private

AUDIO_ROOTS_ENV = "QA_WEB_AUDIO_ROOTS"
#: Bucket audio kept on local disk for seeking (Range requests), oldest evicted beyond this.
CACHE_LIMIT_BYTES = 1 << 30
MEDIA_TYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".flac": "audio/flac", ".ogg": "audio/ogg", ".opus": "audio/ogg", ".oga": "audio/ogg", ".m4a": "audio/mp4"}


class AudioRefused(Exception):
    """The recording cannot be served; ``status`` is the HTTP status, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class Recording:
    """A verified local file to serve (the recording itself or its private cached copy)."""

    path: Path
    stat: os.stat_result
    media_type: str


def media_type(name: str) -> str:
    return MEDIA_TYPES.get(posixpath.splitext(name)[1].lower(), "application/octet-stream")


def audio_roots(settings: Settings) -> list[Path]:
    """Configured local recording store roots (``QA_WEB_AUDIO_ROOTS``), resolved; [] if none."""
    raw = os.environ.get(AUDIO_ROOTS_ENV, "")
    return [Path(p).resolve() for p in raw.split(os.pathsep) if p.strip()]


def open_recording(settings: Settings, stored_path: str, sha256: str) -> Recording:
    """The verified recording of a call whose result says ``audio.path == stored_path`` and
    ``audio.sha256 == sha256``.

    Raises:
        AudioRefused: 404 (gone, or not a recording store path), 403 (outside its store:
            a link out of it), 409 (content differs from the scored audio), 502 (bucket error).
    """
    if stored_path.startswith("s3://"):
        return _bucket_recording(settings, stored_path, sha256)
    return _local_recording(settings, stored_path, sha256)


def _local_recording(settings: Settings, stored_path: str, sha256: str) -> Recording:
    path = Path(stored_path)
    if not path.is_absolute():  # `qa score relative/call.wav` from the directory the server runs in
        path = Path.cwd() / path
    lexical = Path(os.path.normpath(path))
    roots = audio_roots(settings) or [lexical.parent.resolve()]
    try:
        real = lexical.resolve(strict=True)
    except (OSError, RuntimeError):
        raise AudioRefused(404, "the call's audio file is no longer available") from None
    if not any(real.is_relative_to(root) for root in roots):
        raise AudioRefused(403, "the call's audio file is outside its recording store (a link out of it?)")
    try:
        st = real.stat()
    except OSError:
        raise AudioRefused(404, "the call's audio file is no longer available") from None
    if not _is_regular(st):
        raise AudioRefused(404, "the call's audio is not a regular file")
    if _hash_of(str(real), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != sha256:
        raise AudioRefused(409, "the call's audio file has changed since it was scored")
    return Recording(real, st, media_type(real.name))


def _is_regular(st: os.stat_result) -> bool:
    import stat as stat_mod

    return stat_mod.S_ISREG(st.st_mode)


@functools.lru_cache(maxsize=4096)
def _hash_of(path: str, _dev: int, _ino: int, _size: int, _mtime_ns: int) -> str:
    """sha256 of a file, cached per (device, inode, size, mtime): a seek does not rehash the file."""
    return file_sha256(Path(path))


def _bucket_recording(settings: Settings, uri: str, sha256: str) -> Recording:
    from ..storage import S3Store, StorageError

    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key or len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        raise AudioRefused(404, "the call's audio is not a bucket recording")
    cache = private_dir(settings.data_dir / "audio-cache")
    name = hashlib.sha256(f"{uri}\n{sha256}".encode()).hexdigest()
    target, tag_file = cache / f"{name}{posixpath.splitext(key)[1].lower()}", cache / f"{name}.etag"
    store = S3Store(bucket, "", settings.s3, filename_pattern=settings.filename_pattern, timezone=settings.timezone)
    try:
        etag = store.etag(key)  # every request: an object deleted or replaced in the bucket is noticed
    except StorageError as exc:
        raise AudioRefused(502, f"the call's audio could not be fetched from the bucket ({exc.reason})") from None
    if etag is None:
        target.unlink(missing_ok=True)
        raise AudioRefused(404, "the call's audio could not be fetched: the object is no longer in the bucket")
    if not (target.is_file() and tag_file.is_file() and tag_file.read_text() == etag):
        fd, tmp = tempfile.mkstemp(prefix=".fetch-", dir=cache)
        os.close(fd)
        try:
            try:
                store.download(key, Path(tmp))
            except StorageError as exc:
                raise AudioRefused(502, f"the call's audio could not be fetched from the bucket ({exc.reason})") from None
            if file_sha256(Path(tmp)) != sha256:
                target.unlink(missing_ok=True)
                raise AudioRefused(409, "the call's audio object has changed since it was scored")
            os.replace(tmp, target)
            write_private(tag_file, etag.encode())
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        _evict(cache)
    st = target.stat()
    return Recording(target, st, media_type(key))


def _evict(cache: Path, limit: int = CACHE_LIMIT_BYTES) -> None:
    files = sorted((p for p in cache.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix != ".etag"), key=lambda p: p.stat().st_mtime)
    total = sum(p.stat().st_size for p in files)
    while files and total > limit:
        victim = files.pop(0)
        total -= victim.stat().st_size
        victim.unlink(missing_ok=True)
        victim.with_suffix(".etag").unlink(missing_ok=True)
