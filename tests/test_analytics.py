"""Contact-center analytics: drivers, escalation flags, caller hashing, repeat contacts/FCR,
the spike detector with its signed webhook, and the refresh from stored results.

Everything here runs on text dialogues and synthetic rows (no Whisper): a few seconds.
"""

from __future__ import annotations

import json
import os
import random
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from qa_pipeline.analytics import AnalyticsError
from qa_pipeline.analytics.alerts import (
    Webhook,
    payload,
    run_detection,
    sign,
    verify_signature,
)
from qa_pipeline.analytics.caller import caller_hash, load_caller_key, normalize_number
from qa_pipeline.analytics.labelled import evaluate, load_labelled
from qa_pipeline.analytics.queries import driver_mix, escalations, repeat_stats
from qa_pipeline.analytics.refresh import local_hour
from qa_pipeline.analytics.spikes import SpikeConfig
from qa_pipeline.analytics.taxonomy import (
    assign_drivers,
    load_taxonomies,
    load_taxonomy,
    select_taxonomy,
)
from qa_pipeline.config import PROJECT_ROOT
from qa_pipeline.errors import MetadataError
from qa_pipeline.metadata import resolve_metadata
from qa_pipeline.scoring.dialogue import dialogue_from_dict
from qa_pipeline.scoring.engine import CallContext, Scorer
from qa_pipeline.scoring.metrics import compute_metrics
from qa_pipeline.scoring.rubric import find_rubric
from qa_pipeline.store import ResultStore
from qa_testkit.analytics_rows import SynthCall, insert_rows

LABELS = PROJECT_ROOT / "tests" / "analytics_dialogues" / "labels.yaml"
TAXONOMIES = PROJECT_ROOT / "taxonomies"
RUBRICS = PROJECT_ROOT / "rubrics"
RUBRIC_OF = {"state_grid_95598": "zh_95598_utility", "telecom_cn": "zh_telecom", "generic_en": "en_generic"}
TZ = "Asia/Shanghai"
CST = timezone(timedelta(hours=8))


@pytest.fixture(scope="module")
def taxonomies():
    return load_taxonomies(TAXONOMIES)


# -- drivers and flags on labelled calls ------------------------------------------------------
def test_drivers_and_escalation_flags_match_the_labels(taxonomies) -> None:
    calls = load_labelled(LABELS, [PROJECT_ROOT / "tests" / "golden", LABELS.parent], PROJECT_ROOT / "samples" / "calls")
    assert len(calls) >= 75 and {c.taxonomy for c in calls} == set(RUBRIC_OF)
    report = evaluate(calls, taxonomies, {t: find_rubric(r, RUBRICS) for t, r in RUBRIC_OF.items()})
    print(f"driver accuracy {report.driver_correct}/{report.total} = {report.driver_accuracy:.1%}; flags (tp, fp, fn) {dict(report.flag_counts)}")
    assert report.driver_accuracy >= 0.9, report.misses
    for flag, (tp, fp, fn) in report.flag_counts.items():
        assert tp >= 5 and fp <= 1 and fn <= 1, (flag, tp, fp, fn)


def _flags(lang: str, queue: str, customer: str) -> set[str]:
    d = dialogue_from_dict({"id": "t", "language": lang, "metadata": {"queue": queue},
                            "turns": [["agent", 0, 2, "您好" if lang == "zh" else "Hello"], ["customer", 2.5, 6, customer]]})  # fmt: skip
    rubric = find_rubric({"zh": "zh_95598_utility", "en": "en_generic"}[lang] if queue != "10086" else "zh_telecom", RUBRICS)
    ctx = CallContext(d.transcript, compute_metrics(d.transcript), d.metadata)
    scorer = Scorer(rubric)
    return {f.id for f in scorer.flags(scorer(ctx), ctx)} & {"external_escalation", "repeat_complaint"}


