"""Rubric operators one by one, on hand-built transcripts with known answers."""

from __future__ import annotations

import pytest
from helpers import meta, transcript, utt

from qa_pipeline.records import Outcome
from qa_pipeline.scoring import CallContext, Scorer, compute_metrics
from qa_pipeline.scoring.expr import All, AnyOf, Not, Phrase, parse_expr
from qa_pipeline.scoring.matchers import compile_matcher, is_negated
from qa_pipeline.scoring.rubric import Matcher, Rubric


def run(items: list[dict], utts, duration: float = 60.0, language: str = "zh", sentiment=None, flags=None, scoring="percent", **metadata):
    rubric = Rubric.model_validate(
        {"id": "t", "version": "1", "name": "t", "items": items, "flags": flags or [], "scoring": scoring}
    )
    t = transcript(utts, duration, language)
    ctx = CallContext(transcript=t, metrics=compute_metrics(t), metadata=meta(**metadata), sentiment=sentiment or {})
    scorer = Scorer(rubric)
    card = scorer(ctx)
    return card, scorer.flags(card, ctx)


def item(check: dict, **kw) -> dict:
    return {"id": kw.pop("id", "x"), "name": "x", "check": check, **kw}


def test_expr_parser_precedence_and_errors() -> None:
    assert parse_expr("退款 && !已退款") == All((Phrase("退款"), Not(Phrase("已退款"))))
    assert parse_expr("a || b && c") == AnyOf((Phrase("a"), All((Phrase("b"), Phrase("c")))))
    assert parse_expr('("cancel my account" || 销户) && !不') == All((AnyOf((Phrase("cancel my account"), Phrase("销户"))), Not(Phrase("不"))))
    with pytest.raises(ValueError, match="missing '\\)'"):
        parse_expr("(a && b")
    with pytest.raises(ValueError, match="expected a phrase"):
        parse_expr("a && ")


def test_expr_matcher_per_utterance() -> None:
    m = compile_matcher(Matcher(expr="退款 && !已退款"))
    hits = m.find(utt("customer", 0, 3, "我要退款"))
    assert [h.phrase for h in hits] == ["退款"]
    assert m.find(utt("customer", 0, 3, "已退款了但是没到账，退款呢")) == []


def test_regex_with_exclusion() -> None:
    card, _ = run(
        [item({"kind": "match", "match": {"regex": "[0-9一二两三四五六七八九十]+(个)?小时", "exclude": "不知道"}})],
        [utt("agent", 0, 3, "预计两个小时内恢复")],
    )
    assert card.items[0].outcome is Outcome.PASS and "两个小时" in card.items[0].evidence[0].quote
    card, _ = run(
        [item({"kind": "match", "match": {"regex": "[0-9一二两三四五六七八九十]+(个)?小时", "exclude": "不知道"}})],
        [utt("agent", 0, 3, "不知道几个小时能好")],
    )
    assert card.items[0].outcome is Outcome.FAIL


def test_at_least_and_min_count() -> None:
    utts = [utt("agent", 0, 3, "您好，请问您贵姓"), utt("agent", 4, 7, "您稍等，您的问题我记下了")]
    card, _ = run([item({"kind": "match", "match": {"any": ["您"]}, "min_count": 4})], utts)
    assert card.items[0].outcome is Outcome.PASS
    card, _ = run([item({"kind": "match", "match": {"any": ["您"]}, "min_count": 5})], utts)
    assert card.items[0].outcome is Outcome.FAIL and "(4 of 5)" in card.items[0].reason
    card, _ = run([item({"kind": "phrases", "groups": [["您好", "请问", "稍等", "谢谢"]], "at_least": 3})], utts)
    assert card.items[0].outcome is Outcome.PASS


def test_repetition() -> None:
    utts = [utt("agent", i * 3, i * 3 + 2, t) for i, t in enumerate(["没办法", "真没办法", "这个没办法", "再见"])]
    check = {"kind": "repetition", "match": {"any": ["没办法"]}, "min_times": 3, "within": 3}
    card, _ = run([item(check)], utts)
    assert card.items[0].outcome is Outcome.FAIL and len(card.items[0].evidence) == 3
    card, _ = run([item({**check, "within": 2})], utts)
    assert card.items[0].outcome is Outcome.PASS


ANCHOR = {
    "kind": "anchored",
    "trigger": {"role": "customer", "match": {"any": ["太慢了", "生气"], "ignore_negated": True}},
    "response": {"role": "agent", "within": 2, "match": {"any": ["抱歉", "对不起"]}},
}


def test_anchored_pass_fail_and_not_applicable() -> None:
    base = [utt("agent", 0, 3, "您好"), utt("customer", 4, 8, "你们太慢了")]
    card, _ = run([item(ANCHOR)], base + [utt("agent", 9, 10, "好的"), utt("agent", 11, 14, "非常抱歉")])
    assert card.items[0].outcome is Outcome.PASS
    card, _ = run([item(ANCHOR)], base + [utt("agent", 9, 10, "好的"), utt("agent", 11, 12, "嗯"), utt("agent", 13, 15, "抱歉")])
    assert card.items[0].outcome is Outcome.FAIL and card.items[0].evidence[0].quote == "你们太慢了"
    card, _ = run([item(ANCHOR)], [utt("agent", 0, 3, "您好"), utt("customer", 4, 8, "我不生气，就问问")])
    assert card.items[0].outcome is Outcome.NA


