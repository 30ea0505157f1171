"""``versions.options`` as typed records: the JSON contract keeps its shape, old results load."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from pydantic import ValidationError
from test_store_and_records import ASR, make_result

from qa_pipeline.records import (
    AsrStages,
    CallResult,
    GuardCounts,
    LanguageDecision,
    NumericProfile,
    ReviewOverrides,
    Role,
    RoleEvidence,
    RunOptions,
    SentimentOptions,
    SpeakerEvidence,
)

#: A mono call's options as the pipeline writes them today, after a reviewer's swap.
CURRENT = RunOptions(
    asr=replace(ASR, batch_size=8, hotwords="抢修 电费"),
    numerics=NumericProfile(ctranslate2="4.8.5", openmp="multi"),
    asr_stages=AsrStages(music_filter=True, second_pass=True, second_pass_tokens_per_s=(15, 10)),
    asr_guards=GuardCounts(removed={"boilerplate": 1}, second_pass={"recovered": 2}),
    language=LanguageDecision(requested="auto", source="detected", probability=0.6398, method="one 30 s window"),
    pause_split_s=0.8,
    rubric_sha="f38310d587ee",
    sentiment=SentimentOptions(enabled=True, model="packaged", use_embeddings=True, device="cpu"),
    roles=RoleEvidence(
        method="opening_phrase",
        roles={"SPEAKER_00": Role.AGENT, "SPEAKER_01": Role.CUSTOMER},
        evidence={
            "SPEAKER_00": SpeakerEvidence(phrase_hits=4, address=0.5, first_speaker=True, score=6.25),
            "SPEAKER_01": SpeakerEvidence(phrase_hits=0, address=-1.0, first_speaker=False, voiceprint_similarity=0.21, score=-1.5),
        },
    ),
    overrides=ReviewOverrides(swap_roles=True),
)

#: ``versions.options`` of a result written by schema 1.0 (no numerics, asr_stages, asr_guards).
OLD_1_0: dict[str, Any] = {
    "asr": {"language": "zh", "beam_size": 5, "word_timestamps": True, "vad_filter": True,
            "condition_on_previous_text": False, "batch_size": 8, "device": "cpu", "compute_type": "int8"},
    "language": {"requested": "auto", "source": "detected", "probability": 0.6398},
    "pause_split_s": 0.8,
    "rubric_sha": "0e548f44b57c",
    "sentiment": {"enabled": True, "model": "packaged", "use_embeddings": True, "device": "cpu"},
}


def _with_options(options: Any) -> dict[str, Any]:
    data = make_result().to_dict()
    data["versions"]["options"] = options
    return data


def test_a_current_result_round_trips_and_keeps_the_json_shape() -> None:
    r = make_result()
    r = replace(r, versions=replace(r.versions, options=CURRENT))
    data = json.loads(json.dumps(r.to_dict(), ensure_ascii=False))
    assert CallResult.from_dict(data) == r
    options = data["versions"]["options"]
    assert list(options) == ["asr", "numerics", "asr_stages", "asr_guards", "language", "pause_split_s", "rubric_sha",
                             "sentiment", "roles", "overrides"]
    # options a deployment did not set are absent, as faster-whisper's keyword arguments were
    assert options["asr"] == {"language": "zh", "beam_size": 5, "word_timestamps": True, "vad_filter": True,
                              "condition_on_previous_text": False, "batch_size": 8, "hotwords": "抢修 电费",
                              "device": "cpu", "compute_type": "int8"}
    assert options["asr_stages"]["second_pass_tokens_per_s"] == [15, 10]
    assert options["roles"] == {
        "method": "opening_phrase", "swapped": False, "roles": {"SPEAKER_00": "agent", "SPEAKER_01": "customer"},
        "evidence": {"SPEAKER_00": {"phrase_hits": 4, "address": 0.5, "first_speaker": True, "score": 6.25},
                     "SPEAKER_01": {"phrase_hits": 0, "address": -1.0, "first_speaker": False,
                                    "voiceprint_similarity": 0.21, "score": -1.5}},
    }
    assert options["overrides"] == {"swap_roles": True}


def test_stereo_calls_have_no_roles_unrescored_ones_no_overrides_and_disabled_sentiment_is_null() -> None:
    options = replace(CURRENT, roles=None, overrides=None, sentiment=None, numerics=NumericProfile(ctranslate2="4.8.5"))
    r = make_result()
    data = replace(r, versions=replace(r.versions, options=options)).to_dict()["versions"]["options"]
    assert "roles" not in data and "overrides" not in data
    assert data["sentiment"] is None and data["numerics"] == {"ctranslate2": "4.8.5"}  # CUDA: no OpenMP mode
    assert ReviewOverrides().as_dict() == {} and ReviewOverrides(swap_roles=False).as_dict() == {"swap_roles": False}


def test_a_schema_1_0_result_loads_with_typed_options_and_writes_them_back_unchanged() -> None:
    loaded = CallResult.from_dict(_with_options(OLD_1_0))
    options = loaded.versions.options
    assert options.asr is not None and options.asr.beam_size == 5 and options.asr.batch_size == 8
    assert options.asr.temperature is None and options.asr.hotwords is None
    assert options.language == LanguageDecision(requested="auto", source="detected", probability=0.6398)
    assert options.pause_split_s == 0.8 and options.rubric_sha == "0e548f44b57c"
    assert options.sentiment == SentimentOptions(enabled=True, model="packaged", use_embeddings=True, device="cpu")
    # what 1.0 did not record stays unrecorded, not invented
    assert options.numerics is None and options.asr_stages is None and options.asr_guards is None
    assert options.roles is None and options.overrides is None
    assert loaded.to_dict()["versions"]["options"] == OLD_1_0


def test_release_0_1_0_results_without_options_still_load() -> None:
    loaded = CallResult.from_dict(_with_options({}))
    assert loaded.versions.options == RunOptions()
    assert loaded.to_dict()["versions"]["options"] == {"sentiment": None}


@pytest.mark.parametrize(
    ("options", "where"),
    [
        ({**OLD_1_0, "pause_split_s": "x"}, "versions.options.pause_split_s"),
        ({**OLD_1_0, "asr": {**OLD_1_0["asr"], "beam_size": "wide"}}, "versions.options.asr.beam_size"),
        ({**OLD_1_0, "language": {"requested": "zh", "source": "guessed"}}, "versions.options.language.source"),
        ({**OLD_1_0, "asr_guards": {"removed": {"loop": "many"}}}, "versions.options.asr_guards.removed.loop"),
    ],
)
def test_a_wrongly_typed_option_is_rejected_with_where_it_is(options: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as info:
        CallResult.from_dict(_with_options(options))
    assert where in str(info.value)
