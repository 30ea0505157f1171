"""Streaming recognition of live calls: endpointing per channel, one shared Whisper model.

* :class:`Endpointer` — per channel, cuts the incoming 8 kHz audio into speech segments with an
  energy detector over 20 ms frames (adaptive noise floor + margin, an absolute floor): a
  segment ends after ``endpoint_silence_s`` of non-speech or is cut near ``max_segment_s`` at its
  quietest frame (long turns are transcribed every few seconds). It holds only the segment being spoken.
* :class:`RecognitionService` — one worker thread in front of the process's single
  :class:`~qa_pipeline.asr.Transcriber` (loaded once, shared by every call) for live segments,
  by priority (final segments before interim ones), oldest first; hang-up scoring runs on a
  thread of its own, so a call being scored never holds the live worker for its whole length.
* :func:`transcribe_segment` — a segment through the *same* transcriber call as the batch path
  (Silero VAD inside faster-whisper, hallucination guards, OpenCC, music filter, second pass)
  and the same utterance splitting, with timestamps shifted to the call's clock.
* :func:`transcribe_packed` — when several segments of one language wait (recognition is
  behind), they are packed into one window of at most :data:`PACK_MAX_S` seconds, 1.5 s of silence
  apart, and recognised in one model call: Whisper's encoder always runs on a 30 s window, so
  this costs about what one segment costs; each word goes back to the segment it came from.
  A segment the pack lost words of (:func:`pack_lost`) is recognised again alone, so being
  behind never costs a live alert its words.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import queue
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import soxr

from ..asr import AsrSegment, Transcriber, split_utterances
from ..audio import MODEL_SAMPLE_RATE
from ..config import LiveSettings
from ..records import Role, Utterance, Word

FRAME_S = 0.02
PRE_ROLL_S = 0.25
#: Longest packed window (seconds of audio incl. gaps) and the silence between packed segments.
PACK_MAX_S = 26.0
PACK_GAP_S = 1.5
#: How far (s) a packed word's timestamps may stray outside its segment and still belong to it.
PACK_SLACK_S = 0.4
#: A packed segment whose words cover less than this share of its duration lost words in the
#: pack (Whisper stops early or skips a part after a gap): it is recognised again alone. The
#: endpointer's segments are speech by construction; recognised alone, the sample calls' 80
#: segments have words over 38 % of their duration at the 1st percentile (71 % median).
PACK_MIN_COVERAGE = 0.3
T = TypeVar("T")


@dataclass(frozen=True)
class SpeechSegment:
    """A finished stretch of speech on one channel: call-clock seconds, 8 kHz int16 samples."""

    channel: int
    start_s: float
    end_s: float
    samples: np.ndarray
    #: False when the turn was cut at ``max_segment_s`` and goes on
    final: bool = True

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class Endpointer:
    """Energy endpointing of one channel (8 kHz int16 in, :class:`SpeechSegment` out).

    A long turn is cut once it reaches ``max_segment_s``, at its quietest 20 ms frame within the
    last ``cut_search_s`` seconds (the pause between two syllables or words, not the middle of
    one); the audio after the cut starts the next segment, so nothing is lost or repeated.
    """

    def __init__(self, channel: int, *, rate: int = 8000, margin_db: float = 12.0, floor_dbfs: float = -45.0,
                 silence_s: float = 0.6, max_segment_s: float = 5.0, cut_search_s: float = 1.5) -> None:
        self.channel = channel
        self.rate = rate
        self.margin_db = margin_db
        self.floor_dbfs = floor_dbfs
        self.silence_frames = max(1, round(silence_s / FRAME_S))
        self._frame = int(FRAME_S * rate)
        self.max_frames = max(2, round(max_segment_s / FRAME_S))
        self.search_frames = min(self.max_frames - 1, round(cut_search_s / FRAME_S))
        self._pending = np.zeros(0, dtype=np.int16)  # samples not yet a whole frame
        self._pre: list[tuple[np.ndarray, float]] = []  # pre-roll frames before speech starts, with their level
        self._frames: list[np.ndarray] = []  # the open segment's frames ...
        self._levels: list[float] = []  # ... and their level (dBFS)
        self._seg_start = 0  # sample index of the segment's first sample
        self._quiet = 0  # non-speech frames since the last speech frame
        self._noise = -60.0
        self.samples_in = 0  # samples consumed in whole frames
        #: call-clock second the channel last had speech (None: not yet)
        self.last_speech_s: float | None = None

    @property
    def in_speech(self) -> bool:
        return bool(self._frames)

    def feed(self, samples: np.ndarray) -> list[SpeechSegment]:
        """Consume ``samples`` (int16, any length); the segments that ended in them."""
        data = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        n = len(data) // self._frame * self._frame
        self._pending = data[n:].copy()
        out: list[SpeechSegment] = []
        for i in range(0, n, self._frame):
            seg = self._step(data[i : i + self._frame])
            if seg is not None:
                out.append(seg)
        return out

    def _segment(self, start_sample: int, samples: np.ndarray, final: bool) -> SpeechSegment:
        start = start_sample / self.rate
        return SpeechSegment(self.channel, round(start, 3), round(start + len(samples) / self.rate, 3), samples, final)

    @property
    def open_s(self) -> float:
        """Seconds of the segment being spoken (0 when none is open)."""
        return len(self._frames) * FRAME_S

    @property
    def open_start_s(self) -> float | None:
        """Call-clock second the open segment starts at (None when none is open)."""
        return self._seg_start / self.rate if self._frames else None

    def snapshot(self) -> SpeechSegment | None:
        """The segment being spoken so far, for an interim transcript (it stays open)."""
        if not self._frames:
            return None
        return self._segment(self._seg_start, np.concatenate(self._frames), final=False)

    def flush(self) -> list[SpeechSegment]:
        """The segment still open at the end of the stream."""
        if not self._frames:
            return []
        return [self._close(len(self._frames), final=True)]

    def _step(self, frame: np.ndarray) -> SpeechSegment | None:
        x = frame.astype(np.float32) / 32768.0
        db = float(10 * np.log10(np.mean(x * x) + 1e-10))
        # noise floor: follows quiet frames down at once, rises slowly (0.05 dB per frame)
        self._noise = db if db < self._noise else self._noise + 0.05
        speech = db > max(self._noise + self.margin_db, self.floor_dbfs)
        t_end = (self.samples_in + len(frame)) / self.rate
        self.samples_in += len(frame)
        if speech:
            self.last_speech_s = t_end
        if not self._frames:
            if speech:
                self._seg_start = self.samples_in - len(frame) * (len(self._pre) + 1)
                self._frames = [f for f, _ in self._pre] + [frame.copy()]
                self._levels = [lv for _, lv in self._pre] + [db]
                self._pre, self._quiet = [], 0
            else:
                self._pre = [*self._pre, (frame.copy(), db)][-max(1, round(PRE_ROLL_S / FRAME_S)):]
            return None
        self._frames.append(frame.copy())
        self._levels.append(db)
        self._quiet = 0 if speech else self._quiet + 1
        if self._quiet >= self.silence_frames:
            return self._close(len(self._frames), final=True)
        if len(self._frames) >= self.max_frames:
            tail = self._levels[len(self._levels) - self.search_frames :] if self.search_frames else []
            cut = len(self._frames) - len(tail) + int(np.argmin(tail)) + 1 if tail else len(self._frames)
            return self._close(cut, final=False)
        return None

    def _close(self, n_frames: int, *, final: bool) -> SpeechSegment:
        """The first ``n_frames`` frames of the open segment as a segment; the rest stays open."""
        samples = np.concatenate(self._frames[:n_frames])
        segment = self._segment(self._seg_start, samples, final)
        rest, rest_levels = self._frames[n_frames:], self._levels[n_frames:]
        self._frames, self._levels, self._pre, self._quiet = rest, rest_levels, [], 0
        self._seg_start += len(samples)
        return segment


class RecognitionService:
    """A priority queue of live model jobs with its worker thread(s), and a scoring thread.

    ``submit(fn, priority)`` and ``submit_segment(...)`` return a
    :class:`concurrent.futures.Future`; lower ``priority`` runs first (final segments 0, interim
    transcripts 1). Waiting segments of one language are recognised together
    (:func:`transcribe_packed`).

    Jobs at ``SCORING`` priority (a hung-up call through the whole pipeline, tens of CPU-seconds)
    run one at a time on their own thread, never on a live worker: the loaded model is shared
    (CTranslate2 queues the two threads' model calls, each one window's encode or decode), so a
    live segment waits for at most one of the scoring job's model calls instead of the whole call,
    and the recognition of the calls still streaming does not fall behind and drop segments
    (``live.max_backlog_s``) each time another call hangs up. ``close()`` stops the threads after
    their queued jobs.
    """

    LIVE = 0
    #: interim transcripts of a turn still being spoken: after every final segment
    INTERIM = 1
    SCORING = 2

    def __init__(self, recognise: Callable[[list["SegmentJob"]], list[list[Utterance]]] | None = None, *, workers: int = 1) -> None:
        """``recognise``: runs a pack of segment jobs (default :func:`transcribe_packed` in this
        process; :class:`qa_pipeline.live.remote.RayRecognition` on Ray actors); ``workers``:
        packs in flight at once (one per model: 1 in process, one per actor on Ray).

        Raises:
            ValueError: ``workers`` < 1.
        """
        if workers < 1:
            raise ValueError("a recognition service needs at least one worker")
        self._recognise = recognise or transcribe_packed
        self._jobs: queue.PriorityQueue[tuple[int, int, Any]] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._scoring: queue.Queue[Any] = queue.Queue()
        self._threads = [threading.Thread(target=self._run, name=f"qa-live-asr-{i}", daemon=True) for i in range(workers)]
        self._scorer = threading.Thread(target=self._run_scoring, name="qa-live-scoring", daemon=True)
        for thread in [*self._threads, self._scorer]:
            thread.start()
        #: seconds the live worker(s) spent on model jobs (hang-up scoring not included)
        self.busy_s = 0.0

    def submit(self, fn: Callable[[], T], priority: int = LIVE) -> cf.Future[T]:
        """Run ``fn`` on a live worker (``priority`` < ``SCORING``) or on the scoring thread."""
        future: cf.Future[T] = cf.Future()
        if priority >= self.SCORING:
            self._scoring.put((fn, future))
        else:
            self._jobs.put((priority, next(self._seq), (fn, future)))
        return future

    def submit_segment(self, transcriber: Transcriber, segment: SpeechSegment, *, rate: int, language: str, role: Role,
                       pause_split_s: float, priority: int = LIVE) -> cf.Future[list[Utterance]]:
        """A live segment of known language: packed with other waiting segments of that language
        (:func:`transcribe_packed`); the future gives its utterances (cancel it while it waits
        and it is skipped)."""
        future: cf.Future[list[Utterance]] = cf.Future()
        job = SegmentJob(transcriber, segment, rate, language, role, pause_split_s)
        self._jobs.put((priority, next(self._seq), (job, future)))
        return future

    @property
    def backlog(self) -> int:
        return self._jobs.qsize()

    def close(self) -> None:
        for _ in self._threads:
            self._jobs.put((99, next(self._seq), None))
        self._scoring.put(None)
        for thread in [*self._threads, self._scorer]:
            thread.join(timeout=60)
        close = getattr(self._recognise, "close", None)
        if close is not None:
            close()

    def _run(self) -> None:
        import time

        while True:
            _, _, job = self._jobs.get()
            if job is None:
                return
            fn, future = job
            t0 = time.perf_counter()
            if isinstance(fn, SegmentJob):
                self._run_segments([(fn, future), *self._more_segments(fn)])
            else:
                _run_job(fn, future)
            self.busy_s += time.perf_counter() - t0

    def _run_scoring(self) -> None:
        while True:
            job = self._scoring.get()
            if job is None:
                return
            _run_job(*job)

    def _more_segments(self, first: SegmentJob) -> list[tuple[SegmentJob, cf.Future[Any]]]:
        """Waiting segment jobs that fit in one window with ``first`` (same model and language)."""
        taken: list[tuple[SegmentJob, cf.Future[Any]]] = []
        others: list[tuple[int, int, Any]] = []
        total = first.segment.duration_s
        while True:
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                break
            job = item[2]
            if (job is not None and isinstance(job[0], SegmentJob) and job[0].language == first.language
                    and job[0].transcriber is first.transcriber and total + PACK_GAP_S + job[0].segment.duration_s <= PACK_MAX_S):
                taken.append(job)
                total += PACK_GAP_S + job[0].segment.duration_s
            else:
                others.append(item)
                if job is None or not isinstance(job[0], SegmentJob):
                    break  # keep the queue's order beyond the first non-segment job
        for item in others:
            self._jobs.put(item)
        return taken

    def _run_segments(self, jobs: list[tuple[SegmentJob, cf.Future[Any]]]) -> None:
        live = [(j, f) for j, f in jobs if f.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            results = self._recognise([j for j, _ in live])
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting coroutines
            for _, f in live:
                f.set_exception(exc)
            return
        for (_, f), utts in zip(live, results):
            f.set_result(utts)


def _run_job(fn: Callable[[], Any], future: cf.Future[Any]) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(fn())
    except BaseException as exc:  # noqa: BLE001 - handed to the waiting coroutine
        future.set_exception(exc)


#: Silence kept after a live segment's audio in Whisper's shortened encoder window (mel frames, 2 s).
LIVE_CONTEXT_MARGIN_FRAMES = 200


class LiveTranscriber(Transcriber):
    """The live transcriber: Whisper's encoder on each segment's own frames (fast), and ``full``,
    the same loaded model on the usual 30 s window, which re-decodes a segment the short window
    decoded into a loop (:func:`looped`; seen on 1-2 s English clips: "Account number Account
    Account ...")."""

    def __init__(self, model: Any, resolved: Any, settings: Any, *, full: Transcriber | None = None) -> None:
        super().__init__(model, resolved, settings)
        self.full = full


def live_transcriber(base: Transcriber, conf: LiveSettings) -> Transcriber:
    """``base``'s loaded model (the same object, not a copy) with the live decoding options
    (``live.beam_size``, ``live.second_pass``, temperature 0) and, with ``live.encoder_min_s``,
    Whisper's encoder on each segment's own frames (:mod:`qa_pipeline.asr.short_context`), the
    full window kept for segments that loop."""
    # live manages its own short window and loop re-decode (LiveTranscriber), so the batch
    # recogniser's (asr.encoder_min_s, asr.fallback_beam_size) are off here
    options = base.settings.model_copy(update={
        "beam_size": conf.beam_size, "second_pass": conf.second_pass, "temperature": 0.0,
        "encoder_min_s": None, "fallback_beam_size": None,
    })
    if conf.encoder_min_s is None:
        return Transcriber(base.model, base.resolved, options)
    from ..asr.short_context import ShortContextWhisper

    short = ShortContextWhisper.of(base.model, margin_frames=LIVE_CONTEXT_MARGIN_FRAMES, min_frames=round(conf.encoder_min_s * 100))
    return LiveTranscriber(short, base.resolved, options, full=Transcriber(base.model, base.resolved, options))


#: A live transcript is a decoding loop when its text compresses better than this (Whisper's own
#: ``compression_ratio_threshold``, Radford et al. 2022) ...
LOOP_COMPRESSION_RATIO = 2.4
#: ... or has more characters per second of audio than anyone speaks (fast Mandarin ~6, English ~15).
LOOP_CHARS_PER_S = 25.0


def looped(utterances: list[Utterance], seconds: float) -> bool:
    """True when ``utterances`` (one segment's) read like a decoding loop, not speech."""
    text = "".join(u.text for u in utterances)
    if not text:
        return False
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw)) > LOOP_COMPRESSION_RATIO or len(text) / max(seconds, 1.0) > LOOP_CHARS_PER_S


