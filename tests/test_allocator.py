"""Bounded malloc arenas (qa_pipeline.allocator): counted by glibc itself (``malloc_stats``) in a
fresh process whose threads allocate, with and without the limit."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from qa_pipeline import allocator

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import ctypes, sys, threading
import numpy as np
from qa_pipeline.allocator import limit_arenas
print("applied" if sys.argv[1] == "limit" and limit_arenas() else "not applied", flush=True)

def work():
    kept = [np.ones(50_000 + i) for i in range(200)]  # 400 kB arrays: from the thread's arena
    del kept

threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
ctypes.CDLL("libc.so.6").malloc_stats()  # one "Arena N:" block per arena, on stderr
"""

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc arenas are glibc's")


def _arenas(mode: str, **env: str) -> tuple[str, int]:
    base = {k: v for k, v in os.environ.items() if k != allocator.ENV}
    run = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                         cwd=ROOT, env={**base, "PYTHONPATH": str(ROOT), **env})
    return run.stdout.strip(), sum(line.startswith("Arena ") for line in run.stderr.splitlines())


@glibc_only
def test_eight_allocating_threads_share_two_arenas_once_limited() -> None:
    assert _arenas("limit") == ("applied", allocator.ARENAS)
    said, unlimited = _arenas("none")
    assert said == "not applied" and unlimited > allocator.ARENAS  # glibc's own: one per thread, up to 8/core


@glibc_only
def test_the_users_malloc_arena_max_wins() -> None:
    assert _arenas("limit", MALLOC_ARENA_MAX="3") == ("not applied", 3)


def test_workers_get_the_same_setting_and_a_bad_count_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(allocator.ENV, raising=False)
    assert allocator.worker_env() == {"MALLOC_ARENA_MAX": str(allocator.ARENAS)}
    monkeypatch.setenv(allocator.ENV, "4")
    assert allocator.worker_env() == {"MALLOC_ARENA_MAX": "4"}
    with pytest.raises(ValueError, match="at least 1"):
        allocator.limit_arenas(0)
