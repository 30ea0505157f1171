"""Sentence sentiment model and per-call customer sentiment (fast; packaged heads, offline)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import transcript, utt
from pydantic import TypeAdapter

from qa_pipeline.errors import ModelError
from qa_pipeline.records import Role
from qa_pipeline.sentiment.call import CallSentiment, CallSentimentAnalyzer
from qa_pipeline.sentiment.lexicon import is_content_free, mask_politeness
from qa_pipeline.sentiment.model import HEADS_DIR, SentimentModel, language_of


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
    "text,label,ngram_label",
    [
        ("质量非常好，物流也快，很满意", "positive", True),
        ("太差了，用了两天就坏了，非常失望", "negative", True),
        ("Thank you so much, that fixed it. Great service!", "positive", True),
        ("The phone stopped working after two days, very disappointed.", "negative", True),
        # movie-review wording, outside the English training domains (reviews, tweets, editorials):
        # the n-gram-only head is only asked for the sign (see benchmarks/SENTIMENT.md, Rotten Tomatoes)
        ("An absolute delight, warm, funny and beautifully acted.", "positive", False),
        ("A dull, tedious mess that wastes a talented cast.", "negative", False),
    ],
)
def test_clear_polarity_both_languages(model: SentimentModel, ngram_model: SentimentModel, text: str, label: str, ngram_label: bool) -> None:
    for m in (model, ngram_model):
        (res,) = m([text])
        if m is model or ngram_label:
            assert res.label == label, (m.name, text, res)
        assert -1.0 <= res.score <= 1.0
        assert (res.score > 0) == (label == "positive"), (m.name, text, res)


def test_english_head_trained_on_permissive_corpus() -> None:
    import json

    import numpy as np

    meta = json.loads(str(np.load(HEADS_DIR / "en.npz")["meta"]))
    assert "VADER" in meta["corpus"] and "Rotten Tomatoes" not in meta["corpus"]
    assert meta["license"].startswith("MIT")
    assert meta["n_train_emb"] == meta["n_train_ngram"] > 5000


def _vader_sdist(tmp_path: Path) -> Path:
    """A stand-in for the vaderSentiment sdist: the ground-truth files in a tarball inside a tarball."""
    import io
    import tarfile

    from qa_testkit.sentiment_corpora import VADER_SETS

    rows = {
        "amazon": ["1_1\t2.1\tgreat little player, works perfectly.", "1_2\t-1.8\tthe remote broke after a week.", "1_3\t0.2\tit comes in a box.", "1_4\t-0.5\tmenus are slow."],
        "tweets": ["1\t2.7\tSo lucky to have such friends!", "2\t-2.2\tWorst. Day. Ever.", "3\t1.0\tgreat little player, works perfectly."],
        "nyt": ["1_1\t-1.2\tThe plan is a failure.", "1_2\t0.0\tThe vote is on Tuesday."],
        "movies": ["1\t2.3\tA delight."],
    }

    def tar_bytes(files: dict[str, bytes]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    inner = tar_bytes({f"hutto_ICWSM_2014/{VADER_SETS[d]}": "\r\n".join(r).encode() for d, r in rows.items()})
    path = tmp_path / "vaderSentiment-3.3.2.tar.gz"
    path.write_bytes(tar_bytes({"vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz": inner}))
    return path


def test_vader_corpus_reader_and_split(tmp_path: Path) -> None:
    from qa_testkit.sentiment_corpora import english_reviews, vader_ratings

    sdist = _vader_sdist(tmp_path)
    ratings = vader_ratings(sdist)
    assert [len(ratings[d]) for d in ("amazon", "tweets", "nyt", "movies")] == [4, 3, 2, 1]
    split = english_reviews(sdist)
    texts = {e.text: e for e in split.train + split.test}
    # near-neutral (|mean| < 0.5) and the movie set are left out; the duplicate is kept once
    assert sorted(texts) == sorted(
        ["great little player, works perfectly.", "the remote broke after a week.", "menus are slow.", "So lucky to have such friends!", "Worst. Day. Ever.", "The plan is a failure."]
    )
    assert texts["menus are slow."].label == 0 and texts["Worst. Day. Ever."].label == 0
    assert texts["So lucky to have such friends!"].label == 1 and texts["So lucky to have such friends!"].domain == "tweets"
    assert not {e.text for e in split.train} & {e.text for e in split.test}
    with pytest.raises(ModelError):
        vader_ratings(tmp_path / "missing.tar.gz")


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


def test_resignation_is_not_read_as_positive(model: SentimentModel) -> None:
    t = transcript(
        [
            utt("agent", 0.0, 2.0, "We can book a meter check, it takes about two weeks."),
            utt("customer", 2.5, 4.0, "Okay, fine, please book it."),
        ],
        4.0,
        language="en",
    )
    customer = CallSentimentAnalyzer(model)(t).for_utterance("u0002")
    assert customer.mood < -0.5 and "okay fine" in customer.cues


def test_call_sentiment_serialises(model: SentimentModel) -> None:
    sent = CallSentimentAnalyzer(model)(_angry_then_calmed())
    adapter = TypeAdapter(CallSentiment)
    data = adapter.dump_python(sent, mode="json")
    assert adapter.validate_python(data) == sent
    assert data["utterances"][0]["role"] == "agent"
