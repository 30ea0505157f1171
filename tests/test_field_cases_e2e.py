"""Field cases of issue 13 end to end: real model, real audio from ``../shared/field-cases``.

Each input is scored once per module (in this process, the path ``qa score`` takes) and the
expectations of its ``expected.md`` / ``run.sh`` are checked on the stored (redacted) result.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qa_pipeline.records import CallResult, Role

pytestmark = pytest.mark.slow

FIELD = Path(__file__).resolve().parents[1].parent / "shared" / "field-cases"
INPUTS = {
    "fc01": "01-hold-music-during-hold/fc01_hold_music.wav",
    "fc05_zh": "05-pii-numbers-read-in-groups/fc05_zh_digits_pauses.wav",
    "fc06": "06-legit-repetition-vs-loop-guard/fc06_legit_repetition.wav",
    "fc07": "07-stereo-duplicate-channels-delayed/fc07_dup_channels_delay.wav",
    "fc08": "08-one-channel-silent/fc08_silent_customer_channel.wav",
    "fc10": "10-mono-two-voices-merged/fc10_mono_customer_first.wav",
    "fc12_amr": "12-odd-codecs-and-wav-headers/amrnb_mono.amr",
}


@pytest.fixture(scope="module")
def scored(pipeline) -> dict[str, CallResult]:
    """Every field input above scored once: {key: CallResult}."""
    from qa_pipeline.batch import source_for_file

    out = {}
    for key, rel in INPUTS.items():
        path = FIELD / rel
        if not path.is_file():
            pytest.fail(f"field case input missing: {path} (expected ../shared/field-cases next to the checkout)")
        out[key] = pipeline(source_for_file(path, pipeline.settings))
    return out


def _texts(result: CallResult, role: Role) -> list[str]:
    return [u.text for u in result.transcript.utterances if u.role is role]


def test_hold_music_is_not_transcribed_and_the_hold_passes(scored) -> None:
    r = scored["fc01"]
    inside = [u.text for u in r.transcript.utterances if u.start < 57.64 and u.end > 28.04]
    assert inside == []
    back = next(u for u in r.transcript.utterances if u.role is Role.AGENT and u.start > 55)
    assert "感谢" in back.text and 58.0 < back.start < 59.5
    hold = next(i for i in r.scorecard.items if i.id == "hold_etiquette")
    assert hold.outcome.value == "pass"
    assert r.metrics.music_hold_s > 25 and r.metrics.music_queue_s == 0.0


def test_numbers_read_in_groups_are_masked(scored) -> None:
    r = scored["fc05_zh"]
    leaks = [u.text for u in r.transcript.utterances if u.role is Role.CUSTOMER
             and re.search(r"[0-9零〇一幺二两三四五六七八九]{3,}", u.text.replace(" ", "").replace(",", ""))]
    assert leaks == []
    assert {x.kind for x in r.redactions} >= {"phone", "cn_id"}


def test_real_repetitions_kept_and_phone_number_masked(scored) -> None:
    r = scored["fc06"]
    assert sum("听到" in t for t in _texts(r, Role.AGENT)) >= 3
    raw_customer = [u.text for u in (r.raw_transcript or r.transcript).utterances if u.role is Role.CUSTOMER]
    assert max((len(m) for t in raw_customer for m in re.findall(r"[8八]+", t)), default=0) >= 6  # no loop collapse
    assert max((len(m) for t in raw_customer for m in re.findall(r"对+", t)), default=0) >= 4
    assert not [t for t in _texts(r, Role.CUSTOMER) if re.search(r"[0-9]{7,}|[零一二三四五六七八九]{7,}", t)]
    assert "phone" in {x.kind for x in r.redactions}


def test_duplicated_channels_take_the_mono_path(scored) -> None:
    r = scored["fc07"]
    assert r.audio.downmixed and "duplicate_channels" in {f.id for f in r.flags}
    talk = r.metrics.talk_time_s
    assert not (talk.get("agent", 0) > 30 and talk.get("customer", 0) > 30)


def test_one_sided_call_is_flagged_for_review(scored) -> None:
    r = scored["fc08"]
    assert r.language == "zh" and _texts(r, Role.CUSTOMER) == []
    assert "one_sided_audio" in {f.id for f in r.flags}


def test_two_voices_on_one_channel_are_separated(scored) -> None:
    r = scored["fc10"]
    agent, customer = " ".join(_texts(r, Role.AGENT)), " ".join(_texts(r, Role.CUSTOMER))
    # expected.md: the 国家电网/工号 speaker is the agent, the customer's lines (是我，什么事？) are the
    # customer's; one character at a speaker change (the agent's 您|好 right after the customer's
    # 喂？哪位？) may fall on either side of the diarization boundary
    separated = "国家电网" in agent and "国家电网" not in customer and "什么事" in customer and "什么事" not in agent
    # either the parties were told apart, or the call says it could not be
    said = [(u.start, u.end, u.speaker, u.role.value, u.text) for u in r.transcript.utterances]
    assert separated or "separation_failed" in {f.id for f in r.flags}, (r.versions.options.roles, said)
    assert separated, (r.versions.options.roles, said)  # on this input the recovery must succeed


def test_amr_nb_with_dtx_is_scored(scored) -> None:
    r = scored["fc12_amr"]
    text = "".join(u.text for u in r.transcript.utterances)
    assert r.audio.duration_s > 26 and "停电" in text and len(r.transcript.utterances) >= 3
