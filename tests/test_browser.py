"""End-to-end in headless Chromium (Debian's ``chromium`` driven by Playwright): log in, open
a flagged call, seek the audio from the transcript and from evidence, override an item, see
the final score and calibration change; an agent opening another agent's call gets 403.

Needs ``apt-get install chromium`` and the ``web`` extra (playwright); no ``playwright install``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
import uvicorn
from sqlalchemy.orm import sessionmaker

from qa_pipeline.config import PROJECT_ROOT, Settings, load_settings
from qa_pipeline.store import ResultStore
from qa_pipeline.web import create_app
from qa_pipeline.web.auth import add_user
from qa_testkit.web_results import make_result

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--mute-audio", "--autoplay-policy=no-user-gesture-required",
]
#: a real recording (G.711 mu-law stereo WAV, 42 s) served as the calls' audio
AUDIO = PROJECT_ROOT / "samples" / "calls" / "zh_missing_greeting.wav"
PASSWORD = "browser-pass-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(settings: Settings, store: ResultStore) -> Iterator[str]:
    """The app under uvicorn on a free local port, in a thread."""
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(settings, store=store), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    data = tmp_path_factory.mktemp("browser-data")
    settings = load_settings(None, data_dir=data)
    store = ResultStore(settings.resolved_database_url)
    for call_id, d, agent, team, day in [
        ("zh_nogreet_1", 1, "A1001", "抢修一组", 1), ("zh_rude_1", 3, "A1001", "抢修一组", 2),
        ("zh_good_1", 0, "A1001", "抢修一组", 3), ("zh_rude_2", 3, "A2002", "营销二组", 4),
    ]:
        store.save(make_result(call_id, dialogue=d, agent_id=agent, team=team, audio_path=str(AUDIO),
                               start_time=datetime(2026, 11, day, 9, tzinfo=timezone.utc)))
    sessions = sessionmaker(store.engine)
    add_user(sessions, "rev", PASSWORD, "reviewer")
    add_user(sessions, "wang", PASSWORD, "agent", agent_id="A1001")
    with serve(settings, store) as url:
        yield url
    store.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def wait_js(page, expression: str, timeout: float = 10000) -> None:
    """Poll a JavaScript expression until truthy (``timeout`` ms).  Not ``page.wait_for_function``:
    that evaluates a string inside the page, which the app's Content-Security-Policy forbids."""
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + timeout / 1000
    while True:
        try:
            if page.evaluate(expression):
                return
        except PlaywrightError:  # the page is reloading (review actions reload it): ask again
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {expression}")
        time.sleep(0.05)