def to_model_rate(samples: np.ndarray, rate: int) -> np.ndarray:
    """int16 at ``rate`` -> float32 at 16 kHz (soxr HQ, as :func:`qa_pipeline.audio.load_audio`)."""
    x = samples.astype(np.float32) / 32768.0
    if rate == MODEL_SAMPLE_RATE:
        return x
    return soxr.resample(x, rate, MODEL_SAMPLE_RATE, quality="HQ").astype(np.float32, copy=False)


def transcribe_segment(transcriber: Transcriber, segment: SpeechSegment, *, rate: int, language: str, role: Role,
                       pause_split_s: float) -> list[Utterance]:
    """Utterances of one segment (ids empty; times on the call's clock, seconds).

    Raises:
        ValueError: ``language`` is not supported (zh, en).
    """
    audio = to_model_rate(segment.samples, rate)
    segments, _info = transcriber(audio, language=language, offset_s=segment.start_s)
    utts = split_utterances(list(segments), role=role, channel=segment.channel, pause_split_s=pause_split_s)
    full = transcriber.full if isinstance(transcriber, LiveTranscriber) else None
    if full is not None and looped(utts, segment.duration_s):
        return transcribe_segment(full, segment, rate=rate, language=language, role=role, pause_split_s=pause_split_s)
    return utts