@pytest.mark.parametrize(
    "lang, queue, text, expected",
    [
        ("zh", "95598-repair", "再不修好我就打12398投诉你们", {"external_escalation"}),
        ("zh", "95598-repair", "我要打市长热线，还要找电视台曝光", {"external_escalation"}),
        ("zh", "10086", "你们不处理我就去工信部投诉", {"external_escalation"}),
        ("zh", "95598-repair", "我不会去曝光的，就是想快点来电", set()),
        ("zh", "95598-repair", "我的电话是一三九一二三四五六七八", set()),
        ("zh", "95598-repair", "这个问题我已经打了三次电话了", {"repeat_complaint"}),
        ("zh", "95598-repair", "我是第一次打电话", set()),
        ("en", "support", "If this isn't fixed I'll report you to the FCC and call my lawyer.", {"external_escalation"}),
        ("en", "support", "I'm going to the press with this, and the ombudsman.", {"external_escalation"}),
        ("en", "support", "I'm not going to call a lawyer, I just want it fixed.", set()),
        ("en", "support", "This is the third time I'm calling about the same thing.", {"repeat_complaint"}),
    ],
)
def test_escalation_and_repeat_phrases_in_both_languages(lang: str, queue: str, text: str, expected: set[str]) -> None:
    assert _flags(lang, queue, text) == expected


def test_drivers_carry_evidence_and_routing_follows_queue_then_language(taxonomies) -> None:
    tel = select_taxonomy(taxonomies, queue="10086-billing", language="zh")
    assert tel is not None and tel.id == "telecom_cn"
    assert select_taxonomy(taxonomies, queue="unknown", language="zh").id == "state_grid_95598"  # type: ignore[union-attr]
    assert select_taxonomy(taxonomies, queue=None, language="en").id == "generic_en"  # type: ignore[union-attr]
    d = dialogue_from_dict({"id": "x", "language": "zh", "turns": [
        ["agent", 0, 2, "您好"], ["customer", 2, 6, "我家停电了"], ["agent", 6, 8, "好的"], ["customer", 8, 12, "这个月电费也很高"]]})  # fmt: skip
    got = assign_drivers(select_taxonomy(taxonomies, queue="95598-repair", language="zh"), d.transcript)  # type: ignore[arg-type]
    assert got.primary == "outage_repair" and [h.category_id for h in got.drivers] == ["outage_repair", "billing_tariff"]
    ev = got.drivers[0].evidence[0]
    assert "停电" in ev.quote and 2 <= ev.start < ev.end <= 6 and ev.utterance_id == "u0002"
    nothing = dialogue_from_dict({"id": "y", "language": "zh", "turns": [["customer", 0, 2, "嗯嗯好的"]]})
    assert assign_drivers(tel, nothing.transcript).primary is None


def test_invalid_taxonomy_names_the_category_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text("id: t\nversion: '1'\nname: t\nlanguage: zh\ncategories:\n  - {id: a, name: A, match: {any: []}}\n"
                   "  - {id: b, name: B, match: {expr: '停电 &&'}}\n", encoding="utf-8")  # fmt: skip
    with pytest.raises(AnalyticsError) as err:
        load_taxonomy(bad)
    assert "category 'b' (categories[1]) match" in str(err.value)


# -- caller numbers ---------------------------------------------------------------------------
def test_caller_number_is_stored_only_as_a_keyed_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QA_CALLER_KEY", raising=False)
    assert normalize_number("+86 138-1234-5678") == normalize_number("13812345678") == "13812345678"
    key = load_caller_key(tmp_path / "data")
    assert stat.S_IMODE(os.stat(tmp_path / "data" / "caller_key").st_mode) == 0o600 and len(key) >= 32
    assert load_caller_key(tmp_path / "data") == key
    h = caller_hash("138 1234 5678", key)
    assert h == caller_hash("+8613812345678", key) and h != caller_hash("13812345678", b"k" * 32) and len(h) == 32
    audio = tmp_path / "c.wav"
    audio.write_bytes(b"")
    audio.with_suffix(".json").write_text(json.dumps({"caller": "+86 138-1234-5678", "queue": "95598-repair"}))
    meta = resolve_metadata(audio, manifest=None, filename_pattern="x", timezone=TZ, caller_key=key)
    assert meta.caller_hash == h and "13812345678" not in repr(meta) and "1234" not in json.dumps(dict(meta.custom))
    monkeypatch.setenv("QA_CALLER_KEY", "short")
    with pytest.raises(AnalyticsError, match="at least 32"):
        load_caller_key(tmp_path / "data")
    audio.with_suffix(".json").write_text(json.dumps({"caller": "call me maybe"}))
    with pytest.raises(MetadataError, match="caller"):
        resolve_metadata(audio, manifest=None, filename_pattern="x", timezone=TZ, caller_key=key)


# -- repeat contacts and FCR on a synthetic week ------------------------------------------------
def _call(i: int, day: float, caller: str | None, driver: str | None, agent: str, team: str, area: str = "西湖区", **kw: object) -> SynthCall:
    at = datetime(2026, 11, 16, 9, tzinfo=CST) + timedelta(days=day)
    return SynthCall(f"c{i:03d}", at, driver, agent, team, "95598-repair", area, caller, **kw)  # type: ignore[arg-type]


