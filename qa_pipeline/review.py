"""The reviewed result: reviewers' overrides, the review state and agents' appeals (申诉).

Overrides and appeals belong to one stored result (``results.id``), never to a (call, item)
pair, so a rescore with another rubric starts unreviewed and the reviewed scorecard it replaced
stays as it was. After every change the result's final score is re-tallied by
:func:`qa_pipeline.scoring.tally.reviewed_scorecard`, the same function that produced the
automatic total, and stored in ``results.final_total`` / ``final_fatal_failed``: every report
(queue, coaching, CSV, API, ``qa show``, daily summaries) reads those columns.

Review states: ``unreviewed`` -> ``in_review`` (first verdict) -> ``reviewed`` (a reviewer
closes the review; who and when are kept). An accepted appeal changes the item's outcome like an
override and keeps the state.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from .checks import UNSCORABLE_FLAGS
from .errors import NotFoundError, ReviewError
from .records import CallResult, Flag, Outcome, Scorecard
from .scoring.tally import reviewed_scorecard
from .tables import AppealRow, CallRow, OverrideRow, ResultRow, utcnow


class ReviewState(str, enum.Enum):
    UNREVIEWED = "unreviewed"
    IN_REVIEW = "in_review"
    REVIEWED = "reviewed"


class AppealState(str, enum.Enum):
    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"



@dataclass(frozen=True)
class ReviewedResult:
    """A stored result with its reviews: the automatic and the final scorecard side by side."""

    result_id: int
    result: CallResult
    final: Scorecard
    overrides: Mapping[str, OverrideRow]
    appeals: tuple[AppealRow, ...]
    state: ReviewState
    reviewed_by: str | None
    reviewed_at: datetime | None


def current_row(s: Session, call_id: str) -> ResultRow:
    """The call's current result row; NotFoundError if the call has none."""
    row = s.execute(
        select(ResultRow).join(CallRow, CallRow.current_result_id == ResultRow.id).where(CallRow.call_id == call_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"no scored call with id {call_id!r} in the results database")
    return row


def result_row(s: Session, call_id: str, result_key: str | None = None) -> ResultRow:
    """The call's result ``result_key``, or its current result."""
    if result_key is None:
        return current_row(s, call_id)
    row = s.execute(
        select(ResultRow).where(ResultRow.call_id == call_id, ResultRow.result_key == result_key)
    ).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"call {call_id!r} has no result {result_key!r}")
    return row


def overrides_of(s: Session, result_id: int) -> dict[str, OverrideRow]:
    rows = s.execute(select(OverrideRow).where(OverrideRow.result_id == result_id)).scalars()
    return {r.item_id: r for r in rows}


def appeals_of(s: Session, result_id: int) -> tuple[AppealRow, ...]:
    return tuple(s.execute(select(AppealRow).where(AppealRow.result_id == result_id).order_by(AppealRow.id)).scalars())


def final_scorecard(card: Scorecard, overrides: Mapping[str, OverrideRow], flags: Iterable[Flag] = ()) -> Scorecard:
    """``card`` re-tallied with the reviewers' outcomes.

    A recording that could not be scored at all (``flags`` has one of
    :data:`qa_pipeline.checks.UNSCORABLE_FLAGS`, e.g. no speech) keeps its automatic scorecard:
    item verdicts cannot turn "nothing was scored" into a score.
    """
    if any(f.id in UNSCORABLE_FLAGS for f in flags):
        return card
    return reviewed_scorecard(card, {k: Outcome(o.human_outcome) for k, o in overrides.items()})


def reviewed(s: Session, row: ResultRow, result: CallResult) -> ReviewedResult:
    """``result`` (loaded from ``row``) with its overrides, appeals and final scorecard."""
    overrides = overrides_of(s, row.id)
    return ReviewedResult(
        result_id=row.id,
        result=result,
        final=final_scorecard(result.scorecard, overrides, result.flags),
        overrides=overrides,
        appeals=appeals_of(s, row.id),
        state=ReviewState(row.review_state),
        reviewed_by=row.reviewed_by,
        reviewed_at=row.reviewed_at,
    )


def refresh_final(s: Session, row: ResultRow) -> Scorecard:
    """Re-tally ``row``'s final score from its automatic scorecard and overrides; store it."""
    result = CallResult.from_dict(json.loads(row.result_json))
    final = final_scorecard(result.scorecard, overrides_of(s, row.id), result.flags)
    row.final_total, row.final_fatal_failed = final.total, final.fatal_failed
    return final


