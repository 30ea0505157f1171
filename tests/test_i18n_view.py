"""The zh-CN catalogue and the call-at-a-glance view model: every reason the rubric engine writes
for the synthetic dialogues reads as Chinese, a regular expression never reaches the page,
failed items come first with precise evidence, and the sentiment chart plots the flags' quantity."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from qa_pipeline.config import PROJECT_ROOT
from qa_pipeline.records import CallSentiment, Role, UtteranceSentiment
from qa_pipeline.scoring import Scorer, find_rubric
from qa_pipeline.web import i18n, view
from qa_pipeline.web.trends import _labels, period_of
from qa_testkit.web_results import DIALOGUES, make_result

RUBRICS = PROJECT_ROOT / "rubrics"
#: an English word in a translated sentence (identifiers from the data such as "95598-repair" may stay)
ENGLISH = re.compile(r"(?<![\w-])[A-Za-z]{2,}(?![\w-])")


@pytest.mark.parametrize("rubric_id", ["basic_zh", "zh_95598_utility", "zh_telecom"])
def test_every_engine_reason_of_the_synthetic_calls_is_translated(rubric_id: str) -> None:
    scorer = Scorer(find_rubric(rubric_id, RUBRICS))
    seen = 0
    for d in range(len(DIALOGUES)):
        data = make_result(f"c{d}", dialogue=d, scorer=scorer).to_dict()
        for item in data["scorecard"]["items"]:
            zh = i18n.translate_reason(item["reason"], "zh-CN")
            assert not ENGLISH.search(zh), (item["reason"], zh)
            seen += 1
        for flag in data["flags"]:
            zh = i18n.flag_reason(flag["id"], flag["reason"], "zh-CN")
            assert not ENGLISH.search(zh), (flag["reason"], zh)
    assert seen >= 5 * len(DIALOGUES)


def test_reason_templates_and_no_regex() -> None:
    t = i18n.translate_reason
    assert t("missing in agent speech in the first 20 s: 工号", "zh-CN") == "前 20 秒的坐席发言中未找到：工号"
    assert t("said “感谢您的来电” in agent speech in the last 30 s", "zh-CN") == "最后 30 秒的坐席发言中说了“感谢您的来电”"
    assert t("customer sentiment end = -0.65 (max -0.3)", "zh-CN") == "客户情绪结束时 = -0.65（上限 -0.3）"
    assert t("call ended by the customer (expected the agent)", "zh-CN") == "通话由客户结束（应由坐席结束）"
    for locale in i18n.LOCALES:
        shown = t(r"missing in agent speech: /工号\s*\d{4}/ (1 of 2)", locale)
        assert "工号" not in shown and "\\" not in shown and ("规定话术" in shown or "the expected wording" in shown), shown
    # " / " between alternatives is not a regex
    assert t("missing in agent speech: 您好 / 你好", "en") == "missing in agent speech: 您好 / 你好"
    assert t("some sentence the engine never wrote", "zh-CN") == "some sentence the engine never wrote"


def test_locale_negotiation_and_translator() -> None:
    assert i18n.negotiate(None) == "zh-CN" and i18n.negotiate("en") == "en" and i18n.negotiate("fr") == "zh-CN"
    assert i18n.negotiate("zh-CN", "en") == "en"
    assert i18n.translator("zh-CN")("{n} calls", n=3) == "3 通" and i18n.translator("en")("{n} calls", n=3) == "3 calls"
    names = i18n.rubric_names(RUBRICS)
    assert names["zh_95598_utility"]["negative_ending"] == "通话结束时客户情绪负面"
    assert names[""]["greeting"] != "greeting"  # a Chinese rubric's name for ids shown without their rubric


def test_failed_items_first_and_precise_evidence() -> None:
    rude = make_result("rude", dialogue=3).to_dict()
    items = view.ordered_items(rude)
    ranks = [0 if i["final"] == "fail" and i.get("fatal") else 1 if i["final"] == "fail" else 2 for i in items]
    assert ranks == sorted(ranks) and ranks[0] == 0 and items[0]["id"] == "forbidden_phrases"
    nogreet = make_result("nogreet", dialogue=1).to_dict()
    greeting = next(i for i in view.ordered_items(nogreet) if i["id"] == "greeting")
    assert greeting["missing"] and greeting["evidence_shown"] == []  # the engine attached unrelated utterances
    assert next(i for i in nogreet["scorecard"]["items"] if i["id"] == "greeting")["evidence"]
    unrelated = [{"start": 0.5, "quote": "喂", "utterance_id": "u1"}]
    at_least = {"id": "y", "outcome": "fail", "reason": "missing in agent speech: 您好 / 你好 (at least 2)", "evidence": unrelated}
    partial = {"id": "z", "outcome": "fail", "reason": "missing in agent speech: 工号 (1 of 2)", "evidence": unrelated}
    shown = {i["id"]: i["evidence_shown"] for i in view.ordered_items({"scorecard": {"items": [at_least, partial]}})}
    assert shown == {"y": [], "z": unrelated}  # a partial match's hits are evidence
    # overlapping phrase hits in one utterance are shown once
    item = {"id": "x", "outcome": "fail", "reason": "“你烦”, “烦不烦” in agent speech",
            "evidence": [{"start": 1.0, "quote": "你烦不烦", "utterance_id": "u1"}, {"start": 1.2, "quote": "烦不烦", "utterance_id": "u1"}]}
    assert len(view.ordered_items({"scorecard": {"items": [item]}})[0]["evidence_shown"]) == 1
    flag = {"id": "fatal_item", "reason": "", "priority": 1, "evidence": item["evidence"]}
    assert len(view.glance({"flags": [flag], "scorecard": {"items": [item]}})["flags"][0]["evidence"]) == 1


def test_timeline_lanes() -> None:
    data = make_result("t", dialogue=0).to_dict()
    data["metrics"]["silences"] = [{"start": 1.0, "end": 3.5, "after_role": "agent"}, {"start": 20.0, "end": 40.0, "after_role": "agent"}]
    data["metrics"]["interruptions"] = [{"start": 4.4, "end": 4.6, "interrupter": "customer", "utterance_id": "u0002"}]
    data["duration_s"] = 60.0
    lanes = {lane["id"]: lane["segments"] for lane in view.timeline(data)["lanes"]}
    assert [len(lanes[k]) for k in ("agent", "customer", "silence", "overtalk", "hold")] == [2, 1, 1, 1, 1]
    assert lanes["hold"][0]["x"] == pytest.approx(1000 * 20 / 60, abs=0.01) and lanes["hold"][0]["start"] == 20.0


def _sentiment(customer: list[tuple[float, float, float]]) -> CallSentiment:
    """Customer turns as (start, model score, mood); the mood of the last one is the call's end."""
    utts = tuple(UtteranceSentiment(f"u{k}", Role.CUSTOMER, s, s + 2, score, "neutral", mood, True) for k, (s, score, mood) in enumerate(customer))
    return CallSentiment("m", utts, (None,) * 4, customer[0][2], customer[-1][2], customer[-1][2] - customer[0][2], "down", 0.0, 0.0, ())


