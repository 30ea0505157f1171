"""Evaluate a rubric on a call: items -> outcomes with evidence -> scorecard and flags.

Each check ``kind`` has an evaluator registered with :func:`evaluator`; adding an
operator means adding a schema class in :mod:`.rubric` and one function here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, TypeVar

from ..records import (
    CallMetadata,
    Evidence,
    Flag,
    ItemResult,
    Metrics,
    Outcome,
    Role,
    Scorecard,
    Transcript,
    Utterance,
)
from .phrases import PhraseSet, quote
from .rubric import Item, MetricCheck, PhraseCheck, Rubric, Scope

MAX_EVIDENCE = 5


@dataclass(frozen=True)
class CallContext:
    """Everything an evaluator may look at; read-only."""

    transcript: Transcript
    metrics: Metrics
    metadata: CallMetadata


@dataclass(frozen=True)
class CheckOutcome:
    outcome: Outcome
    reason: str
    evidence: tuple[Evidence, ...] = ()


class _Evaluator(Protocol):
    def __call__(self, check: object, scope: Scope, ctx: CallContext, /) -> CheckOutcome: ...


_EVALUATORS: dict[type, _Evaluator] = {}
C = TypeVar("C")


def evaluator(check_type: type[C]) -> Callable[[Callable[[C, Scope, CallContext], CheckOutcome]], Callable[[C, Scope, CallContext], CheckOutcome]]:
    def register(fn: Callable[[C, Scope, CallContext], CheckOutcome]) -> Callable[[C, Scope, CallContext], CheckOutcome]:
        _EVALUATORS[check_type] = fn  # type: ignore[assignment]
        return fn

    return register


def in_scope(scope: Scope, transcript: Transcript) -> tuple[Utterance, ...]:
    role = None if scope.role == "any" else Role(scope.role)
    utts = transcript.by_role(role)
    if scope.first_s is not None:
        utts = tuple(u for u in utts if u.start < scope.first_s)
    if scope.last_s is not None:
        cutoff = transcript.duration_s - scope.last_s
        utts = tuple(u for u in utts if u.end > cutoff)
    return utts


def _utterance_evidence(utts: tuple[Utterance, ...]) -> tuple[Evidence, ...]:
    return tuple(
        Evidence(start=u.start, end=u.end, quote=quote(u.text, 0, 0, context=80), utterance_id=u.id)
        for u in utts[:MAX_EVIDENCE]
    )


@evaluator(PhraseCheck)
def _phrases(check: PhraseCheck, scope: Scope, ctx: CallContext) -> CheckOutcome:
    utts = in_scope(scope, ctx.transcript)
    sets = [PhraseSet(group, fuzzy=check.fuzzy) for group in check.groups]
    where = scope.describe()
    if check.expect == "absent":
        hits = [m for s in sets for m in s.all(utts)]
        if not hits:
            return CheckOutcome(Outcome.PASS, f"none of the phrases in {where}")
        hits.sort(key=lambda m: (m.utterance.start, m.char_start))
        said = ", ".join(dict.fromkeys(f"“{m.phrase}”" for m in hits))
        return CheckOutcome(
            Outcome.FAIL,
            f"{said} in {where}",
            tuple(m.evidence() for m in hits[:MAX_EVIDENCE]),
        )
    found, missing = [], []
    for group, phrase_set in zip(check.groups, sets):
        match = phrase_set.first(utts)
        (found if match else missing).append(match or group)
    if not missing:
        return CheckOutcome(
            Outcome.PASS,
            "said " + ", ".join(f"“{m.phrase}”" for m in found) + f" in {where}",
            tuple(m.evidence() for m in found),
        )
    wanted = "; ".join(" / ".join(g) for g in missing)
    if not utts:
        return CheckOutcome(Outcome.FAIL, f"no {where}; expected one of: {wanted}")
    return CheckOutcome(Outcome.FAIL, f"missing in {where}: {wanted}", _utterance_evidence(utts))


@evaluator(MetricCheck)
def _metric(check: MetricCheck, scope: Scope, ctx: CallContext) -> CheckOutcome:
    value = ctx.metrics.value(check.metric)
    if value is None:
        return CheckOutcome(Outcome.NA, f"{check.metric} not measurable on this call")
    too_high = check.max is not None and value > check.max
    too_low = check.min is not None and value < check.min
    bound = f"max {check.max:g}" if too_high else f"min {check.min:g}" if too_low else _bounds(check)
    evidence = _metric_evidence(check.metric, ctx)
    if too_high or too_low:
        return CheckOutcome(Outcome.FAIL, f"{check.metric} = {value:g} ({bound})", evidence)
    return CheckOutcome(Outcome.PASS, f"{check.metric} = {value:g} ({bound})", evidence)


def _bounds(check: MetricCheck) -> str:
    parts = ([f"min {check.min:g}"] if check.min is not None else []) + (
        [f"max {check.max:g}"] if check.max is not None else []
    )
    return ", ".join(parts)


def _metric_evidence(metric: str, ctx: CallContext) -> tuple[Evidence, ...]:
    m = ctx.metrics
    if metric == "silence_longest_s" and m.silence_longest is not None:
        s = m.silence_longest
        before = [u for u in ctx.transcript.utterances if u.end <= s.start + 1e-6]
        last = before[-1].text if before else ""
        who = s.after_role.value if s.after_role else "start"
        return (Evidence(start=s.start, end=s.end, quote=f"[{s.duration:.1f} s silence after {who}: “{quote(last, len(last), len(last), 30)}”]"),)
    if metric == "agent_interruptions":
        by_id = {u.id: u for u in ctx.transcript.utterances}
        return tuple(
            Evidence(start=o.start, end=o.end, quote=quote(by_id[o.utterance_id].text, 0, 0, 60), utterance_id=o.utterance_id)
            for o in m.interruptions
            if o.interrupter is Role.AGENT
        )[:MAX_EVIDENCE]
    return ()


class Scorer:
    """Applies one rubric to calls; construct once, call per call."""

    def __init__(self, rubric: Rubric) -> None:
        self.rubric = rubric

    def _item(self, item: Item, ctx: CallContext) -> ItemResult:
        if item.scope.needs_roles and not ctx.transcript.has_roles:
            result = CheckOutcome(Outcome.NA, "speaker roles unknown (mono call without diarization)")
        else:
            result = _EVALUATORS[type(item.check)](item.check, item.scope, ctx)
        points = item.weight if result.outcome is Outcome.PASS else 0.0
        return ItemResult(
            id=item.id,
            name=item.name,
            section=item.section,
            outcome=result.outcome,
            weight=item.weight,
            points=points,
            fatal=item.fatal,
            reason=result.reason,
            evidence=result.evidence,
        )

    def __call__(self, ctx: CallContext) -> Scorecard:
        items = tuple(self._item(item, ctx) for item in self.rubric.items)
        applicable = [i for i in items if i.outcome is not Outcome.NA]
        possible = sum(i.weight for i in applicable)
        fatal = any(i.fatal and i.outcome is Outcome.FAIL for i in items)
        total = round(100.0 * sum(i.points for i in applicable) / possible, 1) if possible else 100.0
        if fatal:
            total = 0.0
        return Scorecard(
            rubric_id=self.rubric.id,
            rubric_version=self.rubric.version,
            total=total,
            items=items,
            fatal_failed=fatal,
        )

    def flags(self, card: Scorecard, ctx: CallContext) -> tuple[Flag, ...]:
        flags: list[Flag] = []
        for item in card.items:
            if item.fatal and item.outcome is Outcome.FAIL:
                flags.append(Flag("fatal_item", f"fatal item failed: {item.name} ({item.reason})", 1))
        if card.total < self.rubric.flag_below:
            flags.append(Flag("low_score", f"score {card.total:g} below {self.rubric.flag_below:g}", 2))
        if not ctx.transcript.has_roles:
            flags.append(Flag("roles_unknown", "mono call: role-dependent items not scored", 3))
        return tuple(sorted(flags, key=lambda f: f.priority))
