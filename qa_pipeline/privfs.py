"""Private files: the data directory is 0700, files holding personal data or secrets 0600.

``qa.db`` holds raw transcripts and password hashes, ``web_secret`` signs sessions, result
JSON holds names and transcripts: none of them may be readable by other local users,
whatever the process umask.  These helpers create them that way (and tighten an existing
file or folder owned by this user); they never loosen permissions.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

#: Mode of directories holding personal data (owner only).
DIR_MODE = 0o700
#: Mode of files holding personal data or secrets (owner read/write).
FILE_MODE = 0o600


def private_dir(path: str | Path) -> Path:
    """Create ``path`` (and parents) if needed; the folder itself ends up mode 0700.

    Parents created here get the process umask; an existing folder owned by this user is
    tightened to 0700, one owned by someone else is left alone, and so is a shared folder with
    the sticky bit (``/tmp``: a database put straight into it must not lock other users out).

    Raises:
        OSError: the folder cannot be created.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    _tighten(path, DIR_MODE)
    return path


def private_file(path: str | Path) -> Path:
    """Make sure ``path`` exists with mode 0600 (created empty if missing, never truncated).

    Used before a library creates the file itself (SQLite creates ``qa.db`` on first connect,
    and its ``-wal``/``-shm`` files copy the database file's mode).
    """
    path = Path(path)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, FILE_MODE)
    os.close(fd)
    _tighten(path, FILE_MODE)
    return path


def write_private(path: str | Path, data: bytes, *, exclusive: bool = False) -> bool:
    """Write ``data`` to ``path`` atomically with mode 0600: a temporary file in the same folder
    is written, flushed to disk and then renamed (or, with ``exclusive``, hard-linked so an
    existing file is never replaced).  A crash leaves either no file or the complete one.

    Returns:
        True when ``path`` now holds ``data``; False only with ``exclusive`` when another
        process created ``path`` first (its content is left as it is).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
        else:
            os.replace(tmp, path)
        return True
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def _tighten(path: Path, mode: int) -> None:
    try:
        st = path.stat()
        if st.st_mode & stat.S_ISVTX:  # a shared folder such as /tmp: never ours to close
            return
        if st.st_uid == os.getuid() and st.st_mode & 0o777 & ~mode:
            os.chmod(path, st.st_mode & 0o777 & mode)
    except OSError:
        pass
