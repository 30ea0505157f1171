"""Agreement between the rubric engine and human expectations (golden dialogues, reviews).

``evaluate_golden`` scores every scripted dialogue with its rubric and compares each item
with the outcome a reviewer wrote down beforehand; the report breaks agreement down per
operator (check kind) and counts false positives on fatal items.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..records import Outcome
from .dialogue import load_dialogue
from .engine import CallContext, Scorer
from .metrics import compute_metrics
from .rubric import find_rubric

#: the rubric flags every golden dialogue is labelled for
GOLDEN_FLAGS = ("complaint_intent", "escalation_request")


@dataclass(frozen=True)
class Comparison:
    dialogue: str
    item: str
    operator: str
    fatal: bool
    expected: str
    got: str
    reason: str

    @property
    def agrees(self) -> bool:
        return self.expected == self.got


@dataclass
class AgreementReport:
    comparisons: list[Comparison] = field(default_factory=list)
    flag_mismatches: list[str] = field(default_factory=list)
    flags_checked: int = 0

    @property
    def agreement(self) -> float:
        return sum(c.agrees for c in self.comparisons) / max(len(self.comparisons), 1)

    def by_operator(self) -> dict[str, tuple[int, int]]:
        """operator -> (agreeing, total)."""
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for c in self.comparisons:
            out[c.operator][0] += c.agrees
            out[c.operator][1] += 1
        return {k: (v[0], v[1]) for k, v in sorted(out.items())}

    @property
    def fatal_false_positives(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.fatal and c.got == Outcome.FAIL.value and c.expected != c.got]

    @property
    def disagreements(self) -> list[Comparison]:
        return [c for c in self.comparisons if not c.agrees]


def evaluate_golden(paths: Iterable[Path], rubrics_dir: Path) -> AgreementReport:
    import yaml

    report = AgreementReport()
    scorers: dict[str, Scorer] = {}
    for path in paths:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        dialogue = load_dialogue(path)
        rubric_id = raw["rubric"]
        if rubric_id not in scorers:
            scorers[rubric_id] = Scorer(find_rubric(rubric_id, rubrics_dir))
        scorer = scorers[rubric_id]
        metrics = compute_metrics(dialogue.transcript)
        ctx = CallContext(transcript=dialogue.transcript, metrics=metrics, metadata=dialogue.metadata)
        card = scorer(ctx)
        specs = {i.id: i for i in scorer.rubric.items}
        expected = raw.get("expect") or {}
        for item in card.items:
            if item.id not in expected:
                continue
            report.comparisons.append(
                Comparison(
                    dialogue=dialogue.id,
                    item=item.id,
                    operator=specs[item.id].check.kind,
                    fatal=item.fatal,
                    expected=str(expected[item.id]),
                    got=item.outcome.value,
                    reason=item.reason,
                )
            )
        # only the flags the golden set was labelled for (its README: complaint_intent,
        # escalation_request); a file may list others under ``flags_judged``. The analytics
        # flags (external_escalation, repeat_complaint) have their own labels in
        # tests/analytics_dialogues/labels.yaml.
        judged = set(raw.get("flags_judged") or GOLDEN_FLAGS)
        rule_ids = {r.id for r in scorer.rubric.flags if r.match is not None} & judged
        got_flags = {f.id for f in scorer.flags(card, ctx)} & rule_ids
        want_flags = set(raw.get("flags") or []) & rule_ids
        report.flags_checked += 1
        if got_flags != want_flags:
            report.flag_mismatches.append(f"{dialogue.id}: expected flags {sorted(want_flags)}, got {sorted(got_flags)}")
    return report
