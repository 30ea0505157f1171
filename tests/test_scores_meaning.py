"""Issue 18: fatal items need context, standard phrases match paraphrases, warmth agrees with the
rubric, profanity triggers soothing, lone speakers are never given a guessed role.

Text dialogues only (no Whisper); the semantic checks load the packaged e5 model once (~1 s).
"""

from __future__ import annotations

from helpers import meta, transcript, utt

from qa_pipeline.asr.roles import RoleAssigner
from qa_pipeline.config import PROJECT_ROOT
from qa_pipeline.records import CallMetadata, CallSentiment, Outcome, Role, Utterance
from qa_pipeline.scoring import CallContext, Scorer, compute_metrics, find_rubric
from qa_pipeline.scoring.fatal import SecondCheck
from qa_pipeline.sentiment.warmth import WarmthScorer, align_with_scorecard
from qa_pipeline.web.view import timeline

RUBRICS = PROJECT_ROOT / "rubrics"
NEUTRAL = CallSentiment("test", (), (None, None, None, None), 0.0, 0.0, 0.0, "flat", 0.0, 0.0, ())


def score(rubric_id: str, utts, duration: float = 60.0, language: str = "en", scorer: Scorer | None = None, **kw):
    t = transcript(utts, duration, language)
    ctx = CallContext(transcript=t, metrics=compute_metrics(t), metadata=meta(**kw))
    scorer = scorer or Scorer(find_rubric(rubric_id, RUBRICS))
    card = scorer(ctx)
    return card, scorer.flags(card, ctx)


def _call(agent_line: str, opening: str = "Thank you for calling Acme, my name is Sarah, how can I help?"):
    return [
        utt("agent", 0.5, 4.0, opening),
        utt("customer", 4.5, 8.0, "Hi, what do I pay for the roaming pass in Canada?"),
        utt("agent", 8.5, 14.0, agent_line),
        utt("customer", 14.5, 16.0, "Okay, thanks."),
        utt("agent", 50.0, 54.0, "Is there anything else? Have a great day."),
    ]


# ---------------------------------------------------------------- fatal items need context


def test_a_word_inside_a_clause_about_something_else_does_not_zero_the_call() -> None:
    for line in (
        "It's ten a day, plus the twenty, whatever they're asking in Canada dollars.",
        "For whatever reason the payment bounced, so I'll send it again.",
        "Give it an hour for the network to calm down after the update.",
    ):
        for rubric in ("basic_en", "en_generic"):
            card, flags = score(rubric, _call(line))
            item = card.item("forbidden_phrases")
            assert item.outcome is Outcome.PASS and not card.fatal_failed, (rubric, line, item.reason)
            assert "fatal_item" not in [f.id for f in flags]


def test_a_dismissal_of_the_customer_still_zeroes_the_call_with_evidence() -> None:
    card, flags = score("basic_en", _call("Whatever. You people always call about billing."))
    item = card.item("forbidden_phrases")
    assert item.outcome is Outcome.FAIL and item.fatal and card.total == 0.0
    assert "confirmed by the semantic second check" in item.reason and "fatal-context-1" in item.reason
    assert flags[0].id == "fatal_item" and item.evidence[0].start >= 8.5
    assert "Whatever" in item.evidence[0].quote


def test_unconfirmed_hit_becomes_a_review_item_not_a_zero() -> None:
    strict = Scorer(find_rubric("basic_en", RUBRICS), SecondCheck(margin=1.5))  # nothing can be confirmed
    card, flags = score("basic_en", _call("Calm down, sir."), scorer=strict)
    item = card.item("forbidden_phrases")
    assert item.outcome is Outcome.FAIL and not item.fatal and item.review
    assert not card.fatal_failed and card.total > 0 and card.needs_review
    assert "review_item" in [f.id for f in flags] and "fatal_item" not in [f.id for f in flags]


def test_chinese_reported_speech_is_not_the_agents_dismissal() -> None:
    utts = [
        utt("agent", 0.5, 4.0, "您好，国家电网，工号一零二三，很高兴为您服务。"),
        utt("customer", 4.5, 8.0, "上次打电话那个人态度很差。"),
        utt("agent", 8.5, 14.0, "如果有人跟您说不归我管，您可以直接投诉，非常抱歉。"),
    ]
    card, _ = score("zh_95598_utility", utts, 30.0, "zh")
    assert card.item("forbidden_phrases").outcome is Outcome.PASS
    helpful = utts[:2] + [utt("agent", 8.5, 14.0, "您也可以自己上网查一下账单明细。")]
    item = score("zh_telecom", helpful, 30.0, "zh")[0].item("forbidden_phrases")
    assert item.outcome is Outcome.PASS and "courteous" in item.reason


def test_warmth_does_not_count_the_same_word_as_blaming() -> None:
    t = transcript(_call("It's ten a day, plus the twenty, whatever they're asking in Canada dollars."), 60.0, "en")
    comp = WarmthScorer()(t, NEUTRAL).component("no_cold_forms")
    assert comp.score == 1.0 and comp.reason == "0 cold forms"


