"""Dashboard query times of the analytics tables at 100k and 1M synthetic calls, SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_analytics.py --rows 100000 1000000 --backend sqlite postgres

Rows come from :func:`qa_testkit.analytics_rows.generate` (90 days, diurnal arrivals, 8
drivers, 20 areas, 10 teams x 12 agents, returning customers) and are bulk-inserted with their
repeat-contact gaps. Each query is run ``--repeat`` times after one warm-up run; the median is
reported in milliseconds. PostgreSQL: ``--pg-url postgresql+psycopg://user@host:port`` (a server
where the user may create databases), else a throwaway cluster is started with ``initdb`` /
``pg_ctl`` as in ``tests/test_postgres.py``. Writes ``benchmarks/ANALYTICS.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # qa_testkit

from qa_pipeline.analytics import queries
from qa_pipeline.analytics.alerts import run_detection
from qa_pipeline.analytics.export import rows as export_rows
from qa_pipeline.analytics.refresh import local_hour
from qa_pipeline.analytics.spikes import SpikeConfig
from qa_pipeline.store import ResultStore
from qa_testkit.analytics_rows import generate, insert_rows

TZ = "Asia/Shanghai"
DAYS = 90
START = datetime(2026, 9, 1, tzinfo=timezone(timedelta(hours=8)))


def timed(fn: Callable[[], object], repeat: int) -> float:
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def workload(store: ResultStore) -> dict[str, Callable[[], object]]:
    """The dashboard's queries over the last 30 of the 90 days (and one over all 90)."""
    last_day = local_hour(START + timedelta(days=DAYS), TZ) // 24 - 1
    lo = last_day - 29
    now_hour = last_day * 24 + 23
    teams = ["team03"]

    def q(fn: Callable[..., object], *args: object, **kw: object) -> Callable[[], object]:
        def run() -> object:
            with store.session() as s:
                out = fn(s, *args, **kw)
                return list(out) if not isinstance(out, (list, dict)) else out

        return run

    def detect_day() -> object:
        with store.session() as s:
            return run_detection(s, range(now_hour - 23, now_hour + 1), SpikeConfig())

    return {
        "driver mix, 30 days": q(queries.driver_mix, lo, last_day),
        "driver mix, 90 days": q(queries.driver_mix, last_day - DAYS + 1, last_day),
        "driver trend per day, 30 days": q(queries.driver_trend, lo, last_day),
        "repeat rate + FCR by team, 30 days": q(queries.repeat_stats, "team", lo, last_day, now_hour=now_hour),
        "repeat rate + FCR by agent, 30 days": q(queries.repeat_stats, "agent_id", lo, last_day, now_hour=now_hour),
        "same, one supervisor's team": q(queries.repeat_stats, "agent_id", lo, last_day, now_hour=now_hour, team=teams),
        "escalation list, 30 days (100 newest)": q(queries.escalations, lo, last_day),
        "counts for one hour's spike test (3 dims)": q(queries.bucket_counts, "hour", [now_hour - 24 * i for i in range(8)], ("area", "queue", "team")),
        "spike detector over the last 24 hours": detect_day,
        "export rows, 1 day": q(export_rows, last_day, last_day),
    }


def run_one(url: str, rows: int, repeat: int) -> tuple[float, dict[str, float]]:
    store = ResultStore(url)
    try:
        t0 = time.perf_counter()
        insert_rows(store.engine, generate(rows, start=START, days=DAYS), tz=TZ)
        load_s = time.perf_counter() - t0
        with store.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        return load_s, {name: timed(fn, repeat) for name, fn in workload(store).items()}
    finally:
        store.close()


@contextmanager
def throwaway_pg() -> Iterator[str]:
    from test_postgres import (  # the tests' cluster helpers
        _as_postgres,
        _free_port,
        _pg_bin,
    )

    root = Path(tempfile.mkdtemp(prefix="qa-bench-pg-"))
    if os.geteuid() == 0:
        import shutil

        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", _free_port()
    def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(_as_postgres(cmd), check=True, capture_output=True, text=True, timeout=120)

    run([_pg_bin("initdb"), "-D", str(data), "-U", "qa", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
    run([_pg_bin("pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60",
         "-o", f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c full_page_writes=off", "start"])  # fmt: skip
    try:
        yield f"postgresql+psycopg://qa@127.0.0.1:{port}"
    finally:
        run([_pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        import shutil

        shutil.rmtree(root, ignore_errors=True)


def pg_database(server: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--backend", nargs="+", choices=("sqlite", "postgres"), default=["sqlite", "postgres"])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--pg-url", default=None, help="PostgreSQL server URL (without database); default: a throwaway cluster")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("ANALYTICS.md"))
    args = ap.parse_args(argv)
    results: dict[tuple[str, int], tuple[float, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backend:
            if backend == "postgres":
                server_cm = nullcontext(args.pg_url) if args.pg_url else throwaway_pg()
            else:
                server_cm = nullcontext(None)
            with server_cm as server:
                for n in args.rows:
                    url = f"sqlite:///{tmp}/bench_{n}.db" if backend == "sqlite" else pg_database(server, f"bench_{n}")
                    print(f"{backend} {n:,} rows ...", file=sys.stderr, flush=True)
                    results[(backend, n)] = run_one(url, n, args.repeat)
                    print(f"  loaded in {results[(backend, n)][0]:.0f} s", file=sys.stderr, flush=True)
    args.out.write_text(report(results, args), encoding="utf-8")
    print(args.out.read_text(encoding="utf-8"))
    return 0


def report(results: dict[tuple[str, int], tuple[float, dict[str, float]]], args: argparse.Namespace) -> str:
    cols = sorted(results, key=lambda k: (k[0] != "sqlite", k[1]))
    names = list(next(iter(results.values()))[1]) if results else []
    head = "| query (median ms) | " + " | ".join(f"{b} {n:,}" for b, n in cols) + " |"
    lines = [
        "# Analytics dashboard queries at scale",
        "",
        f"`{' '.join(['.venv/bin/python benchmarks/bench_analytics.py', '--rows', *map(str, args.rows), '--backend', *args.backend])}`",
        f"on {platform.node() or 'this machine'}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC (a shared, loaded machine: treat as upper bounds).",
        "",
        f"Synthetic calls over {DAYS} days (diurnal arrivals, 8 drivers, 20 areas, 10 teams x 12 agents, ~1 in 6 calls",
        "from a returning customer), bulk-inserted with their repeat-contact gaps; `ANALYZE` after loading;",
        f"median of {args.repeat} runs after a warm-up. PostgreSQL: a local throwaway cluster (fsync off).",
        "",
        head,
        "|" + "---|" * (len(cols) + 1),
    ]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(f"{results[c][1][name]:.1f}" for c in cols) + " |")
    lines.append("| *(load: seconds to insert)* | " + " | ".join(f"{results[c][0]:.0f} s" for c in cols) + " |")
    lines += ["", "Indexes on `call_analytics` (migration `0006_analytics`): (hour, primary_driver), (day, primary_driver),",
              "(team, day, linked, hour, prev_gap_s, next_gap_s), (agent_id, ...same), (caller_hash, primary_driver, at),",
              "(escalation, day).", ""]  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
