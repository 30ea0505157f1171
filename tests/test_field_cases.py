"""Field cases of issue 13 (real telephone audio), without the ASR model.

Inputs are used by path from ``../shared/field-cases`` beside the checkout (never copied).
The model-running checks of the same cases are in ``test_field_cases_e2e.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import qa_pipeline.audio as audio_mod
from qa_pipeline.asr.guards import AsrSegment, SegmentGuard
from qa_pipeline.asr.music import music_spans
from qa_pipeline.audio import load_audio
from qa_pipeline.channels import duplicate_lag
from qa_pipeline.recording_flags import recording_flags
from qa_pipeline.records import AudioInfo, Role, RoleEvidence, Span, Transcript, Utterance, Word
from qa_pipeline.redaction import BANK_CARD, CN_ID, PHONE, Redactor
from qa_pipeline.scoring import compute_metrics

FIELD = Path(__file__).resolve().parents[1].parent / "shared" / "field-cases"
SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "calls"
CODECS = FIELD / "12-odd-codecs-and-wav-headers"
M = "＊"


def field(*parts: str) -> Path:
    path = FIELD.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"field case input missing: {path} (expected ../shared/field-cases next to the checkout)")
    return path


# --------------------------------------------------------------------------- 12: codecs and headers

CODEC_FILES = sorted(p.name for p in CODECS.iterdir() if p.suffix in {".wav", ".m4a", ".opus", ".amr"}) if CODECS.is_dir() else []


@pytest.mark.parametrize("name", CODEC_FILES)
def test_every_telephony_codec_and_header_variant_decodes_whole(name: str) -> None:
    audio = load_audio(field("12-odd-codecs-and-wav-headers", name))
    assert 26.5 < audio.duration_s < 27.5
    assert all(abs(len(ch) / audio.sample_rate - audio.duration_s) < 0.1 for ch in audio.channels)
    assert all(float(np.max(np.abs(ch))) > 0.1 for ch in audio.channels)


def test_codec_inputs_are_all_there() -> None:
    assert {"amrnb_mono.amr", "gsm610_mono.wav", "ulaw_unfinalized_header_stereo.wav"} <= set(CODEC_FILES)


def test_unfinalised_wav_header_is_read_to_end_of_file_with_a_note() -> None:
    audio = load_audio(field("12-odd-codecs-and-wav-headers", "ulaw_unfinalized_header_stereo.wav"))
    assert audio.info.channels == 2 and audio.duration_s == pytest.approx(27.0, abs=0.1)
    assert any("header" in n and "end of file" in n for n in audio.info.notes)


def test_unfinalised_header_of_any_wav_is_repaired(tmp_path: Path) -> None:
    """A recorder killed mid-call: RIFF and data sizes left at 0 (the kind, on a PCM WAV made here)."""
    x = (0.3 * np.sin(2 * np.pi * 300 * np.arange(16000) / 8000)).astype(np.float32)
    path = tmp_path / "killed.wav"
    sf.write(path, x, 8000, subtype="PCM_16")
    raw = bytearray(path.read_bytes())
    raw[4:8] = b"\0\0\0\0"
    data = raw.index(b"data")
    raw[data + 4 : data + 8] = b"\0\0\0\0"
    path.write_bytes(bytes(raw))
    audio = load_audio(path)
    assert audio.duration_s == pytest.approx(2.0, abs=0.01)


def test_gsm610_written_by_sox_is_read_block_wise() -> None:
    audio = load_audio(field("12-odd-codecs-and-wav-headers", "gsm610_mono.wav"))
    assert audio.info.subtype == "GSM610" and audio.duration_s == pytest.approx(27.04, abs=0.01)


def test_amr_nb_with_dtx_uses_the_reference_decoder() -> None:
    audio = load_audio(field("12-odd-codecs-and-wav-headers", "amrnb_mono.amr"))
    assert audio.info.subtype == "LIBOPENCORE_AMRNB" and audio.info.notes == ()


def test_packets_a_decoder_rejects_become_silence_not_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """FFmpeg's native AMR-NB decoder rejects every SID frame; the call must still decode whole."""
    monkeypatch.setattr(audio_mod, "_PREFERRED_DECODERS", {})
    audio = load_audio(field("12-odd-codecs-and-wav-headers", "amrnb_mono.amr"))
    assert audio.info.subtype == "AMRNB" and audio.duration_s == pytest.approx(27.0, abs=0.05)
    (note,) = audio.info.notes
    assert re.fullmatch(r"\d+ undecodable packet\(s\) replaced by silence", note)


