"""API tests of the review and coaching web app (qa serve): auth, roles, queue, review,
overrides, calibration, coaching, search and the ``qa user add`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from typer.testing import CliRunner

from qa_pipeline.config import Settings, load_settings
from qa_pipeline.store import ResultStore
from qa_pipeline.web import create_app
from qa_pipeline.web.auth import add_user
from qa_pipeline.web.models import UserRow
from qa_pipeline.web.service import cohen_kappa
from qa_testkit.web_results import make_result

PASSWORD = "correct horse 1"


def seed(store: ResultStore, audio: Path) -> None:
    """Agent A1001 (team 抢修一组): c_good, c_nogreet (PII), c_rude (fatal).
    Agent A2002 (team 营销二组): d_noclose, d_rude."""
    calls = [
        ("c_good", 0, "A1001", "王芳", "抢修一组", 1),
        ("c_nogreet", 1, "A1001", "王芳", "抢修一组", 2),
        ("c_rude", 3, "A1001", "王芳", "抢修一组", 3),
        ("d_noclose", 2, "A2002", "李雷", "营销二组", 4),
        ("d_rude", 3, "A2002", "李雷", "营销二组", 5),
    ]
    from datetime import datetime, timezone

    for call_id, d, agent, name, team, day in calls:
        store.save(
            make_result(
                call_id, dialogue=d, agent_id=agent, agent_name=name, team=team,
                start_time=datetime(2026, 11, day, 9, 0, tzinfo=timezone.utc), audio_path=str(audio),
            )
        )
    sessions = sessionmaker(store.engine)
    add_user(sessions, "admin", PASSWORD, "admin")
    add_user(sessions, "rev", PASSWORD, "reviewer")
    add_user(sessions, "sup", PASSWORD, "supervisor", teams=["抢修一组"])
    add_user(sessions, "wang", PASSWORD, "agent", agent_id="A1001")
    add_user(sessions, "li", PASSWORD, "agent", agent_id="A2002")


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[Settings, ResultStore]]:
    audio = tmp_path / "call.wav"
    sf.write(audio, np.zeros((8000 * 12, 2), dtype=np.int16), 8000, subtype="PCM_16")
    settings = load_settings(None, data_dir=tmp_path / "data")
    store = ResultStore(settings.resolved_database_url)
    seed(store, audio)
    yield settings, store
    store.close()


def client_for(web: tuple[Settings, ResultStore], username: str | None = None) -> TestClient:
    settings, store = web
    c = TestClient(create_app(settings, store=store))
    if username:
        r = c.post("/api/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf"]
    return c


# -- auth, roles, audit -----------------------------------------------------------------------

def test_login_wrong_password_is_401_and_audited(web) -> None:
    c = client_for(web)
    assert c.post("/api/login", json={"username": "rev", "password": "nope-nope"}).status_code == 401
    assert c.post("/api/login", json={"username": "ghost", "password": "nope-nope"}).status_code == 401
    assert c.get("/api/me").status_code == 401
    c = client_for(web, "rev")
    assert c.get("/api/me").json()["role"] == "reviewer"
    admin = client_for(web, "admin")
    actions = [(a["username"], a["action"]) for a in admin.get("/api/audit").json()]
    assert ("rev", "login_failed") in actions and ("ghost", "login_failed") in actions and ("rev", "login") in actions
    assert c.get("/api/audit").status_code == 403  # admin only


def test_passwords_are_argon2_hashed(web) -> None:
    _, store = web
    with sessionmaker(store.engine)() as s:
        row = s.execute(select(UserRow).where(UserRow.username == "rev")).scalar_one()
    assert row.password_hash.startswith("$argon2") and PASSWORD not in row.password_hash


def test_every_api_route_needs_a_session(web) -> None:
    c = client_for(web)
    for path in ["/api/queue", "/api/calls/c_good", "/api/calls/c_good/audio", "/api/calibration",
                 "/api/coaching/agents/A1001", "/api/coaching/teams", "/api/search?q=x", "/api/audit"]:
        assert c.get(path).status_code == 401, path
    assert c.post("/api/calls/c_good/overrides", json={"item_id": "greeting", "agree": True}).status_code == 401
    r = c.get("/queue", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_agent_opening_another_agents_call_gets_403(web) -> None:
    wang = client_for(web, "wang")
    assert wang.get("/api/calls/c_good").status_code == 200
    assert wang.get("/api/calls/d_rude").status_code == 403
    assert wang.get("/api/calls/d_rude/audio").status_code == 403
    assert wang.get("/calls/d_rude", headers={"accept": "text/html"}).status_code == 403
    assert wang.get("/api/coaching/agents/A2002").status_code == 403
    assert wang.get("/api/calls/nope").status_code == 404
    queue = wang.get("/api/queue", params={"flagged_only": "false"}).json()
    assert {i["agent_id"] for i in queue["items"]} == {"A1001"}
    assert [h["call_id"] for h in wang.get("/api/search", params={"q": "停电"}).json()] and all(
        h["call_id"].startswith("c_") for h in wang.get("/api/search", params={"q": "停电"}).json()
    )
    # agents may not override or see calibration
    assert wang.post("/api/calls/c_rude/overrides", json={"item_id": "greeting", "agree": True}).status_code == 403
    assert wang.get("/api/calibration").status_code == 403


def test_supervisor_sees_only_their_teams(web) -> None:
    sup = client_for(web, "sup")
    assert sup.get("/api/calls/c_rude").status_code == 200
    assert sup.get("/api/calls/d_rude").status_code == 403
    teams = sup.get("/api/coaching/teams").json()
    assert {t["team"] for t in teams} == {"抢修一组"}
    assert sup.get("/api/coaching/agents/A2002").status_code == 403


def test_csrf_is_required_on_writes_and_login_form(web) -> None:
    rev = client_for(web, "rev")
    del rev.headers["X-CSRF-Token"]
    assert rev.post("/api/calls/c_rude/overrides", json={"item_id": "greeting", "agree": True}).status_code == 403
    c = client_for(web)
    assert c.post("/login", data={"username": "rev", "password": PASSWORD, "csrf": "forged"}, follow_redirects=False).status_code == 403
    page = c.get("/login").text
    token = page.split('name="csrf" value="')[1].split('"')[0]
    r = c.post("/login", data={"username": "rev", "password": PASSWORD, "csrf": token, "next": "/queue"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/queue"
    assert "待复核队列" in c.get("/queue").text  # zh-CN by default


# -- flagged queue ---------------------------------------------------------------------------------

def test_queue_orders_by_priority_and_filters(web) -> None:
    rev = client_for(web, "rev")
    q = rev.get("/api/queue").json()
    ids = [i["call_id"] for i in q["items"]]
    assert set(ids) == {"c_rude", "d_rude", "c_nogreet"}  # c_good and d_noclose (80) have no flags
    assert ids[:2] == ["d_rude", "c_rude"] or ids[:2] == ["c_rude", "d_rude"]  # fatal first
    assert q["items"][0]["fatal_failed"] and q["items"][0]["priority"] == 1
    assert [i["call_id"] for i in rev.get("/api/queue", params={"team": "营销二组"}).json()["items"]] == ["d_rude"]
    assert [i["call_id"] for i in rev.get("/api/queue", params={"agent_id": "A1001", "flag": "low_score", "score_min": 50}).json()["items"]] == ["c_nogreet"]
    assert {i["call_id"] for i in rev.get("/api/queue", params={"item": "forbidden_phrases"}).json()["items"]} == {"c_rude", "d_rude"}
    assert [i["call_id"] for i in rev.get("/api/queue", params={"date_from": "2026-11-03", "date_to": "2026-11-05"}).json()["items"]] == ["c_rude"]
    assert rev.get("/api/queue", params={"score_min": "abc"}).status_code == 422
    all_calls = rev.get("/api/queue", params={"flagged_only": "false", "page_size": 2}).json()
    assert all_calls["total"] == 5 and all_calls["pages"] == 3 and len(all_calls["items"]) == 2
    page3 = rev.get("/api/queue", params={"flagged_only": "false", "page_size": 2, "page": 3}).json()
    assert len(page3["items"]) == 1
    html = rev.get("/queue", params={"team": "营销二组"}).text
    assert "d_rude" in html and "c_rude" not in html


# -- call review ---------------------------------------------------------------------------------------

def test_call_review_page_and_json(web) -> None:
    rev = client_for(web, "rev")
    data = rev.get("/api/calls/c_rude").json()
    assert data["call_id"] == "c_rude" and data["final_score"] == 0.0 and data["overrides"] == {}
    assert {i["id"] for i in data["scorecard"]["items"]} >= {"greeting", "closing", "forbidden_phrases"}
    html = rev.get("/calls/c_rude").text
    assert 'id="player"' in html and "/api/calls/c_rude/audio" in html
    assert 'class="utt agent" id="u-u0001" data-start="0.5"' in html
    assert 'class="evidence"' in html and "对调坐席/客户角色" in html
    assert 'id="swap-roles"' not in client_for(web, "wang").get("/calls/c_rude").text


def test_pii_redacted_unless_role_allows_raw(web) -> None:
    rev = client_for(web, "rev")
    text = rev.get("/api/calls/c_nogreet").json()["utterances"][1]["text"]
    assert "13812345678" not in text and "＊" in text
    assert "13812345678" not in rev.get("/calls/c_nogreet").text
    assert rev.get("/api/search", params={"q": "13812345678"}).json() == []
    admin = client_for(web, "admin")
    data = admin.get("/api/calls/c_nogreet").json()
    assert data["raw_text"] and "13812345678" in data["utterances"][1]["text"]


def test_audio_is_served_with_range_support(web) -> None:
    rev = client_for(web, "rev")
    full = rev.get("/api/calls/c_good/audio")
    assert full.status_code == 200 and full.headers["content-type"] == "audio/wav"
    assert full.headers.get("accept-ranges") == "bytes"
    part = rev.get("/api/calls/c_good/audio", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == full.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(full.content)}"


# -- overrides, swap roles, calibration -----------------------------------------------------------------

def test_overrides_change_final_score_and_are_audited(web) -> None:
    rev = client_for(web, "rev")
    r = rev.post("/api/calls/c_nogreet/overrides", json={"item_id": "greeting", "agree": False, "comment": "greeted, ASR missed it"})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["scorecard"]["total"] == 75.0 and data["final_score"] == 100.0
    assert data["overrides"]["greeting"] == {**data["overrides"]["greeting"], "agree": False, "auto_outcome": "fail", "human_outcome": "pass", "reviewer": "rev"}
    # agreeing replaces the earlier verdict
    data = rev.post("/api/calls/c_nogreet/overrides", json={"item_id": "greeting", "agree": True}).json()
    assert data["final_score"] == 75.0
    # a fatal item overridden to pass lifts the zero: greeting (25) and closing (20) still fail -> 55
    data = rev.post("/api/calls/c_rude/overrides", json={"item_id": "forbidden_phrases", "agree": False}).json()
    assert not data["final_fatal_failed"] and data["final_score"] == 55.0
    assert rev.post("/api/calls/c_rude/overrides", json={"item_id": "nope", "agree": True}).status_code == 404
    assert rev.post("/api/calls/c_rude/overrides", json={"item_id": "greeting", "agree": False, "human_outcome": "fail"}).status_code == 422
    audit = client_for(web, "admin").get("/api/audit").json()
    assert [a for a in audit if a["action"] == "override" and a["call_id"] == "c_nogreet" and "greeted, ASR missed it" in a["detail"]]


def test_swap_roles_rescores_the_call(web) -> None:
    rev = client_for(web, "rev")
    before = rev.get("/api/calls/c_good").json()
    r = rev.post("/api/calls/c_good/swap-roles")
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["utterances"][0]["role"] == "customer" and before["utterances"][0]["role"] == "agent"
    assert after["versions"]["options"]["overrides"]["swap_roles"] is True
    assert after["scorecard"]["total"] < before["scorecard"]["total"]
    assert after["final_score"] == after["scorecard"]["total"]
    audit = client_for(web, "admin").get("/api/audit").json()
    assert any(a["action"] == "swap_roles" and a["call_id"] == "c_good" for a in audit)


def test_cohen_kappa_matches_hand_computed_case() -> None:
    # 10 reviewed items: auto/human pass-pass 4, pass-fail 1, fail-pass 2, fail-fail 3.
    # p_o = 7/10 = 0.7; auto pass 5/10, human pass 6/10 -> p_e = .5*.6 + .5*.4 = 0.5
    # kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    pairs = [("pass", "pass")] * 4 + [("pass", "fail")] + [("fail", "pass")] * 2 + [("fail", "fail")] * 3
    assert cohen_kappa(pairs) == pytest.approx(0.4)
    assert cohen_kappa([("pass", "pass")] * 3) == 1.0
    assert cohen_kappa([]) is None
    assert cohen_kappa([("pass", "fail"), ("fail", "pass")]) == pytest.approx(-1.0)


def test_calibration_from_reviews_matches_hand_computed(web) -> None:
    rev = client_for(web, "rev")
    # greeting: c_good pass/agree, c_nogreet fail->pass, c_rude fail/agree, d_rude fail->pass
    # pairs (auto, human): (p,p) (f,p) (f,f) (f,p): p_o = 2/4 = .5;
    # auto pass 1/4, human pass 3/4 -> p_e = .25*.75 + .75*.25 = .375; kappa = .125/.625 = 0.2
    for call_id, agree in [("c_good", True), ("c_nogreet", False), ("c_rude", True), ("d_rude", False)]:
        assert rev.post(f"/api/calls/{call_id}/overrides", json={"item_id": "greeting", "agree": agree}).status_code == 200
    rows = {r["item_id"]: r for r in rev.get("/api/calibration").json()}
    g = rows["greeting"]
    assert g["n"] == 4 and g["accuracy"] == 0.5 and g["kappa"] == pytest.approx(0.2)
    assert g["confusion"]["pass"]["pass"] == 1 and g["confusion"]["fail"]["pass"] == 2 and g["confusion"]["fail"]["fail"] == 1
    # the supervisor only sees their team's reviews (c_*): (p,p) (f,p) (f,f)
    sup = {r["item_id"]: r for r in client_for(web, "sup").get("/api/calibration").json()}
    assert sup["greeting"]["n"] == 3
    html = rev.get("/calibration").text
    assert 'data-item="greeting"' in html and "0.20" in html


# -- coaching, search --------------------------------------------------------------------------------------

def test_agent_dashboard_and_csv(web) -> None:
    wang = client_for(web, "wang")
    d = wang.get("/api/coaching/agents/A1001").json()
    assert d["calls"] == 3 and [t["call_id"] for t in d["trend"]] == ["c_good", "c_nogreet", "c_rude"]
    assert d["average"] == pytest.approx(round((100 + 75 + 0) / 3, 1))
    rates = {i["item_id"]: i for i in d["items"]}
    assert rates["greeting"]["pass_rate"] == pytest.approx(1 / 3, abs=1e-3) and rates["greeting"]["team_pass_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert d["weakest"][0]["item_id"] == "greeting" and d["weakest"][0]["examples"]
    csv_text = wang.get("/api/coaching/agents/A1001.csv").text
    assert csv_text.splitlines()[0] == "agent_id,item_id,passed,scored,pass_rate,team_pass_rate"
    assert any(line.startswith("A1001,greeting,1,3,") for line in csv_text.splitlines())
    assert "辅导：王芳" in wang.get("/coaching/A1001").text
    assert wang.get("/", follow_redirects=False).headers["location"] == "/coaching/A1001"


def test_team_overview_and_csv(web) -> None:
    rev = client_for(web, "rev")
    rows = {r["agent_id"]: r for r in rev.get("/api/coaching/teams").json()}
    assert rows["A1001"]["calls"] == 3 and rows["A1001"]["flagged"] == 2 and rows["A2002"]["lowest"] == 0.0
    assert rev.get("/api/coaching/teams.csv").text.startswith("team,agent_id,agent_name,calls,average,lowest,flagged")
    assert "李雷" in rev.get("/coaching").text
    assert client_for(web, "wang").get("/api/coaching/teams").status_code == 403


def test_team_overview_with_a_call_without_metadata(web) -> None:
    """A recording scored without a sidecar has no agent and no team: its row is shown, last."""
    _, store = web
    store.save(make_result("no_meta", agent_id=None, agent_name=None, team=None))
    page = client_for(web, "admin").get("/coaching")
    assert page.status_code == 200, page.text[-500:]
    bodies = page.text.split('<tbody class="team">')[1:]
    assert len(bodies) == 3 and "王芳" in bodies[0] and "李雷" in bodies[1] and "/coaching/None" not in page.text
    csv_rows = client_for(web, "admin").get("/api/coaching/teams.csv").text.splitlines()
    assert len(csv_rows) == 4 and ",,,1,100.0," in csv_rows[1]  # header, the call without team, two agents


def test_search_over_redacted_transcripts(web) -> None:
    rev = client_for(web, "rev")
    hits = rev.get("/api/search", params={"q": "烦不烦"}).json()
    assert {h["call_id"] for h in hits} == {"c_rude", "d_rude"}
    assert hits[0]["hits"][0]["role"] == "agent"
    assert "c_rude" in rev.get("/search", params={"q": "烦不烦"}).text


def test_openapi_documents_the_api(web) -> None:
    spec = client_for(web).get("/openapi.json").json()
    for path in ["/api/login", "/api/queue", "/api/calls/{call_id}", "/api/calls/{call_id}/overrides", "/api/calls/{call_id}/swap-roles",
                 "/api/calibration", "/api/coaching/agents/{agent_id}", "/api/coaching/teams", "/api/search"]:
        assert path in spec["paths"], path


# -- CLI -----------------------------------------------------------------------------------------------------

def test_cli_user_add(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qa_pipeline.cli import app

    monkeypatch.setenv("QA_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    r = runner.invoke(app, ["user", "add", "alice", "--role", "agent", "--agent-id", "A7", "--password", "mauve-kettle-1987"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["user", "add", "alice", "--role", "agent", "--agent-id", "A7", "--password", "mauve-kettle-1987"])
    assert r.exit_code == 2 and "already exists" in r.output
    r = runner.invoke(app, ["user", "add", "bob", "--role", "agent", "--password", "mauve-kettle-1987"])
    assert r.exit_code == 2 and "--agent-id" in r.output
    r = runner.invoke(app, ["user", "add", "bob", "--role", "boss", "--password", "mauve-kettle-1987"])
    assert r.exit_code == 2 and "unknown role" in r.output
    store = ResultStore(f"sqlite:///{tmp_path / 'data' / 'qa.db'}")
    with sessionmaker(store.engine)() as s:
        row = s.execute(select(UserRow).where(UserRow.username == "alice")).scalar_one()
        assert row.role == "agent" and row.agent_id == "A7" and row.password_hash.startswith("$argon2")
    store.close()


def test_cli_serve_is_registered_and_secret_is_private(tmp_path: Path) -> None:
    from qa_pipeline.cli import app
    from qa_pipeline.web.app import session_secret

    r = CliRunner().invoke(app, ["serve", "--help"])
    assert r.exit_code == 0 and "--port" in r.output
    settings = load_settings(None, data_dir=tmp_path / "data")
    secret = session_secret(settings)
    assert secret == session_secret(settings) and len(secret) >= 32
    assert (tmp_path / "data" / "web_secret").stat().st_mode & 0o777 == 0o600


def test_logout_ends_the_session(web) -> None:
    rev = client_for(web, "rev")
    assert rev.post("/api/logout").status_code == 200
    assert rev.get("/api/me").status_code == 401


def test_api_docs_work_offline(tmp_path: Path) -> None:
    """/docs must not depend on a CDN: every asset it references is served by the app itself."""
    import re

    from fastapi.testclient import TestClient

    from qa_pipeline.config import load_settings
    from qa_pipeline.web import create_app

    client = TestClient(create_app(load_settings(None, data_dir=tmp_path)))
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and not [a for a in assets if a.startswith(("http:", "https:", "//"))]
    assert all(client.get(a).status_code == 200 for a in assets)


# -- the reviewed score everywhere --------------------------------------------------------------------

def test_an_override_changes_the_final_score_everywhere_it_is_shown(web) -> None:
    """Queue, call API, coaching dashboard and CSV, team overview and CSV, the daily summary and
    `qa show` all report the final (reviewed) score, with the automatic one beside it."""
    import csv as _csv
    import io

    settings, store = web
    rev = client_for(web, "rev")
    before = {i["call_id"]: i for i in rev.get("/api/queue", params={"flagged_only": "false"}).json()["items"]}
    assert before["c_nogreet"]["total"] == 75.0 and before["c_nogreet"]["review_state"] == "unreviewed"
    r = rev.post("/api/calls/c_nogreet/overrides", json={"item_id": "greeting", "agree": False})
    assert r.status_code == 200 and r.json()["final_score"] == 100.0 and r.json()["scorecard"]["total"] == 75.0

    queue = {i["call_id"]: i for i in rev.get("/api/queue", params={"flagged_only": "false"}).json()["items"]}
    assert (queue["c_nogreet"]["total"], queue["c_nogreet"]["auto_total"], queue["c_nogreet"]["review_state"]) == (100.0, 75.0, "in_review")
    assert rev.get("/api/queue", params={"flagged_only": "false", "score_min": "90"}).json()["total"] == 2  # c_good, c_nogreet
    # the failed-item filter follows the review: greeting no longer fails on c_nogreet
    failing = {i["call_id"] for i in rev.get("/api/queue", params={"flagged_only": "false", "item": "greeting"}).json()["items"]}
    assert "c_nogreet" not in failing and "c_rude" in failing

    dash = rev.get("/api/coaching/agents/A1001").json()
    assert dash["average"] == pytest.approx(round((100 + 100 + 0) / 3, 1))
    assert {i["item_id"]: i for i in dash["items"]}["greeting"]["pass_rate"] == pytest.approx(2 / 3, abs=1e-3)
    agent_csv = rev.get("/api/coaching/agents/A1001.csv").text
    assert "A1001,c_nogreet,2026-11-02T09:00:00,100.0,75.0" in agent_csv.replace("+00:00", "")
    team = {r["agent_id"]: r for r in rev.get("/api/coaching/teams").json()}
    assert team["A1001"]["average"] == pytest.approx(66.7)
    teams_csv = list(_csv.DictReader(io.StringIO(rev.get("/api/coaching/teams.csv").text)))
    assert {r["agent_id"]: r["average"] for r in teams_csv}["A1001"] == "66.7"

    day = settings.resolved_results_dir / "daily" / "2026-11-02" / "summary.csv"
    rows = list(_csv.DictReader(io.StringIO(day.read_text())))
    assert [(r["call_id"], r["total"], r["auto_total"], r["review_state"]) for r in rows] == [("c_nogreet", "100", "75", "in_review")]

    # closing the review takes the call out of the open queue and keeps who closed it
    rev.post("/api/calls/c_nogreet/review", json={"state": "reviewed"})
    open_ids = {i["call_id"] for i in rev.get("/api/queue", params={"flagged_only": "false"}).json()["items"]}
    done = rev.get("/api/queue", params={"flagged_only": "false", "review": "reviewed"}).json()["items"]
    assert "c_nogreet" not in open_ids and [(d["call_id"], d["reviewed_by"]) for d in done] == [("c_nogreet", "rev")]


def test_team_overview_counts_per_team_and_agent(web) -> None:
    """An agent who moved teams has one row per team, each with that team's flagged calls."""
    from datetime import datetime, timezone

    _, store = web
    store.save(make_result("c_moved", dialogue=3, agent_id="A1001", agent_name="王芳", team="营销二组",
                           start_time=datetime(2026, 11, 9, 9, 0, tzinfo=timezone.utc)))
    rows = {(r["team"], r["agent_id"]): r for r in client_for(web, "rev").get("/api/coaching/teams").json()}
    assert rows[("抢修一组", "A1001")]["flagged"] == 2 and rows[("抢修一组", "A1001")]["calls"] == 3
    assert rows[("营销二组", "A1001")]["flagged"] == 1 and rows[("营销二组", "A1001")]["calls"] == 1


def test_search_finds_short_and_long_queries_in_current_transcripts(web) -> None:
    rev = client_for(web, "rev")
    assert {h["call_id"] for h in rev.get("/api/search", params={"q": "停电"}).json()} == {"c_good", "c_nogreet", "c_rude", "d_noclose", "d_rude"}
    assert {h["call_id"] for h in rev.get("/api/search", params={"q": "工号一零二三"}).json()} == {"c_good", "d_noclose"}
    assert rev.get("/api/search", params={"q": '"%_\\'}).json() == []