# ---------------------------------------------------------------- standard phrases


def test_textbook_greetings_and_warm_closes_pass() -> None:
    openings = (
        "Hello and welcome to Northwind! My name is Emily. How may I assist you?",
        "Hi there! You've reached Contoso Support. What can I do for you today?",
        "Hi, thanks for getting in touch, what do you need help with?",  # no listed phrase: paraphrase
    )
    for opening in openings:
        for rubric in ("basic_en", "en_generic"):
            card, _ = score(rubric, _call("Let me check that.", opening))
            assert card.item("greeting").outcome is Outcome.PASS, (rubric, opening, card.item("greeting").reason)
    paraphrase = score("basic_en", _call("Let me check that.", openings[2]))[0].item("greeting")
    assert paraphrase.reason.startswith("paraphrase “≈") and paraphrase.evidence
    for close in ("Have a wonderful day!", "Take care.", "Thanks for reaching out."):
        utts = _call("Let me check that.")[:-1] + [utt("agent", 50.0, 54.0, close)]
        assert score("basic_en", utts)[0].item("closing").outcome is Outcome.PASS, close
        t = transcript(utts, 60.0, "en")
        assert "; warm close" in WarmthScorer()(t, NEUTRAL).component("proactive_closing").reason, close
    taken = _call("Let me check that.")[:-1] + [utt("agent", 50.0, 54.0, "Sure, we'll take care of it.")]
    assert score("basic_en", taken)[0].item("closing").outcome is Outcome.FAIL


def test_warmth_greeting_follows_the_rubric_item() -> None:
    utts = _call("Let me check that.", "Good morning.")  # warmth's cue list alone would call this a warm greeting
    t = transcript(utts, 60.0, "en")
    card, _ = score("basic_en", [*utts[1:], utt("agent", 0.5, 4.0, "Good morning.")])
    assert card.item("greeting").outcome is Outcome.FAIL
    own = WarmthScorer()(t, NEUTRAL)
    assert own.component("greeting_address").reason.startswith("warm greeting")
    aligned = align_with_scorecard(own, card)
    comp = aligned.component("greeting_address")
    assert comp.reason.startswith("no greeting (rubric item greeting: fail)")
    assert comp.score == own.component("greeting_address").score - 0.5 and aligned.total < own.total


def test_swearing_at_the_service_triggers_soothing() -> None:
    utts = [
        utt("agent", 0.5, 4.0, "您好，国家电网，工号一零二三，很高兴为您服务。"),
        utt("customer", 4.5, 8.0, "我去你妈的，又停电，什么狗屎服务！"),
        utt("agent", 8.5, 12.0, "请提供一下户号。"),
    ]
    soothing = score("zh_95598_utility", utts, 30.0, "zh")[0].item("soothing")
    assert soothing.outcome is Outcome.FAIL and "1 of 1 trigger" in soothing.reason
    soothed = utts[:2] + [utt("agent", 8.5, 12.0, "非常抱歉给您带来不便，我马上帮您查。")]
    assert score("zh_95598_utility", soothed, 30.0, "zh")[0].item("soothing").outcome is Outcome.PASS


# ---------------------------------------------------------------- roles never guessed


def _lone(text: str) -> dict[str, list[Utterance]]:
    return {"S0": [Utterance("", Role.UNKNOWN, 0, 0.0, 6.0, text)]}


def test_a_lone_speaker_gets_a_role_only_with_positive_evidence() -> None:
    m = CallMetadata(call_id="c1", direction="inbound")
    caller = RoleAssigner()(_lone("你好，我想问一下我家电费为什么这么高，我上个月才用了一百度。"), metadata=m, language="zh")
    assert caller.roles == {"S0": Role.UNKNOWN} and caller.method == "single_speaker"
    assert caller.evidence["S0"]["decision"].startswith("no positive evidence")
    agent = RoleAssigner()(_lone("您好，国家电网九五五九八，工号一零二三，很高兴为您服务，请问有什么可以帮您？"), metadata=m, language="zh")
    assert agent.roles == {"S0": Role.AGENT}


def test_unknown_roles_are_scored_na_flagged_and_drawn() -> None:
    utts = [utt("unknown", 0.5, 6.0, "你好，我想问一下我家电费为什么这么高。")]
    card, flags = score("zh_95598_utility", utts, 10.0, "zh")
    assert card.item("greeting").outcome is Outcome.NA and card.item("forbidden_phrases").outcome is Outcome.NA
    assert "roles_unknown" in [f.id for f in flags]
    lanes = timeline({"duration_s": 10.0, "utterances": [{"id": "u1", "role": "unknown", "start": 0.5, "end": 6.0, "text": "x"}]})["lanes"]
    assert [lane["id"] for lane in lanes if lane["kind"] == "talk"] == ["agent", "customer", "unknown"]
