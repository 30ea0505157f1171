"""Security and fault hardening of the web app and the files it relies on (issue 14): each
test is an attack or a careless operator's mistake that used to succeed.

1. forgeable sessions (empty/weak secret), 2. audio route serving any file, 3. sessions that
outlive logout and password changes, 4. no login throttling and weak passwords, 6. CSV formula
injection, 7. world-readable files, 9. audit, scoping, stale JSON, identifiers, paging, headers,
PII in custom fields.  (5, no speech and truncated audio: tests/test_recording_checks.py.)
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner
from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from qa_pipeline.config import Settings, load_settings
from qa_pipeline.errors import ConfigError, MetadataError, QAError
from qa_pipeline.metadata import resolve_metadata
from qa_pipeline.store import ResultStore
from qa_pipeline.web import create_app
from qa_pipeline.web.app import SECRET_ENV, session_secret
from qa_pipeline.web.auth import add_user
from qa_pipeline.web.models import AuditRow, UserRow
from qa_testkit.web_results import make_result

PASSWORD = "correct horse 1"
DAY = datetime(2026, 11, 3, 9, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, ResultStore, Path]]:
    """Calls of A1001 (team 抢修一组, one from before a move to 营销二组) and of a formula-named
    agent; users admin, rev, sup (抢修一组), wang (A1001)."""
    tmp = tmp_path_factory.mktemp("security")
    recordings = tmp / "recordings"
    recordings.mkdir()
    audio = recordings / "call.wav"
    rng = np.random.default_rng(3)
    sf.write(audio, (rng.standard_normal((8000 * 12, 2)) * 3000).astype(np.int16), 8000, subtype="PCM_16")
    settings = load_settings(None, data_dir=tmp / "data")
    store = ResultStore(settings.resolved_database_url)
    calls = [
        ("c_good", 0, "A1001", "王芳", "抢修一组", 1),
        ("c_moved", 1, "A1001", "王芳", "营销二组", 2),  # the agent worked in another team before
        ("c_rude", 3, "A1001", "王芳", "抢修一组", 3),
        ("x_formula", 1, "A3003", "=HYPERLINK(\"http://evil\",\"x\")", "=1+2+cmd|' /C calc'!A0", 4),
        ("u_name", 0, "王芳-01", "王芳", "抢修一组", 5),
    ]
    for call_id, d, agent, name, team, day in calls:
        result = make_result(call_id, dialogue=d, agent_id=agent, agent_name=name, team=team,
                             start_time=DAY.replace(day=day), audio_path=str(audio))
        if call_id == "c_good":
            from dataclasses import replace

            result = replace(result, metadata=replace(result.metadata, custom={"callback": "13812345678", "ticket": "T-88"}))
        store.save(result)
    sessions = sessionmaker(store.engine)
    add_user(sessions, "admin", PASSWORD, "admin")
    add_user(sessions, "rev", PASSWORD, "reviewer")
    add_user(sessions, "sup", PASSWORD, "supervisor", teams=["抢修一组"])
    add_user(sessions, "wang", PASSWORD, "agent", agent_id="A1001")
    yield settings, store, audio
    store.close()


def client_for(web: tuple[Settings, ResultStore, Path], username: str | None = None, password: str = PASSWORD) -> TestClient:
    settings, store, _ = web
    c = TestClient(create_app(settings, store=store))
    if username:
        r = c.post("/api/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf"]
    return c


def audit_rows(web: tuple[Settings, ResultStore, Path], action: str) -> list[AuditRow]:
    with sessionmaker(web[1].engine)() as s:
        return list(s.execute(select(AuditRow).where(AuditRow.action == action).order_by(AuditRow.id)).scalars())


# -- 1. forgeable sessions -----------------------------------------------------------------------------

def test_an_empty_or_weak_secret_refuses_to_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(None, data_dir=tmp_path / "data")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "web_secret").write_text("")  # what a crash between create and write left
    with pytest.raises(ConfigError, match="too weak.*delete the file"):
        create_app(settings)
    monkeypatch.setenv(SECRET_ENV, "x")
    with pytest.raises(ConfigError, match="QA_WEB_SECRET.*too weak"):
        session_secret(settings)
    monkeypatch.setenv(SECRET_ENV, "a" * 64)  # long but not random
    with pytest.raises(ConfigError, match="too weak"):
        session_secret(settings)


def test_the_secret_file_is_created_atomically_and_private(tmp_path: Path) -> None:
    settings = load_settings(None, data_dir=tmp_path / "data")
    first = session_secret(settings)
    path = tmp_path / "data" / "web_secret"
    assert len(first) >= 32 and path.read_text() == first and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert session_secret(settings) == first  # a second process reads, never replaces it
    assert not [p for p in (tmp_path / "data").iterdir() if p.name != "web_secret"]  # no temporary left


def _secret_of(data_dir: str) -> str:
    return session_secret(load_settings(None, data_dir=Path(data_dir)))


def test_concurrent_first_starts_agree_on_one_complete_secret(tmp_path: Path) -> None:
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(4) as pool:
        found = pool.map(_secret_of, [str(tmp_path / "data")] * 16)
    assert len(set(found)) == 1 and len(found[0]) >= 32


def test_qa_serve_refuses_a_weak_secret_with_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from qa_pipeline.cli import app

    monkeypatch.setenv("QA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(SECRET_ENV, "x")
    r = CliRunner().invoke(app, ["serve", "--port", "1"])
    assert r.exit_code == 2 and "QA_WEB_SECRET" in r.output and "too weak" in r.output


def _forge(secret: str, payload: dict) -> str:
    data = base64.b64encode(json.dumps(payload).encode())
    return TimestampSigner(secret).sign(data).decode()


def test_a_hand_made_cookie_is_not_a_session_even_with_the_signing_key(web) -> None:
    settings, store, _ = web
    secret = session_secret(settings)
    with sessionmaker(store.engine)() as s:
        admin_id = s.execute(select(UserRow.id).where(UserRow.username == "admin")).scalar_one()
    c = client_for(web)
    for payload in ({"uid": admin_id}, {"sid": "guessed-token", "uid": admin_id}):
        c.cookies.set("qa_session", _forge(secret, payload))
        assert c.get("/api/me").status_code == 401, payload
        assert c.get("/api/audit").status_code == 401


# -- 2. the audio route serves only the call's own recording from its store ----------------------------

def test_audio_swapped_for_a_link_to_the_secret_is_refused(tmp_path: Path) -> None:
    settings = load_settings(None, data_dir=tmp_path / "data")
    store = ResultStore(settings.resolved_database_url)
    folder = tmp_path / "rec"
    folder.mkdir()
    audio = folder / "call.wav"
    sf.write(audio, (np.random.default_rng(1).standard_normal((8000 * 2, 2)) * 3000).astype(np.int16), 8000, subtype="PCM_16")
    store.save(make_result("c1", audio_path=str(audio)))
    add_user(sessionmaker(store.engine), "wang", PASSWORD, "agent", agent_id="A1001")
    c = client_for((settings, store, audio), "wang")
    assert c.get("/api/calls/c1/audio").content == audio.read_bytes()
    secret = session_secret(settings).encode()
    audio.unlink()
    audio.symlink_to(tmp_path / "data" / "web_secret")
    r = c.get("/api/calls/c1/audio")
    assert r.status_code == 403 and secret not in r.content and "outside its recording store" in r.json()["detail"]
    assert any(a.action == "audio_refused" for a in audit_rows((settings, store, audio), "audio_refused"))
    # a file of the store that is not the scored audio (edited or replaced) is refused too
    audio.unlink()
    sf.write(audio, np.ones((8000, 2), dtype=np.int16), 8000, subtype="PCM_16")
    r = c.get("/api/calls/c1/audio")
    assert r.status_code == 409 and "changed since it was scored" in r.json()["detail"]
    store.close()


# -- 3. sessions end at logout, password/role change and timeouts ----------------------------------------

def test_a_saved_cookie_is_dead_after_logout(web) -> None:
    c = client_for(web, "rev")
    saved = dict(c.cookies)
    assert c.post("/api/logout").status_code == 200
    replay = client_for(web)
    replay.cookies.update(saved)
    replay.headers["X-CSRF-Token"] = c.headers["X-CSRF-Token"]
    assert replay.get("/api/me").status_code == 401
    assert replay.post("/api/calls/c_rude/overrides", json={"item_id": "greeting", "agree": True}).status_code == 401


def test_password_and_role_changes_end_open_sessions(web) -> None:
    _, store, _ = web
    sessions = sessionmaker(store.engine)
    add_user(sessions, "temp", PASSWORD, "reviewer")
    c = client_for(web, "temp")
    assert c.get("/api/me").json()["role"] == "reviewer"
    add_user(sessions, "temp", "another long passphrase 7", "reviewer", replace=True)  # qa user add --replace
    assert c.get("/api/me").status_code == 401
    c = client_for(web, "temp", "another long passphrase 7")
    add_user(sessions, "temp", "another long passphrase 7", "agent", agent_id="A1001", replace=True)
    assert c.get("/api/me").status_code == 401
    saved = [a.detail for a in audit_rows(web, "user_saved") if a.detail.startswith("temp:")]
    assert len(saved) == 3 and "role=agent" in saved[-1]


def test_idle_and_absolute_timeouts(web) -> None:
    from qa_pipeline.web.models import SessionRow

    _, store, _ = web
    sessions = sessionmaker(store.engine)
    now = datetime.now(timezone.utc)
    for column, age in (("last_seen", timedelta(minutes=31)), ("created_at", timedelta(hours=8, minutes=1))):
        c = client_for(web, "rev")
        assert c.get("/api/me").status_code == 200
        with sessions.begin() as s:
            newest = s.execute(select(SessionRow.id).order_by(SessionRow.created_at.desc()).limit(1)).scalar_one()
            s.execute(update(SessionRow).where(SessionRow.id == newest).values({column: now - age}))
        assert c.get("/api/me").status_code == 401, column
        with sessions() as s:
            assert s.get(SessionRow, newest) is None  # the expired row is gone


# -- 4. login throttling and password policy -------------------------------------------------------------

def test_failed_logins_are_throttled_per_account_then_per_address(web) -> None:
    c = client_for(web)
    for _ in range(5):
        assert c.post("/api/login", json={"username": "rev", "password": "wrong guess 123"}).status_code == 401
    r = c.post("/api/login", json={"username": "rev", "password": PASSWORD})  # even the right password
    assert r.status_code == 429 and "too many failed logins for this account" in r.json()["detail"]
    assert int(r.headers["retry-after"]) > 60
    page = c.get("/login").text
    token = page.split('name="csrf" value="')[1].split('"')[0]
    r = c.post("/login", data={"username": "rev", "password": PASSWORD, "csrf": token})
    assert r.status_code == 429 and "Too many failed logins" in r.text
    # other accounts still work from this address until the address limit (20 failures) is used
    assert c.post("/api/login", json={"username": "sup", "password": PASSWORD}).status_code == 200
    for k in range(15):
        assert c.post("/api/login", json={"username": f"guess{k}", "password": "x" * 10}).status_code == 401
    r = c.post("/api/login", json={"username": "wang", "password": PASSWORD})
    assert r.status_code == 429 and "your address" in r.json()["detail"]
    assert audit_rows(web, "login_throttled")


@pytest.mark.parametrize("weak", ["password", "12345678", "aaaaaaaa", "password123", "admin12345", "qwertyuiop"])
def test_common_and_short_passwords_are_refused(web, weak: str) -> None:
    with pytest.raises(QAError, match="password"):
        add_user(sessionmaker(web[1].engine), "boss", weak, "admin")


def test_cli_refuses_a_weak_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from qa_pipeline.cli import app

    monkeypatch.setenv("QA_DATA_DIR", str(tmp_path / "data"))
    r = CliRunner().invoke(app, ["user", "add", "root", "--role", "admin", "--password", "12345678"])
    assert r.exit_code == 2 and "password must be at least 10 characters" in r.output
    r = CliRunner().invoke(app, ["user", "add", "root", "--role", "admin", "--password", "password1234"])
    assert r.exit_code == 2 and "too easy to guess" in r.output


# -- 6. CSV formula injection --------------------------------------------------------------------------------

def test_csv_exports_neutralise_formulas(web) -> None:
    admin = client_for(web, "admin")
    teams = list(csv.reader(io.StringIO(admin.get("/api/coaching/teams.csv").text)))
    row = next(r for r in teams if r[1] == "A3003")
    assert row[0].startswith("'=1+2+cmd") and row[2].startswith("'=HYPERLINK(")
    assert not [cell for r in teams for cell in r if cell[:1] in ("=", "+", "@", "|", "\t", "\r")]
    assert [a for a in audit_rows(web, "export_csv") if a.username == "admin"]


def test_csv_export_of_a_non_ascii_agent_id_has_a_safe_file_name(web) -> None:
    r = client_for(web, "rev").get("/api/coaching/agents/王芳-01.csv")
    assert r.status_code == 200
    assert r.headers["content-disposition"] == "attachment; filename=\"coaching___-01.csv\"; filename*=UTF-8''coaching_%E7%8E%8B%E8%8A%B3-01.csv"


def test_daily_summary_csv_neutralises_formulas(web, tmp_path: Path) -> None:
    from qa_pipeline.summary import write_daily_summaries

    written = write_daily_summaries(web[1], ["2026-11-04"], timezone="UTC", results_dir=tmp_path)
    text = Path(next(p for p in written if p.endswith(".csv"))).read_text()
    assert "'=HYPERLINK(" in text and ",=" not in text and "\n=" not in text
    assert stat.S_IMODE(Path(written[0]).stat().st_mode) == 0o600


# -- 7. private files ------------------------------------------------------------------------------------------

def test_database_results_and_data_folder_are_private(tmp_path: Path) -> None:
    from qa_pipeline.batch import write_result_json

    old = os.umask(0o022)
    try:
        store = ResultStore(f"sqlite:///{tmp_path / 'data' / 'qa.db'}")
        result = make_result("p1")
        store.save(result)
        path = write_result_json(result, tmp_path / "data" / "results")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "data" / "results").stat().st_mode) == 0o700
    for name in ("qa.db", "qa.db-wal"):
        f = tmp_path / "data" / name
        if f.exists():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    store.close()


# -- 9. audit, scoping, stale JSON, identifiers, paging, headers, PII ---------------------------------------------

def test_reads_of_personal_data_are_audited(web) -> None:
    admin = client_for(web, "admin")
    assert admin.get("/api/calls/c_good").json()["raw_text"]
    rev = client_for(web, "rev")
    rev.get("/calls/c_rude")
    assert rev.get("/api/calls/c_good/audio").status_code == 200
    rev.get("/api/coaching/agents/A1001.csv")
    rev.get("/api/search", params={"q": "停电"})
    views = {(a.username, a.call_id, a.detail) for a in audit_rows(web, "view_call")}
    assert ("admin", "c_good", "raw") in views and ("rev", "c_rude", "redacted") in views
    assert [a for a in audit_rows(web, "audio") if a.username == "rev" and a.call_id == "c_good"]
    assert [a for a in audit_rows(web, "export_csv") if a.username == "rev" and "A1001" in a.detail]
    assert [a for a in audit_rows(web, "search") if a.username == "rev"]


def test_supervisor_sees_only_their_teams_items_of_an_agent_who_moved(web) -> None:
    sup = client_for(web, "sup")
    d = sup.get("/api/coaching/agents/A1001").json()
    assert {t["call_id"] for t in d["trend"]} == {"c_good", "c_rude"}
    greeting = next(i for i in d["items"] if i["item_id"] == "greeting")
    assert greeting["scored"] == 2  # c_moved (another team's call) is not counted
    assert "c_moved" not in json.dumps(d)


def test_swap_roles_in_the_web_rewrites_the_result_json(web) -> None:
    from qa_pipeline.batch import write_result_json

    settings, store, _ = web
    write_result_json(store.latest("c_rude"), settings.resolved_results_dir)
    rev = client_for(web, "rev")
    after = rev.post("/api/calls/c_rude/swap-roles").json()
    on_disk = json.loads((settings.resolved_results_dir / "c_rude.json").read_text())
    assert on_disk["scorecard"]["total"] == after["scorecard"]["total"] and on_disk["result_key"] == after["result_key"]
    rev.post("/api/calls/c_rude/swap-roles")  # back, for the other tests


@pytest.mark.parametrize("agent_id", ['A1"; x=1', "A1\r\nSet-Cookie: a=b", "../A1", "A1/B2", "A 1"])
def test_unsafe_agent_ids_are_metadata_errors(tmp_path: Path, agent_id: str) -> None:
    audio = tmp_path / "call.wav"
    audio.write_bytes(b"")
    audio.with_suffix(".json").write_text(json.dumps({"agent_id": agent_id}))
    with pytest.raises(MetadataError, match="agent_id"):
        resolve_metadata(audio, manifest=None, filename_pattern=".*", timezone="UTC")


def test_control_characters_in_text_fields_are_metadata_errors(tmp_path: Path) -> None:
    audio = tmp_path / "call.wav"
    audio.write_bytes(b"")
    for field, value in (("team", "a\nb"), ("agent_name", "x\r\ny"), ("custom", {"k": "v\x00"})):
        audio.with_suffix(".json").write_text(json.dumps({field: value}))
        with pytest.raises(MetadataError, match=field):
            resolve_metadata(audio, manifest=None, filename_pattern=".*", timezone="UTC")
    audio.with_suffix(".json").write_text(json.dumps({"agent_id": "王芳-01", "team": "抢修 一组", "custom": {"ticket": "T-88"}}))
    assert resolve_metadata(audio, manifest=None, filename_pattern=".*", timezone="UTC").agent_id == "王芳-01"


def test_huge_page_numbers_are_422_not_500(web) -> None:
    rev = client_for(web, "rev")
    for path in ("/api/queue", "/queue"):
        r = rev.get(path, params={"page": "99999999999999999999"})
        assert r.status_code == 422, (path, r.status_code)
    assert rev.get("/api/queue", params={"page": 1_000_000}).json()["items"] == []
    for bad in ("nan", "inf", "1e999"):
        assert rev.get("/api/queue", params={"score_min": bad}).status_code == 422, bad


def test_security_headers_csp_and_no_store(web) -> None:
    rev = client_for(web, "rev")
    for path in ("/queue", "/calls/c_good", "/api/calls/c_good", "/api/coaching/teams.csv", "/api/calls/c_good/audio"):
        r = rev.get(path)
        assert r.status_code == 200, path
        assert r.headers["cache-control"] == "no-store", path
        assert "default-src 'self'" in r.headers["content-security-policy"] and "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "script-src 'self';" in rev.get("/queue").headers["content-security-policy"]  # no inline scripts on pages
    assert "no-store" not in rev.get("/static/app.css").headers.get("cache-control", "")


def test_phone_numbers_in_custom_fields_are_redacted_unless_raw(web) -> None:
    custom = client_for(web, "rev").get("/api/calls/c_good").json()["metadata"]["custom"]
    assert "13812345678" not in custom["callback"] and "＊" in custom["callback"] and custom["ticket"] == "T-88"
    assert client_for(web, "admin").get("/api/calls/c_good").json()["metadata"]["custom"]["callback"] == "13812345678"


def test_api_docs_are_public_by_decision_and_hold_no_data(web) -> None:
    """/docs and /openapi.json describe the routes (public by decision, README); every data route
    still needs a session."""
    c = client_for(web)
    assert c.get("/openapi.json").status_code == 200
    assert c.get("/api/queue").status_code == 401


def test_a_database_in_a_shared_sticky_folder_leaves_the_folder_alone(tmp_path: Path) -> None:
    """A SQLite file put straight into /tmp-like folders must not chmod them to 0700."""
    shared_dir = tmp_path / "shared"
    shared_dir.mkdir()
    os.chmod(shared_dir, 0o1777)
    store = ResultStore(f"sqlite:///{shared_dir / 'qa.db'}")
    store.close()
    assert stat.S_IMODE(shared_dir.stat().st_mode) == 0o1777
    assert stat.S_IMODE((shared_dir / "qa.db").stat().st_mode) == 0o600