@dataclass(frozen=True)
class SegmentJob:
    """One live segment waiting for recognition."""

    transcriber: Transcriber
    segment: SpeechSegment
    rate: int
    language: str
    role: Role
    pause_split_s: float


def transcribe_packed(jobs: list[SegmentJob]) -> list[list[Utterance]]:
    """Utterances of each job's segment, recognised together in one window (one job: alone).

    Raises:
        ValueError: the jobs' language is not supported (zh, en).
    """
    if len(jobs) == 1:
        j = jobs[0]
        return [transcribe_segment(j.transcriber, j.segment, rate=j.rate, language=j.language, role=j.role,
                                   pause_split_s=j.pause_split_s)]
    gap = np.zeros(int(PACK_GAP_S * MODEL_SAMPLE_RATE), dtype=np.float32)
    pieces: list[np.ndarray] = []
    spans: list[tuple[float, float, float]] = []
    at = 0.0
    for j in jobs:
        audio = to_model_rate(j.segment.samples, j.rate)
        # packed time + shift = call time
        spans.append((at, at + len(audio) / MODEL_SAMPLE_RATE, j.segment.start_s - at))
        pieces += [audio, gap]
        at += (len(audio) + len(gap)) / MODEL_SAMPLE_RATE
    segments, _info = jobs[0].transcriber(np.concatenate(pieces[:-1]), language=jobs[0].language)
    words: list[list[Word]] = [[] for _ in jobs]
    for seg in segments:
        for w in seg.words:
            # a word belongs to the segment it lies in (a little slack); one in a gap is dropped,
            # never given to a neighbour (which may be another call or the other party)
            inside = [k for k, (a, b, _) in enumerate(spans) if w.start >= a - PACK_SLACK_S and w.end <= b + PACK_SLACK_S]
            if len(inside) != 1:
                continue
            i = inside[0]
            a, b, shift = spans[i]
            words[i].append(Word(start=round(max(a, w.start) + shift, 3), end=round(min(b, w.end) + shift, 3),
                                 text=w.text, probability=w.probability))
    out = []
    for j, ws in zip(jobs, words):
        if pack_lost(ws, j.segment.duration_s):
            out.append(transcribe_segment(j.transcriber, j.segment, rate=j.rate, language=j.language, role=j.role,
                                          pause_split_s=j.pause_split_s))
            continue
        parts = [AsrSegment(start=ws[0].start, end=ws[-1].end, text="".join(w.text for w in ws).strip(), words=tuple(ws),
                            avg_logprob=0.0, no_speech_prob=0.0)]
        utts = split_utterances(parts, role=j.role, channel=j.segment.channel, pause_split_s=j.pause_split_s)
        if isinstance(j.transcriber, LiveTranscriber) and j.transcriber.full is not None and looped(utts, j.segment.duration_s):
            utts = transcribe_segment(j.transcriber.full, j.segment, rate=j.rate, language=j.language, role=j.role,
                                      pause_split_s=j.pause_split_s)
        out.append(utts)
    return out


def pack_lost(words: list[Word], seconds: float) -> bool:
    """True when a packed segment's ``words`` (call-clock seconds) show the pack lost or repeated
    part of its ``seconds`` of speech: words over less than :data:`PACK_MIN_COVERAGE` of it
    (none at all included), or a word starting before the previous one ended (Whisper decoded a
    stretch twice)."""
    covered = sum(w.end - w.start for w in words)
    overlapping = any(b.start < a.end - 1e-3 for a, b in zip(words, words[1:]))
    return covered < PACK_MIN_COVERAGE * seconds or overlapping


def detect_language(transcriber: Transcriber, segment: SpeechSegment, *, rate: int) -> str:
    """zh or en for a call whose metadata names no language (Whisper's language id on a segment)."""
    language, _p = transcriber.detect_language([to_model_rate(segment.samples, rate)])
    return language
