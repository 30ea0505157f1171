"""One scoring function for automatic and reviewed scorecards.

The rubric engine evaluates items; :func:`tally` turns item outcomes into the total, the
section scores, the compliance score, the fatal rule and ``needs_review``.  A reviewer's
overrides change item outcomes and go through the same :func:`tally`
(:func:`reviewed_scorecard`), so a reviewed total can never be computed another way.

Rules (the rubric's ``scoring``):

* ``percent``: total = 100 x passed weight / applicable weight (``na`` items do not count);
  100 when nothing applies.
* ``points``: total = sum of points; an ``na`` item earns its points.
* A failed fatal item sets the total to 0 (``fatal_failed``).
* ``needs_review``: a fatal or review item failed, or the total is below ``flag_below``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Iterable, Mapping

from ..records import ItemResult, Outcome, Scorecard, SectionScore


def item_points(weight: float, outcome: Outcome, scoring: str) -> float:
    """Points an item of ``weight`` earns with ``outcome`` (its weight if passed, or n/a under points scoring)."""
    passed = outcome is Outcome.PASS or (scoring == "points" and outcome is Outcome.NA)
    return weight if passed else 0.0


def percent(items: Iterable[ItemResult]) -> float | None:
    """Passed weight over applicable weight, in percent (1 decimal); None when nothing applies."""
    applicable = [i for i in items if i.outcome is not Outcome.NA]
    possible = sum(i.weight for i in applicable)
    if not possible:
        return None
    return round(100.0 * sum(i.weight for i in applicable if i.outcome is Outcome.PASS) / possible, 1)


def tally(
    items: tuple[ItemResult, ...],
    *,
    rubric_id: str,
    rubric_version: str,
    scoring: str,
    flag_below: float | None,
) -> Scorecard:
    """The scorecard of evaluated ``items`` (see the module docstring for the rules).

    ``flag_below`` is in the unit of the total (percent, or points). Raises ``ValueError`` for an
    unknown ``scoring``.
    """
    if scoring not in ("percent", "points"):
        raise ValueError(f"unknown scoring {scoring!r}; expected 'percent' or 'points'")
    fatal = any(i.fatal and i.outcome is Outcome.FAIL for i in items)
    if scoring == "points":
        total = round(sum(i.points for i in items), 1)
    else:
        share = percent(items) if any(i.outcome is not Outcome.NA for i in items) else 100.0
        total = 100.0 if share is None else share
    if fatal:
        total = 0.0
    sections: dict[str, list[ItemResult]] = defaultdict(list)
    for i in items:
        sections[i.section].append(i)
    section_scores = tuple(
        SectionScore(
            name=name,
            points=sum(i.points for i in group),
            possible=sum(i.weight for i in group if i.outcome is not Outcome.NA or scoring == "points"),
            percent=percent(group),
        )
        for name, group in sections.items()
    )
    compliance_items = [i for i in items if i.compliance]
    review = fatal or any(i.review and i.outcome is Outcome.FAIL for i in items)
    below = flag_below is not None and total < flag_below
    return Scorecard(
        rubric_id=rubric_id,
        rubric_version=rubric_version,
        total=total,
        items=items,
        fatal_failed=fatal,
        scoring=scoring,
        sections=section_scores,
        compliance=percent(compliance_items) if compliance_items else None,
        needs_review=review or below,
        flag_below=flag_below,
    )


def reviewed_scorecard(card: Scorecard, outcomes: Mapping[str, Outcome]) -> Scorecard:
    """``card`` with reviewers' outcomes (``{item_id: outcome}``) applied, re-tallied.

    Items not in ``outcomes`` keep their automatic outcome; unknown item ids are ignored.
    """
    items = tuple(
        replace(i, outcome=outcomes[i.id], points=item_points(i.weight, outcomes[i.id], card.scoring)) if i.id in outcomes else i
        for i in card.items
    )
    return tally(
        items,
        rubric_id=card.rubric_id,
        rubric_version=card.rubric_version,
        scoring=card.scoring,
        flag_below=card.flag_below,
    )
