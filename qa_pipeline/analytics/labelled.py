"""Driver and escalation accuracy on hand-labelled calls (labels written before the engine ran).

The labels file (``tests/analytics_dialogues/labels.yaml``) maps a call id to its taxonomy, its
primary driver and whether the customer threatens to escalate outside the center
(``escalation``) or says they called/complained before (``repeat``). Transcripts come from
scripted dialogues (``*.yaml``, :mod:`qa_pipeline.scoring.dialogue`) and from the sample calls'
scripts (``samples/calls/*.truth.json`` with the sidecar ``*.json`` metadata).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..records import CallMetadata, Transcript
from ..scoring.dialogue import dialogue_from_dict, load_dialogue
from ..scoring.engine import CallContext, Scorer
from ..scoring.metrics import compute_metrics
from ..scoring.rubric import Rubric
from . import AnalyticsError
from .taxonomy import Taxonomy, assign_drivers, select_taxonomy

FLAG_LABELS = {"escalation": "external_escalation", "repeat": "repeat_complaint"}


@dataclass(frozen=True, slots=True)
class LabelledCall:
    call_id: str
    transcript: Transcript
    metadata: CallMetadata
    taxonomy: str
    driver: str
    flags: frozenset[str]


@dataclass(frozen=True, slots=True)
class Miss:
    call_id: str
    expected: str
    got: str


@dataclass(frozen=True, slots=True)
class AccuracyReport:
    """``driver_correct`` of ``total`` primary drivers right; per flag: (tp, fp, fn)."""

    total: int
    driver_correct: int
    misses: tuple[Miss, ...]
    flag_counts: Mapping[str, tuple[int, int, int]]

    @property
    def driver_accuracy(self) -> float:
        return self.driver_correct / self.total if self.total else 0.0


def load_labelled(labels: Path, dialogue_dirs: Iterable[Path], samples_dir: Path | None = None) -> list[LabelledCall]:
    """Every labelled call whose transcript is found in ``dialogue_dirs`` or ``samples_dir``.

    Raises:
        AnalyticsError: unreadable labels, or a label whose transcript is nowhere to be found.
    """
    try:
        spec = yaml.safe_load(labels.read_text(encoding="utf-8"))["calls"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise AnalyticsError(f"cannot read labels: {exc}", path=labels) from None
    sources: dict[str, tuple[Transcript, CallMetadata]] = {}
    for folder in dialogue_dirs:
        for path in sorted(folder.glob("*.yaml")):
            if path.name == labels.name:
                continue
            d = load_dialogue(path)
            sources[d.id] = (d.transcript, d.metadata)
    if samples_dir is not None:
        for truth in sorted(samples_dir.glob("*.truth.json")):
            raw = json.loads(truth.read_text(encoding="utf-8"))
            meta = json.loads(truth.with_name(truth.name.replace(".truth.json", ".json")).read_text(encoding="utf-8"))
            turns = [[t["role"], t["start"], t["end"], t["text"]] for t in raw["turns"]]
            d = dialogue_from_dict({"id": raw["call_id"], "language": raw["language"], "metadata": {"queue": meta.get("queue")}, "turns": turns}, truth)
            sources[d.id] = (d.transcript, d.metadata)
    calls = []
    for call_id, label in spec.items():
        if call_id not in sources:
            raise AnalyticsError(f"labelled call {call_id!r} has no transcript", path=labels)
        transcript, metadata = sources[call_id]
        flags = frozenset(flag for key, flag in FLAG_LABELS.items() if label.get(key))
        calls.append(LabelledCall(call_id, transcript, metadata, label["taxonomy"], label["driver"], flags))
    return calls


def evaluate(calls: Iterable[LabelledCall], taxonomies: list[Taxonomy], rubrics: Mapping[str, Rubric]) -> AccuracyReport:
    """Primary-driver accuracy (taxonomy routed by queue/language) and flag (tp, fp, fn).

    ``rubrics`` maps a taxonomy id to the rubric whose flags are checked on those calls.
    """
    total = correct = 0
    misses: list[Miss] = []
    counts = {flag: [0, 0, 0] for flag in FLAG_LABELS.values()}
    for call in calls:
        tax = select_taxonomy(taxonomies, queue=call.metadata.queue, language=call.transcript.language)
        got = "(no taxonomy)" if tax is None else f"{tax.id}:{assign_drivers(tax, call.transcript).primary}"
        total += 1
        if got == f"{call.taxonomy}:{call.driver}":
            correct += 1
        else:
            misses.append(Miss(call.call_id, f"{call.taxonomy}:{call.driver}", got))
        rubric = rubrics.get(call.taxonomy)
        if rubric is None:
            continue
        ctx = CallContext(call.transcript, compute_metrics(call.transcript), call.metadata)
        scorer = Scorer(rubric)
        raised = {f.id for f in scorer.flags(scorer(ctx), ctx)}
        for flag, c in counts.items():
            want, have = flag in call.flags, flag in raised
            c[0] += want and have
            c[1] += have and not want
            c[2] += want and not have
    return AccuracyReport(total, correct, tuple(misses), {k: (v[0], v[1], v[2]) for k, v in counts.items()})