WEEK = [
    # customer A: outage on Mon (agent a1), again Wed (a2) -> repeat; Mon call not resolved first time
    _call(1, 0, "A", "outage_repair", "a1", "T1"),
    _call(2, 2, "A", "outage_repair", "a2", "T2"),
    # customer A on billing Thu: a different driver, not a repeat of the outage
    _call(3, 3, "A", "billing_tariff", "a1", "T1"),
    # customer B: meter Mon (a1) and again 9 days later (outside the 7-day window)
    _call(4, 0, "B", "meter", "a1", "T1"),
    _call(5, 9, "B", "meter", "a2", "T2"),
    # customer C: payment Tue (a2), no further call
    _call(6, 1, "C", "payment", "a2", "T2"),
    # no caller number: never linked, not counted
    _call(7, 1, None, "payment", "a1", "T1"),
    # customer D: outage Tue (a1), Tue again 3 h later (a1), Sat again (a2): two repeats
    _call(8, 1, "D", "outage_repair", "a1", "T1", escalation=True),
    _call(9, 1.125, "D", "outage_repair", "a1", "T1"),
    _call(10, 5, "D", "outage_repair", "a2", "T2", escalation=True, repeat_complaint=True),
]


@pytest.fixture
def db(tmp_path: Path):
    store = ResultStore(f"sqlite:///{tmp_path / 'qa.db'}")
    yield store
    store.close()


def test_repeat_contacts_and_fcr_on_a_synthetic_week(db: ResultStore) -> None:
    insert_rows(db.engine, WEEK, tz=TZ)
    first = local_hour(WEEK[0].at, TZ) // 24
    now_hour = local_hour(datetime(2026, 12, 10, 12, tzinfo=CST), TZ)  # every window is over
    with db.session() as s:
        by_agent = {r.key: r for r in repeat_stats(s, "agent_id", first, first + 13, now_hour=now_hour)}
        by_team = {r.key: r for r in repeat_stats(s, "team", first, first + 13, now_hour=now_hour)}
        # a1 took c1 c3 c4 c8 c9 (c7 has no caller): repeats c9; followed within 7 d: c1, c8, c9
        assert (by_agent["a1"].calls, by_agent["a1"].repeats, by_agent["a1"].eligible, by_agent["a1"].resolved) == (5, 1, 5, 2)
        # a2 took c2 c5 c6 c10: repeats c2, c10 (c5 is 9 days after c4); none followed
        assert (by_agent["a2"].calls, by_agent["a2"].repeats, by_agent["a2"].resolved) == (4, 2, 4)
        assert by_team["T1"].fcr == pytest.approx(2 / 5) and by_team["T2"].repeat_rate == pytest.approx(2 / 4)
        # a 14-day window links B's second meter call too
        wide = {r.key: r for r in repeat_stats(s, "agent_id", first, first + 13, window_s=14 * 86400, now_hour=now_hour)}
        assert wide["a2"].repeats == 3 and wide["a1"].resolved == 1
        # on Sunday of that week no window is over yet: only calls already followed up count
        # (a1: c1, c8, c9, none resolved); a2's calls are all still open
        sunday = local_hour(datetime(2026, 11, 22, 12, tzinfo=CST), TZ)
        early = {r.key: (r.eligible, r.resolved) for r in repeat_stats(s, "agent_id", first, first + 6, now_hour=sunday)}
        assert early["a1"] == (3, 0) and early["a2"] == (0, 0)
        assert [e.call_id for e in escalations(s, first, first + 13)] == ["c010", "c008"]
        mix = {m.driver: m.calls for m in driver_mix(s, first, first + 13)}
        assert mix == {"outage_repair": 5, "meter": 2, "payment": 2, "billing_tariff": 1}


