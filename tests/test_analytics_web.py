"""The analytics dashboard and API in the web app: role checks, data, exports, earlier calls,
acknowledging warnings; and the analytics queries on PostgreSQL."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import sessionmaker
from test_web import client_for, web  # noqa: F401  (the seeded web app fixture)

from qa_pipeline.analytics.refresh import local_hour, refresh
from qa_pipeline.analytics.tables import AlertRow
from qa_pipeline.analytics.taxonomy import load_taxonomies
from qa_pipeline.config import PROJECT_ROOT
from qa_testkit.web_results import make_result

CST = timezone(timedelta(hours=8))


def _seed_analytics(store) -> None:  # type: ignore[no-untyped-def]
    t = datetime(2026, 11, 10, 9, tzinfo=CST)
    for call_id, agent, team, at in (("e_first", "A1001", "抢修一组", t), ("e_second", "A2002", "营销二组", t + timedelta(days=2))):
        r = make_result(call_id, dialogue=0, agent_id=agent, team=team, start_time=at)
        store.save(replace(r, metadata=replace(r.metadata, queue="95598-repair", caller_hash="cafe" * 8)))
    refresh(store, load_taxonomies(PROJECT_ROOT / "taxonomies"), "Asia/Shanghai")
    hour = local_hour(t, "Asia/Shanghai")
    with sessionmaker(store.engine).begin() as s:
        s.add(AlertRow(key=f"hour:{hour}:outage_repair", granularity="hour", bucket=hour, driver_id="outage_repair",
                       dimension="area", dim_value="西湖区", count=42, baseline_mean=1.5, p_value=1e-9, call_ids=["e_first"],
                       cells=[{"dimension": "area", "value": "西湖区", "count": 42, "baseline_mean": 1.5, "p_value": 1e-9},
                              {"dimension": "team", "value": "抢修一组", "count": 40, "baseline_mean": 1.0, "p_value": 1e-8}],
                       created_at=datetime.now(UTC), state="open"))  # fmt: skip


def test_dashboard_api_page_and_role_checks(web) -> None:  # noqa: F811
    _seed_analytics(web[1])
    q = "?date_from=2026-10-01&date_to=2026-12-31"
    admin = client_for(web, "admin")
    d = admin.get(f"/api/analytics/dashboard{q}").json()
    assert d["mix"] == [{"driver": "outage_repair", "calls": 7}]  # every seeded customer says 我家停电了
    assert {r["key"] for r in d["repeats_by_team"]} == {"抢修一组", "营销二组"}
    team2 = next(r for r in d["repeats_by_team"] if r["key"] == "营销二组")
    assert (team2["calls"], team2["repeats"]) == (1, 1)  # e_second: same customer, same driver, 2 days later
    assert d["alerts"][0]["value"] == "西湖区" and d["trend"]["days"][0] == "2026-10-01"
    counts = admin.get(f"/api/analytics/counts{q}&dimension=team").json()
    assert sum(c["calls"] for c in counts) == 7 and {"bucket", "driver", "team", "calls"} <= set(counts[0])
    hourly = admin.get(f"/api/analytics/counts{q}&granularity=hour&dimension=queue").json()
    assert [c["bucket"] for c in hourly if c["queue"] == "95598-repair"] == ["2026-11-10T09", "2026-11-12T09"]
    assert client_for(web, "sup").get(f"/api/analytics/counts{q}&dimension=area").status_code == 403
    # supervisors: their teams only; agents: no dashboard
    sup = client_for(web, "sup").get(f"/api/analytics/dashboard{q}").json()
    assert {r["key"] for r in sup["repeats_by_team"]} == {"抢修一组"} and len(sup["alerts"]) == 1
    assert client_for(web, "sup").get(f"/api/analytics/dashboard{q}&team=营销二组").status_code == 403
    assert client_for(web, "wang").get("/api/analytics/dashboard").status_code == 403
    assert client_for(web).get("/api/analytics/dashboard").status_code == 401
    assert admin.get("/api/analytics/dashboard?date_from=2026-13-01").status_code == 422
    # the page, zh-CN by default, English on request
    page = admin.get(f"/analytics{q}")
    assert page.status_code == 200 and "来电分析与预警" in page.text and "停电/故障报修" in page.text and "越级投诉风险" in page.text
    assert "Analytics and early warning" in admin.get(f"/analytics{q}&lang=en").text
    # exports
    csv = admin.get(f"/api/analytics/export{q}&format=csv")
    assert csv.status_code == 200 and csv.text.startswith("call_id,at,day") and "e_second" in csv.text
    assert admin.get(f"/api/analytics/export{q}&format=parquet").content[:4] == b"PAR1"
    # acknowledging needs CSRF and a supervisor/admin
    alert_id = d["alerts"][0]["id"]
    assert client_for(web, "rev").post(f"/api/analytics/alerts/{alert_id}/ack").status_code == 403
    no_csrf = client_for(web, "admin")
    no_csrf.headers.pop("X-CSRF-Token")
    assert no_csrf.post(f"/api/analytics/alerts/{alert_id}/ack").status_code == 403
    assert admin.post(f"/api/analytics/alerts/{alert_id}/ack").json()["state"] == "acknowledged"
    assert admin.get("/api/analytics/alerts").json() == []


def test_review_data_shows_the_customers_earlier_calls_with_role_checks(web) -> None:  # noqa: F811
    _seed_analytics(web[1])
    admin = client_for(web, "admin").get("/api/analytics/calls/e_second").json()
    assert admin["primary_driver"] == "outage_repair" and admin["drivers"][0]["evidence"][0]["quote"]
    assert [(c["call_id"], c["same_driver"], c["days_before"]) for c in admin["earlier_calls"]] == [("e_first", True, 2.0)]
    # li (A2002) handled e_second but not e_first: the earlier call stays hidden from him
    assert client_for(web, "li").get("/api/analytics/calls/e_second").json()["earlier_calls"] == []
    assert client_for(web, "wang").get("/api/analytics/calls/e_second").status_code == 403
    page = client_for(web, "admin").get("/calls/e_second").text
    assert "该客户此前的来电" in page and 'href="/calls/e_first"' in page and "同一原因" in page
    assert "没有您可查看的此前来电" in client_for(web, "li").get("/calls/e_second").text


def test_analytics_queries_and_spike_detection_on_postgres(pg_server: str, request: pytest.FixtureRequest) -> None:
    from test_analytics import WEEK, _synthetic_days

    from qa_pipeline.analytics.alerts import run_detection
    from qa_pipeline.analytics.queries import repeat_stats
    from qa_pipeline.analytics.spikes import SpikeConfig
    from qa_pipeline.store import ResultStore
    from qa_testkit.analytics_rows import insert_rows

    url = _create_database(pg_server, f"a_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}")
    store = ResultStore(url)
    try:
        insert_rows(store.engine, WEEK + _synthetic_days(), tz="Asia/Shanghai")
        first = local_hour(WEEK[0].at, "Asia/Shanghai") // 24
        now_hour = local_hour(datetime(2026, 12, 10, 12, tzinfo=CST), "Asia/Shanghai")
        day8 = local_hour(datetime(2026, 11, 27, tzinfo=CST), "Asia/Shanghai")
        with store.session() as s, s.begin():
            stats = {r.key: r for r in repeat_stats(s, "agent_id", first, first + 13, now_hour=now_hour)}
            assert (stats["a1"].calls, stats["a1"].repeats, stats["a1"].resolved) == (5, 1, 2)
            alerts = run_detection(s, range(day8, day8 + 24), SpikeConfig())
            assert [(a.driver_id, a.dim_value, a.bucket - day8) for a in alerts] == [("outage_repair", "西湖区", 14)]
    finally:
        store.close()


from test_postgres import _create_database, pg_server  # noqa: E402, F401  (the throwaway PostgreSQL cluster)
