"""The web API's typed contract: one pydantic model per JSON response (``response_model``).

Wherever a record of :mod:`qa_pipeline.records` (or of the analytics package) already is the
shape on the wire, the model composes it instead of restating it: a call's view carries its
:class:`~qa_pipeline.records.Scorecard`, :class:`~qa_pipeline.records.Metrics`, ... exactly as
:meth:`~qa_pipeline.records.CallResult.to_dict` writes them. Every model forbids unknown keys,
so a route whose data grows a field without the model failing its tests cannot drift silently.

Timestamps the routes build with ``datetime.isoformat()`` stay ``str`` here: re-serialising
them as ``datetime`` would change their wire spelling (``+00:00`` vs ``Z``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ..analytics.queries import DriverCount
from ..analytics.spikes import Cell
from ..records import (
    AudioInfo,
    CallMetadata,
    CallSentiment,
    Evidence,
    Flag,
    Metrics,
    Outcome,
    Redaction,
    Role,
    Scorecard,
    Utterance,
    Versions,
    Warmth,
)
from ..review import ReviewState
from .models import UserRole


class Schema(BaseModel):
    """Base of every response model: unknown keys are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


# -- auth ------------------------------------------------------------------------------------------

class LoginOut(Schema):
    """A started session: send ``csrf`` as ``X-CSRF-Token`` on every write."""

    username: str
    role: UserRole
    csrf: str


class StatusOut(Schema):
    """A plain acknowledgement (``{"status": "logged out"}``)."""

    status: str


class MeOut(Schema):
    """The session's user: role, own agent id (agents), teams (supervisors) and CSRF token."""

    username: str
    role: UserRole
    agent_id: str | None
    teams: list[str]
    csrf: str | None


# -- queue -----------------------------------------------------------------------------------------

class QueueFlag(Schema):
    """Why a call is in the queue (a result flag without its evidence)."""

    id: str
    reason: str
    priority: int


class QueueItem(Schema):
    """One call of the flagged queue: its current result's final score beside the automatic one."""

    call_id: str
    total: float
    auto_total: float
    fatal_failed: bool
    review_state: ReviewState
    reviewed_by: str | None
    priority: int
    flags: list[QueueFlag]
    rubric_id: str
    agent_id: str | None
    agent_name: str | None
    team: str | None
    start_time: str | None
    duration_s: float
    language: str | None


class QueuePage(Schema):
    """One page of the flagged queue with the number of matching calls and pages."""

    total: int
    page: int
    page_size: int
    pages: int
    items: list[QueueItem]


# -- a call and its review -------------------------------------------------------------------------

class OverrideOut(Schema):
    """A reviewer's verdict on one item (agree, or the outcome they set instead)."""

    agree: bool
    auto_outcome: Outcome
    human_outcome: Outcome
    comment: str
    reviewer: str
    at: str


class AppealOut(Schema):
    """An agent's appeal of one failed item and, once decided, the decision."""

    id: int
    item_id: str
    agent: str
    reason: str
    state: str
    requested_outcome: Outcome
    created_at: str
    decided_by: str | None
    decision_comment: str | None
    decided_at: str | None


class ReviewBlock(Schema):
    """A result's review (:func:`qa_pipeline.review.review_block`): final score, state, verdicts, appeals."""

    final_total: float
    final_fatal_failed: bool
    auto_total: float
    state: ReviewState
    reviewed_by: str | None
    reviewed_at: str | None
    overrides: dict[str, OverrideOut]
    appeals: list[AppealOut]


class ScorecardVersion(Schema):
    """One stored scorecard of a call (its history); ``current`` marks the one shown and counted."""

    result_key: str
    rubric_id: str
    rubric_version: str
    total: float
    final_total: float
    review_state: ReviewState
    scored_at: str
    current: bool


class CallView(Schema):
    """A call's result as :meth:`~qa_pipeline.records.CallResult.to_dict` writes it (redacted unless
    ``raw_text``), with its review, the final score and outcomes, its scorecard history and what
    the user may do with it."""

    schema_version: str
    call_id: str
    duration_s: float
    language: str
    metadata: CallMetadata
    audio: AudioInfo
    utterances: list[Utterance]
    metrics: Metrics
    scorecard: Scorecard
    flags: list[Flag]
    versions: Versions
    scored_at: str
    result_key: str
    timings: dict[str, float]
    redactions: list[Redaction]
    sentiment: CallSentiment | None
    warmth: Warmth | None
    review: ReviewBlock
    overrides: dict[str, OverrideOut]
    final_score: float
    final_fatal_failed: bool
    final_outcomes: dict[str, Outcome]
    raw_text: bool
    scorecards: list[ScorecardVersion]
    is_current: bool
    can_appeal: bool
    can_review: bool


class AppealListItem(Schema):
    """An appeal in the reviewers' list, with the call and scorecard it is about."""

    id: int
    call_id: str
    result_key: str
    agent_id: str | None
    item_id: str
    agent: str
    reason: str
    state: str
    created_at: str | None
    decided_by: str | None
    decision_comment: str | None


# -- calibration, coaching, search, audit ----------------------------------------------------------

class CalibrationRow(Schema):
    """Automatic vs human outcomes of one rubric item: accuracy, Cohen's kappa, confusion counts
    (``confusion[auto][human]``)."""

    item_id: str
    n: int
    accuracy: float
    kappa: float | None
    confusion: dict[str, dict[str, int]]


class ItemRate(Schema):
    """An agent's reviewed pass rate of one item against their team's (None: never scored)."""

    item_id: str
    passed: int
    scored: int
    pass_rate: float | None
    team_pass_rate: float | None


