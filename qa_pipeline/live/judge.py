"""Rules while the call is on: the rubric's ``live`` items and flags, judged by the batch engine.

There is no second rule engine: :class:`LiveJudge` builds the same
:class:`~qa_pipeline.scoring.CallContext` the batch scorer builds (metrics from
:func:`~qa_pipeline.scoring.compute_metrics`) over the transcript so far, and asks the rubric's
:class:`~qa_pipeline.scoring.Scorer` to evaluate the items and flag rules marked ``live: true``
(the schema only lets checks that cannot un-fail be marked: forbidden phrases, repetitions,
growing metrics, unannounced silences; match flags such as complaint intent). A silence that is
still going on is added to the metrics as a silence ending *now*, so dead air is alerted while
it lasts, not when somebody finally speaks.

An alert is raised once per rule and moment: a later judgement that finds the same evidence
(starting or ending within :data:`SAME_MOMENT_S` of it) does not raise it again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from ..pipeline import sentiment_values
from ..records import CallMetadata, CallSentiment, Evidence, Outcome, Role, Silence, Transcript
from ..scoring import CallContext, Scorer, compute_metrics
from ..scoring.rubric import HoldCheck, Item, MatchCheck, PhraseCheck

#: Two alerts of one rule whose moments are closer than this (seconds) are the same alert.
SAME_MOMENT_S = 2.0


@dataclass(frozen=True)
class Alert:
    """One live alert. ``at_s``: the moment in the call it is about (end of the phrase; the
    point a silence became too long), seconds; ``severity`` 1 (highest) .. 5."""

    call_id: str
    rule_id: str
    kind: str  # item | flag
    severity: int
    reason: str
    quote: str
    at_s: float
    agent_id: str | None
    evidence: tuple[Evidence, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "call_id": self.call_id, "rule_id": self.rule_id, "kind": self.kind, "severity": self.severity,
            "reason": self.reason, "quote": self.quote, "at_s": self.at_s, "agent_id": self.agent_id,
            "evidence": [{"start": e.start, "end": e.end, "quote": e.quote} for e in self.evidence],
        }


@dataclass
class LiveJudge:
    """Judges one call's live rules; call :meth:`judge` whenever the transcript grows or time passes."""

    scorer: Scorer
    metadata: CallMetadata
    #: the call's sentiment so far, for live sentiment (streak) flags; None: those flags stay silent
    sentiment: Callable[[Transcript], CallSentiment] | None = None
    _raised: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    _sentiment_cache: tuple[tuple[object, ...], dict[str, float]] | None = None

    @property
    def has_rules(self) -> bool:
        return any(i.live for i in self.scorer.rubric.items) or any(f.live for f in self.scorer.rubric.flags)

    @property
    def min_silence_s(self) -> float | None:
        """The shortest silence a live hold check alerts on (None: no live hold check)."""
        holds = [i.check.min_silence_s for i in self.scorer.rubric.items if i.live and isinstance(i.check, HoldCheck)]
        return min(holds) if holds else None

    def judge(self, transcript: Transcript, *, ongoing_silence: tuple[float, float] | None = None,
              settled_s: float | None = None) -> list[Alert]:
        """New alerts on the call so far.

        ``transcript``: utterances recognised so far, ``duration_s`` = audio received (s).
        ``ongoing_silence``: (start, now) seconds of a silence nobody has ended yet, when no
        speech is waiting for recognition. ``settled_s``: the call-clock second up to which
        every segment has its final transcript; an ``expect: present`` item within
        ``scope.first_s`` is judged only once ``settled_s`` has passed ``first_s``.
        """
        metrics = compute_metrics(transcript)
        if settled_s is not None:
            # a gap between utterances is a silence only once the audio inside it is recognised:
            # with several segments in flight a later one can come back before an earlier one
            metrics = replace(metrics, silences=tuple(x for x in metrics.silences if x.end <= settled_s))
        if ongoing_silence is not None:
            last = max(transcript.utterances, key=lambda u: u.end, default=None)
            after = last.role if last is not None else None
            start, now = ongoing_silence
            metrics = replace(metrics, silences=(*metrics.silences, Silence(start=round(start, 3), end=round(now, 3), after_role=after)))
        ctx = CallContext(transcript=transcript, metrics=metrics, metadata=self.metadata, sentiment=self._sentiment_values(transcript))
        alerts: list[Alert] = []
        for item in self.scorer.rubric.items:
            if not item.live:
                continue
            window = _presence_window(item)
            if window is not None and (settled_s is None or settled_s < window):
                continue  # "said within the first N s": not known until those seconds are recognised
            outcome = self.scorer.evaluate(item, ctx)
            if outcome.outcome is not Outcome.FAIL:
                continue
            fatal = item.fatal
            if fatal and outcome.hits:  # the batch scorer's own confirmation before a call is zeroed
                outcome, fatal, _review = self.scorer.confirm_fatal(outcome, ctx, item.review)
                if outcome.outcome is not Outcome.FAIL:
                    continue
            severity = 1 if fatal else 2 if item.review or item.compliance or item.fatal else 3
            if window is not None:
                alerts += self._new(item.id, "item", severity, f"{item.name}: {outcome.reason}", window, ())
                continue
            for moment, ev in self._moments(item.check, outcome.evidence):
                alerts += self._new(item.id, "item", severity, f"{item.name}: {outcome.reason}", moment, ev)
        for rule in self.scorer.rubric.flags:
            if not rule.live:
                continue
            flag = self.scorer.rule_flag(rule, ctx)
            if flag is None:
                continue
            if not flag.evidence:  # a sentiment streak: once per call, at the customer's latest turn
                if rule.id not in self._raised:
                    alerts += self._streak(rule.id, rule.priority, flag.reason, transcript)
                continue
            for found in flag.evidence:
                alerts += self._new(rule.id, "flag", rule.priority, flag.reason, found.end, (found,))
        return alerts

    def _sentiment_values(self, transcript: Transcript) -> dict[str, float]:
        """The sentiment numbers live flags read, recomputed only when the utterances changed (a
        silence tick or a repeated judgement of the same transcript reuses them)."""
        if self.sentiment is None or not any(f.live and f.sentiment is not None for f in self.scorer.rubric.flags):
            return {}
        key = tuple((u.role, u.start, u.end, u.text) for u in transcript.utterances)
        if self._sentiment_cache is None or self._sentiment_cache[0] != key:
            self._sentiment_cache = (key, sentiment_values(self.sentiment(transcript)))
        return self._sentiment_cache[1]

    def _streak(self, rule_id: str, priority: int, reason: str, transcript: Transcript) -> list[Alert]:
        last = max((u for u in transcript.utterances if u.role is Role.CUSTOMER), key=lambda u: u.end, default=None)
        if last is None:
            return []
        ev = Evidence(start=last.start, end=last.end, quote=last.text, utterance_id=last.id)
        return self._new(rule_id, "flag", priority, reason, last.end, (ev,))

    def _moments(self, check: object, evidence: Sequence[Evidence]) -> list[tuple[float, tuple[Evidence, ...]]]:
        if isinstance(check, HoldCheck):
            # hold evidence: the silence (no utterance id) first, then any announcement quotes
            return [(e.start + check.min_silence_s, (e,)) for e in evidence if e.utterance_id is None]
        return [(e.end, (e,)) for e in evidence]

    def _new(self, rule_id: str, kind: str, severity: int, reason: str, moment: float, evidence: tuple[Evidence, ...]) -> list[Alert]:
        anchor = evidence[0].start if evidence else moment
        seen = self._raised.setdefault(rule_id, [])
        # the same evidence seen again, maybe in an utterance that grew or was regrouped since
        # (interim -> final transcript): same start or same moment
        if any(abs(anchor - a) < SAME_MOMENT_S or abs(moment - m) < SAME_MOMENT_S for a, m in seen):
            return []
        seen.append((anchor, moment))
        quote = evidence[0].quote if evidence else ""
        return [Alert(self.metadata.call_id, rule_id, kind, severity, reason, quote, round(moment, 2), self.metadata.agent_id, evidence)]



def _presence_window(item: Item) -> float | None:
    """``scope.first_s`` of an item that requires something said in it (None for other items)."""
    check = item.check
    if isinstance(check, (PhraseCheck, MatchCheck)) and check.expect != "absent":
        return item.scope.first_s
    return None
