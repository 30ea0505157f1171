"""Service warmth: unit tests on synthetic calls and prosody, plus the slow sample-call check."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import transcript, utt
from pydantic import TypeAdapter

from qa_pipeline.sentiment.call import CallSentimentAnalyzer
from qa_pipeline.sentiment.model import SentimentModel
from qa_pipeline.sentiment.prosody import ProsodyAnalyzer
from qa_pipeline.sentiment.warmth import Warmth, WarmthScorer

SR = 16000


@pytest.fixture(scope="module")
def analyzer() -> CallSentimentAnalyzer:
    return CallSentimentAnalyzer(SentimentModel.packaged())


def _warm():
    return transcript(
        [
            utt("agent", 0.0, 3.0, "您好，国家电网，很高兴为您服务，请问有什么可以帮您？"),
            utt("customer", 3.5, 7.0, "你好，我家停电了，冰箱里的东西都快坏了。"),
            utt("agent", 7.5, 11.0, "非常抱歉给您带来不便，您先别着急，我马上帮您查。"),
            utt("customer", 11.5, 13.0, "好的。"),
            utt("agent", 13.5, 18.0, "线路正在抢修，如果到时候还没有来电，您可以再拨打我们的电话，我们会安排师傅上门。"),
            utt("customer", 18.5, 20.0, "那我就放心了，谢谢你。"),
            utt("agent", 20.5, 23.0, "不客气。请问还有其他可以帮您的吗？"),
            utt("customer", 23.5, 24.0, "没有了。"),
            utt("agent", 24.5, 27.0, "感谢您的来电，祝您生活愉快，再见。"),
        ],
        27.0,
    )


def _rude():
    return transcript(
        [
            utt("agent", 0.0, 2.0, "喂，什么事？"),
            utt("customer", 2.5, 6.0, "你好，我这个月的话费怎么多扣了五十块钱？"),
            utt("agent", 6.5, 9.0, "你自己开通了业务，扣钱很正常。"),
            utt("customer", 9.5, 12.0, "我没有开通过什么业务啊。"),
            utt("agent", 12.5, 15.0, "你听不懂吗？跟你说了多少遍了。"),
            utt("customer", 15.5, 18.0, "你这是什么态度，我要投诉你。"),
            utt("agent", 18.5, 20.0, "随便你。"),
        ],
        20.0,
    )


def test_warm_beats_rude_with_evidence(analyzer: CallSentimentAnalyzer) -> None:
    scorer = WarmthScorer()
    warm_t, rude_t = _warm(), _rude()
    warm = scorer(warm_t, analyzer(warm_t))
    rude = scorer(rude_t, analyzer(rude_t))
    assert warm.total > 80 > 30 > rude.total
    assert (warm.level, rude.level) == ("warm", "cold")
    cold = rude.component("no_cold_forms")
    quotes = " ".join(e.quote for e in cold.evidence)
    assert cold.score == 0.0 and "你听不懂吗" in quotes and "随便你" in quotes
    empathy = warm.component("empathy")
    assert empathy.score == 1.0 and any("抱歉" in e.quote for e in empathy.evidence)
    assert warm.component("proactive_closing").score == 1.0
    assert rude.component("empathy").score == 0.0
    for comp in warm.components:  # every credited behaviour points at its moment (absence of cold forms has none)
        if comp.applicable and comp.score > 0 and comp.id != "no_cold_forms":
            assert comp.evidence, comp.id


def test_tone_not_applicable_without_audio(analyzer: CallSentimentAnalyzer) -> None:
    t = _warm()
    w = WarmthScorer()(t, analyzer(t))
    tone = w.component("tone")
    assert not tone.applicable and tone.points == 0.0
    assert 0.0 <= w.total <= 100.0
    assert w.prosody is None


def test_warmth_serialises(analyzer: CallSentimentAnalyzer) -> None:
    t = _rude()
    w = WarmthScorer()(t, analyzer(t), np.zeros(int(20 * SR), dtype=np.float32) + 1e-4, SR)
    adapter = TypeAdapter(Warmth)
    assert adapter.validate_python(adapter.dump_python(w, mode="json")) == w


def _voice(f0: np.ndarray, amp: np.ndarray) -> np.ndarray:
    phase = 2 * np.pi * np.cumsum(f0) / SR
    return (amp * (np.sin(phase) + 0.5 * np.sin(2 * phase) + 0.25 * np.sin(3 * phase))).astype(np.float32)


def test_prosody_pitch_variation_and_spikes() -> None:
    n = 4 * SR
    t = np.arange(n) / SR
    spans = [utt("agent", 0.0, 4.0, "您好很高兴为您服务")]
    flat = ProsodyAnalyzer()(_voice(np.full(n, 200.0), np.full(n, 0.1)), SR, spans)
    lively = ProsodyAnalyzer()(_voice(200.0 * 2 ** (4 * np.sin(2 * np.pi * 0.7 * t) / 12), np.full(n, 0.1)), SR, spans)
    assert abs(flat.pitch_median_hz - 200) < 10
    assert flat.pitch_variation_st < 0.5 < 2.0 < lively.pitch_variation_st
    amp = np.full(n, 0.05)
    amp[2 * SR : 2 * SR + SR // 4] = 0.6  # a shout
    shout = ProsodyAnalyzer()(_voice(np.full(n, 200.0), amp), SR, spans)
    assert flat.loud_spikes == 0 and shout.loud_spikes == 1
    assert abs(shout.loud_spike_times[0] - 2.0) < 0.2
    assert flat.rate_unit == "chars/min" and flat.speaking_rate == pytest.approx(9 / 4 * 60)


ORDER = {"rude": 0, "neutral": 1, "warm": 2}


@pytest.mark.slow
def test_sample_calls_warmth_order_and_customer_change(sample_results) -> None:
    import yaml

    from qa_pipeline.config import PROJECT_ROOT

    # sentiment and warmth as the pipeline computed them, end to end from audio (agent prosody included)
    totals: dict[str, list[float]] = {k: [] for k in ORDER}
    problems = []
    for call_id, result in sorted(sample_results.items()):
        expect = yaml.safe_load((PROJECT_ROOT / "samples" / "scripts" / f"{call_id}.yaml").read_text(encoding="utf-8"))["expect"]
        sent, warmth = result.sentiment, result.warmth
        assert sent is not None and warmth is not None, call_id
        assert warmth.prosody is not None, f"{call_id}: tone from the agent channel missing"
        assert result.to_dict()["warmth"]["total"] == warmth.total
        totals[expect["warmth"]].append(warmth.total)
        want = expect["customer_sentiment_change"]
        if want == "up" and not sent.customer_change > 0:
            problems.append((call_id, want, sent.customer_change))
        if want == "down" and not sent.customer_change < 0:
            problems.append((call_id, want, sent.customer_change))
        if want == "flat" and not abs(sent.customer_change) < 0.5:
            problems.append((call_id, want, sent.customer_change))
        if sent.change_label != want:
            problems.append((call_id, want, sent.change_label))
    assert not problems, problems
    assert all(totals.values()), totals
    assert max(totals["rude"]) < min(totals["neutral"]), totals
    assert max(totals["neutral"]) < min(totals["warm"]), totals
