"""One live call from its first audio frame to its scored recording.

:class:`LiveRuntime` holds what every call of a server process shares (settings, the loaded
pipeline and its single Whisper model, the recognition worker, the databases, the alert
sinks). :class:`LiveCall` is one stream: it writes every frame to a spool WAV as it arrives
(audio is never dropped; a crash leaves a readable WAV whose header
:func:`~qa_pipeline.audio.load_audio` repairs), cuts each channel into speech segments,
sends them to recognition, judges the live rules on the transcript so far, and at hang-up moves
the recording with its sidecar metadata to the recording store and scores it with the ordinary
pipeline, so it appears in the review queue with its live alerts.

Buffered audio per call is bounded: the endpointer holds at most one segment per channel,
and when more than ``live.max_backlog_s`` seconds of speech wait for recognition, new segments
are skipped for live recognition (``lag_s`` shows it; the recording keeps them and the result
at hang-up covers them).
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from pydantic import ValidationError

from ..asr import AsrSegment, merge_channels, split_utterances
from ..config import Settings
from ..errors import QAError
from ..metadata import MetadataFields
from ..records import CallMetadata, Role, Transcript, Utterance
from ..store import ResultStore
from .judge import Alert, LiveJudge
from .protocol import CallInfo, ProtocolError, decode_frame
from .recognizer import (
    Endpointer,
    RecognitionService,
    SpeechSegment,
    detect_language,
    live_transcriber,
    transcribe_segment,
)
from .store import LiveStore

log = logging.getLogger(__name__)
_META_KEYS = ("agent_id", "agent_name", "team", "queue", "direction")


@dataclass
class LiveRuntime:
    """Everything the calls of one server process share. ``pipeline`` is a
    :class:`~qa_pipeline.pipeline.CallPipeline` (its transcriber is loaded once and shared by live
    segments and hang-up scoring)."""

    settings: Settings
    pipeline: Any
    results: ResultStore
    #: the model worker(s) for live segments (by default one thread on this process's model, or
    #: ``live.ray_actors`` Ray actors, :mod:`.remote`) and a thread of its own for hang-up scoring
    recognition: RecognitionService = field(init=False)
    #: called with each new alert and its latency (s), e.g. the webhook sender
    alert_sinks: list[Callable[[Alert, float], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.live = LiveStore(self.results)
        actors = self.settings.live.ray_actors
        if actors:
            from .remote import RayRecognition

            self.recognition = RecognitionService(RayRecognition(self.settings, actors), workers=actors)
        else:
            self.recognition = RecognitionService()
        self._transcriber: Any = None
        self._mood: Any = None

    @property
    def mood_analyzer(self) -> Any:
        """The batch sentiment analyser with the packaged n-gram heads (no embeddings: ~6x cheaper),
        for the Live page's customer mood; loaded on first use."""
        if self._mood is None:
            from ..sentiment import CallSentimentAnalyzer
            from ..sentiment.model import default_model

            self._mood = CallSentimentAnalyzer(default_model(use_embeddings=False))
        return self._mood

    @property
    def transcriber(self) -> Any:
        """The pipeline's loaded Whisper model with the live decoding options
        (:func:`~qa_pipeline.live.recognizer.live_transcriber`): the same model object, not a second copy."""
        if self._transcriber is None:
            base = self.pipeline.transcriber
            if base is None:
                raise ValueError("live recognition needs a pipeline with its models loaded (CallPipeline.from_pretrained)")
            self._transcriber = live_transcriber(base, self.settings.live)
        return self._transcriber

    @property
    def spool_dir(self) -> Path:
        path = self.settings.data_dir / "live" / "spool"
        path.mkdir(parents=True, exist_ok=True)
        return path


