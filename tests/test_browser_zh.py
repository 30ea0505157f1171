"""The Chinese-first pages in headless Chromium: zh-CN by default (English per user), the call at a
glance (timeline lanes, visible flag reasons, failed items first, precise evidence), the weekly
coaching trend of an agent with 100+ calls against the team, and screenshots of the queue, a call
review and the coaching pages in which Chinese glyphs really render (not ``.notdef`` boxes).

Needs Chromium and the Debian ``fonts-noto-cjk`` font (``scripts/system-deps.sh``). The
screenshots are written under pytest's temporary directory (``QA_SCREENSHOTS`` overrides it).
"""

from __future__ import annotations

import os
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy.orm import sessionmaker
from test_browser import AUDIO, CHROMIUM, PASSWORD, browser, login, serve, wait_js  # noqa: F401 (browser: fixture)

from qa_pipeline.config import load_settings
from qa_pipeline.store import ResultStore
from qa_pipeline.web.auth import add_user
from qa_testkit.web_results import make_result, save_all, synthetic_results

#: the agent of the synthetic calls with the most calls (A2000 or A2001 of 2 agents in one team)
N_SYNTHETIC = 260


@pytest.fixture(scope="module")
def zh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    data = tmp_path_factory.mktemp("zh-browser")
    settings = load_settings(None, data_dir=data)
    store = ResultStore(settings.resolved_database_url)
    for call_id, d, day in [("zh_nogreet_1", 1, 1), ("zh_rude_1", 3, 2), ("zh_good_1", 0, 3)]:
        store.save(make_result(call_id, dialogue=d, agent_id="A1001", team="抢修一组", audio_path=str(AUDIO),
                               start_time=datetime(2026, 11, day, 9, tzinfo=timezone.utc)))
    save_all(store, synthetic_results(N_SYNTHETIC, agents=2, teams=1, audio_path=str(AUDIO)))
    sessions = sessionmaker(store.engine)
    add_user(sessions, "rev", PASSWORD, "reviewer")
    add_user(sessions, "rev_en", PASSWORD, "reviewer")
    with serve(settings, store) as url:
        yield url
    store.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ["QA_SCREENSHOTS"]) if os.environ.get("QA_SCREENSHOTS") else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cjk_renders(page) -> dict:
    """Draw two different ideographs and an unassigned code point (U+0378: the ``.notdef`` box)
    with the page's own font on a canvas: real glyphs differ pixel by pixel from each other and
    from the box, and are one em wide; two ``.notdef`` boxes would be identical."""
    return page.evaluate(
        """() => {
        const family = getComputedStyle(document.body).fontFamily;
        const c = document.createElement('canvas'); c.width = 64; c.height = 64;
        const ctx = c.getContext('2d'); ctx.font = '48px ' + family; ctx.textBaseline = 'top';
        function pixels(ch) { ctx.clearRect(0, 0, 64, 64); ctx.fillText(ch, 4, 4); return Array.from(ctx.getImageData(0, 0, 64, 64).data); }
        function differ(x, y) { let n = 0; for (let i = 3; i < x.length; i += 4) if (x[i] !== y[i]) n++; return n; }
        const a = pixels('质'), b = pixels('检'), box = pixels('\\u0378');
        return {family: family, diff: differ(a, b), vs_notdef: differ(a, box), ink: a.filter((v, i) => i % 4 === 3 && v > 0).length,
                cjk: ctx.measureText('质检复核').width};
    }"""
    )


def assert_cjk(page) -> None:
    r = cjk_renders(page)
    assert "Noto Sans CJK SC" in r["family"]
    assert r["ink"] > 100 and r["diff"] > 100 and r["vs_notdef"] > 100, r  # distinct inked glyphs, not boxes
    assert r["cjk"] == pytest.approx(4 * 48, abs=1), r  # ideographs are one em wide


def test_cjk_font_is_installed() -> None:
    out = subprocess.run(["fc-match", "Noto Sans CJK SC"], capture_output=True, text=True, check=True).stdout
    assert "NotoSansCJK" in out, f"fc-match resolves 'Noto Sans CJK SC' to {out.strip()!r}: apt-get install fonts-noto-cjk"


