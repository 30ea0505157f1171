"""Bounded glibc malloc arenas: peak memory that does not grow with a call's length.

glibc gives every thread that allocates its own malloc arena (up to 8 per core) and returns a
freed block to the arena it came from.  Recognition allocates and frees window-sized arrays on
several threads (a stereo call's two channel threads, CTranslate2's and ONNX Runtime's pools),
so the arenas fragment and a process keeps memory it no longer uses.  Measured 2026-12-02 on
the 61.4-minute stereo call of ``benchmarks/bench_long_call.py`` (2-core machine, automatic
CPU layout): peak RSS 1556 MB with glibc's default, 1349 MB with two arenas.

This is process configuration, so the package never applies it on import: the ``qa`` command
calls :func:`limit_arenas` at start-up and Ray workers get :data:`ENV` in their environment.
An embedding application can call it too, or set ``MALLOC_ARENA_MAX`` itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

#: glibc's environment variable for the same setting (read when a process starts)
ENV = "MALLOC_ARENA_MAX"
#: arenas per process: measured above; 1 serialises every thread's allocations on one lock
ARENAS = 2
_M_ARENA_MAX = -8  # glibc malloc.h


def limit_arenas(arenas: int = ARENAS) -> bool:
    """``mallopt(M_ARENA_MAX, arenas)`` in this process; True when applied.

    Does nothing (False) where the C library is not glibc, or when ``MALLOC_ARENA_MAX`` is set
    (the user's choice wins).  Arenas threads already own are kept, so call it early.

    Raises:
        ValueError: ``arenas`` < 1.
    """
    if arenas < 1:
        raise ValueError(f"arenas must be at least 1, got {arenas}")
    if os.environ.get(ENV) or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    return bool(libc.mallopt(_M_ARENA_MAX, arenas))


def worker_env() -> dict[str, str]:
    """The setting for processes started for this one (Ray workers): this process's value of
    ``MALLOC_ARENA_MAX`` if set, else :data:`ARENAS`."""
    return {ENV: os.environ.get(ENV) or str(ARENAS)}