class LiveCall:
    """One call's stream (create after ``open``/the fork header; feed frames; ``close``)."""

    def __init__(self, info: CallInfo, runtime: LiveRuntime) -> None:
        """Raises:
            ProtocolError: the call metadata is invalid (bad agent id, team with line breaks, ...).
        """
        self.info, self.rt = info, runtime
        conf = runtime.settings.live
        self.meta = _metadata(info)
        lang = self.meta.get("language") or runtime.settings.default_language
        self.language: str | None = None if lang == "auto" else lang
        self.metadata = CallMetadata(
            call_id=info.call_id, agent_id=self.meta.get("agent_id"), agent_name=self.meta.get("agent_name"),
            team=self.meta.get("team"), queue=self.meta.get("queue"), direction=self.meta.get("direction") or "inbound",
            language=self.language, agent_channel=info.media.agent_channel, source="live",
        )
        self.judge: LiveJudge | None = None
        self.endpointers = [
            Endpointer(c, rate=info.media.rate, margin_db=conf.vad_margin_db, floor_dbfs=conf.vad_floor_dbfs,
                       silence_s=conf.endpoint_silence_s, max_segment_s=conf.max_segment_s, cut_search_s=conf.cut_search_s)
            for c in range(len(info.media.channels))
        ]
        self.utterances: list[Utterance] = []
        #: each channel's final transcript pieces (words), regrouped into utterances as they grow
        self._finals: dict[int, list[AsrSegment]] = {}
        #: interim transcripts of the turns still being spoken, per channel: (segment start s, utterances)
        self.partials: dict[int, tuple[float, list[Utterance]]] = {}
        #: per channel: (open segment start s, its length when last sent for an interim, the job)
        self._interim: dict[int, tuple[float, float, cf.Future[Any]]] = {}
        self.pending: set[asyncio.Future[Any]] = set()
        self._pending_start: dict[asyncio.Future[Any], float] = {}
        self.pending_s = 0.0
        self.skipped_s = 0.0
        self.samples = 0
        self.paused_at: float | None = None
        self.hold_s = 0.0
        self.gaps: list[tuple[float, float]] = []
        self.alerts: list[tuple[Alert, float]] = []
        #: the customer's current mood, [-1, 1] (None until known)
        self.mood: float | None = None
        #: seconds from the end of each recognised segment to its transcript (call clock)
        self.asr_latency: list[float] = []
        self.closed = False
        self.spool = runtime.spool_dir / f"{info.call_id}.wav"
        sidecar = {**self.meta, "agent_channel": info.media.agent_channel, "start_time": datetime.now(UTC).isoformat()}
        self.spool.with_suffix(".json").write_text(json.dumps(_clean(sidecar), ensure_ascii=False), encoding="utf-8")
        subtype = "ULAW" if info.media.format == "PCMU" else "PCM_16"
        self._wav = sf.SoundFile(self.spool, "w", samplerate=info.media.rate, channels=len(info.media.channels), format="WAV", subtype=subtype)
        runtime.live.open_call(info.call_id, session_id=info.session_id, protocol=info.protocol, meta=self.meta)
        log.info("live: call %s started (%s, %s %d ch; agent %s, team %s, queue %s)", info.call_id, info.protocol,
                 info.media.format, len(info.media.channels), self.meta.get("agent_id", "?"), self.meta.get("team", "?"),
                 self.meta.get("queue", "?"))

    # ------------------------------------------------------------------ audio in
    @property
    def position_s(self) -> float:
        """Seconds of audio received (the call's clock)."""
        return self.samples / self.info.media.rate

    def feed(self, data: bytes) -> None:
        """One binary frame: recorded, then endpointed per channel.

        Raises:
            ProtocolError: the frame is not whole samples.
        """
        frame = decode_frame(data, self.info.media)
        self._append(frame)

    def discarded(self, start_s: float, seconds: float) -> None:
        """Audio the client lost: silence of that length keeps the call's clock right."""
        self.gaps.append((round(start_s, 3), round(seconds, 3)))
        n = int(seconds * self.info.media.rate)
        if n > 0:
            self._append(np.zeros((n, len(self.info.media.channels)), dtype=np.int16))

    def _append(self, frame: np.ndarray) -> None:
        self._wav.write(frame)
        self.samples += len(frame)
        for ep in self.endpointers:
            for seg in ep.feed(np.ascontiguousarray(frame[:, ep.channel])):
                self._recognise(seg)
            self._maybe_interim(ep)

    def _maybe_interim(self, ep: Endpointer) -> None:
        """Every ``live.interim_s`` of a turn still being spoken, its audio so far is recognised
        (behind every final segment, and only while recognition keeps up), so a phrase said early
        in a long turn is judged without waiting for the turn to end."""
        step = self.rt.settings.live.interim_s
        start = ep.open_start_s
        if not step or start is None or self.language is None or ep.open_s < step:
            return
        last = self._interim.get(ep.channel)
        if last is not None and last[0] == start and ep.open_s - last[1] < step:
            return
        if self.rt.recognition.backlog > 1:
            return  # behind: final segments first, no interim work
        seg = ep.snapshot()
        if seg is None:
            return
        if last is not None:
            last[2].cancel()
        submitted = self.rt.recognition.submit_segment(
            self.rt.transcriber, seg, rate=self.info.media.rate, language=self.language, role=self._role(seg.channel),
            pause_split_s=self.rt.settings.asr.pause_split_s, priority=RecognitionService.INTERIM)
        self._interim[ep.channel] = (start, ep.open_s, submitted)
        future = asyncio.wrap_future(submitted, loop=asyncio.get_running_loop())
        future.add_done_callback(lambda f: self._interim_done(f, seg))

    def _interim_done(self, future: asyncio.Future[Any], seg: SpeechSegment) -> None:
        if future.cancelled() or future.exception() is not None or self.closed:
            return
        open_start = self.endpointers[seg.channel].open_start_s
        if open_start is None or open_start > seg.start_s:
            return  # the turn's final segment is already on its way
        self.partials[seg.channel] = (seg.start_s, future.result())
        self.evaluate()

    def pause(self) -> None:
        if self.paused_at is None:
            self.paused_at = time.monotonic()

    def resume(self) -> None:
        if self.paused_at is not None:
            self.hold_s += time.monotonic() - self.paused_at
            self.paused_at = None

    # ------------------------------------------------------------------ recognition
    def _role(self, channel: int) -> Role:
        if len(self.info.media.channels) == 1:
            return Role.UNKNOWN
        return Role.AGENT if self.info.media.channels[channel] == "agent" else Role.CUSTOMER

    def _recognise(self, seg: SpeechSegment) -> None:
        pending = self._interim.pop(seg.channel, None)
        if pending is not None:
            pending[2].cancel()  # a final segment replaces any interim still waiting
        if self.pending_s + seg.duration_s > self.rt.settings.live.max_backlog_s:
            self.skipped_s += seg.duration_s  # recognition is behind: the recording keeps it
            return
        self.pending_s += seg.duration_s
        loop = asyncio.get_running_loop()
        if self.language is None:  # language id first (auto), then this segment alone
            submitted = self.rt.recognition.submit(lambda: self._transcribe(seg))
        else:
            submitted = self.rt.recognition.submit_segment(
                self.rt.transcriber, seg, rate=self.info.media.rate, language=self.language, role=self._role(seg.channel),
                pause_split_s=self.rt.settings.asr.pause_split_s)
        future = asyncio.wrap_future(submitted, loop=loop)
        self.pending.add(future)
        self._pending_start[future] = seg.start_s
        future.add_done_callback(lambda f: self._recognised(f, seg))

    def _transcribe(self, seg: SpeechSegment) -> list[Utterance]:
        """In the recognition worker: language (first time, when unknown), then the segment."""
        if self.language is None:
            self.language = detect_language(self.rt.transcriber, seg, rate=self.info.media.rate)
        return transcribe_segment(self.rt.transcriber, seg, rate=self.info.media.rate, language=self.language,
                                  role=self._role(seg.channel), pause_split_s=self.rt.settings.asr.pause_split_s)

    def _mood(self, recent: list[Utterance]) -> float | None:
        """The customer's mood over their last three utterances: the sentiment analyser's per-turn
        mood ([-1, 1], n-gram heads), averaged over informative turns; the previous value otherwise."""
        tail = recent[-3:]
        part = merge_channels([tail], language=self.language or "zh", duration_s=tail[-1].end)
        moods = [u.mood for u in self.rt.mood_analyzer(part).utterances if u.informative]
        return round(sum(moods) / len(moods), 3) if moods else self.mood

    def _recognised(self, future: asyncio.Future[Any], seg: SpeechSegment) -> None:
        self.pending.discard(future)
        self._pending_start.pop(future, None)
        self.pending_s = max(0.0, self.pending_s - seg.duration_s)
        if future.cancelled():
            return
        if future.exception() is not None:
            log.error("live recognition failed for %s: %s", self.info.call_id, future.exception())
            return
        utts = future.result()
        self.asr_latency.append(round(self.position_s - seg.end_s, 3))
        if any(u.role is Role.CUSTOMER for u in utts) and self.rt.settings.sentiment.enabled:
            try:
                self.mood = self._mood([u for u in self.utterances if u.role is Role.CUSTOMER][-2:]
                                       + [u for u in utts if u.role is Role.CUSTOMER])
            except Exception as exc:  # noqa: BLE001 - the mood is a display; the call goes on
                log.warning("live mood failed for %s: %s", self.info.call_id, exc)
        partial = self.partials.get(seg.channel)
        if partial is not None and partial[0] < seg.end_s:
            del self.partials[seg.channel]  # the final transcript of that audio replaces the interim one
        if utts:
            self._add_final(seg.channel, utts)
        self.evaluate()
        self.rt.live.update_call(self.info.call_id, utterances=self._rolling(), position_s=self.position_s,
                                 lag_s=self.lag_s, language=self.language, mood=self.mood)

    def _add_final(self, channel: int, utts: list[Utterance]) -> None:
        """Final utterances of one segment: the channel's words are grouped into utterances again
        as the batch path groups them (a new utterance at each pause of ``asr.pause_split_s``), so
        a greeting said across two endpointed segments is one utterance, as it is after the call."""
        pieces = self._finals.setdefault(channel, [])
        pieces += [AsrSegment(start=u.start, end=u.end, text=u.text, words=u.words, avg_logprob=0.0, no_speech_prob=0.0) for u in utts]
        pieces.sort(key=lambda p: p.start)
        regrouped = split_utterances(pieces, role=utts[0].role, channel=channel, pause_split_s=self.rt.settings.asr.pause_split_s)
        others = [u for u in self.utterances if u.channel != channel]
        self.utterances = sorted([*others, *regrouped], key=lambda u: (u.start, u.channel))

    @property
    def settled_s(self) -> float:
        """Call-clock second up to which every segment has its final transcript (or was skipped)."""
        starts = [*self._pending_start.values(), *(s for e in self.endpointers if (s := e.open_start_s) is not None)]
        return round(min([*starts, self.position_s]), 3)

    @property
    def lag_s(self) -> float:
        """Seconds of speech waiting for (or skipped by) recognition."""
        return round(self.pending_s + self.skipped_s, 1)

    def transcript(self) -> Transcript:
        """The call so far: final utterances and the interim ones of turns still going on."""
        utts = self.utterances
        if self.partials:
            utts = sorted([*utts, *(u for _, part in self.partials.values() for u in part)], key=lambda u: (u.start, u.channel))
        return merge_channels([utts], language=self.language or "zh", duration_s=round(self.position_s, 3))

    def _rolling(self) -> list[dict[str, Any]]:
        return [{"role": u.role.value, "start": u.start, "end": u.end, "text": u.text} for u in self.utterances[-200:]]

    # ------------------------------------------------------------------ rules
    def _judge(self) -> LiveJudge | None:
        if self.judge is None and self.language is not None:
            mood = self.rt.mood_analyzer if self.rt.settings.sentiment.enabled else None
            self.judge = LiveJudge(self.rt.pipeline.scorer(self.language, self.metadata.queue), self.metadata, sentiment=mood)
        return self.judge

    def evaluate(self, *, tick: bool = False) -> list[Alert]:
        """Judge the live rules now (after new utterances, or on a timer ``tick`` for silences)."""
        judge = self._judge()
        if judge is None or not judge.has_rules:
            return []
        ongoing = None
        threshold = judge.min_silence_s
        if threshold is not None and not self.pending and self.paused_at is None and not any(e.in_speech for e in self.endpointers):
            heard = [e.last_speech_s for e in self.endpointers if e.last_speech_s is not None]
            if heard and self.position_s - max(heard) >= threshold:
                ongoing = (max(max(heard), max((u.end for u in self.utterances), default=0.0)), self.position_s)
        if tick and ongoing is None:
            return []
        alerts = judge.judge(self.transcript(), ongoing_silence=ongoing, settled_s=self.settled_s)
        for alert in alerts:
            latency = max(0.0, self.position_s - alert.at_s)
            self.alerts.append((alert, latency))
            self.rt.live.add_alert(alert, latency_s=latency)
            # no quote: server logs keep no transcript text (the Live page and the database have it)
            log.info("live: alert on %s: %s (%s, severity %d) at %.1f s, %.1f s after it was said",
                     alert.call_id, alert.rule_id, alert.kind, alert.severity, alert.at_s, latency)
            for sink in self.rt.alert_sinks:
                try:
                    sink(alert, latency)
                except Exception as exc:  # noqa: BLE001 - a sink must not stop the call
                    log.warning("alert sink failed for %s: %s", alert.call_id, exc)
        return alerts

    # ------------------------------------------------------------------ hang-up
    async def close(self, reason: str) -> None:
        """End of the stream (``reason``: end, disconnect, error, ...): the open segments are
        recognised, the recording is stored and scored. Never raises on scoring failures (they
        are recorded as the call's failure)."""
        if self.closed:
            return
        self.closed = True
        self.resume()
        for _, _, job in self._interim.values():
            job.cancel()
        self._interim.clear()
        self.partials.clear()
        for ep in self.endpointers:
            for seg in ep.flush():
                self._recognise(seg)
        if self.pending:
            await asyncio.wait(set(self.pending))
        self._wav.close()  # the recording first: nothing below may lose it
        try:
            self.evaluate()
        except Exception as exc:  # noqa: BLE001 - rules failing must not lose the call
            log.error("live rules failed at hang-up of %s: %s", self.info.call_id, exc)
        incomplete = reason != "end" or bool(self.gaps)
        self.rt.live.update_call(self.info.call_id, state="scoring", ended_at=datetime.now(UTC), close_reason=reason,
                                 position_s=self.position_s, hold_s=round(self.hold_s, 2), lag_s=self.lag_s, utterances=self._rolling())
        log.info("live: call %s ended (%s) after %.1f s with %d alert(s)", self.info.call_id, reason, self.position_s, len(self.alerts))
        extra = {"live_hold_s": f"{self.hold_s:.1f}", "live_alerts": str(len(self.alerts))}
        if incomplete:
            extra["live_incomplete"] = reason if not self.gaps else f"{reason}; discarded {sum(g[1] for g in self.gaps):.1f} s"
        if not self.rt.settings.live.score_at_hangup:
            self.rt.live.update_call(self.info.call_id, state="ended", recording_uri=str(self.spool))
            return
        future = self.rt.recognition.submit(lambda: finish_recording(self.rt, self.spool, extra), RecognitionService.SCORING)
        try:
            uri, state = await asyncio.wrap_future(future)
        except Exception as exc:  # noqa: BLE001 - the stream is over; the row says what happened
            log.error("storing/scoring live call %s failed: %s", self.info.call_id, exc)
            uri, state = None, "failed"
        self.rt.live.update_call(self.info.call_id, state=state, recording_uri=uri)
        log.info("live: call %s stored at %s: %s", self.info.call_id, uri, state)