def login(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-btn")
    page.wait_for_load_state()


def test_review_flow_seek_override_and_calibration(server: str, browser) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    login(page, server, "rev")
    assert page.url.endswith("/queue")  # reviewers land on the flagged queue
    rows = page.locator("#queue tbody tr")
    assert rows.count() == 3  # zh_good_1 has no flags
    assert "zh_rude" in rows.first.inner_text()  # fatal first

    page.click("a.call-link:text('zh_nogreet_1')")
    page.wait_for_selector("#player")
    wait_js(page, "document.getElementById('player').readyState >= 1")
    assert page.inner_text("#final-score") == "75"

    # click an utterance: the audio seeks to it and it is highlighted
    page.click("#u-u0003")
    wait_js(page, "Math.abs(document.getElementById('player').currentTime - 8.0) < 0.6")
    assert "current" in page.get_attribute("#u-u0003", "class")
    # evidence of an item jumps to its moment
    ev = page.locator("#item-closing .evidence").first
    start = float(ev.get_attribute("data-start"))
    ev.click()
    wait_js(page, f"Math.abs(document.getElementById('player').currentTime - {start}) < 0.6")
    page.evaluate("document.getElementById('player').pause()")

    # override greeting: disagree (fail -> pass) with a comment
    page.fill("#item-greeting .comment", "agent did greet")
    page.click("#item-greeting .disagree")
    wait_js(page, "document.getElementById('final-score').textContent === '100'")
    assert "不同意 → 通过" in page.inner_text("#item-greeting .override-state")

    page.goto(f"{server}/calibration")
    row = page.locator("#calibration tr[data-item='greeting']")
    assert row.locator(".n").inner_text() == "1" and row.locator(".acc").inner_text() == "0%"
    # agree on another call: calibration changes
    page.goto(f"{server}/calls/zh_rude_1")
    page.click("#item-greeting .agree")
    wait_js(page, "document.querySelector('#item-greeting .override-state').textContent.includes('同意')")
    page.goto(f"{server}/calibration")
    row = page.locator("#calibration tr[data-item='greeting']")
    assert row.locator(".n").inner_text() == "2" and row.locator(".acc").inner_text() == "50%"
    # the final score survives a reload
    page.goto(f"{server}/calls/zh_nogreet_1")
    assert page.inner_text("#final-score") == "100"
    page.close()


def test_agent_sees_403_on_another_agents_call(server: str, browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    login(page, server, "wang")
    assert "/coaching/A1001" in page.url
    assert "辅导" in page.inner_text("h1")
    response = page.goto(f"{server}/calls/zh_rude_2")
    assert response is not None and response.status == 403
    assert "坐席只能查看自己的通话" in page.inner_text("#error-detail")
    response = page.goto(f"{server}/calls/zh_rude_1")
    assert response is not None and response.status == 200
    assert page.locator("#item-greeting .agree").count() == 0  # agents cannot override
    context.close()


@pytest.mark.slow
def test_review_page_with_real_sample_results(sample_results, browser, tmp_path: Path) -> None:
    """The sample calls scored from audio by the real pipeline (Whisper, sentiment, warmth):
    the flagged queue lists them and a review page plays, seeks and shows warmth/sentiment."""
    settings = load_settings(None, data_dir=tmp_path / "data")
    store = ResultStore(settings.resolved_database_url)
    for result in sample_results.values():
        store.save(result)
    add_user(sessionmaker(store.engine), "rev", PASSWORD, "reviewer")
    flagged = sorted(r.call_id for r in sample_results.values() if r.flags)
    assert flagged
    with serve(settings, store) as base:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        login(page, base, "rev")
        assert {a.inner_text() for a in page.locator("a.call-link").all()} == set(flagged)
        call_id = "zh_rude_agent" if "zh_rude_agent" in flagged else flagged[0]
        page.goto(f"{base}/calls/{call_id}")
        wait_js(page, "document.getElementById('player').readyState >= 1")
        duration = page.evaluate("document.getElementById('player').duration")
        assert duration == pytest.approx(sample_results[call_id].duration_s, abs=0.5)
        second = page.locator("#transcript .utt").nth(1)
        start = float(second.get_attribute("data-start"))
        second.click()
        wait_js(page, f"Math.abs(document.getElementById('player').currentTime - {start}) < 0.6")
        page.evaluate("document.getElementById('player').pause()")
        assert "current" in second.get_attribute("class")
        if sample_results[call_id].to_dict().get("warmth"):
            assert page.locator("#warmth tr").count() > 1
        page.screenshot(path=str(tmp_path / "review.png"), full_page=True)
        # every flagged sample call at a glance: visible reasons in Chinese, timeline lanes, failed
        # items first, "missing" items without quotes, never an English engine sentence or a regex
        shots = Path(os.environ.get("QA_SCREENSHOTS") or tmp_path)
        for cid in flagged:
            page.goto(f"{base}/calls/{cid}")
            why = page.inner_text("#why-flagged")
            assert page.locator("#why-flagged .flag-line .flag-reason").count() == len(sample_results[cid].flags), why
            assert page.locator("svg[data-lane=agent] rect.seg").count() > 0 and page.locator("svg[data-lane=hold]").count() == 1
            outcomes = [page.get_attribute(f"#item-{i.id}", "data-final") for i in sample_results[cid].scorecard.items]
            shown = page.eval_on_selector_all(".right .item", "els => els.map(e => e.dataset.final)")
            assert shown == sorted(outcomes, key=lambda o: o != "fail")  # failed items first
            reasons = page.inner_text(".right") + why
            assert not re.search(r"\b(missing in|agent speech|customer speech|in the first|below)\b", reasons), cid
            for box in page.locator(".right .item").all():
                if box.locator(".searched").count():
                    assert box.locator(".evidence").count() == 0
            page.screenshot(path=str(shots / f"sample_{cid}.png"), full_page=True)
        page.close()
    store.close()


def test_appeal_round_trip_and_scorecard_history(browser, tmp_path: Path) -> None:
    """An agent appeals (申诉) the fatal item of a fresh call; a reviewer accepts it: the final
    score is lifted from 0 on the review page, the queue and the coaching page. The call also has
    a second scorecard (another rubric), and the page marks which one is current."""
    from qa_pipeline.config import Settings as _S
    from qa_pipeline.pipeline import CallPipeline

    settings = load_settings(None, data_dir=tmp_path / "data")
    store = ResultStore(settings.resolved_database_url)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    first = make_result("zh_rude_new", dialogue=3, agent_id="A1001", team="抢修一组", audio_path=str(AUDIO), start_time=now)
    store.save(first)
    store.save(CallPipeline(_S(), rubric="zh_95598_utility").rescore(first), make_current=False)
    sessions = sessionmaker(store.engine)
    add_user(sessions, "rev", PASSWORD, "reviewer")
    add_user(sessions, "wang", PASSWORD, "agent", agent_id="A1001")
    with serve(settings, store) as base:
        agent = browser.new_context().new_page()
        login(agent, base, "wang")
        agent.goto(f"{base}/calls/zh_rude_new")
        assert agent.inner_text("#final-score") == "0"
        # the history shows both scorecards; the first one is current
        marks = agent.locator("#scorecards tr[data-result-key]")
        assert marks.count() == 2 and marks.nth(0).locator(".current-mark").count() == 1
        assert marks.nth(1).locator(".current-mark").count() == 0
        agent.fill("#item-forbidden_phrases .appeal-reason", "我说的是“您先别着急”，不是辱骂")
        agent.click("#item-forbidden_phrases .appeal")
        agent.wait_for_selector("#item-forbidden_phrases .appeal .appeal-state")
        assert agent.inner_text("#item-forbidden_phrases .appeal .appeal-state") == "待处理"
        assert agent.locator("#item-forbidden_phrases .accept-appeal").count() == 0  # agents cannot decide

        rev = browser.new_context().new_page()
        login(rev, base, "rev")
        rev.goto(f"{base}/calls/zh_rude_new")
        rev.fill("#item-forbidden_phrases .decision-comment", "复听确认无辱骂")
        rev.click("#item-forbidden_phrases .accept-appeal")
        wait_js(rev, "document.getElementById('final-score').textContent !== '0'")
        final = float(rev.inner_text("#final-score"))
        assert final > 0 and rev.inner_text("#auto-score") == "0"
        assert rev.inner_text("#item-forbidden_phrases .appeal .appeal-state") == "已接受"
        assert rev.inner_text("#review-state") == "复核中"
        rev.click("#mark-reviewed")
        wait_js(rev, "document.getElementById('review-state').textContent === '已复核'")
        assert "复核人 rev" in rev.inner_text("#reviewed-by")
        # every other page shows the final score
        rev.goto(f"{base}/queue?review=all")
        row = rev.locator("#queue tbody tr", has_text="zh_rude_new")
        assert row.locator(".final").inner_text() == f"{final:g}" and row.locator(".auto").inner_text() == "0"
        assert "已复核" in row.locator(".review-state").inner_text()
        rev.goto(f"{base}/queue")  # open reviews only: the reviewed call left the queue
        assert rev.locator("#queue tbody tr", has_text="zh_rude_new").count() == 0
        agent.goto(f"{base}/coaching/A1001")
        assert f"平均 {final:g}" in agent.inner_text("h1")
        agent.goto(f"{base}/calls/zh_rude_new")
        assert agent.inner_text("#item-forbidden_phrases .appeal .appeal-state") == "已接受"
        # making the other scorecard current is explicit, and the page says which one it is
        rev.goto(f"{base}/calls/zh_rude_new")
        rev.click("#scorecards .make-current")
        wait_js(rev, "document.querySelectorAll('#scorecards tr[data-result-key]')[1].querySelector('.current-mark') !== null")
        marks = rev.locator("#scorecards tr[data-result-key]")
        assert marks.nth(0).locator(".current-mark").count() == 0
        assert "zh_95598_utility" in rev.inner_text("section.right h2:not(:first-child)")
    store.close()


@pytest.mark.slow
def test_a_call_scored_from_the_s3_server_plays_in_the_review_page(pipeline, browser, tmp_path: Path) -> None:
    """A recording in a bucket (SeaweedFS), scored from there with the real pipeline: its review
    page plays it through the server (the browser has no bucket access), seeking included."""
    from s3server import ACCESS_KEY, SECRET_KEY, SeaweedS3

    from qa_pipeline.batch import fetch_each, score_sources
    from qa_pipeline.storage import open_store

    s3 = SeaweedS3(tmp_path / "weed")
    s3.start()
    try:
        client = s3.client()
        client.make_bucket("calls")
        for suffix in (".wav", ".json"):
            client.fput_object("calls", f"live/en_rude_agent{suffix}", str(PROJECT_ROOT / "samples" / "calls" / f"en_rude_agent{suffix}"))
        settings = load_settings(None, data_dir=tmp_path / "data", s3={"endpoint": s3.endpoint, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY})
        objects = open_store("s3://calls/live/", settings)
        store = ResultStore(settings.resolved_database_url)
        outcomes = list(score_sources(fetch_each(objects, objects.iter_recordings()), pipeline, store, results_dir=settings.resolved_results_dir))
        assert [o.status for o in outcomes] == ["scored"], outcomes
        result = outcomes[0].result
        assert result is not None and result.audio.path == "s3://calls/live/en_rude_agent.wav"
        add_user(sessionmaker(store.engine), "rev", PASSWORD, "reviewer")
        with serve(settings, store) as base:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            login(page, base, "rev")
            page.goto(f"{base}/calls/{result.call_id}")
            wait_js(page, "document.getElementById('player').readyState >= 1", timeout=20000)
            duration = page.evaluate("document.getElementById('player').duration")
            assert duration > 0 and duration == pytest.approx(result.duration_s, abs=0.5)
            src = page.evaluate("document.getElementById('player').currentSrc")
            assert src.startswith(base) and "s3" not in src.split("/api/")[0]
            second = page.locator("#transcript .utt").nth(1)
            start = float(second.get_attribute("data-start"))
            second.click()
            wait_js(page, f"Math.abs(document.getElementById('player').currentTime - {start}) < 0.6")
            page.evaluate("document.getElementById('player').pause()")
            page.close()
        store.close()
    finally:
        s3.stop()
