"""Post-processing of Whisper segments: Simplified Chinese and hallucination guards.

Whisper (especially the small models) is known to

* emit subtitle boilerplate on silence or noise, as a whole segment or as a clause
  tacked onto the end of real speech ("字幕由Amara.org社群提供",
  "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目", "Thanks for watching");
* fall into repetition loops ("4-4-4-4-…", the same sentence many times) -- while people
  really do say one word many times in a row ("对对对对对对", "no no no no no no"), so a run of
  one word is a loop only when it is longer or faster than speech (:data:`MAX_SPOKEN_RUN`,
  :data:`MIN_SYLLABLE_S`);
* write Traditional characters for Mandarin.

:class:`SegmentGuard` fixes the script and drops or trims those segments, and
counts what it removed so the pipeline can report it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Iterable, Iterator, Sequence

from ..records import Word
from ..text import to_simplified, tokenize

#: Shortest average time per repetition (s) of a word said again and again: 10 syllables a second,
#: above the fastest syllable rates measured across languages (Japanese 7.8/s, Spanish 7.8/s,
#: English 6.2/s, Mandarin 5.2/s: Pellegrino, Coupé & Marsico 2011, "A cross-language perspective
#: on speech information rate", Language 87(3)). A faster run is the decoder repeating a token.
MIN_SYLLABLE_S = 0.1
#: Longest run of one word still taken for speech ("对对对对对对对对" is said; a decoding loop runs on
#: to the token limit, "4-4-4-…" 40 times), whatever its word timings.
MAX_SPOKEN_RUN = 10


@dataclass(frozen=True, slots=True)
class AsrSegment:
    """A cleaned Whisper segment on one channel (times in seconds from call start)."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...]
    avg_logprob: float
    no_speech_prob: float


def _norm(text: str) -> str:
    return "".join(t.text for t in tokenize(text))


def load_boilerplate() -> tuple[str, ...]:
    raw = resources.files("qa_pipeline.asr").joinpath("boilerplate.txt").read_text(encoding="utf-8")
    lines = (line.split("#", 1)[0].strip() for line in raw.splitlines())
    return tuple(n for n in (_norm(to_simplified(line)) for line in lines if line) if n)


@dataclass
class SegmentGuard:
    """Callable filter over a stream of segments; keeps counts of what it removed."""

    language: str
    boilerplate: Sequence[str] = field(default_factory=load_boilerplate)
    #: A unit of N tokens repeated this many times in a row is a loop (single tokens need more, and
    #: a run of one word also has to be longer than :data:`MAX_SPOKEN_RUN` or faster than
    #: :data:`MIN_SYLLABLE_S` per repetition: "对对对对对对" over a second is speech).
    min_repeats: int = 4
    min_repeats_single: int = 6
    max_unit: int = 12
    #: Whisper's own silence test: high no-speech probability *and* low confidence.
    no_speech_prob: float = 0.8
    min_avg_logprob: float = -1.0
    #: A segment is boilerplate when one boilerplate line covers at least this share of it.
    min_boilerplate_cover: float = 0.8
    removed: Counter[str] = field(default_factory=Counter)

    def __call__(self, segments: Iterable[AsrSegment]) -> Iterator[AsrSegment]:
        previous: list[str] = []
        for seg in segments:
            if self.language == "zh":
                seg = _simplify(seg)
            normalized = _norm(seg.text)
            if not normalized:
                self.removed["empty"] += 1
                continue
            if self._is_boilerplate(normalized):
                self.removed["boilerplate"] += 1
                continue
            trimmed = self._trim_boilerplate_edges(seg)
            if trimmed is not seg:
                self.removed["boilerplate_trimmed"] += 1
                seg = trimmed
            if seg.no_speech_prob > self.no_speech_prob and seg.avg_logprob < self.min_avg_logprob:
                self.removed["no_speech"] += 1
                continue
            trimmed = self._collapse_loops(seg)
            if trimmed is not seg:
                self.removed["repetition_loop"] += 1
                seg = trimmed
            normalized = _norm(seg.text)
            if previous[-2:] == [normalized, normalized]:
                self.removed["repeated_segment"] += 1
                continue
            previous.append(normalized)
            yield seg

    def _is_boilerplate(self, normalized: str) -> bool:
        """The whole segment is (nearly) one boilerplate line, not speech that contains its words.

        A boilerplate phrase inside a longer sentence ("5G流量包欢迎订阅，每月只要三十元") is real
        speech; only a segment the phrase covers at least :attr:`min_boilerplate_cover` of is a
        hallucination.
        """
        return any(b in normalized and len(b) >= self.min_boilerplate_cover * len(normalized) for b in self.boilerplate)

    def _trim_boilerplate_edges(self, seg: AsrSegment) -> AsrSegment:
        """Drop a boilerplate clause at the start or end of a segment, keeping the speech around it.

        A clause is a run of words set off by punctuation ("…明天上午修好。谢谢收看"); a phrase
        that is only part of a clause ("有中文字幕。") stays.
        """
        words = list(seg.words)
        if len(words) < 2:
            return seg
        keys = [_norm(w.text) for w in words]
        lines = self._lines()
        for k in range(len(words) - 1, 0, -1):  # trailing clause words[k:]
            tail = "".join(keys[k:])
            if len(tail) > self._longest():
                break
            if tail in lines and _clause_break(words[k - 1].text, words[k].text):
                return _with_words(seg, words[:k])
        for k in range(1, len(words)):  # leading clause words[:k]
            head = "".join(keys[:k])
            if len(head) > self._longest():
                break
            if head in lines and _clause_break(words[k - 1].text, words[k].text):
                return _with_words(seg, words[k:])
        return seg

    def _lines(self) -> frozenset[str]:
        return frozenset(self.boilerplate)

    def _longest(self) -> int:
        return max((len(b) for b in self.boilerplate), default=0)

    def _collapse_loops(self, seg: AsrSegment) -> AsrSegment:
        words = list(seg.words)
        keys = [_norm(w.text) for w in words]
        spans = [(w.start, w.end) for w in words]
        keep = _loop_free_indices(keys, spans, self.max_unit, self.min_repeats, self.min_repeats_single)
        if len(keep) == len(words):
            return seg
        kept = tuple(words[i] for i in keep)
        text = "".join(w.text for w in kept).strip()
        end = kept[-1].end if kept else seg.start
        return replace(seg, words=kept, text=text, end=end)