# -- spike detector ---------------------------------------------------------------------------
def _synthetic_days(seed: int = 3) -> list[SynthCall]:
    """8 days of Poisson traffic (diurnal) for 6 areas x 4 drivers, then an outage surge:
    60 extra outage calls in 西湖区 on day 8 at 14:00-15:00 local time."""
    rng = np.random.default_rng(seed)
    drivers = {"outage_repair": 0.5, "billing_tariff": 0.4, "payment": 0.3, "meter": 0.1}
    areas = ["西湖区", "上城区", "拱墅区", "滨江区", "萧山区", "余杭区"]
    diurnal = [0.2] * 7 + [1.0, 1.5, 2.0, 2.0, 1.8, 1.2, 1.5, 2.0, 2.0, 1.7, 1.4, 1.0, 0.8, 0.6, 0.4, 0.3, 0.2]
    start = datetime(2026, 11, 20, tzinfo=CST)
    calls: list[SynthCall] = []
    pick = random.Random(seed)
    for day in range(8):
        for hour in range(24):
            for area in areas:
                for driver, rate in drivers.items():
                    n = int(rng.poisson(rate * diurnal[hour]))
                    if day == 7 and hour == 14 and area == "西湖区" and driver == "outage_repair":
                        n += 60
                    for _ in range(n):
                        at = start + timedelta(days=day, hours=hour, seconds=pick.randrange(3600))
                        team = f"抢修{areas.index(area) % 3 + 1}组"
                        calls.append(SynthCall(f"s{len(calls):06d}", at, driver, f"A{pick.randrange(30):03d}", team,
                                               "95598-repair", area, f"{pick.randrange(10**9):x}"))  # fmt: skip
    return calls


def test_an_injected_outage_surge_raises_exactly_that_warning_with_a_signed_webhook(db: ResultStore) -> None:
    insert_rows(db.engine, _synthetic_days(), tz=TZ)
    day8 = local_hour(datetime(2026, 11, 27, tzinfo=CST), TZ)
    sent: list[tuple[str, bytes, dict[str, str]]] = []

    def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        sent.append((url, body, headers))
        return 204

    secret = b"s" * 40
    hook = Webhook("https://hooks.example/qa", secret)
    with db.session() as s, s.begin():
        alerts = run_detection(s, range(day8, day8 + 24), SpikeConfig(), hook=hook, post=post)
        assert [(a.driver_id, a.dimension, a.dim_value, a.bucket - day8) for a in alerts] == [("outage_repair", "area", "西湖区", 14)]
        alert = alerts[0]
        assert alert.count >= 60 and alert.baseline_mean < 5 and alert.p_value < 1e-6
        assert {c["dimension"] for c in alert.cells} >= {"area"} and len(alert.call_ids) == alert.count
        assert alert.webhook_status == "delivered 204"
        again = run_detection(s, range(day8, day8 + 24), SpikeConfig(), hook=hook, post=post)
        assert again == [] and len(sent) == 1  # one alert per key: no repeat on a second run
    _, body, headers = sent[0]
    assert verify_signature(secret, body, headers["X-QA-Timestamp"], headers["X-QA-Signature"])
    assert not verify_signature(b"x" * 40, body, headers["X-QA-Timestamp"], headers["X-QA-Signature"])
    assert not verify_signature(secret, body.replace(b"60", b"61"), headers["X-QA-Timestamp"], headers["X-QA-Signature"])
    assert json.loads(body)["driver"] == "outage_repair" and json.loads(body)["value"] == "西湖区"
    assert sign(secret, body, 1) != headers["X-QA-Signature"]
    # a stricter ratio threshold silences it; no traffic change, no warning on the day before
    with db.session() as s:
        assert run_detection(s, [day8 + 14], SpikeConfig(min_ratio=100)) == []
        assert run_detection(s, range(day8 - 24, day8), SpikeConfig()) == []
        assert payload(alert)["call_ids"] == alert.call_ids


