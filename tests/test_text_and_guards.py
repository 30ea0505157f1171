"""Simplified Chinese output, tokenisation, and the Whisper hallucination guards."""

from __future__ import annotations

from qa_pipeline.asr.guards import AsrSegment, SegmentGuard
from qa_pipeline.records import Word
from qa_pipeline.text import count_spoken_units, pinyin_keys, to_simplified, tokenize


def seg(text: str, words: list[str] | None = None, start: float = 0.0, no_speech: float = 0.1, logprob: float = -0.3) -> AsrSegment:
    pieces = words if words is not None else [text]
    ws = tuple(Word(start + i * 0.3, start + (i + 1) * 0.3, w, 0.9) for i, w in enumerate(pieces))
    return AsrSegment(start, start + 0.3 * len(pieces), text, ws, logprob, no_speech)


def test_traditional_to_simplified() -> None:
    assert to_simplified("廣州市房地產中介協會分析") == "广州市房地产中介协会分析"
    assert to_simplified("hello") == "hello"


def test_tokenize_keeps_offsets_and_folds_width() -> None:
    text = "您好，工号１０２３! Thank-you"
    toks = tokenize(text)
    assert [t.text for t in toks] == ["您", "好", "工", "号", "1023", "thank", "you"]
    for t in toks:
        assert text[t.start : t.end].lower().replace("１０２３", "1023") == t.text


def test_pinyin_keys_align_one_per_hanzi() -> None:
    assert pinyin_keys(tokenize("国家电网 ok")) == ("guo", "jia", "dian", "wang", "ok")


def test_spoken_units() -> None:
    assert count_spoken_units("您好，请问有什么可以帮您？", "zh") == 11
    assert count_spoken_units("How can I help you today?", "en") == 6


def test_guard_converts_to_simplified_words_and_text() -> None:
    guard = SegmentGuard("zh")
    [out] = list(guard([seg("請問有什麼可以幫您", ["請問", "有什麼", "可以", "幫您"])]))
    assert out.text == "请问有什么可以帮您"
    assert [w.text for w in out.words] == ["请问", "有什么", "可以", "帮您"]


def test_guard_drops_subtitle_boilerplate() -> None:
    guard = SegmentGuard("zh")
    segs = [
        seg("您好，请问有什么可以帮您"),
        seg("字幕由Amara.org社群提供", start=5),
        seg("請不吝點贊 訂閱 轉發 打賞支持明鏡與點點欄目", start=9),
    ]
    out = list(guard(segs))
    assert [s.text for s in out] == ["您好，请问有什么可以帮您"]
    assert guard.removed["boilerplate"] == 2


def test_guard_collapses_repetition_loops() -> None:
    guard = SegmentGuard("zh")
    words = ["我", "要", "报修"] + ["4-"] * 40
    [out] = list(guard([seg("".join(words), words)]))
    assert out.text == "我要报修4-"
    assert guard.removed["repetition_loop"] == 1
    # a natural short repetition is kept
    [ok] = list(SegmentGuard("zh")([seg("对对对", ["对", "对", "对"])]))
    assert ok.text == "对对对"


def test_guard_keeps_a_word_really_said_six_times_and_collapses_faster_or_longer_runs() -> None:
    """Field case 06: "对对对对对对" decoded word by word over 1.04 s (how base Whisper heard the
    customer) is speech; the same run crammed into 0.3 s, or a word 30 times, is a decoder loop."""
    def run(word: str, n: int, each_s: float, lead: str = "好的") -> AsrSegment:
        ws = (Word(0.0, 0.3, lead, 0.9),) + tuple(Word(0.5 + i * each_s, 0.5 + (i + 1) * each_s, word, 0.9) for i in range(n))
        return AsrSegment(0.0, ws[-1].end, "".join(w.text for w in ws), ws, -0.3, 0.1)

    guard = SegmentGuard("zh")
    [said] = list(guard([run("对", 6, 0.173)]))
    assert said.text == "好的对对对对对对" and not guard.removed
    [crammed] = list(guard([run("对", 8, 0.04)]))
    [long] = list(guard([run("嗯", 30, 0.2)]))
    assert crammed.text == "好的对" and long.text == "好的嗯" and guard.removed["repetition_loop"] == 2
    [english] = list(SegmentGuard("en")([run(" no", 6, 0.25, lead="Oh")]))
    assert english.text == "Oh no no no no no no"


def test_guard_drops_a_sentence_repeated_over_segments() -> None:
    guard = SegmentGuard("en")
    out = list(guard([seg("Thank you.", start=i) for i in range(5)]))
    assert len(out) == 2 and guard.removed["repeated_segment"] == 3


def test_guard_drops_no_speech_segments() -> None:
    guard = SegmentGuard("en")
    out = list(guard([seg("you", no_speech=0.95, logprob=-1.5), seg("hello there")]))
    assert [s.text for s in out] == ["hello there"]
