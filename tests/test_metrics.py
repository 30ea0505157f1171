"""Conversation metrics on hand-built transcripts with known answers."""

from __future__ import annotations

import pytest
from helpers import transcript, utt

from qa_pipeline.records import Role
from qa_pipeline.scoring.metrics import compute_metrics, intersect, merge_intervals


def test_interval_helpers() -> None:
    assert merge_intervals([(5, 6), (0, 2), (1, 3)]) == [(0, 3), (5, 6)]
    assert intersect([(0, 3), (5, 6)], [(2, 5.5)]) == [(2, 3), (5, 5.5)]


def test_talk_share_silence_overtalk_interruptions() -> None:
    t = transcript(
        [
            utt("agent", 0.0, 4.0, "您好请问有什么可以帮您"),
            utt("customer", 5.0, 12.0, "我家停电了已经三个小时了"),
            utt("agent", 10.0, 14.0, "好的我帮您查一下"),  # interrupts: starts inside, 2 s overlap
            utt("customer", 26.0, 28.0, "好的"),  # 12 s of dead air before this, after the agent
            utt("agent", 27.8, 30.0, "感谢您的来电"),  # 0.2 s overlap: backchannel, not overtalk
        ],
        duration=31.0,
    )
    m = compute_metrics(t)
    assert m.talk_time_s == {"agent": pytest.approx(10.2), "customer": pytest.approx(9.0)}
    assert sum(m.talk_share.values()) == pytest.approx(1.0, abs=1e-3)
    assert m.silence_longest_s == pytest.approx(12.0)
    assert m.silence_longest is not None and m.silence_longest.after_role is Role.AGENT
    assert m.silence_longest.start == pytest.approx(14.0)
    assert m.silence_total_s == pytest.approx(1.0 + 12.0)
    assert m.overtalk_count == 1 and m.overtalk_s == pytest.approx(2.0)
    assert m.agent_interruptions == 1
    assert m.interruptions[0].start == pytest.approx(10.0) and m.interruptions[0].end == pytest.approx(12.0)
    # agent: 11 + 8 + 6 = 25 hanzi over 10.2 s
    assert m.agent_speaking_rate == pytest.approx(25 / (10.2 / 60), rel=1e-3)
    assert m.speaking_rate_unit == "chars/min"


def test_customer_interrupting_is_not_agent_interruption() -> None:
    t = transcript(
        [utt("agent", 0, 6, "please hold while I check your account", 0), utt("customer", 2, 5, "no wait I already did that", 1)],
        duration=10,
        language="en",
    )
    m = compute_metrics(t)
    assert m.agent_interruptions == 0
    assert [o.interrupter for o in m.interruptions] == [Role.CUSTOMER]
    assert m.speaking_rate_unit == "words/min"
    assert m.agent_speaking_rate == pytest.approx(7 / (6 / 60))


def test_mono_call_has_unknown_talk_and_no_role_metrics() -> None:
    t = transcript([utt("unknown", 0, 3, "hello"), utt("unknown", 4, 6, "hi")], duration=6, language="en")
    m = compute_metrics(t)
    assert m.talk_time_s == {"unknown": 5.0}
    assert m.overtalk_count == 0 and m.agent_interruptions == 0 and m.agent_speaking_rate is None
    assert m.silence_longest_s == pytest.approx(1.0)