_CLAUSE_END = tuple("，。！？；、,.!?;…")


def _clause_break(before: str, after: str) -> bool:
    """True when punctuation separates two consecutive words (a clause boundary)."""
    return before.rstrip().endswith(_CLAUSE_END) or after.lstrip().startswith(_CLAUSE_END)


def _with_words(seg: AsrSegment, words: Sequence[Word]) -> AsrSegment:
    text = "".join(w.text for w in words).strip()
    return replace(seg, words=tuple(words), text=text, start=words[0].start, end=words[-1].end)


def _spoken_run(spans: Sequence[tuple[float, float]], reps: int) -> bool:
    """True when ``reps`` repetitions of one word over ``spans`` (their (start, end) seconds) fit
    speech: at most :data:`MAX_SPOKEN_RUN` of them, on average at least :data:`MIN_SYLLABLE_S` each."""
    return reps <= MAX_SPOKEN_RUN and spans[-1][1] - spans[0][0] >= reps * MIN_SYLLABLE_S


def _loop_free_indices(keys: Sequence[str], spans: Sequence[tuple[float, float]], max_unit: int, min_repeats: int,
                       min_single: int) -> list[int]:
    """Indices of ``keys`` (one per word, ``spans`` their times) to keep: each loop's unit once."""
    keep: list[int] = []
    i, n = 0, len(keys)
    while i < n:
        skipped = False
        for unit in range(1, max_unit + 1):
            if i + unit * 2 > n:
                break
            pattern = keys[i : i + unit]
            if not any(pattern):
                continue
            reps = 1
            while keys[i + reps * unit : i + (reps + 1) * unit] == pattern:
                reps += 1
            needed = min_single if unit == 1 else min_repeats
            if reps >= needed and not (unit == 1 and _spoken_run(spans[i : i + reps], reps)):
                keep.extend(range(i, i + unit))  # keep one occurrence of the loop unit
                i += reps * unit
                skipped = True
                break
        if not skipped:
            keep.append(i)
            i += 1
    return keep


def _simplify(seg: AsrSegment) -> AsrSegment:
    converted = to_simplified(seg.text)
    if not seg.words:
        return replace(seg, text=converted)
    joined = "".join(w.text for w in seg.words)
    whole = to_simplified(joined)
    if len(whole) == len(joined):  # split the converted text back along word boundaries
        words, pos = [], 0
        for w in seg.words:
            words.append(replace(w, text=whole[pos : pos + len(w.text)]))
            pos += len(w.text)
    else:
        words = [replace(w, text=to_simplified(w.text)) for w in seg.words]
    return replace(seg, text=converted, words=tuple(words))

