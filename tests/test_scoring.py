"""The first rubric engine: phrase items scoped by role and time, metric items, flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import meta, transcript, utt

from qa_pipeline.config import PROJECT_ROOT
from qa_pipeline.errors import RubricError
from qa_pipeline.records import Outcome
from qa_pipeline.scoring import CallContext, Scorer, compute_metrics, find_rubric, load_rubric

RUBRICS = PROJECT_ROOT / "rubrics"


def score(rubric_id: str, utts, duration: float, language: str = "zh"):
    t = transcript(utts, duration, language)
    ctx = CallContext(transcript=t, metrics=compute_metrics(t), metadata=meta())
    scorer = Scorer(find_rubric(rubric_id, RUBRICS))
    card = scorer(ctx)
    return card, scorer.flags(card, ctx)


GOOD_ZH = [
    utt("agent", 0.5, 5.0, "您好，国家电网九五五九八，工号一零二三，很高兴为您服务。"),
    utt("customer", 5.5, 9.0, "你好，我家停电了。"),
    utt("agent", 9.5, 14.0, "请您提供一下户号，我帮您查询。"),
    utt("customer", 14.5, 17.0, "好的，谢谢。"),
    utt("agent", 18.0, 23.0, "已经为您登记，抢修人员会在两小时内到达。"),
    utt("customer", 23.5, 25.0, "好的。"),
    utt("agent", 25.5, 29.0, "感谢您的来电，祝您生活愉快，再见。"),
]
END = 30.0


def test_default_rubrics_load() -> None:
    for path in RUBRICS.glob("*.yaml"):
        rubric = load_rubric(path)
        assert rubric.items and rubric.version


def test_good_call_passes_everything_with_evidence() -> None:
    card, flags = score("basic_zh", GOOD_ZH, END)
    assert {i.id: i.outcome for i in card.items} == dict.fromkeys(
        ["greeting", "closing", "forbidden_phrases", "dead_air", "interruptions"], Outcome.PASS
    )
    assert card.total == 100.0 and not flags
    greeting = card.item("greeting")
    assert [e.quote for e in greeting.evidence][0].startswith("您好")
    assert greeting.evidence[0].start == pytest.approx(0.5)
    closing = card.item("closing")
    assert "感谢您的来电" in closing.evidence[0].quote and closing.evidence[0].start >= 25.0


def test_forbidden_phrase_is_fatal_and_quoted_with_time() -> None:
    utts = GOOD_ZH[:4] + [utt("agent", 17.2, 17.9, "不归我管，你听不懂吗？")] + GOOD_ZH[4:]
    card, flags = score("basic_zh", utts, END)
    item = card.item("forbidden_phrases")
    assert item.outcome is Outcome.FAIL and item.fatal
    assert card.total == 0.0 and card.fatal_failed
    assert flags[0].id == "fatal_item" and flags[0].priority == 1
    quotes = " ".join(e.quote for e in item.evidence)
    assert "不归我管" in quotes and "你听不懂吗" in quotes
    assert all(17.2 <= e.start < e.end <= 17.9 for e in item.evidence)


def test_customer_quoting_a_rude_phrase_does_not_fail_the_agent() -> None:
    utts = GOOD_ZH + [utt("customer", 14.5, 17.0, "上次那个人说爱找谁找谁，太气人了")]
    card, _ = score("basic_zh", utts, END)
    assert card.item("forbidden_phrases").outcome is Outcome.PASS


def test_missing_greeting_shows_what_was_said_instead() -> None:
    utts = [utt("agent", 0.5, 2.0, "喂，什么事？")] + GOOD_ZH[1:]
    card, flags = score("basic_zh", utts, END)
    item = card.item("greeting")
    assert item.outcome is Outcome.FAIL
    assert item.evidence and item.evidence[0].quote == "喂，什么事？"
    assert card.total == 75.0 and [f.id for f in flags] == ["low_score"]


def test_greeting_after_the_window_does_not_count() -> None:
    utts = [utt("agent", 16.0, 20.0, "您好，国家电网，很高兴为您服务")] + GOOD_ZH[1:]
    card, _ = score("basic_zh", utts, END)
    assert card.item("greeting").outcome is Outcome.FAIL


def test_homophone_from_asr_still_matches_by_pinyin() -> None:
    utts = [utt("agent", 0.5, 4.0, "您好，国家店网，公号一零二三")] + GOOD_ZH[1:]
    card, _ = score("basic_zh", utts, END)
    greeting = card.item("greeting")
    assert greeting.outcome is Outcome.PASS
    assert "国家店网" in greeting.evidence[1].quote


def test_dead_air_and_interruptions_fail_with_evidence() -> None:
    utts = GOOD_ZH[:2] + [
        utt("agent", 7.0, 9.5, "好的好的我知道"),  # interrupts customer (5.5-9.0)
        utt("customer", 10.0, 13.0, "那什么时候能来电"),
        utt("agent", 11.0, 14.0, "您别急听我说"),  # interrupts again
        utt("customer", 30.0, 32.0, "喂？还在吗？"),  # 16 s dead air
        utt("agent", 32.5, 36.0, "感谢您的来电，再见。"),
    ]
    card, _ = score("basic_zh", utts, 37.0)
    dead = card.item("dead_air")
    assert dead.outcome is Outcome.FAIL and dead.evidence[0].start == pytest.approx(14.0)
    assert "16.0 s silence after agent" in dead.evidence[0].quote
    inter = card.item("interruptions")
    assert inter.outcome is Outcome.FAIL and len(inter.evidence) == 2
    assert inter.evidence[0].quote.startswith("好的好的")


def test_mono_call_marks_role_items_not_applicable() -> None:
    utts = [utt("unknown", u.start, u.end, u.text) for u in GOOD_ZH]
    card, flags = score("basic_zh", utts, END)
    outcomes = {i.id: i.outcome for i in card.items}
    assert outcomes == {
        "greeting": Outcome.NA,
        "closing": Outcome.NA,
        "forbidden_phrases": Outcome.NA,
        "dead_air": Outcome.PASS,
        "interruptions": Outcome.NA,
    }
    assert "roles_unknown" in [f.id for f in flags]


def test_english_rubric_word_boundaries() -> None:
    utts = [
        utt("agent", 0.5, 4.0, "Thank you for calling Acme, my name is Sarah.", 0),
        utt("customer", 5.0, 8.0, "Whatever you say, the bill is wrong.", 1),  # customer: not the agent's fault
        utt("agent", 9.0, 12.0, "I'm the account holder's contact, let me check.", 0),
        utt("agent", 40.0, 43.0, "Is there anything else? Have a great day.", 0),
    ]
    card, _ = score("basic_en", utts, END, "en")
    assert card.item("greeting").outcome is Outcome.PASS
    assert card.item("forbidden_phrases").outcome is Outcome.PASS
    assert card.item("closing").outcome is Outcome.PASS


@pytest.mark.parametrize(
    "yaml_text,expected",
    [
        ("id: r\nversion: '1'\nname: x\nitems:\n  - {id: greeting, name: g, check: {kind: phrases, groups: []}}\n",
         "item 'greeting' (items[0]) check.groups"),
        ("id: r\nversion: '1'\nname: x\nitems:\n  - {id: a, name: g, check: {kind: metric, metric: loudness, max: 3}}\n",
         "item 'a' (items[0]) check.metric"),
        ("id: r\nversion: '1'\nname: x\nitems:\n  - {id: a, name: g, weight: -1, check: {kind: phrases, groups: [[x]]}}\n",
         "item 'a' (items[0]) weight"),
        ("id: r\nversion: '1'\nname: x\nitems:\n  - {id: a, name: g, scope: {role: boss}, check: {kind: phrases, groups: [[x]]}}\n",
         "item 'a' (items[0]) scope.role"),
        ("id: r\nversion: '1'\nname: x\nitems:\n  - {id: a, name: g, check: {kind: loudness}}\n",
         "item 'a' (items[0]) check"),
        ("id: r\nversion: '1'\nname: x\nitems: [{id: a, name: g, check: {kind: phrases, groups: [[x]]}}, {id: a, name: h, check: {kind: phrases, groups: [[y]]}}]\n",
         "duplicate item id 'a'"),
        ("id: r\nversion: '1'\nname: x\nitems: [\n", "invalid YAML"),
    ],
)
def test_malformed_rubric_gives_precise_error(tmp_path: Path, yaml_text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)
