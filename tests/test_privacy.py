"""PII redaction wired into results: masked transcript and evidence, raw kept apart."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from test_store_and_records import make_result

from qa_pipeline.privacy import redact_result
from qa_pipeline.records import Evidence
from qa_pipeline.redaction import Redactor, luhn_check_digit
from qa_pipeline.store import ResultStore

CARD = "6222021234567890123"[:-1]
CARD = CARD + luhn_check_digit(CARD)


def result_with_pii():
    base = make_result(agent_text="您好，国家电网，工号一零二三")
    utts = list(base.transcript.utterances)
    text = f"我的手机是13812345678，卡号{CARD}"
    from helpers import utt

    customer = replace(utt("customer", 4.5, 9.0, text), id=utts[1].id)
    utts[1] = customer
    transcript = replace(base.transcript, utterances=tuple(utts))
    items = list(base.scorecard.items)
    items[0] = replace(items[0], evidence=(Evidence(4.5, 9.0, "…" + text[2:], customer.id),))
    return replace(base, transcript=transcript, scorecard=replace(base.scorecard, items=tuple(items)))


def test_transcript_and_evidence_are_masked_and_spans_recorded() -> None:
    result = redact_result(result_with_pii(), Redactor())
    data = json.dumps(result.to_dict(), ensure_ascii=False)
    assert "13812345678" not in data and CARD not in data
    masked = result.transcript.utterances[1].text
    assert masked.startswith("我的手机是＊＊＊＊＊＊＊＊＊＊＊，卡号＊")
    assert "＊" in result.scorecard.items[0].evidence[0].quote
    assert {r.kind for r in result.redactions} == {"phone", "bank_card"}
    phone = next(r for r in result.redactions if r.kind == "phone")
    assert result.raw_transcript.utterances[1].text[phone.start_char : phone.end_char] == "13812345678"
    assert phone.start is not None and 4.5 <= phone.start < phone.end <= 9.0
    # the staff number is not personal data
    assert "工号一零二三" in result.transcript.utterances[0].text


def test_raw_transcript_only_from_the_privileged_read(tmp_path: Path) -> None:
    result = redact_result(result_with_pii(), Redactor())
    with ResultStore(f"sqlite:///{tmp_path / 'qa.db'}") as store:
        store.save(result)
        shown = store.latest("c1")
        assert shown.raw_transcript is None and "13812345678" not in shown.transcript.utterances[1].text
        privileged = store.latest("c1", raw=True)
        assert "13812345678" in privileged.raw_transcript.utterances[1].text
