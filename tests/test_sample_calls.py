"""The sample calls, end to end from audio: every scripted expectation must hold.

Each call in samples/scripts/*.yaml states which rubric items it must pass or fail;
samples/calls/<id>.truth.json has the realised turns (role, channel, times, text).
The calls are scored once per session with the real Whisper model.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import SAMPLES

from qa_pipeline.config import PROJECT_ROOT
from qa_pipeline.records import CallResult, Outcome, Role
from qa_testkit.evaluation import error_rate

pytestmark = pytest.mark.slow
SCRIPTS = sorted((PROJECT_ROOT / "samples" / "scripts").glob("*.yaml"))


def load_script(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_truth(call_id: str) -> dict:
    import json

    return json.loads((SAMPLES / f"{call_id}.truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def scored(sample_results: dict[str, CallResult]) -> dict[str, CallResult]:
    return sample_results


def test_there_are_enough_sample_calls() -> None:
    scripts = [load_script(p) for p in SCRIPTS]
    assert len(scripts) >= 12
    assert {s["language"] for s in scripts} == {"zh", "en"}
    for s in scripts:
        wav = SAMPLES / f"{s['call_id']}.wav"
        assert wav.is_file(), f"{wav} missing: run `make samples`"
        truth = load_truth(s["call_id"])
        assert 30 <= truth["duration"] <= 120, s["call_id"]


def test_every_scripted_expectation_holds(scored: dict[str, CallResult]) -> None:
    mismatches = []
    checked = 0
    for path in SCRIPTS:
        script = load_script(path)
        result = scored[script["call_id"]]
        for item_id, expected in script["expect"]["items"].items():
            item = result.scorecard.item(item_id)
            checked += 1
            if item.outcome.value != expected:
                mismatches.append(f"{script['call_id']}.{item_id}: expected {expected}, got {item.outcome.value} ({item.reason})")
    assert checked >= 60
    assert not mismatches, "\n".join(mismatches)


def test_failed_items_show_their_evidence(scored: dict[str, CallResult]) -> None:
    for result in scored.values():
        for item in result.scorecard.failed:
            assert item.evidence, f"{result.call_id}.{item.id} failed without evidence"
            for ev in item.evidence:
                assert ev.quote and 0 <= ev.start <= ev.end <= result.duration_s + 0.5


def test_parties_stay_on_their_channels_with_their_text(scored: dict[str, CallResult]) -> None:
    report = []
    for call_id, result in sorted(scored.items()):
        truth = load_truth(call_id)
        for role in (Role.AGENT, Role.CUSTOMER):
            ref_turns = [t for t in truth["turns"] if t["role"] == role.value]
            # recognition accuracy: the raw transcript (masked PII would count as errors)
            utts = (result.raw_transcript or result.transcript).by_role(role)
            assert {u.channel for u in utts} <= {ref_turns[0]["channel"]}, f"{call_id}: {role.value} on the wrong channel"
            sep = "" if result.language == "zh" else " "
            rate = error_rate(sep.join(t["text"] for t in ref_turns), sep.join(u.text for u in utts), result.language)
            report.append((call_id, role.value, rate))
    worst = {lang: max(r for c, _, r in report if scored[c].language == lang) for lang in ("zh", "en")}
    assert worst["zh"] <= 0.35 and worst["en"] <= 0.30, report


def test_turn_times_match_the_script(scored: dict[str, CallResult]) -> None:
    """Every scripted turn is covered by an utterance of the same party (time overlap)."""
    missed = []
    total = 0
    for call_id, result in scored.items():
        for turn in load_truth(call_id)["turns"]:
            total += 1
            role = Role(turn["role"])
            if not any(u.start < turn["end"] and u.end > turn["start"] for u in result.transcript.by_role(role)):
                missed.append(f"{call_id} {turn['role']} {turn['start']:.1f}-{turn['end']:.1f} {turn['text']}")
    assert len(missed) <= total * 0.03, "\n".join(missed)


def _rubric_version(rubric_id: str) -> str:
    """The version in rubrics/<id>.yaml (bumped whenever a rubric changes)."""
    from qa_pipeline.scoring.rubric import find_rubric

    return find_rubric(rubric_id, PROJECT_ROOT / "rubrics").version


ROUTED = {"95598": "zh_95598_utility", "10086": "zh_telecom", "acme": "en_generic"}


def test_results_carry_versions_and_the_routed_rubric(scored: dict[str, CallResult]) -> None:
    for result in scored.values():
        v = result.versions
        assert v.asr_model.startswith("faster-whisper-base@")
        assert v.rubric_id == ROUTED[result.metadata.queue.split("-")[0]] and v.rubric_version == _rubric_version(v.rubric_id)
        assert v.options.language.source == "metadata"
        assert result.metadata.source == "sidecar" and result.metadata.agent_id
        scripted = load_script(PROJECT_ROOT / "samples" / "scripts" / f"{result.call_id}.yaml")["expect"]["items"]
        assert all(result.scorecard.item(i).outcome is not Outcome.NA for i in scripted)


@pytest.mark.parametrize("rubric_id", ["zh_95598_utility", "zh_telecom", "en_generic", "basic_zh", "basic_en"])
def test_each_default_rubric_scores_the_sample_calls(scored: dict[str, CallResult], rubric_id: str) -> None:
    """Every default rubric loads and scores every sample call of its language, with evidence."""
    from qa_pipeline.pipeline import score_transcript
    from qa_pipeline.scoring import Scorer, find_rubric

    scorer = Scorer(find_rubric(rubric_id, PROJECT_ROOT / "rubrics"))
    calls = [r for r in scored.values() if r.language == scorer.rubric.language]
    assert calls
    for result in calls:
        _, card, _ = score_transcript(scorer, result.transcript, result.metadata)
        assert len(card.items) == len(scorer.rubric.items) and 0 <= card.total <= 100
        for item in card.items:
            assert item.reason
            if item.outcome is Outcome.FAIL:
                assert item.evidence or "no " in item.reason, f"{result.call_id}.{item.id}: {item.reason}"