def set_override(
    s: Session,
    row: ResultRow,
    item_id: str,
    *,
    agree: bool,
    human_outcome: Outcome | None,
    comment: str,
    reviewer: str,
) -> OverrideRow:
    """Record a reviewer's verdict on ``item_id`` of ``row`` and re-tally the final score.

    Disagreeing without an outcome flips pass <-> fail (``na`` -> fail). Raises NotFoundError for
    an unknown item, ReviewError for a disagreement that keeps the automatic outcome.
    """
    card = CallResult.from_dict(json.loads(row.result_json)).scorecard
    try:
        auto = card.item(item_id).outcome.value
    except KeyError:
        raise NotFoundError(f"no rubric item {item_id!r} on this result") from None
    if agree:
        human = auto
    elif human_outcome is not None:
        human = human_outcome.value
    else:
        human = {"pass": "fail", "fail": "pass"}.get(auto, "fail")
    if not agree and human == auto:
        raise ReviewError("disagreeing needs an outcome different from the automatic one")
    override = overrides_of(s, row.id).get(item_id) or OverrideRow(result_id=row.id, item_id=item_id)
    override.auto_outcome, override.human_outcome, override.agree = auto, human, agree
    override.comment, override.reviewer, override.at = comment, reviewer, utcnow()
    s.add(override)
    s.flush()
    if row.review_state == ReviewState.UNREVIEWED.value:
        row.review_state = ReviewState.IN_REVIEW.value
    refresh_final(s, row)
    return override


def set_review_state(s: Session, row: ResultRow, state: ReviewState, reviewer: str) -> None:
    """Move ``row`` to ``state``; ``reviewed`` records who closed the review and when."""
    row.review_state = state.value
    if state is ReviewState.REVIEWED:
        row.reviewed_by, row.reviewed_at = reviewer, utcnow()
    else:
        row.reviewed_by, row.reviewed_at = None, None


def file_appeal(
    s: Session,
    row: ResultRow,
    item_id: str,
    *,
    agent: str,
    reason: str,
    window: timedelta,
    now: datetime | None = None,
) -> AppealRow:
    """An agent appeals a failed item of ``row`` within ``window`` of scoring (or of the review).

    Raises ReviewError when the item is unknown or did not fail, the window has closed, or the
    item already has an open appeal.
    """
    now = now or utcnow()
    result = CallResult.from_dict(json.loads(row.result_json))
    card = final_scorecard(result.scorecard, overrides_of(s, row.id), result.flags)
    try:
        item = card.item(item_id)
    except KeyError:
        raise NotFoundError(f"no rubric item {item_id!r} on this result") from None
    if item.outcome is not Outcome.FAIL:
        raise ReviewError(f"item {item_id!r} did not fail: only failed items can be appealed")
    opened = max(_aware(row.scored_at), _aware(row.reviewed_at) if row.reviewed_at else _aware(row.scored_at))
    if now > opened + window:
        days = window.total_seconds() / 86400
        raise ReviewError(f"the appeal window ({days:g} days after scoring or review) has closed")
    if any(a.item_id == item_id and a.state == AppealState.OPEN.value for a in appeals_of(s, row.id)):
        raise ReviewError(f"item {item_id!r} already has an open appeal")
    appeal = AppealRow(
        result_id=row.id, item_id=item_id, requested_outcome=Outcome.PASS.value, agent=agent, reason=reason,
        state=AppealState.OPEN.value, created_at=now,
    )
    s.add(appeal)
    s.flush()
    return appeal


def decide_appeal(s: Session, appeal: AppealRow, *, accept: bool, comment: str, reviewer: str) -> None:
    """Accept (the item gets the requested outcome, as an override) or reject an open appeal."""
    if appeal.state != AppealState.OPEN.value:
        raise ReviewError(f"appeal {appeal.id} was already {appeal.state}")
    row = s.get(ResultRow, appeal.result_id)
    if row is None:  # pragma: no cover - cascades delete appeals with their result
        raise NotFoundError(f"appeal {appeal.id} has no result")
    appeal.state = (AppealState.ACCEPTED if accept else AppealState.REJECTED).value
    appeal.decided_by, appeal.decision_comment, appeal.decided_at = reviewer, comment, utcnow()
    if accept:
        auto = CallResult.from_dict(json.loads(row.result_json)).scorecard.item(appeal.item_id).outcome
        wanted = Outcome(appeal.requested_outcome)
        set_override(
            s, row, appeal.item_id, agree=wanted is auto, human_outcome=wanted,
            comment=f"appeal {appeal.id} accepted: {comment}".strip(), reviewer=reviewer,
        )


def _aware(d: datetime) -> datetime:
    """SQLite returns naive datetimes for UTC values."""
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def review_block(r: ReviewedResult) -> dict[str, object]:
    """JSON of a result's review: final score beside the automatic one, state, verdicts, appeals."""
    return {
        "final_total": r.final.total,
        "final_fatal_failed": r.final.fatal_failed,
        "auto_total": r.result.scorecard.total,
        "state": r.state.value,
        "reviewed_by": r.reviewed_by,
        "reviewed_at": r.reviewed_at.isoformat() if r.reviewed_at else None,
        "overrides": {
            k: {
                "agree": o.agree, "auto_outcome": o.auto_outcome, "human_outcome": o.human_outcome,
                "comment": o.comment, "reviewer": o.reviewer, "at": _aware(o.at).isoformat(),
            }
            for k, o in r.overrides.items()
        },
        "appeals": [
            {
                "id": a.id, "item_id": a.item_id, "agent": a.agent, "reason": a.reason, "state": a.state,
                "requested_outcome": a.requested_outcome, "created_at": _aware(a.created_at).isoformat(),
                "decided_by": a.decided_by, "decision_comment": a.decision_comment,
                "decided_at": _aware(a.decided_at).isoformat() if a.decided_at else None,
            }
            for a in r.appeals
        ],
    }
