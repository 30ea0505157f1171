"""Rubric files: YAML validated against a pydantic schema.

A rubric is a list of items. Each item has

* ``applies_when`` — metadata conditions (queue, direction, language) for when it applies;
* ``scope`` — whose speech and which part of the call it looks at;
* ``check`` — what must (or must not) happen there, a tagged union on ``kind``:

  ``phrases``     any / all (groups) / at least N / none of a list of phrases
  ``match``       a *matcher* present or absent, optionally at least N times
  ``anchored``    after a trigger (e.g. customer dissatisfaction) a response within K utterances
  ``repetition``  a matcher hit N or more times within K utterances (fails the item)
  ``metric``      a conversation metric within bounds
  ``hold``        long silences announced (请稍等 / "please hold") and thanked on return
  ``sentiment``   customer sentiment at start/end or its change, when sentiment is available
  ``ended_by``    which party ended the call (metadata ``ended_by``)

A *matcher* finds spans in utterances: ``{any: [phrases]}``, ``{expr: "退款 && !已退款"}``,
``{regex: "...", exclude: "..."}`` or ``{similar_to: [标准话术...], threshold: 0.9}``;
phrase matchers can ignore negated mentions (我不是要投诉).

Rubric-level ``flags`` raise a flag with evidence when their matcher fires in scope.
Errors name the file, the item and the field::

    rubrics/basic_zh.yaml: item 'greeting' (items[0]) check.groups: List should have at least 1 item
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import RubricError
from ..records import SCALAR_METRICS

_ID_RE = r"^[a-z][a-z0-9_]{0,63}$"
Phrase = Annotated[str, Field(min_length=1)]
PartyRole = Literal["agent", "customer", "any"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scope(_Strict):
    """Where an item looks: whose speech, and which part of the call."""

    role: PartyRole = "agent"
    #: utterances that start within the first N seconds / end within the last N seconds
    first_s: float | None = Field(None, gt=0)
    last_s: float | None = Field(None, gt=0)
    #: the first / last N utterances of ``role``
    first_n: int | None = Field(None, ge=1)
    last_n: int | None = Field(None, ge=1)
    #: relative to call length (0.2 = first / last 20 % of the call)
    first_pct: float | None = Field(None, gt=0, le=1)
    last_pct: float | None = Field(None, gt=0, le=1)

    @property
    def needs_roles(self) -> bool:
        return self.role != "any"

    def describe(self) -> str:
        who = {"agent": "agent speech", "customer": "customer speech", "any": "the conversation"}[self.role]
        parts = []
        if self.first_s:
            parts.append(f"the first {self.first_s:g} s")
        if self.last_s:
            parts.append(f"the last {self.last_s:g} s")
        if self.first_n:
            parts.append(f"the first {self.first_n} utterance(s)")
        if self.last_n:
            parts.append(f"the last {self.last_n} utterance(s)")
        if self.first_pct:
            parts.append(f"the first {self.first_pct:.0%} of the call")
        if self.last_pct:
            parts.append(f"the last {self.last_pct:.0%} of the call")
        return who + (" in " + " and ".join(parts) if parts else "")


class Matcher(_Strict):
    """Finds spans in an utterance. Exactly one of ``any``, ``expr``, ``regex``, ``similar_to``."""

    any: list[Phrase] | None = None
    expr: str | None = None
    regex: str | None = None
    exclude: str | None = Field(None, description="regex: drop hits whose utterance matches this")
    similar_to: list[Phrase] | None = None
    threshold: float | None = Field(None, gt=0, le=1, description="similar_to: cosine threshold")
    #: similar_to: a sentence closer to one of these than to every example is no hit
    unlike: list[Phrase] = Field(default_factory=list)
    #: Chinese phrases also match by toneless pinyin (ASR homophones)
    fuzzy: bool = True
    #: skip mentions right after a negator (我不是要投诉, "I'm not complaining")
    ignore_negated: bool = False
    #: any: ignore a hit inside one of these longer phrases ("whatever works best for you")
    not_within: list[Phrase] = Field(default_factory=list)

    @model_validator(mode="after")
    def _exactly_one(self) -> "Matcher":
        given = [k for k in ("any", "expr", "regex", "similar_to") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a matcher needs exactly one of: any, expr, regex, similar_to")
        if self.regex is not None:
            for name in ("regex", "exclude"):
                pattern = getattr(self, name)
                if pattern is not None:
                    try:
                        re.compile(pattern)
                    except re.error as exc:
                        raise ValueError(f"{name}: invalid regular expression: {exc}") from None
        if self.expr is not None:
            from .expr import parse_expr

            parse_expr(self.expr)  # raises ValueError with the position of the problem
        if self.exclude is not None and self.regex is None:
            raise ValueError("exclude only applies to regex matchers")
        if self.unlike and self.similar_to is None:
            raise ValueError("unlike only applies to similar_to matchers")
        return self

    def describe(self) -> str:
        if self.any is not None:
            return " / ".join(self.any)
        if self.expr is not None:
            return self.expr
        if self.regex is not None:
            return f"/{self.regex}/"
        return "≈ " + " / ".join(self.similar_to or [])


class PhraseCheck(_Strict):
    """Phrases present (every group matched, or ``at_least`` N distinct phrases) or absent."""

    kind: Literal["phrases"]
    expect: Literal["present", "absent"] = "present"
    #: AND of groups; inside a group, any phrase (OR).
    groups: list[Annotated[list[Phrase], Field(min_length=1)]] = Field(min_length=1)
    at_least: int | None = Field(None, ge=1, description="present: at least N distinct phrases of each group")
    fuzzy: bool = True
    ignore_negated: bool = False
    #: ignore a hit inside one of these longer phrases (礼貌拒绝: 很抱歉没办法 is not 没办法)
    not_within: list[Phrase] = Field(default_factory=list)
    #: present: a paraphrase also passes the item: a ``similar_to`` matcher with the intent's
    #: calibrated threshold (scripts/calibrate_semantic.py, benchmarks/SEMANTIC.md)
    or_similar: Matcher | None = None

    @model_validator(mode="after")
    def _similar_only(self) -> "PhraseCheck":
        if self.or_similar is not None:
            if self.or_similar.similar_to is None:
                raise ValueError("or_similar must be a similar_to matcher")
            if self.expect == "absent":
                raise ValueError("or_similar only applies to expect: present (fatal items are never semantic-only)")
        return self


class MatchCheck(_Strict):
    kind: Literal["match"]
    match: Matcher
    expect: Literal["present", "absent"] = "present"
    min_count: int = Field(1, ge=1)


class Party(_Strict):
    role: PartyRole
    match: Matcher


class Response(Party):
    #: the response must come within the responding party's next K utterances
    within: int = Field(2, ge=1)


class AnchoredCheck(_Strict):
    """After a ``trigger``, ``response`` must follow; not applicable when nothing triggers.

    ``require: each`` — every trigger needs its own response (soothing every outburst);
    ``require: any`` — one answered trigger is enough (a repair time given once).
    """

    kind: Literal["anchored"]
    trigger: Party
    response: Response
    require: Literal["each", "any"] = "each"


class RepetitionCheck(_Strict):
    """Fails when the matcher hits ``min_times`` or more within any ``within`` consecutive utterances."""

    kind: Literal["repetition"]
    match: Matcher
    min_times: int = Field(3, ge=2)
    within: int = Field(5, ge=1)


class MetricCheck(_Strict):
    """A conversation metric must stay within bounds."""

    kind: Literal["metric"]
    metric: str
    max: float | None = None
    min: float | None = None

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in SCALAR_METRICS:
            raise ValueError(f"unknown metric {value!r}; known: {', '.join(sorted(SCALAR_METRICS))}")
        return value

    @model_validator(mode="after")
    def _has_bound(self) -> "MetricCheck":
        if self.max is None and self.min is None:
            raise ValueError("a metric check needs max and/or min")
        return self


class HoldCheck(_Strict):
    """Silences of at least ``min_silence_s`` are holds: announced before, thanked after, not too long."""

    kind: Literal["hold"]
    min_silence_s: float = Field(10.0, gt=0)
    max_hold_s: float | None = Field(None, gt=0)
    announce: Matcher
    thank: Matcher | None = None
    #: how many agent utterances before / after the silence may carry the announcement / thanks
    window: int = Field(2, ge=1)
    #: a call without any such silence passes (dead-air style items) instead of being n/a
    pass_without_holds: bool = False


#: Consecutive informative customer turns a sentiment ``streak`` spans.
STREAK_TURNS = 3


class SentimentCondition(_Strict):
    """Customer (or agent) sentiment in [-1, 1] within bounds.

    ``measure: streak`` (customer only) is the customer's mood over :data:`STREAK_TURNS`
    consecutive informative turns, taken at the run where it was worst: the highest mood of that
    run (so ``max: -0.3`` means "negative three turns in a row" somewhere in the call). It only
    gets worse as a call goes on, so a streak flag can be raised while the call is on.
    """

    party: Literal["agent", "customer"] = "customer"
    measure: Literal["start", "end", "change", "mean", "min", "streak"] = "end"
    min: float | None = Field(None, ge=-2, le=2)
    max: float | None = Field(None, ge=-2, le=2)


class SentimentCheck(SentimentCondition):
    """Sentiment item; not applicable when the call has no sentiment analysis."""

    kind: Literal["sentiment"]


class EndedByCheck(_Strict):
    """Which party hung up, from metadata ``ended_by``; not applicable when unknown."""

    kind: Literal["ended_by"]
    party: Literal["agent", "customer"]


Check = Annotated[
    Union[PhraseCheck, MatchCheck, AnchoredCheck, RepetitionCheck, MetricCheck, HoldCheck, SentimentCheck, EndedByCheck],
    Field(discriminator="kind"),
]
_CHECK_KINDS = ("phrases", "match", "anchored", "repetition", "metric", "hold", "sentiment", "ended_by")


class AppliesWhen(_Strict):
    """Metadata conditions; an item that does not apply is ``na``."""

    queue: list[str] | None = None
    direction: list[str] | None = None
    language: list[Literal["zh", "en"]] | None = None
    team: list[str] | None = None


class Item(_Strict):
    id: Annotated[str, Field(pattern=_ID_RE)]
    name: str
    section: str = "general"
    description: str = ""
    weight: float = Field(1.0, ge=0)
    #: A failed fatal item zeroes the call's score and flags it (priority 1).
    fatal: bool = False
    #: A failed item that forces human review without zeroing the score.
    review: bool = False
    #: Counts towards the separate compliance score.
    compliance: bool = False
    applies_when: AppliesWhen | None = None
    scope: Scope = Scope()
    check: Check
    #: judged while the call is on (``qa live``): alerts when the item fails (see :data:`LIVE_CHECKS`)
    live: bool = False

    @model_validator(mode="after")
    def _live_judgeable(self) -> "Item":
        if self.live:
            problem = live_problem(self.check, self.scope)
            if problem:
                raise ValueError(f"live: {problem}")
        return self


#: Metrics that only grow as a call goes on: a ``max`` bound on them can fail while the call is on.
LIVE_METRICS = frozenset(
    {"agent_interruptions", "customer_interruptions", "overtalk_count", "overtalk_s", "silence_longest_s",
     "silence_total_s", "silence_longest_agent_turn_s", "duration_s"}
)


def live_problem(check: "Check", scope: Scope | None = None) -> str | None:
    """Why ``check`` (looking at ``scope``) cannot be judged while the call is on, or None when it can.

    Live judgement only raises alerts that stay true when more of the call arrives: something
    said that must not be (``expect: absent``), something that must be said within the first
    N seconds (``expect: present`` with ``scope.first_s``: judged once the call has passed them
    and their speech is recognised, e.g. no greeting by 15 s), a repetition, a metric that only
    grows above its ``max`` (interruptions, overtalk), an unannounced silence (``hold`` without
    ``thank``, judged on the silence so far).
    """
    if isinstance(check, (PhraseCheck, MatchCheck)):
        if check.expect == "absent" or (scope is not None and scope.first_s is not None):
            return None
        return "only 'expect: absent' phrase/match checks, or 'present' ones within scope.first_s, can be judged live"
    if isinstance(check, RepetitionCheck):
        return None
    if isinstance(check, MetricCheck):
        if check.metric in LIVE_METRICS and check.min is None:
            return None
        return f"metric {check.metric!r} with min is only known at the end of the call"
    if isinstance(check, HoldCheck):
        return None if check.thank is None else "a hold check with 'thank' is only known when the hold ends"
    return f"a {check.kind!r} check is only known at the end of the call"


class FlagRule(_Strict):
    """Raise flag ``id`` when ``match`` fires in ``scope`` (e.g. complaint or escalation intent)."""

    id: Annotated[str, Field(pattern=_ID_RE)]
    reason: str
    priority: int = Field(2, ge=1, le=5)
    scope: Scope = Scope(role="customer")
    match: Matcher | None = None
    #: alternatively: a sentiment condition (negative ending)
    sentiment: SentimentCondition | None = None
    #: raised while the call is on (``qa live``) as soon as the matcher fires; match rules only
    live: bool = False

    @model_validator(mode="after")
    def _one_condition(self) -> "FlagRule":
        if (self.match is None) == (self.sentiment is None):
            raise ValueError("a flag needs exactly one of: match, sentiment")
        if self.live and self.match is None and not (self.sentiment is not None and self.sentiment.measure == "streak"
                                                     and self.sentiment.min is None):
            raise ValueError("live: only match flags and sentiment 'streak' flags with a max can be raised while the call is on")
        return self


class Rubric(_Strict):
    id: Annotated[str, Field(pattern=_ID_RE)]
    version: str
    name: str
    language: Literal["zh", "en"] | None = None
    description: str = ""
    #: Calls scoring below this total are flagged for review.
    flag_below: float = Field(80.0, ge=0, le=100)
    #: ``percent``: total = passed weight / applicable weight x 100;
    #: ``points``: total = sum of points of passed items (weights are points; n/a items count as passed).
    scoring: Literal["percent", "points"] = "percent"
    items: list[Item] = Field(min_length=1)
    flags: list[FlagRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> "Rubric":
        seen: set[str] = set()
        for item in self.items:
            if item.id in seen:
                raise ValueError(f"duplicate item id {item.id!r}")
            seen.add(item.id)
        return self

    @property
    def fingerprint(self) -> str:
        """Content hash: editing a rubric without bumping its version still changes results' key.

        The ``live`` marks are left out: they decide when alerts are raised, not the scorecard.
        """
        dump = self.model_dump(mode="json", exclude={"items": {"__all__": {"live"}}, "flags": {"__all__": {"live"}}})
        blob = json.dumps(dump, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def load_rubric(path: Path) -> Rubric:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RubricError("rubric file not found", path=path) from None
    except yaml.YAMLError as exc:
        raise RubricError(f"invalid YAML: {exc}", path=path) from None
    if not isinstance(raw, dict):
        raise RubricError("a rubric must be a YAML mapping with id, version, name and items", path=path)
    try:
        return Rubric.model_validate(raw)
    except ValidationError as exc:
        raise RubricError(_describe(exc, raw), path=path) from None


def find_rubric(name_or_path: str, rubrics_dir: Path) -> Rubric:
    """A rubric by id (``rubrics/<id>.yaml``) or by file path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        return load_rubric(path)
    if not re.match(_ID_RE, name_or_path):
        raise RubricError(f"not a rubric id or file: {name_or_path!r}")
    return load_rubric(rubrics_dir / f"{name_or_path}.yaml")


def _describe(exc: ValidationError, raw: dict[str, Any]) -> str:
    problems = []
    for err in exc.errors():
        loc = list(err["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] in ("items", "flags") and isinstance(loc[1], int):
            entries = raw.get(loc[0]) or []
            entry = entries[loc[1]] if loc[1] < len(entries) else None
            entry_id = entry.get("id", "?") if isinstance(entry, dict) else "?"
            where = f"{'item' if loc[0] == 'items' else 'flag'} {entry_id!r} ({loc[0]}[{loc[1]}]) "
            loc = loc[2:]
        # drop the union tags pydantic inserts for discriminated unions
        loc = [p for i, p in enumerate(loc) if not (i > 0 and loc[i - 1] == "check" and p in _CHECK_KINDS)]
        field = ".".join(str(p) for p in loc) or "rubric"
        message = err["msg"].removeprefix("Value error, ")
        problems.append(f"{where}{field}: {message}")
    return "; ".join(problems)