class FailExample(Schema):
    """A failed item of one call: the reason and its first evidence quote (start in seconds)."""

    call_id: str
    reason: str
    quote: str
    start: float | None


class WeakItem(ItemRate):
    """One of the agent's weakest items with up to three failed examples."""

    examples: list[FailExample]


class ScorePoint(Schema):
    """One call of the agent's score trend: final and automatic score."""

    call_id: str
    date: str | None
    total: float
    auto_total: float


class WarmthPoint(Schema):
    """One call's overall warmth (:attr:`qa_pipeline.records.Warmth.total`, 0-100)."""

    call_id: str
    date: str | None
    warmth: float


class AgentDashboard(Schema):
    """An agent's coaching view: score trend, item pass rates, weakest items, warmth trend."""

    agent_id: str
    agent_name: str | None
    team: str | None
    calls: int
    average: float
    trend: list[ScorePoint]
    items: list[ItemRate]
    weakest: list[WeakItem]
    warmth_trend: list[WarmthPoint]


class TeamMember(Schema):
    """One agent of a team overview: calls, average and lowest final score, flagged and reviewed calls."""

    team: str | None
    agent_id: str | None
    agent_name: str | None
    calls: int
    average: float
    lowest: float
    flagged: int
    reviewed: int


class SearchHit(Schema):
    """One matching utterance of a (redacted) transcript."""

    utterance_id: str
    role: Role
    start: float
    text: str


class SearchResult(Schema):
    """A call whose current transcript matches, with up to five matching utterances."""

    call_id: str
    hits: list[SearchHit]


class AuditEntry(Schema):
    """One line of the audit log."""

    at: str
    username: str
    action: str
    call_id: str | None
    detail: str
    ip: str | None


# -- analytics -------------------------------------------------------------------------------------

class AlertOut(Schema):
    """An early warning (:func:`qa_pipeline.analytics.alerts.payload`): a driver surging in one bucket."""

    id: int
    key: str
    granularity: str
    bucket: int
    bucket_label: str
    driver: str
    dimension: str
    value: str
    count: int
    baseline_mean: float
    p_value: float
    cells: list[Cell]
    call_ids: list[str]
    state: str
    created_at: str | None


class DriverTrend(Schema):
    """Calls per driver per local day: ``series[driver]`` is aligned with ``days``."""

    days: list[str]
    series: dict[str, list[int]]


class RepeatStatOut(Schema):
    """Repeat-contact rate and first-contact resolution of one team or agent (``key``)."""

    key: str | None
    calls: int
    repeats: int
    repeat_rate: float | None
    fcr_basis: int
    fcr: float | None


class EscalationOut(Schema):
    """An escalated call of the period."""

    call_id: str
    at: str | None
    driver: str | None
    agent_id: str | None
    team: str | None
    area: str | None
    repeat_complaint: bool


class AnalyticsDashboard(Schema):
    """Everything the analytics dashboard shows for one period (local days, inclusive)."""

    date_from: str
    date_to: str
    window_days: float
    mix: list[DriverCount]
    trend: DriverTrend
    repeats_by_team: list[RepeatStatOut]
    repeats_by_agent: list[RepeatStatOut]
    escalations: list[EscalationOut]
    alerts: list[AlertOut]


class BucketCount(Schema):
    """Calls of one driver in one local hour or day for one value of the chosen dimension
    (only that dimension's key is present)."""

    bucket: str
    driver: str | None
    calls: int
    area: str | None = None
    queue: str | None = None
    team: str | None = None


class CallDriver(Schema):
    """One driver of a call with its evidence."""

    driver: str
    primary: bool
    hits: int
    evidence: list[Evidence]


class EarlierCall(Schema):
    """The same customer's earlier call (``days_before`` this one)."""

    call_id: str
    at: str
    driver: str | None
    agent_id: str | None
    team: str | None
    days_before: float
    same_driver: bool


class CallAnalytics(Schema):
    """A call's drivers and the customer's earlier calls (``analysed``: the call has analytics)."""

    call_id: str
    analysed: bool
    primary_driver: str | None
    escalation: bool
    drivers: list[CallDriver]
    earlier_calls: list[EarlierCall]


# -- live ------------------------------------------------------------------------------------------

class LiveEvidence(Schema):
    """A live alert's evidence: a quote and its times (seconds into the call)."""

    start: float
    end: float
    quote: str


class LiveAlertOut(Schema):
    """An alert raised on a live call (``at_s``: the moment in the call, ``latency_s``: how late)."""

    id: int
    call_id: str
    rule_id: str
    kind: str
    severity: int
    agent_id: str | None
    reason: str
    quote: str
    at_s: float
    raised_at: str
    latency_s: float
    evidence: list[LiveEvidence]


class LiveUtterance(Schema):
    """One recognised turn of a live call's rolling transcript."""

    role: Role
    start: float
    end: float
    text: str


class LiveCall(Schema):
    """A live (or recently ended) call with its alerts, without its transcript."""

    call_id: str
    agent_id: str | None
    agent_name: str | None
    team: str | None
    queue: str | None
    language: str | None
    state: str
    started_at: str
    ended_at: str | None
    position_s: float
    hold_s: float
    lag_s: float
    mood: float | None
    recording_uri: str | None
    alerts: list[LiveAlertOut]


class LiveCallDetail(LiveCall):
    """A live call with its rolling transcript."""

    utterances: list[LiveUtterance]


class LiveCalls(Schema):
    """The calls the Live page lists."""

    calls: list[LiveCall]