def test_the_sentiment_chart_plots_the_flags_quantity() -> None:
    s = _sentiment([(1.0, 0.2, 0.1), (10.0, -0.03, -0.65)])  # the model says neutral, the cues say negative
    data = {"sentiment": {"utterances": [{"utterance_id": u.utterance_id, "role": "customer", "start": u.start, "end": u.end,
                                          "score": u.score, "mood": u.mood, "informative": True} for u in s.utterances],
                          "customer_end": s.customer_end}}
    series = view.sentiment_series(data)
    assert series["customer"][-1][1] == s.customer_end == -0.65 and series["customer_end"] == -0.65
    assert series["customer"][-1][0] == 11.0  # at the turn's midpoint, seconds


def test_periods() -> None:
    d = datetime(2026, 11, 4, 13, tzinfo=timezone.utc)  # a Wednesday
    assert period_of(d, "week") == "2026-11-02" and period_of(d, "month") == "2026-11"
    weeks = _labels(datetime(2026, 10, 1, tzinfo=timezone.utc), datetime(2026, 11, 4, tzinfo=timezone.utc), "week")
    assert weeks[0] == "2026-09-28" and weeks[-1] == "2026-11-02" and len(weeks) == 6  # empty weeks included


def test_failed_item_flags_with_parentheses_in_the_item_name() -> None:
    reason = 'review item failed: Takes ownership (no "not my department") (“not my problem”, “call back tomorrow” in agent speech)'
    assert i18n.split_item_flag(reason) == ("review", 'Takes ownership (no "not my department")', "“not my problem”, “call back tomorrow” in agent speech")
    assert i18n.flag_reason("review_item", reason, "zh-CN") == 'Takes ownership (no "not my department")（坐席发言中出现“not my problem”、“call back tomorrow”）'
    zh = "fatal item failed: 服务禁语 (“烦不烦” in agent speech)"
    assert i18n.translate_reason(zh, "zh-CN") == "致命项未通过：服务禁语（坐席发言中出现“烦不烦”）"
    assert i18n.translate_reason("fatal item failed: 静音 (silence_longest_s = 16.1 (max 10))", "zh-CN") == "致命项未通过：静音（最长静音（秒） = 16.1（上限 10））"