def test_negation_detection() -> None:
    assert is_negated("我不是要投诉，只是问问", 4)
    assert not is_negated("我要投诉", 2)
    assert not is_negated("不好意思，我要投诉", 7)  # negator in an earlier clause
    # an A-not-A question (正反问句) asks, it does not deny
    for text, mention in [("你是不是要投诉", "投诉"), ("要不要不归我管", "不归我管"), ("有没有投诉过", "投诉"), ("你愿不愿意投诉", "投诉")]:
        assert not is_negated(text, text.index(mention)), text
    assert is_negated("我是不想投诉", 4) and is_negated("我没有投诉", 3)
    text = "I'm not going to complain"
    assert is_negated(text, text.index("complain"))
    text = "I want to complain, I'm not happy"
    assert not is_negated(text, text.index("complain"))


HOLD = {"kind": "hold", "min_silence_s": 10, "announce": {"any": ["请稍等"]}, "thank": {"any": ["久等了"]}}


def test_hold_announced_thanked_or_not() -> None:
    start = [utt("agent", 0, 3, "您好"), utt("customer", 4, 6, "查一下电费")]
    card, _ = run([item(HOLD)], start + [utt("agent", 7, 9, "好的请稍等"), utt("agent", 25, 28, "让您久等了")])
    assert card.items[0].outcome is Outcome.PASS
    card, _ = run([item(HOLD)], start + [utt("agent", 7, 9, "好的"), utt("agent", 25, 28, "让您久等了")])
    assert card.items[0].outcome is Outcome.FAIL and "not announced" in card.items[0].reason
    card, _ = run([item(HOLD)], start + [utt("agent", 7, 9, "好的请稍等"), utt("agent", 25, 28, "查到了")])
    assert "no thanks" in card.items[0].reason
    card, _ = run([item(HOLD)], start + [utt("agent", 7, 9, "好的请稍等")])
    assert card.items[0].outcome is Outcome.NA
    card, _ = run([item({**HOLD, "pass_without_holds": True})], start)
    assert card.items[0].outcome is Outcome.PASS


def test_scopes_first_n_last_pct_and_applies_when() -> None:
    utts = [utt("agent", 0, 2, "喂"), utt("agent", 3, 5, "您好"), utt("agent", 50, 55, "再见")]
    card, _ = run([item({"kind": "phrases", "groups": [["您好"]]}, scope={"role": "agent", "first_n": 1})], utts)
    assert card.items[0].outcome is Outcome.FAIL
    card, _ = run([item({"kind": "phrases", "groups": [["再见"]]}, scope={"role": "agent", "last_pct": 0.2})], utts)
    assert card.items[0].outcome is Outcome.PASS
    spec = item({"kind": "phrases", "groups": [["您好"]]}, applies_when={"queue": ["95598-repair"]})
    card, _ = run([spec], utts, queue="95598-billing")
    assert card.items[0].outcome is Outcome.NA and "queue" in card.items[0].reason
    card, _ = run([spec], utts, queue="95598-repair")
    assert card.items[0].outcome is Outcome.PASS


def test_sentiment_and_ended_by() -> None:
    utts = [utt("agent", 0, 2, "您好"), utt("customer", 3, 5, "好的")]
    spec = item({"kind": "sentiment", "party": "customer", "measure": "end", "min": 0})
    assert run([spec], utts)[0].items[0].outcome is Outcome.NA
    assert run([spec], utts, sentiment={"customer.end": 0.4})[0].items[0].outcome is Outcome.PASS
    assert run([spec], utts, sentiment={"customer.end": -0.6})[0].items[0].outcome is Outcome.FAIL
    ended = item({"kind": "ended_by", "party": "customer"})
    assert run([ended], utts)[0].items[0].outcome is Outcome.NA
    assert run([ended], utts, ended_by="agent")[0].items[0].outcome is Outcome.FAIL


def test_sections_points_compliance_and_review() -> None:
    utts = [utt("agent", 0, 3, "您好，国家电网"), utt("customer", 4, 6, "我要投诉你们"), utt("agent", 7, 9, "不归我管")]
    items = [
        item({"kind": "phrases", "groups": [["您好"]]}, id="a", section="开场", weight=30),
        item({"kind": "match", "match": {"any": ["不归我管"]}, "expect": "absent"}, id="b", section="规范", weight=20, review=True, compliance=True),
        item({"kind": "ended_by", "party": "customer"}, id="c", section="结束", weight=50),
    ]
    flags = [{"id": "complaint_intent", "reason": "投诉", "priority": 1, "match": {"any": ["投诉"], "ignore_negated": True}}]
    card, raised = run(items, utts, flags=flags)
    assert card.total == 60.0  # 30 / (30 + 20); c is n/a
    assert card.compliance == 0.0 and card.needs_review
    assert {s.name: s.percent for s in card.sections} == {"开场": 100.0, "规范": 0.0, "结束": None}
    assert [f.id for f in raised][:2] == ["complaint_intent", "review_item"]
    assert raised[0].evidence[0].quote == "我要投诉你们"
    points, _ = run(items, utts, scoring="points")
    assert points.total == 80.0  # 30 + n/a counted as passed 50


