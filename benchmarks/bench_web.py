"""Page and API timings of the web app (qa serve) over N synthetic result rows.

    .venv/bin/python benchmarks/bench_web.py --rows 10000            # SQLite in a temp dir
    .venv/bin/python benchmarks/bench_web.py --rows 10000 --url postgresql+psycopg://...

Rows are bulk-inserted (``ResultStore.insert_new``, the row builders of ``ResultStore.save``), then every endpoint is
called through the ASGI app in-process (no network) and the median of ``--repeat`` calls
is reported in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # qa_testkit

from fastapi.testclient import TestClient
from sqlalchemy.orm import sessionmaker

from qa_pipeline.config import load_settings
from qa_pipeline.store import ResultStore
from qa_pipeline.web import create_app
from qa_pipeline.web.auth import add_user
from qa_testkit.web_results import synthetic_results

PASSWORD = "bench-password"


def fill(store: ResultStore, rows: int) -> float:
    t0 = time.perf_counter()
    batch = []
    for r in synthetic_results(rows):
        batch.append(r)
        if len(batch) == 1000:
            store.insert_new(batch)
            batch = []
    if batch:
        store.insert_new(batch)
    return time.perf_counter() - t0


def timed(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--url", default=None, help="SQLAlchemy URL of an EMPTY database (default: SQLite in a temp dir)")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-web-"))
    settings = load_settings(None, data_dir=tmp, **({"database_url": args.url} if args.url else {}))
    store = ResultStore(settings.resolved_database_url)
    fill_s = fill(store, args.rows)
    sessions = sessionmaker(store.engine)
    add_user(sessions, "rev", PASSWORD, "reviewer")
    add_user(sessions, "sup", PASSWORD, "supervisor", teams=["Team 1"])
    add_user(sessions, "agent", PASSWORD, "agent", agent_id="A2003")
    app = create_app(settings, store=store)

    def client(user: str) -> TestClient:
        c = TestClient(app)
        r = c.post("/api/login", json={"username": user, "password": PASSWORD})
        r.raise_for_status()
        c.headers["X-CSRF-Token"] = r.json()["csrf"]
        return c

    rev, sup, agent = client("rev"), client("sup"), client("agent")
    first = rev.get("/api/queue").json()
    call_id = first["items"][0]["call_id"]
    for item_id in ("greeting", "closing"):
        for row in rev.get("/api/queue", params={"page_size": 100, "page": 2}).json()["items"][:50]:
            rev.post(f"/api/calls/{row['call_id']}/overrides", json={"item_id": item_id, "agree": row["total"] >= 50})

    def ok(c: TestClient, path: str, **params: object) -> Callable[[], object]:
        def go() -> object:
            r = c.get(path, params=params)
            assert r.status_code == 200, (path, r.status_code, r.text[:200])
            return r
        return go

    cases = [
        ("API queue, page 1 (flagged, reviewer)", ok(rev, "/api/queue")),
        ("API queue, page 50", ok(rev, "/api/queue", page=50)),
        ("API queue, team + score range + failed item", ok(rev, "/api/queue", team="Team 2", score_min=0, score_max=80, item="greeting")),
        ("API queue, date range + flag", ok(rev, "/api/queue", date_from="2026-09-01", date_to="2026-09-15", flag="fatal_item")),
        ("API queue, supervisor (one team)", ok(sup, "/api/queue")),
        ("API queue, agent (own calls)", ok(agent, "/api/queue")),
        ("Page /queue", ok(rev, "/queue")),
        ("API call review", ok(rev, f"/api/calls/{call_id}")),
        ("Page /calls/{id}", ok(rev, f"/calls/{call_id}")),
        ("API calibration (100 reviews)", ok(rev, "/api/calibration")),
        ("Page /calibration", ok(rev, "/calibration")),
        ("API coaching agent", ok(rev, "/api/coaching/agents/A2003")),
        ("Page /coaching/{agent}", ok(rev, "/coaching/A2003")),
        ("API coaching teams", ok(rev, "/api/coaching/teams")),
        ("API coaching CSV", ok(rev, "/api/coaching/agents/A2003.csv")),
        ("API search (redacted text)", ok(rev, "/api/search", q="烦不烦")),
    ]
    print(f"# bench_web: {args.rows} synthetic results on {store.engine.dialect.name} (bulk insert {fill_s:.1f} s)")
    print("| endpoint | median ms |")
    print("|---|---:|")
    for name, fn in cases:
        print(f"| {name} | {timed(fn, args.repeat):.1f} |")
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