def test_recording_check_flags_are_translated() -> None:
    t = i18n.translate_reason
    assert t("no speech recognised (0.4 s) in 30.0 s of audio (2 channels): not scored", "zh-CN") == "30.0 秒的音频（2 声道）中只识别到 0.4 秒语音：未评分"
    assert t("recording truncated: the header declares 60.0 s, the file holds 12.0 s (80 % missing)", "zh-CN").startswith("录音不完整")
    assert {"fatal_item", "no_speech", "negative_ending", "complaint_intent"} <= set(i18n.flag_ids(RUBRICS))


def test_evidence_notes_and_warmth_in_chinese() -> None:
    assert i18n.evidence_quote("[16.1 s silence after agent: “好的。”]", "zh-CN") == "[坐席说完“好的。”后静音 16.1 秒]"
    assert i18n.evidence_quote("[16.1 s silence after agent: “好的。”]", "en") == "[16.1 s silence after agent: “好的。”]"
    assert i18n.warmth_text("warm greeting; respectful address in 5/6 agent turns", "zh-CN") == "问候热情；6 句坐席发言中 5 句使用敬称"
    assert i18n.warmth_text("customer mood -0.33 → -0.95 (down)", "zh-CN") == "客户情绪 -0.33 → -0.95（下降）"
    assert i18n.warmth_text("cold", "zh-CN") == "冷淡" and i18n.WARMTH_NAMES["empathy"] == "客户负面时的共情安抚"


def test_recording_fault_flags_are_translated() -> None:
    """The recording-fault flags (one-sided, duplicated channels, not separated, untranscribed
    speech) as qa_pipeline.recording_flags writes them, in Chinese with no English left."""
    from qa_pipeline.recording_flags import recording_flags
    from qa_pipeline.records import AudioInfo, Role, RoleEvidence, Span, Transcript, Utterance

    def audio(**kw: object) -> AudioInfo:
        base = dict(path="x.wav", sha256="0" * 64, format="WAV", subtype="ULAW", sample_rate=8000, channels=2, duration_s=60.0)
        return AudioInfo(**{**base, **kw})  # type: ignore[arg-type]

    agent = Utterance("u1", Role.AGENT, 0, 0.0, 40.0, "您好，请问有什么可以帮您")
    mono = Utterance("u1", Role.AGENT, 0, 0.0, 50.0, "您好，请问有什么可以帮您")
    lost = (Span(5.0, 10.0),)
    cases = [
        recording_flags(audio(channel_peak_dbfs=(-3.0, -96.0)), Transcript("zh", 60.0, (agent,))),
        recording_flags(audio(channel_peak_dbfs=(-3.0, -20.0)), Transcript("zh", 60.0, (agent,), untranscribed=lost)),
        recording_flags(audio(downmixed=True), Transcript("zh", 60.0, (mono,))),
        recording_flags(audio(channels=1), Transcript("zh", 60.0, (mono,)), RoleEvidence(method="single_speaker")),
    ]
    ids = {f.id for flags in cases for f in flags}
    assert {"one_sided_audio", "untranscribed_speech", "duplicate_channels", "separation_failed"} <= ids
    for flags in cases:
        for f in flags:
            zh = i18n.flag_reason(f.id, f.reason, "zh-CN")
            assert not ENGLISH.search(zh.replace("dBFS", "")), (f.reason, zh)