def finish_recording(rt: LiveRuntime, spool: Path, extra: dict[str, str]) -> tuple[str, str]:
    """Move a spooled call (WAV + sidecar JSON) to the recording store and score it with the
    ordinary pipeline (database, ``<results_dir>/<call_id>.json``): (recording URI, state).

    Also used at start-up for spool files a crashed server left behind.
    """
    from ..batch import ResultSink, score_sources, source_for_file

    sidecar = json.loads(spool.with_suffix(".json").read_text(encoding="utf-8"))
    sidecar.setdefault("custom", {}).update(extra)
    settings = rt.settings
    day = (sidecar.get("start_time") or datetime.now(UTC).isoformat())[:10]
    target = settings.live.recordings or str(settings.data_dir / "live" / "recordings")
    sink = ResultSink(rt.results, settings.resolved_results_dir, timezone=settings.timezone)
    if target.startswith("s3://"):
        from ..storage import RecordingRef, open_store

        store = open_store(target, settings)
        key = f"{store.prefix.rstrip('/') + '/' if store.prefix else ''}{day}/{spool.name}"  # type: ignore[attr-defined]
        body = spool.read_bytes()
        meta = json.dumps(sidecar, ensure_ascii=False).encode("utf-8")
        store.put_recording(key, body, meta)  # type: ignore[attr-defined]
        fetched = store.fetch(RecordingRef(uri=store.object_uri(key), key=key))  # type: ignore[attr-defined]
        outcomes = list(score_sources([fetched], rt.pipeline, rt.results, results_dir=settings.resolved_results_dir, sink=sink))
        uri = store.object_uri(key)  # type: ignore[attr-defined]
        spool.unlink()
        spool.with_suffix(".json").unlink()
    else:
        folder = Path(target) / day
        folder.mkdir(parents=True, exist_ok=True)
        wav = folder / spool.name
        (folder / f"{spool.stem}.json").write_text(json.dumps(sidecar, ensure_ascii=False, indent=1), encoding="utf-8")
        shutil.move(str(spool), wav)
        spool.with_suffix(".json").unlink()
        outcomes = list(score_sources([source_for_file(wav, settings)], rt.pipeline, rt.results,
                                      results_dir=settings.resolved_results_dir, sink=sink))
        uri = str(wav)
    state = "scored" if outcomes and outcomes[0].status in ("scored", "skipped") else "failed"
    if state == "failed" and outcomes:
        log.error("live call %s not scored: %s", spool.stem, outcomes[0].error)
    return uri, state