def test_queue_and_call_review_in_chinese(zh_server: str, browser, shots: Path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    login(page, zh_server, "rev")
    assert page.get_attribute("html", "lang") == "zh-CN"
    page.goto(f"{zh_server}/queue?team=抢修一组")
    assert page.inner_text("h1").startswith("待复核队列")
    header = page.inner_text("#queue thead")
    assert all(w in header for w in ("优先级", "最终得分", "自动评分", "复核状态", "标记原因"))
    why = page.inner_text("#queue tbody")
    # visible reasons, not tooltips: the forbidden phrase and the semantic second check that confirmed it
    assert "致命项未通过 服务禁语（“烦不烦”：语义复核确认是对客户的敷衍或冒犯" in why and "得分 75 低于 80" in why
    assert not re.search(r"\b(fatal_item|low_score|missing in|agent speech)\b", page.inner_text("main"))
    assert "开场问候" in page.inner_text("select[name=item]")  # rubric names in the filters
    assert_cjk(page)
    page.screenshot(path=str(shots / "queue.png"), full_page=True)

    # a "missing" item: what was searched and where, no unrelated quotes
    page.goto(f"{zh_server}/calls/zh_nogreet_1")
    wait_js(page, "document.getElementById('player').readyState >= 1")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert "得分 75 低于 80" in page.inner_text("#why-flagged")
    greeting = page.locator("#item-greeting")
    assert greeting.get_attribute("data-final") == "fail"
    assert page.locator(".right .item").first.get_attribute("id") == "item-greeting"  # failed first
    text = greeting.inner_text()
    assert "查找内容" in text and "前 15 秒的坐席发言中未找到" in text and "您好" in text
    assert greeting.locator(".evidence").count() == 0
    assert greeting.locator(".outcome").inner_text() == "未通过"
    # a phrase item: the matched utterance, once
    closing = page.locator("#item-closing")
    assert closing.locator(".evidence").count() == 1 and "感谢您的来电" in closing.locator(".evidence").inner_text()
    # the timeline: a lane per party and for silence, overtalk and hold; a turn seeks the audio
    for lane, n in (("agent", 2), ("customer", 1)):
        assert page.locator(f"svg[data-lane={lane}] rect.seg").count() == n
    for lane in ("silence", "overtalk", "hold"):
        assert page.locator(f"svg[data-lane={lane}]").count() == 1
    labels = page.inner_text(".tl-grid")
    assert all(w in labels for w in ("坐席", "客户", "静音", "抢话", "保持"))
    page.locator("svg[data-lane=customer] rect.seg").first.dispatch_event("click")
    wait_js(page, "Math.abs(document.getElementById('player').currentTime - 4.5) < 0.6")
    page.evaluate("document.getElementById('player').pause()")
    assert page.locator("#sentiment canvas").count() >= 1  # ECharts drew the chart
    assert_cjk(page)
    page.screenshot(path=str(shots / "call_review.png"), full_page=True)

    # a fatal failure is the first card
    page.goto(f"{zh_server}/calls/zh_rude_1")
    first = page.locator(".right .item").first
    assert first.get_attribute("id") == "item-forbidden_phrases" and "fatal" in first.get_attribute("class")
    assert "致命项未通过 服务禁语（“烦不烦”：语义复核确认是对客户的敷衍或冒犯" in page.inner_text("#why-flagged")
    assert first.locator(".evidence").count() == 1
    page.close()


def test_english_is_selectable_per_user(zh_server: str, browser) -> None:
    page = browser.new_page()
    login(page, zh_server, "rev_en")
    page.click("#langs a.lang-en")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "en"
    assert page.inner_text("h1").startswith("Flagged queue") and "Why flagged" in page.inner_text("#queue thead")
    page.goto(f"{zh_server}/calls/zh_nogreet_1")
    assert "missing in agent speech in the first 15 s" in page.inner_text("#item-greeting .reason")
    page.click("#langs a.lang-zh-CN")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "zh-CN"
    page.close()


def test_weekly_coaching_trend_against_the_team(zh_server: str, browser, shots: Path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    login(page, zh_server, "rev")
    page.goto(f"{zh_server}/coaching")
    assert "班组概览" in page.inner_text("h1") and "通话数" in page.inner_text("#teams thead")
    counts = {}
    for row in page.locator("#teams tr.agent-row").all():
        cells = row.locator("td").all_inner_texts()
        counts[cells[1].split()[-1]] = int(cells[2])
    totals = {r.locator("td").first.inner_text(): int(r.locator("td").nth(2).inner_text()) for r in page.locator("#teams tr.team-total").all()}
    assert totals == {"Team 0": N_SYNTHETIC, "抢修一组": 3}
    agent = max((a for a in counts if a.startswith("A2")), key=lambda a: counts[a])
    assert counts[agent] >= 100
    assert_cjk(page)
    page.screenshot(path=str(shots / "coaching_teams.png"), full_page=True)

    page.goto(f"{zh_server}/coaching/{agent}")
    wait_js(page, "document.querySelector('#score-trend canvas') !== null")
    option = page.evaluate(
        """() => { const o = echarts.getInstanceByDom(document.getElementById('score-trend')).getOption();
        return {x: o.xAxis[0], y: o.yAxis.map(a => a.name), series: o.series.map(s => ({name: s.name, data: s.data}))}; }"""
    )
    weeks = option["x"]["data"]
    assert option["x"]["name"] == "周" and option["y"] == ["平均最终得分", "每周通话数"]
    assert len(weeks) >= 12 and all(re.fullmatch(r"2026-\d\d-\d\d", w) for w in weeks)
    assert all(datetime.fromisoformat(w).weekday() == 0 for w in weeks)  # labelled by Monday
    agent_avg, team_avg, n = (s["data"] for s in option["series"])
    assert sum(n) == counts[agent]  # the calls behind the points
    assert all((a is None) == (k == 0) for a, k in zip(agent_avg, n))
    assert all(t is not None for t, k in zip(team_avg, n) if k)  # the team has calls wherever the agent has
    assert page.locator("#item-trend canvas").count() >= 1
    assert "最薄弱的评分项" in page.inner_text("main") and page.locator(".weak a").count() >= 1
    assert_cjk(page)
    page.screenshot(path=str(shots / "coaching_agent.png"), full_page=True)
    page.close()


@pytest.mark.slow
def test_sentiment_chart_agrees_with_the_negative_ending_flag(pipeline, session_settings, browser, tmp_path: Path) -> None:
    """zh_interrupting_agent scored from audio (Whisper, sentiment model): the review page's
    chart ends on the customer mood that the ``negative_ending`` flag and the rubric read."""
    from qa_pipeline.batch import score_sources, source_for_file
    from qa_pipeline.pipeline import sentiment_values

    settings = load_settings(None, data_dir=tmp_path / "data")
    store = ResultStore(settings.resolved_database_url)
    path = AUDIO.parent / "zh_interrupting_agent.wav"
    (outcome,) = score_sources([source_for_file(path, session_settings)], pipeline, store, results_dir=tmp_path / "results")
    result = outcome.result
    assert result is not None and result.sentiment is not None
    end = sentiment_values(result.sentiment)["customer.end"]
    flagged = {f.id: f for f in result.flags}
    assert ("negative_ending" in flagged) == (end <= -0.3)
    add_user(sessionmaker(store.engine), "rev", PASSWORD, "reviewer")
    with serve(settings, store) as base:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        login(page, base, "rev")
        page.goto(f"{base}/calls/zh_interrupting_agent")
        wait_js(page, "document.querySelector('#sentiment canvas') !== null")
        shown = page.evaluate(
            """() => { const o = echarts.getInstanceByDom(document.getElementById('sentiment')).getOption();
            const c = o.series[1]; return {last: c.data[c.data.length - 1][1], end: c.markPoint ? c.markPoint.data[0].coord[1] : null,
            threshold: c.markLine.data[0].yAxis, y: o.yAxis[0].name, x: o.xAxis[0].name}; }"""
        )
        assert shown["last"] == pytest.approx(end, abs=1e-3) and shown["end"] == pytest.approx(end, abs=1e-3)
        assert shown["threshold"] == -0.3 and shown["x"] == "时间（秒）" and "情绪值" in shown["y"]
        if "negative_ending" in flagged:
            assert f"{end:+.2f}" in page.inner_text("#why-flagged")
        page.screenshot(path=str(tmp_path / "zh_interrupting_agent.png"), full_page=True)
        page.close()
    store.close()