# --------------------------------------------------------------------------- 07: duplicated channels


def test_delayed_attenuated_copy_is_one_signal() -> None:
    audio = load_audio(field("07-stereo-duplicate-channels-delayed", "fc07_dup_channels_delay.wav"))
    assert audio.info.downmixed and len(audio.channels) == 1
    assert any("lag 12.0 ms" in n for n in audio.info.notes)


@pytest.mark.parametrize("lag_ms,gain_db", [(0, 0), (5, -3), (25, -12), (-40, 6)])
def test_duplicate_detection_allows_lag_and_gain(lag_ms: int, gain_db: float) -> None:
    rng = np.random.default_rng(7)
    sr = 8000
    x = rng.standard_normal(sr * 20) * np.repeat(rng.random(20 * 4) > 0.4, sr // 4)  # bursts, like speech
    lag = int(lag_ms * sr / 1000)
    y = np.roll(x, lag) * 10 ** (gain_db / 20)
    found = duplicate_lag(x, y, sr)
    assert found is not None and abs(found - lag_ms / 1000) < 0.0015


def test_two_parties_are_not_duplicates() -> None:
    x, sr = sf.read(SAMPLES / "zh_good_agent.wav", always_2d=True)
    assert duplicate_lag(x[:, 0], x[:, 1], sr) is None
    assert not load_audio(SAMPLES / "zh_interrupting_agent.wav").info.downmixed


# --------------------------------------------------------------------------- 08 / 07 / 10: recording flags


def _utt(uid: str, role: Role, start: float, end: float, text: str) -> Utterance:
    return Utterance(uid, role, 0 if role is Role.AGENT else 1, start, end, text)


def _info(channels: int, levels: tuple[float, ...], downmixed: bool = False) -> AudioInfo:
    return AudioInfo("x.wav", "0" * 64, "WAV", "ULAW", 8000, channels, 60.0, downmixed, levels)


AGENT_ONLY = Transcript("zh", 60.0, (_utt("u1", Role.AGENT, 0, 8, "您好，国家电网"), _utt("u2", Role.AGENT, 10, 20, "请问有什么可以帮您")))


def test_silent_channel_is_measured_and_flagged() -> None:
    audio = load_audio(field("08-one-channel-silent", "fc08_silent_customer_channel.wav"))
    assert audio.info.channel_peak_dbfs[1] == -120.0 and audio.info.channel_peak_dbfs[0] > -10
    (flag,) = recording_flags(audio.info, AGENT_ONLY)
    assert flag.id == "one_sided_audio" and flag.priority == 2 and "channel 1" in flag.reason


def test_channel_with_noise_but_no_speech_is_one_sided() -> None:
    (flag,) = recording_flags(_info(2, (-3.0, -35.0)), AGENT_ONLY)
    assert flag.id == "one_sided_audio" and "no customer speech" in flag.reason


def test_two_sided_call_has_no_recording_flag() -> None:
    both = Transcript("zh", 60.0, (*AGENT_ONLY.utterances, _utt("u3", Role.CUSTOMER, 21, 25, "我家停电了")))
    assert recording_flags(_info(2, (-3.0, -4.0)), both) == ()


def test_duplicated_channels_and_failed_separation_are_flagged() -> None:
    single = RoleEvidence(method="single_speaker")
    flags = recording_flags(_info(2, (-3.0, -9.0), downmixed=True), AGENT_ONLY, single)
    assert [f.id for f in flags] == ["duplicate_channels", "separation_failed"]
    mono = recording_flags(_info(1, (-3.0,)), AGENT_ONLY, single)
    assert [f.id for f in mono] == ["separation_failed"]
    unattributed = Transcript("zh", 60.0, (_utt("u1", Role.UNKNOWN, 0, 8, "您好"),))
    assert recording_flags(_info(1, (-3.0,)), unattributed, None) == ()


# --------------------------------------------------------------------------- 06: guards


def _seg(words: list[str], start: float = 0.0) -> AsrSegment:
    ws = tuple(Word(start + i * 0.4, start + (i + 1) * 0.4, w, 0.9) for i, w in enumerate(words))
    return AsrSegment(start, ws[-1].end, "".join(words), ws, -0.2, 0.05)


def test_boilerplate_words_inside_real_speech_are_kept() -> None:
    offer = _seg(["您好，", "本月", "新推出的", "5G", "流量包", "欢迎", "订阅，", "每月", "只要", "三十元。"])
    subtitles = _seg(["您可以", "在", "APP", "里", "看", "视频", "教程，", "有", "中文", "字幕。"], start=10)
    guard = SegmentGuard("zh")
    assert [s.text for s in guard([offer, subtitles])] == [offer.text, subtitles.text]
    assert not guard.removed


def test_trailing_boilerplate_clause_is_trimmed_not_the_segment() -> None:
    seg = _seg(["好的，", "请稍等。", "感谢您的", "耐心等待，", "明天", "修好。", "谢谢", "收看"])
    guard = SegmentGuard("zh")
    (out,) = guard([seg])
    assert out.text == "好的，请稍等。感谢您的耐心等待，明天修好。" and out.end == seg.words[5].end
    assert guard.removed == {"boilerplate_trimmed": 1}


def test_whole_boilerplate_segment_is_still_dropped() -> None:
    guard = SegmentGuard("zh")
    assert list(guard([_seg(["谢谢", "收看。"]), _seg(["字幕由", "Amara.org", "社群提供"], 5)])) == []
    assert guard.removed == {"boilerplate": 2}


# --------------------------------------------------------------------------- 05 / 06: redaction


def _run_redaction(turns: list[tuple[str, float, str]]) -> tuple[list[str], dict[str, list[tuple[str, bool]]]]:
    utts = tuple(_utt(f"u{i}", Role(r), t, t + 1.0, text) for i, (r, t, text) in enumerate(turns, start=1))
    new, spans = Redactor().redact_transcript(Transcript("zh", 60.0, utts))
    return [u.text for u in new.utterances], {k: [(s.kind, s.validated) for s in v] for k, v in spans.items()}


def test_numbers_read_in_groups_over_utterances_are_masked() -> None:
    """fc05 as the ASR wrote it: groups as separate utterances, one digit of each number dropped."""
    texts, spans = _run_redaction([
        ("agent", 9.5, "好的,请问您的手机号码是多少?"), ("customer", 13.5, "一三九,"), ("agent", 15.0, "嗯"),
        ("customer", 16.0, "零五七一二三四,"), ("agent", 20.1, "好的,请再提供一下机主的身分证号码。"),
        ("customer", 25.0, "三三零一零六,"), ("customer", 27.5, "一九八五零三一二三一,"),
        ("agent", 32.4, "好的,核实通过,您本月话费188元,工号一零二三为您服务"),
    ])
    assert texts[1] == M * 3 + "," and texts[3] == M * 7 + "," and texts[2] == "嗯"
    assert texts[5] == M * 6 + "," and texts[6] == M * 10 + ","
    assert spans == {"u2": [(PHONE, False)], "u4": [(PHONE, False)], "u6": [(CN_ID, False)], "u7": [(CN_ID, False)]}
    assert texts[7].endswith("188元,工号一零二三为您服务")


def test_complete_number_in_groups_validates() -> None:
    texts, spans = _run_redaction([
        ("agent", 0, "请问您的手机号码是多少？"), ("customer", 3, "一三九。"), ("customer", 5, "零五七一。"), ("customer", 7, "二二三四。"),
        ("agent", 9, "Please read me the card number."), ("customer", 12, "Four five three nine."),
        ("customer", 14, "One four eight eight."), ("customer", 16, "Zero three four three."), ("customer", 18, "Six four six seven."),
    ])
    assert spans["u2"] == spans["u3"] == spans["u4"] == [(PHONE, True)]
    assert all(spans[f"u{i}"] == [(BANK_CARD, True)] for i in range(6, 10))
    assert not any(re.search(r"[0-9一二三四五六七八九零]|four|five|six|zero|one", t.lower()) for t in texts[1:4] + texts[5:])


def test_short_answers_and_numbers_without_a_request_stay_readable() -> None:
    texts, spans = _run_redaction([
        ("agent", 0, "请问您的卡号后四位是多少？"), ("customer", 3, "一二三四。"),
        ("agent", 5, "好的，工号一零二三为您服务"), ("customer", 8, "我家户号是三三零一二八七六五四"),
    ])
    assert spans == {} and texts[1] == "一二三四。" and texts[3].endswith("三三零一二八七六五四")


@pytest.mark.parametrize("text,masked", [
    ("我的号码是3988888888", "我的号码是" + M * 10),  # fc06: 号码 alone is the phone number; leading 1 dropped
    ("手机号是以三九一三四五六七八", "手机号是" + M * 10),  # 幺 heard as 以
    ("电话以3507123次", "电话" + M * 8 + "次"),
    ("手机妖三八一二三四五六七八", "手机" + M * 11),
])
def test_phone_cues_and_spoken_digit_variants(text: str, masked: str) -> None:
    assert Redactor().redact_text(text)[0] == masked


@pytest.mark.parametrize("text", ["可以三个人一起去", "所以一二三四五六七八九零都行", "以上就是全部", "身份证号码丢了"])
def test_yao_variants_only_inside_digit_runs(text: str) -> None:
    assert Redactor().redact_text(text) == (text, ())


# --------------------------------------------------------------------------- 01 / 14: hold and queue music


def _channels(path: Path) -> list[np.ndarray]:
    return list(load_audio(path).channels)


def test_hold_music_is_found_on_the_agent_channel_only() -> None:
    agent, customer = _channels(field("01-hold-music-during-hold", "fc01_hold_music.wav"))
    ((start, end),) = music_spans(agent)
    assert 26.94 <= start <= 28.5 and 57.4 <= end <= 58.94  # music 27.94-57.94; speech ends 26.94, resumes 58.94
    assert music_spans(customer) == ()
    assert all(music_spans(ch) == () for ch in _channels(field("01-hold-music-during-hold", "fc01_control_no_music.wav")))


def test_hold_music_before_speech_in_the_long_call_excerpt() -> None:
    agent, customer = _channels(field("14-long-call-1h-memory", "fc14b_hold_then_speech_excerpt.wav"))
    ((start, end),) = music_spans(agent)
    assert start < 1.0 and 59.5 < end < 61.0 and music_spans(customer) == ()


@pytest.mark.parametrize("name", ["zh_good_agent.wav", "en_angry_customer_calmed.wav", "zh_interrupting_agent.wav"])
def test_speech_is_not_music(name: str) -> None:
    assert all(music_spans(ch) == () for ch in _channels(SAMPLES / name))


def test_music_is_reported_as_queue_and_hold_time() -> None:
    utts = (_utt("u1", Role.AGENT, 40.0, 45.0, "您好"), _utt("u2", Role.CUSTOMER, 46.0, 48.0, "停电了"), _utt("u3", Role.AGENT, 90.0, 95.0, "感谢您的耐心等待"))
    tr = Transcript("zh", 100.0, utts, music=(Span(0.0, 39.0), Span(50.0, 88.0)))
    metrics = compute_metrics(tr)
    assert metrics.music_queue_s == 39.0 and metrics.music_hold_s == 38.0 and len(metrics.music) == 2


# --------------------------------------------------------------------------- 15: code-switching


def test_latin_word_split_over_a_pause_stays_in_one_utterance() -> None:
    """fc15: "…登录不了i" / "Phone 连的是…": the stretched "i" belongs to the customer's next turn."""
    from qa_pipeline.asr.conversation import split_utterances

    words = [Word(13.23, 13.67, "登录", 0.9), Word(13.67, 14.11, "不了", 0.9), Word(14.11, 15.03, "i", 0.5),
             Word(19.0, 19.28, "Phone", 0.9), Word(19.72, 19.86, " 连", 0.9), Word(19.86, 20.2, "的是", 0.9)]
    seg = AsrSegment(13.23, 20.2, "".join(w.text for w in words), tuple(words), -0.2, 0.05)
    first, second = split_utterances([seg], role=Role.CUSTOMER, channel=1, pause_split_s=0.8)
    assert first.text == "登录不了" and first.end == 14.11
    assert second.text.startswith("iPhone") and second.start == pytest.approx(18.8)
    # English words carry their own leading space: a pause between them still splits
    en = [Word(1.0, 1.3, " OK", 0.9), Word(3.0, 3.2, "Yes", 0.9)]
    seg = AsrSegment(1.0, 3.2, " OKYes", tuple(en), -0.2, 0.05)
    assert [u.text for u in split_utterances([seg], role=Role.AGENT, channel=0, pause_split_s=0.8)] == ["OK", "Yes"]


# --------------------------------------------------------------------------- 14: windows and the second pass


def test_long_channels_are_cut_into_windows_at_quiet_points() -> None:
    from qa_pipeline.asr.windows import SEARCH_S, WINDOW_S, plan_windows

    sr = 16000
    rng = np.random.default_rng(3)
    x = (0.1 * rng.standard_normal(int((2.75 * WINDOW_S) * sr))).astype(np.float32)
    quiet = [int((WINDOW_S + 12.0) * sr), int((2 * WINDOW_S + 5.0) * sr)]
    for q in quiet:
        x[q : q + sr] = 0.0  # a second of silence near each nominal boundary
    windows = plan_windows(x, sr)
    assert windows[0][0] == 0 and windows[-1][1] == len(x)
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:]))
    cuts = [w[1] for w in windows[:-1]]
    assert len(cuts) == 2 and all(q <= c <= q + sr for q, c in zip(quiet, cuts))
    assert plan_windows(x, sr) == windows  # deterministic
    short = x[: int((WINDOW_S + SEARCH_S) * sr)]
    assert plan_windows(short, sr) == [(0, len(short))]


def test_word_free_stretches_of_speech_get_a_second_pass() -> None:
    from qa_pipeline.asr.windows import empty_speech

    words = [Word(64.27, 64.65, "20", 0.9), Word(64.65, 65.03, "46", 0.9), Word(65.45, 66.57, "请问有什么", 0.9)]
    regions = [(61.36, 67.28), (80.0, 80.6), (90.0, 92.0)]
    # the greeting before "2046" came back empty; a short blip is not worth it; a whole region is
    assert empty_speech(regions, words) == [(61.36, 64.27), (90.0, 92.0)]


def test_energy_finds_speech_the_vad_may_miss_but_not_line_noise() -> None:
    from qa_pipeline.asr.windows import active_regions

    sr = 16000
    rng = np.random.default_rng(5)
    x = (0.001 * rng.standard_normal(20 * sr)).astype(np.float32)  # line noise
    t = np.arange(3 * sr) / sr
    x[5 * sr : 8 * sr] += (0.2 * np.sin(2 * np.pi * 140 * t) * (1 + np.sin(2 * np.pi * 4 * t)) / 2).astype(np.float32)
    ((start, end),) = active_regions(x, sr)
    assert 4.9 <= start <= 5.2 and 7.8 <= end <= 8.1