# -- refresh from stored results, CLI, exports -------------------------------------------------
def test_refresh_analyses_stored_results_once_and_links_the_customers_calls(db: ResultStore, tmp_path: Path) -> None:
    from dataclasses import replace

    from sqlalchemy import select
    from typer.testing import CliRunner

    from qa_pipeline.analytics.refresh import refresh
    from qa_pipeline.analytics.tables import CallAnalyticsRow, CallDriverRow
    from qa_pipeline.cli import app
    from qa_testkit.web_results import make_result

    t0 = datetime(2026, 11, 20, 9, tzinfo=CST)
    specs = [("r1", 0, "h1", t0), ("r2", 0, "h1", t0 + timedelta(days=1)), ("r3", 4, "h2", t0)]
    for call_id, dialogue, caller, at in specs:
        r = make_result(call_id, dialogue=dialogue, start_time=at)
        db.save(replace(r, metadata=replace(r.metadata, queue="95598-repair", caller_hash=caller, custom={"area": "西湖区"})))
    taxonomies = load_taxonomies(TAXONOMIES)
    assert refresh(db, taxonomies, TZ).analysed == 3
    assert refresh(db, taxonomies, TZ).analysed == 0  # idempotent: nothing new
    with db.session() as s:
        rows = {r.call_id: r for r in s.execute(select(CallAnalyticsRow)).scalars()}
        assert rows["r1"].primary_driver == "outage_repair" and rows["r1"].area == "西湖区"
        assert rows["r3"].primary_driver is None  # no category: goes to clustering
        assert rows["r2"].prev_call_id == "r1" and rows["r2"].prev_gap_s == 86400 and rows["r1"].next_gap_s == 86400
        ev = s.execute(select(CallDriverRow.evidence).where(CallDriverRow.call_id == "r1")).scalar_one()
        assert "停电" in ev[0]["quote"] and ev[0]["utterance_id"] == "u0002"
    url = str(db.engine.url)
    runner = CliRunner()
    out = runner.invoke(app, ["analytics", "drivers", "r1", "--db", url])
    assert out.exit_code == 0 and "outage_repair" in out.output and "停电" in out.output
    csv_path, pq_path = tmp_path / "a.csv", tmp_path / "a.parquet"
    for path in (csv_path, pq_path):
        out = runner.invoke(app, ["analytics", "export", str(path), "--days", "100000", "--db", url])
        assert out.exit_code == 0, out.output
    text = csv_path.read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("call_id,at,day") and "r2" in text and "h1" in text
    import pyarrow.parquet as pq

    assert pq.read_table(pq_path).num_rows == 3
    out = runner.invoke(app, ["analytics", "update", "--db", url])
    assert out.exit_code == 0 and "analysed 0 call(s)" in out.output
    out = runner.invoke(app, ["analytics", "report", "--days", "100000", "--by", "agent", "--db", url])
    assert out.exit_code == 0 and "outage_repair" in out.output and "A1001" in out.output
    # a period with no calls says how far back the latest call is, and that suggestion works
    # (the demo's sample calls are dated days before today: the 7-day default shows nothing)
    recent = runner.invoke(app, ["analytics", "report", "--days", "1", "--db", url])
    assert recent.exit_code == 0 and "no analysed calls in the last 1 day(s)" in recent.output, recent.output
    suggested = recent.output.split("try ")[1].split()
    assert suggested[0] == "--days" and int(suggested[1]) > 1
    out = runner.invoke(app, ["analytics", "report", *suggested, "--db", url])
    assert out.exit_code == 0 and "outage_repair" in out.output, out.output
    out = runner.invoke(app, ["analytics", "detect", "--db", url])
    assert out.exit_code == 0 and "0 new warning(s)" in out.output
    out = runner.invoke(app, ["analytics", "detect", "--webhook", "ftp://x", "--db", url])
    assert out.exit_code == 2 and "https://" in out.output
    bad = runner.invoke(app, ["analytics", "detect", "--min-ratio", "0.5", "--db", url])
    assert bad.exit_code == 2 and "min_ratio" in " ".join(bad.output.split())
    missing = runner.invoke(app, ["analytics", "update", "--taxonomies", str(tmp_path / "none"), "--db", url])
    assert missing.exit_code == 2 and "taxonomy files" in " ".join(missing.output.split())


def test_refreshes_running_at_once_analyse_each_call_once_and_link_like_one(tmp_path: Path) -> None:
    """Two batches finishing together each refresh analytics: the second insert of a call's
    row failed (IntegrityError) and crashed that batch after its calls were stored."""
    import shutil

    from qa_pipeline.analytics.refresh import refresh
    from qa_testkit.concurrent_refresh import analytics_snapshot, refresh_at_once, seed_chained_calls

    url, serial_url = f"sqlite:///{tmp_path / 'qa.db'}", f"sqlite:///{tmp_path / 'serial.db'}"
    with ResultStore(url) as store:
        ids = seed_chained_calls(store, 60, start=datetime(2026, 11, 20, 9, tzinfo=CST))
    shutil.copy(tmp_path / "qa.db", tmp_path / "serial.db")
    codes, counts = refresh_at_once(url, TAXONOMIES, processes=3)
    assert codes == [0, 0, 0] and sum(counts) == len(ids), (codes, counts)  # each call analysed once
    with ResultStore(serial_url) as serial, ResultStore(url) as store:
        assert refresh(serial, load_taxonomies(TAXONOMIES), TZ).analysed == len(ids)
        expected, got = analytics_snapshot(serial), analytics_snapshot(store)
    assert sorted(got) == ids and got == expected
    assert sum(1 for row in got.values() if row[2] is not None) >= 30  # chains were linked


