"""Evaluate a rubric on a call: items -> outcomes with evidence -> scorecard and flags.

Each check ``kind`` has an evaluator registered with :func:`evaluator`; adding an
operator means adding a schema class in :mod:`.rubric` and one function here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol, TypeVar

from ..records import (
    CallMetadata,
    Evidence,
    Flag,
    ItemResult,
    Metrics,
    Outcome,
    Role,
    Scorecard,
    Silence,
    Transcript,
    Utterance,
)
from .fatal import SecondCheck, judge
from .matchers import compile_matcher, filter_hits, find_all
from .phrases import PhraseMatch, PhraseSet, phrase_set, quote
from .rubric import (
    AnchoredCheck,
    EndedByCheck,
    FlagRule,
    HoldCheck,
    Item,
    MatchCheck,
    MetricCheck,
    PhraseCheck,
    RepetitionCheck,
    Rubric,
    Scope,
    SentimentCheck,
    SentimentCondition,
)
from .tally import item_points, tally

MAX_EVIDENCE = 5


@dataclass(frozen=True)
class CallContext:
    """Everything an evaluator may look at; read-only."""

    transcript: Transcript
    metrics: Metrics
    metadata: CallMetadata
    #: "customer.start", "customer.end", "customer.change", "customer.mean", "customer.min",
    #: "agent.*" in [-1, 1] when sentiment analysis ran; empty otherwise.
    sentiment: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckOutcome:
    outcome: Outcome
    reason: str
    evidence: tuple[Evidence, ...] = ()
    #: ``expect: absent`` checks: the phrase hits behind a failure (fatal items re-check them)
    hits: tuple[PhraseMatch, ...] = ()


class _Evaluator(Protocol):
    def __call__(self, check: object, scope: Scope, ctx: CallContext, /) -> CheckOutcome: ...


_EVALUATORS: dict[type, _Evaluator] = {}
C = TypeVar("C")
_Fn = Callable[[C, Scope, CallContext], CheckOutcome]


def evaluator(check_type: type[C]) -> Callable[[_Fn[C]], _Fn[C]]:
    def register(fn: _Fn[C]) -> _Fn[C]:
        _EVALUATORS[check_type] = fn  # type: ignore[assignment]
        return fn

    return register


def _role(name: str) -> Role | None:
    return None if name == "any" else Role(name)


def in_scope(scope: Scope, transcript: Transcript) -> tuple[Utterance, ...]:
    utts = transcript.by_role(_role(scope.role))
    duration = transcript.duration_s
    if scope.first_s is not None:
        utts = tuple(u for u in utts if u.start < scope.first_s)
    if scope.last_s is not None:
        utts = tuple(u for u in utts if u.end > duration - scope.last_s)
    if scope.first_pct is not None:
        utts = tuple(u for u in utts if u.start < duration * scope.first_pct)
    if scope.last_pct is not None:
        utts = tuple(u for u in utts if u.end > duration * (1 - scope.last_pct))
    if scope.first_n is not None:
        utts = utts[: scope.first_n]
    if scope.last_n is not None:
        utts = utts[-scope.last_n :]
    return utts


def _utterance_evidence(utts: tuple[Utterance, ...] | list[Utterance]) -> tuple[Evidence, ...]:
    return tuple(
        Evidence(start=u.start, end=u.end, quote=quote(u.text, 0, 0, context=80), utterance_id=u.id)
        for u in list(utts)[:MAX_EVIDENCE]
    )


def _hits_evidence(hits: list[PhraseMatch]) -> tuple[Evidence, ...]:
    hits = sorted(hits, key=lambda m: (m.utterance.start, m.char_start))
    return tuple(m.evidence() for m in hits[:MAX_EVIDENCE])


def _said(hits: list[PhraseMatch]) -> str:
    return ", ".join(dict.fromkeys(f"“{m.phrase}”" for m in hits))


@evaluator(PhraseCheck)
def _phrases(check: PhraseCheck, scope: Scope, ctx: CallContext) -> CheckOutcome:
    utts = in_scope(scope, ctx.transcript)
    sets = [phrase_set(tuple(group), check.fuzzy) for group in check.groups]
    where = scope.describe()

    shield = phrase_set(tuple(check.not_within), False) if check.not_within else None

    def hits_of(phrases: PhraseSet) -> list[PhraseMatch]:
        return [h for u in utts for h in filter_hits(list(phrases.find(u)), u, check.ignore_negated, shield)]

    if check.expect == "absent":
        hits = [m for s in sets for m in hits_of(s)]
        if not hits:
            return CheckOutcome(Outcome.PASS, f"none of the phrases in {where}")
        return CheckOutcome(Outcome.FAIL, f"{_said(hits)} in {where}", _hits_evidence(hits), tuple(hits))
    need = check.at_least or 1
    found: list[PhraseMatch] = []
    missing: list[str] = []
    for group, compiled in zip(check.groups, sets):
        hits = hits_of(compiled)
        distinct = list({m.phrase: m for m in hits}.values())
        if len(distinct) >= need:
            found.extend(distinct[:need])
        else:
            missing.append(" / ".join(group) + (f" (at least {need})" if need > 1 else ""))
    if not missing:
        return CheckOutcome(Outcome.PASS, f"said {_said(found)} in {where}", tuple(m.evidence() for m in found))
    if check.or_similar is not None and utts:
        similar = find_all(compile_matcher(check.or_similar), utts)
        if similar:
            best = max(similar, key=lambda m: m.phrase.rsplit("(", 1)[-1])
            return CheckOutcome(Outcome.PASS, f"paraphrase {_said([best])} in {where}", (best.evidence(),))
    wanted = "; ".join(missing)
    if not utts:
        return CheckOutcome(Outcome.FAIL, f"no {where}; expected: {wanted}")
    return CheckOutcome(Outcome.FAIL, f"missing in {where}: {wanted}", _utterance_evidence(utts))


@evaluator(MatchCheck)
def _match(check: MatchCheck, scope: Scope, ctx: CallContext) -> CheckOutcome:
    utts = in_scope(scope, ctx.transcript)
    hits = find_all(compile_matcher(check.match), utts)
    where = scope.describe()
    what = check.match.describe()
    if check.expect == "absent":
        if hits:
            return CheckOutcome(Outcome.FAIL, f"{_said(hits)} in {where}", _hits_evidence(hits), tuple(hits))
        n = len(check.match.any) if check.match.any else 0
        return CheckOutcome(Outcome.PASS, f"none of the {n} phrases in {where}" if n > 1 else f"no {what} in {where}")
    if len(hits) >= check.min_count:
        return CheckOutcome(Outcome.PASS, f"{_said(hits)} in {where}", _hits_evidence(hits))
    if not utts:
        return CheckOutcome(Outcome.FAIL, f"no {where}; expected {what}")
    count = f" ({len(hits)} of {check.min_count})" if hits else ""
    return CheckOutcome(Outcome.FAIL, f"missing in {where}: {what}{count}", _hits_evidence(hits) or _utterance_evidence(utts))


@evaluator(AnchoredCheck)
def _anchored(check: AnchoredCheck, scope: Scope, ctx: CallContext) -> CheckOutcome:
    utts = ctx.transcript.utterances
    trigger = compile_matcher(check.trigger.match)
    response = compile_matcher(check.response.match)
    response_role = _role(check.response.role)
    triggers = [u for u in in_scope(scope.model_copy(update={"role": check.trigger.role}), ctx.transcript) if trigger.find(u)]
    if not triggers:
        return CheckOutcome(Outcome.NA, f"no trigger ({check.trigger.match.describe()}) in the call")
    answered: list[PhraseMatch] = []
    unanswered: list[Utterance] = []
    for t in triggers:
        following = [u for u in utts if u.start >= t.start and u is not t and (response_role is None or u.role is response_role)]
        hits = find_all(response, following[: check.response.within])
        if hits:
            answered.append(hits[0])
        else:
            unanswered.append(t)
    if unanswered and (check.require == "each" or not answered):
        return CheckOutcome(
            Outcome.FAIL,
            f"{len(unanswered)} of {len(triggers)} trigger(s) without {check.response.match.describe()} "
            f"in the next {check.response.within} {check.response.role} utterance(s)",
            _utterance_evidence(unanswered),
        )
    return CheckOutcome(
        Outcome.PASS,
        f"each of {len(triggers)} trigger(s) answered with {_said(answered)}",
        _utterance_evidence(triggers[:2]) + _hits_evidence(answered)[:3],
    )


@evaluator(RepetitionCheck)
def _repetition(check: RepetitionCheck, scope: Scope, ctx: CallContext) -> CheckOutcome:
    utts = in_scope(scope, ctx.transcript)
    matcher = compile_matcher(check.match)
    per_utt = [matcher.find(u) for u in utts]
    for i in range(len(utts)):
        window = [h for hits in per_utt[i : i + check.within] for h in hits]
        if len(window) >= check.min_times:
            return CheckOutcome(
                Outcome.FAIL,
                f"{check.match.describe()} said {len(window)} times within {check.within} utterances",
                _hits_evidence(window),
            )
    return CheckOutcome(Outcome.PASS, f"{check.match.describe()} not repeated {check.min_times}+ times within {check.within} utterances")


@evaluator(MetricCheck)
def _metric(check: MetricCheck, scope: Scope, ctx: CallContext) -> CheckOutcome:
    value = ctx.metrics.value(check.metric)
    if value is None:
        return CheckOutcome(Outcome.NA, f"{check.metric} not measurable on this call")
    too_high = check.max is not None and value > check.max
    too_low = check.min is not None and value < check.min
    bound = f"max {check.max:g}" if too_high else f"min {check.min:g}" if too_low else _bounds(check.min, check.max)
    evidence = _metric_evidence(check.metric, ctx)
    outcome = Outcome.FAIL if (too_high or too_low) else Outcome.PASS
    return CheckOutcome(outcome, f"{check.metric} = {value:g} ({bound})", evidence)


def _bounds(lo: float | None, hi: float | None) -> str:
    return ", ".join(([f"min {lo:g}"] if lo is not None else []) + ([f"max {hi:g}"] if hi is not None else []))


def _silence_evidence(ctx: CallContext, start: float, end: float, after: Role | None) -> Evidence:
    before = [u for u in ctx.transcript.utterances if u.end <= start + 1e-6]
    last = before[-1].text if before else ""
    who = after.value if after else "start"
    return Evidence(start=start, end=end, quote=f"[{end - start:.1f} s silence after {who}: “{quote(last, len(last), len(last), 30)}”]")


def _metric_evidence(metric: str, ctx: CallContext) -> tuple[Evidence, ...]:
    m = ctx.metrics
    if metric == "silence_longest_s" and m.silence_longest is not None:
        s = m.silence_longest
        return (_silence_evidence(ctx, s.start, s.end, s.after_role),)
    if metric == "silence_longest_agent_turn_s":
        turns = [s for s in m.silences if s.after_role is Role.CUSTOMER]
        if turns:
            s = max(turns, key=lambda s: s.duration)
            return (_silence_evidence(ctx, s.start, s.end, s.after_role),)
    if metric in ("agent_interruptions", "customer_interruptions"):
        who = Role.AGENT if metric == "agent_interruptions" else Role.CUSTOMER
        by_id = {u.id: u for u in ctx.transcript.utterances}
        return tuple(
            Evidence(start=o.start, end=o.end, quote=quote(by_id[o.utterance_id].text, 0, 0, 60), utterance_id=o.utterance_id)
            for o in m.interruptions
            if o.interrupter is who and o.utterance_id in by_id
        )[:MAX_EVIDENCE]
    return ()


def _customer_pause(silence: Silence, ctx: CallContext) -> bool:
    """The customer stopped and resumed (looking for a bill): their pause, not agent dead air."""
    after = next((u for u in ctx.transcript.utterances if u.start >= silence.end - 1e-6), None)
    return silence.after_role is Role.CUSTOMER and after is not None and after.role is Role.CUSTOMER


@evaluator(HoldCheck)
def _hold(check: HoldCheck, scope: Scope, ctx: CallContext) -> CheckOutcome:
    holds = [s for s in ctx.metrics.silences if s.duration >= check.min_silence_s and not _customer_pause(s, ctx)]
    if not holds:
        outcome = Outcome.PASS if check.pass_without_holds else Outcome.NA
        longest = ctx.metrics.silence_longest_s
        return CheckOutcome(outcome, f"no silence of {check.min_silence_s:g} s or more (longest {longest:.1f} s)")
    agent = ctx.transcript.by_role(Role.AGENT)
    announce = compile_matcher(check.announce)
    thank = compile_matcher(check.thank) if check.thank else None
    problems: list[str] = []
    evidence: list[Evidence] = []
    for s in holds:
        ev = _silence_evidence(ctx, s.start, s.end, s.after_role)
        before = [u for u in agent if u.end <= s.start + 0.5][-check.window :]
        after = [u for u in agent if u.start >= s.end - 0.5][: check.window]
        announced = find_all(announce, before)
        thanked = find_all(thank, after) if thank else []
        issues = []
        if not announced:
            issues.append("not announced")
        if thank is not None and not thanked:
            issues.append("no thanks/apology on return")
        if check.max_hold_s is not None and s.duration > check.max_hold_s:
            issues.append(f"longer than {check.max_hold_s:g} s")
        evidence.append(ev)
        evidence.extend(m.evidence() for m in (announced[:1] + thanked[:1]))
        if issues:
            problems.append(f"{s.duration:.0f} s hold at {s.start:.0f} s: " + ", ".join(issues))
    if problems:
        return CheckOutcome(Outcome.FAIL, "; ".join(problems), tuple(evidence[:MAX_EVIDENCE]))
    return CheckOutcome(Outcome.PASS, f"{len(holds)} hold(s) announced" + (" and thanked" if thank else ""), tuple(evidence[:MAX_EVIDENCE]))


def sentiment_value(check: SentimentCondition, ctx: CallContext) -> float | None:
    return ctx.sentiment.get(f"{check.party}.{check.measure}")


@evaluator(SentimentCheck)
def _sentiment(check: SentimentCheck, scope: Scope, ctx: CallContext) -> CheckOutcome:
    value = sentiment_value(check, ctx)
    name = f"{check.party} sentiment {check.measure}"
    if value is None:
        return CheckOutcome(Outcome.NA, f"{name} not available")
    ok = (check.min is None or value >= check.min) and (check.max is None or value <= check.max)
    return CheckOutcome(Outcome.PASS if ok else Outcome.FAIL, f"{name} = {value:+.2f} ({_bounds(check.min, check.max)})")


@evaluator(EndedByCheck)
def _ended_by(check: EndedByCheck, scope: Scope, ctx: CallContext) -> CheckOutcome:
    ended = ctx.metadata.ended_by
    if ended is None:
        return CheckOutcome(Outcome.NA, "who ended the call is not in the metadata")
    outcome = Outcome.PASS if ended == check.party else Outcome.FAIL
    return CheckOutcome(outcome, f"call ended by the {ended} (expected the {check.party})")


def _applies(item: Item, ctx: CallContext) -> str | None:
    """None if the item applies; else the reason it does not."""
    cond = item.applies_when
    if cond is None:
        return None
    values = {
        "queue": ctx.metadata.queue,
        "direction": ctx.metadata.direction,
        "language": ctx.transcript.language,
        "team": ctx.metadata.team,
    }
    for key, allowed in cond.model_dump(exclude_none=True).items():
        if values[key] not in allowed:
            return f"not applicable: {key} is {values[key]!r} (applies to {', '.join(allowed)})"
    return None


def _needs_roles(item: Item) -> bool:
    check = item.check
    if isinstance(check, AnchoredCheck):
        return check.trigger.role != "any" or check.response.role != "any"
    if isinstance(check, MetricCheck):
        return check.metric in ("agent_interruptions", "customer_interruptions", "talk_share_agent", "talk_share_customer", "agent_speaking_rate", "silence_longest_agent_turn_s")
    if isinstance(check, HoldCheck):
        return True
    if isinstance(check, (SentimentCheck, EndedByCheck)):
        return False
    return item.scope.needs_roles


class Scorer:
    """Applies one rubric to calls; construct once, call per call."""

    def __init__(self, rubric: Rubric, second_check: SecondCheck | None = None) -> None:
        self.rubric = rubric
        #: the semantic confirmation of fatal hits (scoring/fatal.py)
        self.second_check = second_check or SecondCheck()

    def evaluate(self, item: Item, ctx: CallContext) -> CheckOutcome:
        not_applicable = _applies(item, ctx)
        if not_applicable:
            return CheckOutcome(Outcome.NA, not_applicable)
        if _needs_roles(item) and not ctx.transcript.has_roles:
            return CheckOutcome(Outcome.NA, "speaker roles unknown (mono call without diarization)")
        return _EVALUATORS[type(item.check)](item.check, item.scope, ctx)

    def _item(self, item: Item, ctx: CallContext) -> ItemResult:
        result = self.evaluate(item, ctx)
        fatal, review = item.fatal, item.review
        if item.fatal and result.outcome is Outcome.FAIL and result.hits:
            result, fatal, review = self.confirm_fatal(result, ctx, review)
        return ItemResult(
            id=item.id,
            name=item.name,
            section=item.section,
            outcome=result.outcome,
            weight=item.weight,
            points=item_points(item.weight, result.outcome, self.rubric.scoring),
            fatal=fatal,
            reason=result.reason,
            evidence=result.evidence,
            compliance=item.compliance,
            review=review,
        )

    def confirm_fatal(self, result: CheckOutcome, ctx: CallContext, review: bool) -> tuple[CheckOutcome, bool, bool]:
        """Context rules + second check on a fatal item's hits: (outcome, fatal, review)."""
        verdict = judge(result.hits, ctx.transcript.language, self.second_check)
        if verdict.decision == "no_context":
            ignored = _hits_evidence([v.hit for v in verdict.verdicts if v.dropped])  # what was read, and why not
            return CheckOutcome(Outcome.PASS, f"no dismissal addressed to the customer ({verdict.note})", ignored), False, review
        kept = list(verdict.confirmed_hits or verdict.kept)
        reason = f"{_said(kept)}: {verdict.note}"
        if verdict.decision == "confirmed":
            return CheckOutcome(Outcome.FAIL, reason, _hits_evidence(kept), tuple(kept)), True, review
        return CheckOutcome(Outcome.FAIL, reason, _hits_evidence(kept), tuple(kept)), False, True

    @property
    def flag_below(self) -> float:
        """The rubric's review threshold in the unit of the total (percent, or points)."""
        if self.rubric.scoring == "percent":
            return self.rubric.flag_below
        return self.rubric.flag_below * _max_points(self.rubric) / 100

    def __call__(self, ctx: CallContext) -> Scorecard:
        items = tuple(self._item(item, ctx) for item in self.rubric.items)
        return tally(
            items,
            rubric_id=self.rubric.id,
            rubric_version=self.rubric.version,
            scoring=self.rubric.scoring,
            flag_below=self.flag_below,
        )

    def flags(self, card: Scorecard, ctx: CallContext) -> tuple[Flag, ...]:
        flags: list[Flag] = []
        for item in card.items:
            if item.outcome is not Outcome.FAIL:
                continue
            if item.fatal:
                flags.append(Flag("fatal_item", f"fatal item failed: {item.name} ({item.reason})", 1, item.evidence[:3]))
            elif item.review:
                flags.append(Flag("review_item", f"review item failed: {item.name} ({item.reason})", 2, item.evidence[:3]))
        limit = self.flag_below
        if card.total < limit:
            flags.append(Flag("low_score", f"score {card.total:g} below {limit:g}", 2))
        for rule in self.rubric.flags:
            flag = self.rule_flag(rule, ctx)
            if flag is not None:
                flags.append(flag)
        if not ctx.transcript.has_roles:
            flags.append(Flag("roles_unknown", "mono call: role-dependent items not scored", 3))
        return tuple(sorted(flags, key=lambda f: f.priority))


    def rule_flag(self, rule: FlagRule, ctx: CallContext) -> Flag | None:
        """The flag ``rule`` raises on this (possibly partial, live) call, or None."""
        if rule.match is not None:
            if rule.scope.needs_roles and not ctx.transcript.has_roles:
                return None
            hits = find_all(compile_matcher(rule.match), in_scope(rule.scope, ctx.transcript))
            if hits:
                return Flag(rule.id, f"{rule.reason}: {_said(hits)}", rule.priority, _hits_evidence(hits))
        elif rule.sentiment is not None:
            value = sentiment_value(rule.sentiment, ctx)
            lo, hi = rule.sentiment.min, rule.sentiment.max
            if value is not None and (lo is None or value >= lo) and (hi is None or value <= hi):
                return Flag(rule.id, f"{rule.reason} ({rule.sentiment.party} {rule.sentiment.measure} {value:+.2f})", rule.priority)
        return None


def _max_points(rubric: Rubric) -> float:
    return sum(i.weight for i in rubric.items) or 1.0
