"""The web API suite (tests/test_web.py) against a real PostgreSQL server.

A throwaway cluster is created with ``initdb`` and started with ``pg_ctl`` on 127.0.0.1
under a temporary directory (as the ``postgres`` user when the tests run as root); every
test gets a fresh database. A missing PostgreSQL installation fails the tests: CI installs
the ``postgresql`` package.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import soundfile as sf
import test_web
from test_web import (  # noqa: F401  (re-collected here, against PostgreSQL)
    test_agent_dashboard_and_csv,
    test_agent_opening_another_agents_call_gets_403,
    test_an_override_changes_the_final_score_everywhere_it_is_shown,
    test_audio_is_served_with_range_support,
    test_calibration_from_reviews_matches_hand_computed,
    test_csrf_is_required_on_writes_and_login_form,
    test_every_api_route_needs_a_session,
    test_login_wrong_password_is_401_and_audited,
    test_overrides_change_final_score_and_are_audited,
    test_passwords_are_argon2_hashed,
    test_pii_redacted_unless_role_allows_raw,
    test_queue_orders_by_priority_and_filters,
    test_search_finds_short_and_long_queries_in_current_transcripts,
    test_search_over_redacted_transcripts,
    test_supervisor_sees_only_their_teams,
    test_swap_roles_rescores_the_call,
    test_team_overview_and_csv,
    test_team_overview_counts_per_team_and_agent,
)

from qa_pipeline.config import Settings, load_settings
from qa_pipeline.store import ResultStore


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        pytest.fail(f"PostgreSQL binary {name!r} not found: apt-get install -y postgresql")
    return found


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb refuses to run as root: drop to the ``postgres`` system user then."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """``postgresql+psycopg://qa@127.0.0.1:PORT`` of a throwaway cluster."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    root = Path(tempfile.mkdtemp(prefix="qa-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data = root / "data"
    port = _free_port()
    run = lambda cmd: subprocess.run(_as_postgres(cmd), check=True, capture_output=True, text=True, timeout=120)  # noqa: E731
    run([initdb, "-D", str(data), "-U", "qa", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
    run([pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60",
         "-o", f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c full_page_writes=off", "start"])
    try:
        yield f"postgresql+psycopg://qa@127.0.0.1:{port}"
    finally:
        run([pg_ctl, "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(root, ignore_errors=True)


def _create_database(server: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


@pytest.fixture
def web(tmp_path: Path, pg_server: str, request: pytest.FixtureRequest) -> Iterator[tuple[Settings, ResultStore]]:
    """Same data as tests/test_web.py's fixture, in a fresh PostgreSQL database."""
    audio = tmp_path / "call.wav"
    sf.write(audio, np.zeros((8000 * 12, 2), dtype=np.int16), 8000, subtype="PCM_16")
    url = _create_database(pg_server, f"t_{abs(hash(request.node.nodeid)) % 10**10}_{os.getpid()}")
    settings = load_settings(None, data_dir=tmp_path / "data", database_url=url)
    store = ResultStore(url)
    assert store.engine.dialect.name == "postgresql"
    test_web.seed(store, audio)
    yield settings, store
    store.close()


def test_store_round_trip_on_postgres(web: tuple[Settings, ResultStore]) -> None:
    _, store = web
    r = store.latest("c_nogreet", raw=True)
    assert r.raw_transcript is not None and "13812345678" in r.raw_transcript.utterances[1].text
    assert "13812345678" not in r.transcript.utterances[1].text
    assert store.count_results() == 5


def test_postgres_schema_comes_from_the_migrations_with_a_trigram_search_index(web: tuple[Settings, ResultStore]) -> None:
    from sqlalchemy import text

    from qa_pipeline.migrations import head_revision

    _, store = web
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head_revision()
        indexes = set(conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'transcript_text'")).scalars())
        assert "ix_transcript_text_trgm" in indexes
        plan = "\n".join(
            conn.execute(text("EXPLAIN SELECT result_id FROM transcript_text WHERE text ILIKE '%停电了%'")).scalars()
        )
    assert "transcript_text" in plan


def test_refreshes_running_at_once_on_postgres_analyse_each_call_once_and_link_like_one(
    pg_server: str, request: pytest.FixtureRequest
) -> None:
    """tests/test_analytics.py's concurrent refreshes, on PostgreSQL (an advisory lock serialises them)."""
    from datetime import datetime, timedelta, timezone

    from qa_pipeline.analytics.refresh import refresh
    from qa_pipeline.analytics.taxonomy import load_taxonomies
    from qa_pipeline.config import PROJECT_ROOT
    from qa_testkit.concurrent_refresh import TZ, analytics_snapshot, refresh_at_once, seed_chained_calls

    name = f"t_{abs(hash(request.node.nodeid)) % 10**10}_{os.getpid()}"
    url, serial_url = _create_database(pg_server, name + "_a"), _create_database(pg_server, name + "_b")
    start = datetime(2026, 11, 20, 9, tzinfo=timezone(timedelta(hours=8)))
    for u in (url, serial_url):
        with ResultStore(u) as store:
            ids = seed_chained_calls(store, 60, start=start)
    taxonomies = PROJECT_ROOT / "taxonomies"
    codes, counts = refresh_at_once(url, taxonomies, processes=3)
    assert codes == [0, 0, 0] and sum(counts) == len(ids), (codes, counts)
    with ResultStore(serial_url) as serial, ResultStore(url) as store:
        assert refresh(serial, load_taxonomies(taxonomies), TZ).analysed == len(ids)
        expected, got = analytics_snapshot(serial), analytics_snapshot(store)
    assert sorted(got) == ids and got == expected