def test_semantic_matcher_with_the_packaged_embeddings() -> None:
    spec = {"kind": "match", "match": {"similar_to": ["非常抱歉给您带来不便"], "threshold": 0.905}}
    card, _ = run([item(spec)], [utt("agent", 0, 3, "真的很抱歉给您添麻烦了")])
    assert card.items[0].outcome is Outcome.PASS and card.items[0].evidence[0].quote.startswith("真的很抱歉")
    card, _ = run([item(spec)], [utt("agent", 0, 3, "您的电费已经缴纳成功")])
    assert card.items[0].outcome is Outcome.FAIL


def test_cli_errors_keep_their_brackets_and_the_batch_table_is_sorted(capsys: pytest.CaptureFixture[str]) -> None:
    """Error text is printed as text: "pip install -e '.[web]'" must not lose "[web]" to rich markup;
    the batch table lists calls by id, not in the order the workers finished them."""
    from rich.console import Console

    from qa_pipeline.batch import CallOutcome
    from qa_pipeline.cli.common import fail
    from qa_pipeline.errors import QAError
    from qa_pipeline.render import outcome_table

    fail(QAError("needs the 'web' extra: pip install -e '.[web]' [bold]x[/bold]"))
    err = capsys.readouterr().err
    assert "'.[web]'" in err and "[bold]x[/bold]" in err
    outcomes = [CallOutcome(f"/calls/{c}.wav", c, "failed", error="bad") for c in ("zh_b", "en_a", "zh_a")]
    console = Console(width=200, record=True)
    console.print(outcome_table(outcomes))
    text = console.export_text()
    assert text.index("en_a") < text.index("zh_a") < text.index("zh_b")
    # a second batch's stored results say so in their own column, not inside the flags
    from qa_testkit.web_results import synthetic_results

    first, second = synthetic_results(2)
    console = Console(width=200, record=True)
    console.print(outcome_table([CallOutcome("/a.wav", first.call_id, "scored", result=first),
                                 CallOutcome("/b.wav", second.call_id, "skipped", result=second)]))  # fmt: skip
    rows = {line.split()[1]: line for line in console.export_text().splitlines() if line.split()[1:2] in ([first.call_id], [second.call_id])}
    assert "(cached)" not in console.export_text()
    assert rows[first.call_id].rstrip(" │").endswith("scored") and rows[second.call_id].rstrip(" │").endswith("already scored")


def test_call_view_prints_bracketed_reasons_and_only_customer_low_points_under_the_customer() -> None:
    """`qa show`: a flag reason's literal "[fatal-context-1]" survives (rich markup dropped it and
    left "… )"), and the "Customer sentiment" line lists the customer's low points, not the agent's."""
    from dataclasses import replace

    from rich.console import Console

    from qa_pipeline.records import CallSentiment, Evidence, Flag, NegativeMoment, Role
    from qa_pipeline.render import render_call
    from qa_testkit.web_results import make_result

    result = make_result("c1", dialogue=1)
    agent_u, customer_u = result.transcript.utterances[0], result.transcript.utterances[1]
    moments = (
        NegativeMoment(Role.AGENT, -0.9, Evidence(agent_u.start, agent_u.end, agent_u.text, agent_u.id)),
        NegativeMoment(Role.CUSTOMER, -0.7, Evidence(customer_u.start, customer_u.end, customer_u.text, customer_u.id)),
    )
    flag = Flag("fatal_item", "fatal item failed: 禁语 (confirmed (margin +0.106 ≥ +0.007) [fatal-context-1])", 1, ())
    sentiment = CallSentiment("packaged", (), (None, -0.7, None, None), -0.7, -0.7, 0.0, "flat", -0.7, -0.9, moments)
    shown = replace(result, sentiment=sentiment, flags=(flag,))
    console = Console(width=200, record=True)
    render_call(console, shown)
    text = console.export_text()
    assert "(margin +0.106 ≥ +0.007) [fatal-context-1])" in text
    customer_block = text.split("Customer sentiment", 1)[1].split("Service warmth", 1)[0].split("Scorecard", 1)[0]
    assert customer_u.text in customer_block and agent_u.text not in customer_block


def test_cli_output_to_a_pipe_is_not_cut_at_80_columns() -> None:
    """`qa batch > log`: rich used 80 columns for a pipe and cut the table's cells; COLUMNS still wins."""
    import os
    import subprocess
    import sys

    probe = "from qa_pipeline.cli.common import console, err_console; print(console.width, err_console.width)"
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    piped = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert piped.stdout.split() == ["160", "160"]
    narrow = subprocess.run([sys.executable, "-c", probe], env={**env, "COLUMNS": "100"}, capture_output=True, text=True, check=True)
    assert narrow.stdout.split() == ["100", "100"]
