"""The golden set: scripted dialogues whose item outcomes were written down before the engine ran.

Done-when of the rubric engine: item agreement >= 95 %, and no false positive on a fatal item.
Per-operator agreement is printed (``pytest -s``) and by ``benchmarks/bench_rubric.py``.
"""

from __future__ import annotations

import pytest

from qa_pipeline.config import PROJECT_ROOT
from qa_pipeline.scoring.agreement import evaluate_golden
from qa_pipeline.scoring.rubric import find_rubric

GOLDEN = sorted((PROJECT_ROOT / "tests" / "golden").glob("*.yaml"))
RUBRICS = PROJECT_ROOT / "rubrics"


@pytest.fixture(scope="module")
def report():
    return evaluate_golden(GOLDEN, RUBRICS)


def test_golden_set_is_big_and_complete(report) -> None:
    import yaml

    assert len(GOLDEN) >= 40
    langs = set()
    for path in GOLDEN:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        rubric = find_rubric(raw["rubric"], RUBRICS)
        assert set(raw["expect"]) == {i.id for i in rubric.items}, f"{path.name}: expectations must cover every item"
        langs.add(raw["language"])
    assert langs == {"zh", "en"}


def test_item_agreement_at_least_95_percent(report) -> None:
    for op, (ok, total) in report.by_operator().items():
        print(f"{op:12} {ok}/{total} = {ok / total:.1%}")
    print(f"overall {report.agreement:.1%} over {len(report.comparisons)} item outcomes")
    detail = "\n".join(f"{c.dialogue}.{c.item}: expected {c.expected}, got {c.got} ({c.reason})" for c in report.disagreements)
    assert report.agreement >= 0.95, detail


def test_no_false_positive_on_fatal_items(report) -> None:
    assert not report.fatal_false_positives, report.fatal_false_positives


def test_flag_rules_match_expectations(report) -> None:
    assert report.flags_checked == len(GOLDEN)
    assert len(report.flag_mismatches) <= len(GOLDEN) * 0.05, "\n".join(report.flag_mismatches)