def test_unmatched_calls_cluster_into_nameable_topics_with_the_packaged_e5() -> None:
    """Three emerging topics the 95598 taxonomy does not know (photovoltaics, EV chargers, the app)
    and two singletons; the grouping below was written before clustering."""
    from qa_pipeline.analytics.clusters import cluster_texts
    from qa_pipeline.embeddings import E5Embedder

    topics = {
        "pv": ["我想问一下光伏发电并网怎么申请", "家里装了光伏板，想并网卖电", "光伏并网需要什么材料", "屋顶光伏发电上网电价是多少"],
        "ev": ["充电桩安装需要报装吗", "小区要装新能源汽车充电桩", "私人充电桩怎么申请用电"],
        "app": ["你们的公众号登录不上", "网上国网APP登录一直失败", "APP密码忘了登不进去"],
        "other": ["我要开发票", "天气怎么样"],
    }
    ids = [f"{t}{i}" for t, texts in topics.items() for i in range(len(texts))]
    texts = [x for texts in topics.values() for x in texts]
    found = cluster_texts(ids, texts, E5Embedder(), min_size=2)
    assert sorted(sorted(c.call_ids) for c in found) == sorted(sorted(f"{t}{i}" for i in range(len(topics[t]))) for t in ("pv", "ev", "app"))
    assert "光伏" in found[0].terms and len(found[0].examples) == 3


@pytest.mark.slow
def test_sample_calls_asr_transcripts_get_the_labelled_drivers(sample_results) -> None:  # type: ignore[no-untyped-def]
    """The sample calls as Whisper transcribed them (the session's scored results, no extra ASR):
    primary drivers against the labels written from their scripts."""
    import yaml

    from qa_pipeline.analytics.refresh import analyse

    labels = yaml.safe_load(LABELS.read_text(encoding="utf-8"))["calls"]
    taxonomies = load_taxonomies(TAXONOMIES)
    got = {cid: analyse(r, taxonomies, TZ) for cid, r in sample_results.items()}
    right = [cid for cid, a in got.items() if a.assignment and a.assignment.primary == labels[cid]["driver"]]
    print(f"sample-call ASR drivers: {len(right)}/{len(got)}", {c: a.assignment.primary for c, a in got.items() if c not in right and a.assignment})
    assert len(got) >= 12 and len(right) >= len(got) - 1


def test_webhook_is_posted_over_http_with_a_verifiable_signature() -> None:
    """A real local HTTP receiver checks the signature the way a subscriber would."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from qa_pipeline.analytics.alerts import deliver

    secret = b"w" * 40
    received: list[bool] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            ok = verify_signature(secret, body, self.headers["X-QA-Timestamp"], self.headers["X-QA-Signature"])
            received.append(ok)
            self.send_response(204 if ok and self.path == "/ok" else 500)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        assert deliver(Webhook(f"{base}/ok", secret), {"driver": "outage_repair", "value": "西湖区"}) == "delivered 204"
        waits: list[float] = []
        assert deliver(Webhook(f"{base}/down", secret), {"x": 1}, sleep=waits.append) == "failed: HTTP 500"
        assert received == [True] * 4 and waits == [1.0, 2.0]  # 3 attempts, backing off
    finally:
        srv.shutdown()


def test_daily_detector_uses_the_previous_days_and_every_threshold_counts() -> None:
    from qa_pipeline.analytics.spikes import detect

    rng = np.random.default_rng(5)
    day = 20000
    base = {d: int(rng.poisson(20)) for d in range(day - 28, day)}
    counts = {("queue", "95598-repair", "meter"): {**base, day: 80}, ("queue", "95598-repair", "payment"): {**base, day: 24}}
    config = SpikeConfig(granularity="day", baseline_buckets=28)
    assert config.baseline_buckets_of(day) == list(range(day - 1, day - 29, -1))
    spikes = detect(counts, day, config)
    assert [(s.driver, s.headline.value, s.headline.count) for s in spikes] == [("meter", "95598-repair", 80)]
    assert 15 < spikes[0].headline.baseline_mean < 25 and spikes[0].key == f"day:{day}:meter"
    assert detect(counts, day, SpikeConfig(granularity="day", baseline_buckets=28, min_count=81)) == []
    assert detect(counts, day, SpikeConfig(granularity="day", baseline_buckets=28, dimensions=("area",))) == []
    with pytest.raises(ValueError):
        SpikeConfig(alpha=0)