def recover_spool(rt: LiveRuntime) -> list[str]:
    """Store and score the calls a crashed server left in the spool (headers never finalised):
    the call ids recovered. Each is marked incomplete (``custom.live_incomplete``)."""
    done = []
    for wav in sorted(rt.spool_dir.glob("*.wav")):
        if not wav.with_suffix(".json").is_file():
            continue
        try:
            uri, state = finish_recording(rt, wav, {"live_incomplete": "server restart"})
        except (QAError, OSError, ValueError) as exc:
            log.error("cannot recover spooled call %s: %s", wav.name, exc)
            continue
        rt.live.update_call(wav.stem, state=state, recording_uri=uri, close_reason="server restart")
        done.append(wav.stem)
    return done


def _metadata(info: CallInfo) -> dict[str, Any]:
    """Validated sidecar fields of a stream (known keys; the rest as ``custom`` strings).

    Raises:
        ProtocolError: a field is invalid (the validation message names it).
    """
    fields = dict(info.fields)
    meta: dict[str, Any] = {"call_id": info.call_id, "language": info.language}
    for key in _META_KEYS:
        if fields.get(key) not in (None, ""):
            meta[key] = str(fields.pop(key))
    meta["custom"] = {str(k)[:64]: str(v) for k, v in fields.items()}
    try:
        MetadataFields.model_validate(_clean(meta))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ProtocolError(f"invalid call metadata: {problems}") from None
    return _clean(meta)


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, "")}
