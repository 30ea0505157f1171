"""Rubric engine on the golden set: item agreement per operator, fatal false positives, flags, speed.

Usage: .venv/bin/python benchmarks/bench_rubric.py
"""

from __future__ import annotations

import time

from qa_pipeline.config import PROJECT_ROOT
from qa_pipeline.scoring.agreement import evaluate_golden


def main() -> None:
    paths = sorted((PROJECT_ROOT / "tests" / "golden").glob("*.yaml"))
    t0 = time.perf_counter()
    report = evaluate_golden(paths, PROJECT_ROOT / "rubrics")
    elapsed = time.perf_counter() - t0
    print(f"{len(paths)} dialogues, {len(report.comparisons)} item outcomes, {elapsed:.2f} s "
          f"({1000 * elapsed / len(paths):.1f} ms per dialogue incl. rubric load and first-use compilation)")
    print(f"{'operator':12} agree/total")
    for op, (ok, total) in report.by_operator().items():
        print(f"{op:12} {ok:3}/{total:<3} {ok / total:6.1%}")
    print(f"{'overall':12} {sum(c.agrees for c in report.comparisons):3}/{len(report.comparisons):<3} {report.agreement:6.1%}")
    print(f"fatal false positives: {len(report.fatal_false_positives)}")
    print(f"flag mismatches: {len(report.flag_mismatches)} of {report.flags_checked} dialogues")
    for c in report.disagreements:
        print(f"  disagree {c.dialogue}.{c.item}: expected {c.expected}, got {c.got} ({c.reason[:100]})")
    for m in report.flag_mismatches:
        print(f"  flag {m}")


if __name__ == "__main__":
    main()
