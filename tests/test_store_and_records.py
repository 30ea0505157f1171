"""JSON contract round trip and the SQLAlchemy results store (idempotency, failures)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from helpers import meta, transcript, utt

from qa_pipeline.config import PROJECT_ROOT
from qa_pipeline.errors import ConfigError, NotFoundError
from qa_pipeline.records import SCHEMA_VERSION, AsrOptions, AudioInfo, CallResult, RunOptions, Versions
from qa_pipeline.scoring import CallContext, Scorer, compute_metrics, find_rubric
from qa_pipeline.store import ResultStore, SaveOutcome

ASR = AsrOptions(
    language="zh", beam_size=5, word_timestamps=True, vad_filter=True, condition_on_previous_text=False,
    device="cpu", compute_type="int8",
)


def make_result(call_id: str = "c1", key: str = "k1", agent_text: str = "您好，国家电网，工号一零二三") -> CallResult:
    t = transcript(
        [utt("agent", 0.5, 4.0, agent_text), utt("customer", 4.5, 6.0, "你好"), utt("agent", 6.5, 9.0, "感谢您的来电，再见")],
        10.0,
    )
    m = meta(call_id, agent_id="A1001", agent_name="王芳", team="抢修一组", start_time=datetime(2026, 11, 20, 1, 15, tzinfo=timezone.utc))
    ctx = CallContext(transcript=t, metrics=compute_metrics(t), metadata=m)
    scorer = Scorer(find_rubric("basic_zh", PROJECT_ROOT / "rubrics"))
    card = scorer(ctx)
    return CallResult(
        call_id=call_id,
        duration_s=10.0,
        language="zh",
        metadata=m,
        audio=AudioInfo(path=f"/calls/{call_id}.wav", sha256="ab" * 32, format="WAV", subtype="ULAW", sample_rate=8000, channels=2, duration_s=10.0),
        transcript=t,
        metrics=ctx.metrics,
        scorecard=card,
        flags=scorer.flags(card, ctx),
        versions=Versions("0.1.0", SCHEMA_VERSION, "faster-whisper-base@x", "basic_zh", "1.0.0", RunOptions(asr=ASR)),
        scored_at=datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc),
        result_key=key,
    )


def test_json_contract_top_level_and_round_trip() -> None:
    r = make_result()
    d = r.to_dict()
    for key in ("call_id", "duration_s", "language", "utterances", "metrics", "scorecard", "flags", "versions"):
        assert key in d
    u = d["utterances"][0]
    assert set(u) >= {"role", "channel", "start", "end", "text", "words"} and u["role"] == "agent"
    item = d["scorecard"]["items"][0]
    assert set(item) >= {"id", "outcome", "evidence"} and set(item["evidence"][0]) >= {"start", "end", "quote"}
    assert d["scorecard"]["rubric_id"] == "basic_zh" and d["scorecard"]["rubric_version"] == find_rubric("basic_zh", PROJECT_ROOT / "rubrics").version
    assert d["schema_version"] == SCHEMA_VERSION
    text = json.dumps(d, ensure_ascii=False)
    back = CallResult.from_dict(json.loads(text))
    assert back == r


def test_from_dict_rejects_unknown_major_schema() -> None:
    d = make_result().to_dict()
    d["schema_version"] = "9.0"
    with pytest.raises(ValueError, match="schema_version"):
        CallResult.from_dict(d)


def test_store_is_idempotent_and_force_replaces(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'qa.db'}"
    with ResultStore(url) as store:
        assert store.save(make_result()) is SaveOutcome.INSERTED
        assert store.save(make_result()) is SaveOutcome.EXISTS
        assert store.count_results() == 1
        assert store.save(make_result(agent_text="喂"), force=True) is SaveOutcome.REPLACED
        assert store.count_results() == 1
        assert store.latest("c1").transcript.utterances[0].text == "喂"
        # a different version key is a new result, the old one is kept
        assert store.save(make_result(key="k2")) is SaveOutcome.INSERTED
        assert store.count_results() == 2
    # persisted: a new connection sees the same data
    with ResultStore(url) as store:
        assert store.call_ids() == ["c1"]
        assert store.latest("c1").metadata.agent_name == "王芳"


def test_failures_recorded_then_resolved(tmp_path: Path) -> None:
    with ResultStore(f"sqlite:///{tmp_path / 'qa.db'}") as store:
        store.record_failure(path="/calls/c1.wav", stage="decode", error_type="AudioError", reason="empty file", call_id="c1")
        store.record_failure(path="/calls/c2.wav", stage="decode", error_type="AudioError", reason="silent", call_id="c2")
        assert [f.call_id for f in store.open_failures()] == ["c1", "c2"]
        store.save(make_result("c1"))
        assert [f.call_id for f in store.open_failures()] == ["c2"]


def test_latest_unknown_call(tmp_path: Path) -> None:
    with ResultStore(f"sqlite:///{tmp_path / 'qa.db'}") as store:
        with pytest.raises(NotFoundError, match="nope"):
            store.latest("nope")


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("postgres://qa:s3cret@127.0.0.1/qa", "SQLAlchemy's name is postgresql://"),  # the common misspelling
        ("mysql://qa@127.0.0.1/qa", "database driver not installed"),
        ("not a url", "Could not parse"),
    ],
)
def test_a_bad_database_url_is_one_config_error_without_the_password(url: str, said: str) -> None:
    with pytest.raises(ConfigError, match="database_url") as caught:
        ResultStore(url)
    assert said in str(caught.value) and "s3cret" not in str(caught.value)
