"""Agent/customer roles on mono calls: evidence (fast), voiceprints, and mono vs stereo scoring (slow)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES

from qa_pipeline.asr.roles import RoleAssigner, swap_requested
from qa_pipeline.asr.voiceprints import VoiceprintStore
from qa_pipeline.records import CallMetadata, Outcome, Role, Utterance
from qa_pipeline.transcription import channel_roles


def _u(start: float, text: str) -> Utterance:
    return Utterance("", Role.UNKNOWN, 0, start, start + 2.0, text)


META = CallMetadata(call_id="c1", agent_id="A1001", direction="inbound")


def test_zh_opening_phrase_picks_the_agent_even_when_customer_speaks_first() -> None:
    speakers = {
        "S0": [_u(0.2, "喂？"), _u(9.0, "我家停电了")],
        "S1": [_u(1.5, "您好，国家电网，工号一零零一，很高兴为您服务"), _u(12.0, "好的，我帮您查一下")],
    }
    got = RoleAssigner()(speakers, metadata=META, language="zh")
    assert got.roles == {"S1": Role.AGENT, "S0": Role.CUSTOMER}
    assert got.method == "opening_phrase"
    assert got.evidence["S1"]["phrase_hits"] > got.evidence["S0"]["phrase_hits"]


def test_en_opening_phrase() -> None:
    speakers = {
        "A": [_u(0.5, "Hi, my internet is down.")],
        "B": [_u(3.0, "Thank you for calling Acme Telecom, my name is Sarah.")],
    }
    assert RoleAssigner()(speakers, metadata=META, language="en").role("B") is Role.AGENT


def test_without_phrases_the_first_speaker_answers_inbound_and_not_outbound() -> None:
    speakers = {"A": [_u(0.5, "hello")], "B": [_u(3.0, "hello")]}
    assert RoleAssigner()(speakers, metadata=META, language="en").role("A") is Role.AGENT
    outbound = replace(META, direction="outbound")
    assert RoleAssigner()(speakers, metadata=outbound, language="en").role("B") is Role.AGENT


def test_reviewer_swap_override() -> None:
    speakers = {"A": [_u(0.5, "Thank you for calling, my name is Sam.")], "B": [_u(3.0, "hi")]}
    swapped = replace(META, custom={"swap_roles": "true"})
    assert swap_requested(swapped) and not swap_requested(META)
    got = RoleAssigner()(speakers, metadata=swapped, language="en")
    assert got.roles == {"A": Role.CUSTOMER, "B": Role.AGENT} and got.swapped
    assert got.record().swapped is True and got.record().roles == {"A": Role.CUSTOMER, "B": Role.AGENT}


def test_stereo_keeps_channel_map_and_honours_swap() -> None:
    assert channel_roles(2, 1) == (Role.CUSTOMER, Role.AGENT)
    assert channel_roles(2, 1, swap=True) == (Role.AGENT, Role.CUSTOMER)
    assert channel_roles(1, None) == (Role.UNKNOWN,)


def test_voiceprint_outweighs_phrases(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    agent_voice, other_voice = rng.normal(size=192), rng.normal(size=192)
    store = VoiceprintStore(tmp_path / "vp.json")
    store.enroll("A1001", agent_voice, seconds=20, call_id="stereo-1")
    speakers = {"S0": [_u(0.5, "您好，国家电网")], "S1": [_u(3.0, "喂")]}
    centroids = {"S0": other_voice, "S1": agent_voice + 0.3 * rng.normal(size=192)}
    got = RoleAssigner()(speakers, metadata=META, language="zh", centroids=centroids, voiceprint=store.get("A1001"))
    assert got.method == "voiceprint" and got.role("S1") is Role.AGENT
    assert got.evidence["S1"]["voiceprint_similarity"] > 0.9


def test_voiceprint_store_running_mean_persists_and_ignores_repeats(tmp_path: Path) -> None:
    path = tmp_path / "vp.json"
    store = VoiceprintStore(path)
    a, b = np.eye(192)[0], np.eye(192)[1]
    store.enroll("E1", a, seconds=10, call_id="c1")
    store.enroll("E1", b, seconds=10, call_id="c2")
    store.enroll("E1", b, seconds=10, call_id="c2")  # rescoring the same call
    assert store.enroll("E2", a, seconds=1.0, call_id="c3") is None  # too little speech
    again = VoiceprintStore(path)
    vp = again.get("E1")
    assert vp is not None and vp.calls == ("c1", "c2") and vp.seconds == 20
    assert vp.similarity(a) == pytest.approx(vp.similarity(b), abs=1e-5) == pytest.approx(2**-0.5, abs=1e-5)
    assert "E2" not in again


# --------------------------------------------------------------------------- real models

#: Mono-vs-stereo comparison runs on this subset to keep CI time down (each mono call is
#: diarized and transcribed again): agent on either channel, both languages, one call
#: without a greeting.  benchmarks/bench_diarization.py covers all 13 calls.
MONO_SUBSET = ("en_angry_customer_calmed", "zh_good_agent", "zh_missing_greeting")


@pytest.fixture(scope="module")
def mono_pipeline(pipeline, tmp_path_factory: pytest.TempPathFactory):
    """The session's Whisper model, the packaged diarizer, and an EMPTY voiceprint store:
    roles come from opening phrases and turn order only (no enrolment from the same call)."""
    from qa_pipeline.config import load_settings
    from qa_pipeline.pipeline import CallPipeline

    settings = load_settings(None, data_dir=tmp_path_factory.mktemp("mono-data"))
    return CallPipeline.from_pretrained(
        settings, transcriber=pipeline.transcriber, diarizer=pipeline.diarizer, voiceprints=VoiceprintStore(None)
    )


def _mono(call_id: str, settings):
    from qa_pipeline.audio import Audio, load_audio
    from qa_pipeline.batch import source_for_file

    path = SAMPLES / f"{call_id}.wav"
    audio = load_audio(path)
    return source_for_file(path, settings), Audio(info=audio.info, channels=(audio.mono(),))


def _role_items(result) -> dict[str, Outcome]:
    scorer_items = {i.id: i for i in result.scorecard.items}
    return {k: v.outcome for k, v in scorer_items.items()}


@pytest.mark.slow
@pytest.mark.parametrize("call_id", MONO_SUBSET)
def test_mono_downmix_scores_role_items_like_stereo(call_id: str, mono_pipeline, sample_results) -> None:
    from qa_pipeline.scoring import find_rubric
    from qa_pipeline.scoring.engine import _needs_roles

    stereo = sample_results[call_id]
    source, audio = _mono(call_id, mono_pipeline.settings)
    mono = mono_pipeline(source, audio=audio)
    assert mono.transcript.has_roles
    rubric = find_rubric(mono_pipeline.settings.rubrics[stereo.language], mono_pipeline.settings.rubrics_dir)
    role_items = {item.id for item in rubric.items if _needs_roles(item)}
    assert role_items, "rubric has role-dependent items"
    s_items, m_items = _role_items(stereo), _role_items(mono)
    differ = {k: (s_items[k].value, m_items[k].value) for k in role_items if s_items[k] != m_items[k]}
    assert not differ, f"role-dependent items differ (stereo, mono): {differ}"
    assert all(m_items[k] is not Outcome.NA or s_items[k] is Outcome.NA for k in role_items)
    assignment = mono.versions.options.roles  # recorded with the result, with its evidence
    assert assignment is not None and sorted(assignment.roles.values()) == [Role.AGENT, Role.CUSTOMER] and assignment.evidence


@pytest.mark.slow
def test_voiceprint_enrolled_from_one_stereo_call_finds_the_agent_on_another_mono_call(mono_pipeline) -> None:
    """Same agent voice, different call and language: enrol from en_good_agent (stereo, agent
    channel known), then identify the agent on zh_good_agent downmixed to mono by voice alone."""
    from qa_pipeline.asr.diarization import SpeakerTurn, speaker_embeddings
    from qa_pipeline.audio import load_audio

    truth_src = load_audio(SAMPLES / "en_good_agent.wav")
    import json

    truth = json.loads((SAMPLES / "en_good_agent.truth.json").read_text())
    agent_turns = [SpeakerTurn(t["start"], t["end"], "agent") for t in truth["turns"] if t["role"] == "agent"]
    diarizer = mono_pipeline.diarizer
    emb, secs = speaker_embeddings(diarizer.embedding, truth_src.channels[truth["agent_channel"]], agent_turns)["agent"]
    store = VoiceprintStore(None)
    store.enroll("VOICE1", emb, seconds=secs, call_id="en_good_agent")

    _source, audio = _mono("zh_good_agent", mono_pipeline.settings)
    dia = diarizer(audio.channels[0], audio.sample_rate)
    centroids = {s: e for s, (e, _) in speaker_embeddings(diarizer.embedding, audio.channels[0], dia.exclusive).items()}
    speakers = {s: [Utterance("", Role.UNKNOWN, 0, t.start, t.end, "嗯") for t in dia.exclusive if t.speaker == s] for s in centroids}
    got = RoleAssigner()(speakers, metadata=META, language="zh", centroids=centroids, voiceprint=store.get("VOICE1"))
    assert got.method == "voiceprint"
    agent = next(s for s, r in got.roles.items() if r is Role.AGENT)
    zh_truth = json.loads((SAMPLES / "zh_good_agent.truth.json").read_text())
    first_agent = next(t for t in zh_truth["turns"] if t["role"] == "agent")
    mid = 0.5 * (first_agent["start"] + first_agent["end"])
    assert any(t.speaker == agent and t.start <= mid <= t.end for t in dia.exclusive)
