"""Sentence sentiment model and per-call customer sentiment (fast; packaged heads, offline)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import TypeAdapter

from qa_pipeline.errors import ModelError
from qa_pipeline.records import Role
from qa_pipeline.sentiment.call import CallSentiment, CallSentimentAnalyzer
from qa_pipeline.sentiment.lexicon import is_content_free, mask_politeness
from qa_pipeline.sentiment.model import HEADS_DIR, SentimentModel, language_of

from helpers import transcript, utt


@pytest.fixture(scope="module")
def model() -> SentimentModel:
    return SentimentModel.packaged()


@pytest.fixture(scope="module")
def ngram_model() -> SentimentModel:
    return SentimentModel.packaged(use_embeddings=False)


def test_heads_ship_small() -> None:
    heads = sorted(HEADS_DIR.glob("*.npz"))
    assert [h.stem for h in heads] == ["en", "zh"]
    assert sum(h.stat().st_size for h in heads) < 2_000_000


@pytest.mark.parametrize(
    "text,label",
    [
        ("质量非常好，物流也快，很满意", "positive"),
        ("太差了，用了两天就坏了，非常失望", "negative"),
        ("An absolute delight, warm, funny and beautifully acted.", "positive"),
        ("A dull, tedious mess that wastes a talented cast.", "negative"),
    ],
)
def test_clear_polarity_both_languages(model: SentimentModel, ngram_model: SentimentModel, text: str, label: str) -> None:
    for m in (model, ngram_model):
        (res,) = m([text])
        assert res.label == label, (m.name, text, res)
        assert -1.0 <= res.score <= 1.0
        assert (res.score > 0) == (label == "positive")


def test_language_routing() -> None:
    assert language_of("您好，请问有什么可以帮您") == "zh"
    assert language_of("How can I help you today?") == "en"


def test_empty_input(model: SentimentModel) -> None:
    assert model([]) == ()


def test_apology_is_masked_not_negative(model: SentimentModel) -> None:
    u = utt("agent", 0.0, 3.0, "非常抱歉给您带来不便，我马上帮您处理。")
    masked = mask_politeness(u)
    assert "抱歉" not in masked and "不便" not in masked
    t = transcript([u, utt("customer", 3.5, 5.0, "好的，谢谢你。")], 6.0)
    sent = CallSentimentAnalyzer(model)(t)
    agent = sent.for_utterance("u0001")
    assert agent.label != "negative"
    assert "抱歉" in agent.cues


def test_content_free_turns() -> None:
    for text in ("一三九一二三四五六七八。", "户号是三三零一二八七六五四。", "没有了。", "No, that's all.", "It's four seven two nine one.", "再见。"):
        assert is_content_free(text), text
    for text in ("好的，谢谢你。", "This is ridiculous."):
        assert not is_content_free(text), text


def test_from_pretrained_needs_a_local_transformers_dir(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        SentimentModel.from_pretrained(tmp_path / "missing")
    with pytest.raises(ModelError):
        SentimentModel.from_pretrained(tmp_path)  # no config.json
    with pytest.raises(ModelError):
        SentimentModel.packaged(tmp_path)  # no heads there


def _angry_then_calmed():
    return transcript(
        [
            utt("agent", 0.0, 3.0, "您好，很高兴为您服务。"),
            utt("customer", 3.5, 8.0, "你们怎么回事！我的手机两天没有信号了，耽误了我多少事！"),
            utt("agent", 8.5, 12.0, "先生，非常抱歉给您带来麻烦，您先别着急，我马上帮您查。"),
            utt("customer", 12.5, 15.0, "一三九零五七一二二三四。"),
            utt("agent", 15.5, 20.0, "基站已经修好了，我还为您申请了十个G的免费流量。"),
            utt("customer", 20.5, 23.0, "哦，那太好了，谢谢你啊。"),
            utt("agent", 23.5, 26.0, "感谢您的来电，祝您生活愉快，再见。"),
        ],
        26.0,
    )


def test_call_trajectory_up_with_moments(model: SentimentModel) -> None:
    sent = CallSentimentAnalyzer(model)(_angry_then_calmed())
    assert sent.change_label == "up" and sent.customer_change > 0.3
    assert sent.customer_start < 0 < sent.customer_end
    assert len(sent.customer_quarters) == 4
    assert sent.customer_quarters[0] is not None and sent.customer_quarters[0] < 0
    moment = sent.negative_moments[0]
    assert moment.role is Role.CUSTOMER and "怎么回事" in moment.evidence.quote
    assert (moment.evidence.start, moment.evidence.end) == (3.5, 8.0)
    numbers = sent.for_utterance("u0004")
    assert not numbers.informative


def test_call_trajectory_down_english(model: SentimentModel) -> None:
    t = transcript(
        [
            utt("agent", 0.0, 2.0, "Acme Telecom, how can I help?"),
            utt("customer", 2.5, 5.0, "Hi, I was charged twice for my phone bill this month."),
            utt("agent", 5.5, 7.0, "That's not my problem."),
            utt("customer", 7.5, 10.0, "This is ridiculous. I want to speak to a manager."),
        ],
        10.0,
        language="en",
    )
    sent = CallSentimentAnalyzer(model)(t)
    assert sent.change_label == "down"
    assert sent.negative_moments[0].evidence.utterance_id == "u0004"


def test_call_sentiment_serialises(model: SentimentModel) -> None:
    sent = CallSentimentAnalyzer(model)(_angry_then_calmed())
    adapter = TypeAdapter(CallSentiment)
    data = adapter.dump_python(sent, mode="json")
    assert adapter.validate_python(data) == sent
    assert data["utterances"][0]["role"] == "agent"
