"""The analytics dashboard in headless Chromium: Chinese page, ECharts charts drawn, a warning
acknowledged by a supervisor (fixtures and helpers from tests/test_browser.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy.orm import sessionmaker
from test_browser import CHROMIUM, PASSWORD, browser, login, serve, wait_js  # noqa: F401

from qa_pipeline.analytics.refresh import local_hour, refresh
from qa_pipeline.analytics.tables import AlertRow
from qa_pipeline.analytics.taxonomy import load_taxonomies
from qa_pipeline.config import PROJECT_ROOT, load_settings
from qa_pipeline.store import ResultStore
from qa_pipeline.web.auth import add_user
from qa_testkit.web_results import make_result

CST = timezone(timedelta(hours=8))


@pytest.fixture(scope="module")
def analytics_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    settings = load_settings(None, data_dir=tmp_path_factory.mktemp("analytics-browser"))
    store = ResultStore(settings.resolved_database_url)
    now = datetime.now(CST).replace(minute=0, second=0, microsecond=0)
    for i in range(6):
        r = make_result(f"a{i}", dialogue=i % 2, team="抢修一组" if i < 4 else "营销二组", start_time=now - timedelta(days=i % 3, hours=1))
        store.save(replace(r, metadata=replace(r.metadata, queue="95598-repair", caller_hash=f"{i % 2:032x}")))
    refresh(store, load_taxonomies(PROJECT_ROOT / "taxonomies"), settings.timezone)
    hour = local_hour(now, settings.timezone)
    sessions = sessionmaker(store.engine)
    with sessions.begin() as s:
        s.add(AlertRow(key=f"hour:{hour}:outage_repair", granularity="hour", bucket=hour, driver_id="outage_repair", dimension="area",
                       dim_value="西湖区", count=60, baseline_mean=2.0, p_value=1e-12, call_ids=["a0", "a1"],
                       cells=[{"dimension": "team", "value": "抢修一组", "count": 60, "baseline_mean": 2.0, "p_value": 1e-12}], created_at=datetime.now(timezone.utc), state="open"))  # fmt: skip
    add_user(sessions, "sup", PASSWORD, "supervisor", teams=["抢修一组"])
    with serve(settings, store) as url:
        yield url
    store.close()


def test_dashboard_draws_charts_and_a_supervisor_acknowledges_a_warning(analytics_server: str, browser) -> None:  # noqa: F811
    page = browser.new_page()
    login(page, analytics_server, "sup")
    page.goto(f"{analytics_server}/analytics")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "来电分析与预警" in page.inner_text("h1") and "停电/故障报修" in page.inner_text("#alerts")
    wait_js(page, "document.getElementById('driver-mix').dataset.rendered === '1' && !!document.querySelector('#driver-trend canvas')")
    assert "营销二组" not in page.inner_text("#repeats-team")  # a supervisor sees their teams only
    page.click("#alerts button")
    page.wait_for_load_state()
    assert page.locator("#no-alerts").is_visible()
    page.close()
