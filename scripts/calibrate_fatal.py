#!/usr/bin/env python3
"""Calibrate and measure the fatal-item precision checks (qa_pipeline/scoring/fatal.py).

1. Labelled set (benchmarks/data/fatal_context.yaml, labels written before the first run):
   candidate hits of the default rubrics' fatal phrase lists, the context rules' decision and
   the semantic second check's margin; picks the margin (midway between classes when they
   separate, else the lowest margin with no confirmed false dismissal).
2. Fatal false positives: every default rubric of the call's language applied to
   * the sample-call scripts (samples/scripts, scripted transcripts),
   * the golden dialogues (tests/golden),
   * the field cases' scripted transcripts (../shared/field-cases/*/*.truth.json),
   * a real two-party English telephone-style conversation (../shared/data/pyannote-audio/
     sample/sample.stm, MIT), every speaker scored as the agent (worst case).
   A "fatal false positive" is a fatal item that zeroes a call whose label says it should not
   (sample calls / golden: their written expectation; field cases and the real conversation:
   no agent there is rude, so any zeroing is false).

Writes benchmarks/results/fatal_calibration.json and benchmarks/FATAL.md.
Usage: PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python scripts/calibrate_fatal.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa_pipeline.records import Role, Utterance  # noqa: E402
from qa_pipeline.scoring import CallContext, Scorer, compute_metrics, load_rubric  # noqa: E402
from qa_pipeline.scoring.dialogue import dialogue_from_dict  # noqa: E402
from qa_pipeline.scoring.fatal import DEFAULT_MARGIN, SecondCheck, context_reason, sentence_of  # noqa: E402
from qa_pipeline.scoring.phrases import PhraseSet  # noqa: E402
from qa_pipeline.scoring.rubric import PhraseCheck  # noqa: E402

SHARED = ROOT.parent / "shared"


def rubrics_by_language() -> dict[str, list]:
    out: dict[str, list] = {"zh": [], "en": []}
    for path in sorted((ROOT / "rubrics").glob("*.yaml")):
        r = load_rubric(path)
        out[r.language or "zh"].append(r)
    return out


def fatal_phrases(rubrics: list) -> tuple[str, ...]:
    phrases: list[str] = []
    for r in rubrics:
        for item in r.items:
            if item.fatal and isinstance(item.check, PhraseCheck) and item.check.expect == "absent":
                phrases += [p for g in item.check.groups for p in g]
    return tuple(dict.fromkeys(phrases))


def labelled(rubrics: dict[str, list], second: SecondCheck) -> dict:
    data = yaml.safe_load((ROOT / "benchmarks" / "data" / "fatal_context.yaml").read_text(encoding="utf-8"))
    rows = []
    for lang, entries in data.items():
        phrases = PhraseSet(fatal_phrases(rubrics[lang]))
        for e in entries:
            u = Utterance("u1", Role.AGENT, 0, 0.0, 5.0, e["text"])
            hits = list(phrases.find(u))
            kept = [h for h in hits if not context_reason(h)]
            margin = max((second.score(sentence_of(u.text, h.char_start), lang) for h in kept), default=None)
            rows.append({"language": lang, "text": e["text"], "dismissal": e["dismissal"], "hits": [h.phrase for h in hits],
                         "rules_keep": bool(kept), "margin": None if margin is None else round(margin, 4)})
    return {"rows": rows}


def choose_margin(rows: list[dict]) -> tuple[float, str]:
    pos = [r["margin"] for r in rows if r["dismissal"] and r["margin"] is not None]
    neg = [r["margin"] for r in rows if not r["dismissal"] and r["margin"] is not None]
    if not neg:
        return round(min(pos) - 0.01, 3) if pos else DEFAULT_MARGIN, "no negative survives the rules: just below the lowest positive"
    if pos and min(pos) > max(neg):
        return round((min(pos) + max(neg)) / 2, 3), "midway between the classes (separable)"
    return round(max(neg) + 0.001, 3), "not separable: lowest margin with no confirmed false dismissal"


def _script_dialogue(path: Path) -> tuple[dict, dict]:
    s = yaml.safe_load(path.read_text(encoding="utf-8"))
    t, turns = 0.5, []
    for turn in s["turns"]:
        dur = max(1.0, 0.08 * len(turn["text"]) if s["language"] == "en" else 0.25 * len(turn["text"]))
        turns.append([turn["role"], round(t, 2), round(t + dur, 2), turn["text"]])
        t += dur + float(turn.get("gap", 0.5))
    return {"id": s["call_id"], "language": s["language"], "turns": turns}, s.get("expect", {}).get("items", {})


def corpora() -> list[tuple[str, dict, dict | None]]:
    """(source, dialogue dict, expected item outcomes or None = nobody rude)."""
    out: list[tuple[str, dict, dict | None]] = []
    for p in sorted((ROOT / "samples" / "scripts").glob("*.yaml")):
        d, exp = _script_dialogue(p)
        out.append(("sample calls", d, exp))
    for p in sorted((ROOT / "tests" / "golden").glob("*.yaml")):
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
        out.append(("golden dialogues", raw, raw.get("expect", {})))
    for p in sorted(SHARED.glob("field-cases/*/*.truth.json")):
        raw = json.loads(p.read_text(encoding="utf-8"))
        if "call_id" not in raw or "language" not in raw:
            continue  # an excerpt's truth without a call header
        turns = [[t["role"], t["start"], t["end"], t["text"]] for t in raw["turns"] if t["end"] > t["start"]]
        out.append(("field cases (scripted truth)", {"id": raw["call_id"], "language": raw["language"], "turns": turns}, None))
    stm = SHARED / "data" / "pyannote-audio" / "sample" / "sample.stm"
    if stm.exists():
        turns = []
        for line in stm.read_text(encoding="utf-8").splitlines():
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and float(parts[4]) > float(parts[3]):
                turns.append(["agent", float(parts[3]), float(parts[4]), parts[5]])
        out.append(("real conversation (pyannote sample.stm, all speakers as agent)", {"id": "pyannote_sample", "language": "en", "turns": turns}, None))
    return out


def false_positives(rubrics: dict[str, list], second: SecondCheck) -> dict:
    per_source: dict[str, dict] = {}
    for source, raw, expected in corpora():
        d = dialogue_from_dict(raw)
        ctx = CallContext(d.transcript, compute_metrics(d.transcript), d.metadata)
        stats = per_source.setdefault(source, {"calls": 0, "scorecards": 0, "zeroed": 0, "false_zeroed": 0, "review_downgrades": 0, "examples": []})
        stats["calls"] += 1
        for rubric in rubrics[d.transcript.language]:
            card = Scorer(rubric, second)(ctx)
            stats["scorecards"] += 1
            fatal_fail = [i for i in card.items if i.fatal and i.outcome.value == "fail"]
            downgraded = [i for i in card.items if i.id.startswith("forbidden") and i.outcome.value == "fail" and not i.fatal]
            stats["review_downgrades"] += len(downgraded)
            if fatal_fail:
                stats["zeroed"] += 1
                should = expected is not None and any(expected.get(i.id) == "fail" for i in fatal_fail)
                if not should:
                    stats["false_zeroed"] += 1
                    stats["examples"].append(f"{d.id} / {rubric.id}: {fatal_fail[0].reason}")
    return per_source


def main() -> None:
    rubrics = rubrics_by_language()
    probe = SecondCheck(margin=-9.0)
    lab = labelled(rubrics, probe)
    margin, how = choose_margin(lab["rows"])
    rows = lab["rows"]
    for r in rows:
        r["zeroes_call"] = r["rules_keep"] and r["margin"] is not None and r["margin"] >= margin
    second = SecondCheck(margin=margin)
    fp = false_positives(rubrics, second)
    result = {"margin": margin, "how": how, "labelled": rows, "false_positives": fp}
    out = ROOT / "benchmarks" / "results" / "fatal_calibration.json"
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    write_report(result)
    print(f"margin {margin} ({how}); report: benchmarks/FATAL.md")


def write_report(res: dict) -> None:
    rows = res["labelled"]
    lines = [
        "# Fatal items: context rules and second check",
        "",
        "Generated by `PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python scripts/calibrate_fatal.py` (do not edit by hand).",
        "Method: `qa_pipeline/scoring/fatal.py`; labelled set `benchmarks/data/fatal_context.yaml` (labels written",
        "before the first run). The margin is fitted on that set, so its numbers are in-sample; the",
        "false-positive table below uses transcripts the rules and margin were not fitted on.",
        "",
        (f"Second-check margin: **{res['margin']:+.3f}** ({res['how']}). Code default: "
         f"`DEFAULT_MARGIN` in `qa_pipeline/scoring/fatal.py`."),
        "",
        "| language | label | n | with a candidate hit | kept by the context rules | zeroes the call | review item |",
        "|---|---|---|---|---|---|---|",
    ]
    for lang in ("en", "zh"):
        for label in (True, False):
            sub = [r for r in rows if r["language"] == lang and r["dismissal"] is label]
            hit = [r for r in sub if r["hits"]]
            keep = [r for r in sub if r["rules_keep"]]
            zero = [r for r in sub if r["zeroes_call"]]
            lines.append(f"| {lang} | {'dismissal' if label else 'not a dismissal'} | {len(sub)} | {len(hit)} | {len(keep)} | {len(zero)} | {len(keep) - len(zero)} |")
    wrong = [r for r in rows if r["zeroes_call"] != r["dismissal"] and r["hits"]]
    lines += ["", "Disagreements with the labels (zeroed vs label):", ""]
    lines += [f"- {r['language']} “{r['text']}” label {'dismissal' if r['dismissal'] else 'not'}; rules keep {r['rules_keep']}, margin {r['margin']}" for r in wrong] or ["- none"]
    lines += ["", "## Fatal false positives (calls zeroed that should not be)", "",
              "| source | calls | scorecards (calls × rubrics of the language) | zeroed | false zeroed | fatal → review downgrades |", "|---|---|---|---|---|---|"]
    for source, s in res["false_positives"].items():
        lines.append(f"| {source} | {s['calls']} | {s['scorecards']} | {s['zeroed']} | {s['false_zeroed']} | {s['review_downgrades']} |")
        for ex in s["examples"][:5]:
            lines.append(f"|  ↳ {ex} | | | | | |")
    (ROOT / "benchmarks" / "FATAL.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
