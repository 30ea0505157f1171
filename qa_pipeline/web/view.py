"""The call at a glance: what the review page draws from a result's JSON (:func:`glance`).

Everything here reads the result dict of :func:`qa_pipeline.web.service.result_view` (times in
seconds from the start of the call, sentiment in [-1, 1]) and returns plain dicts for the
template and the chart script; nothing is recomputed from audio.

Sentiment is one concept per party: the per-turn **mood** (``UtteranceSentiment.mood``), the
same number the rubric's sentiment checks and the ``negative_ending`` flag aggregate
(``customer.end`` = the mood of the last informative customer turn), so the chart, the flags
and the checks agree.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

#: a silence this long (s) or longer is drawn as hold, as the rubric's hold checks default to
HOLD_MIN_S = 10.0
#: the negative_ending flag's threshold when the result does not say otherwise
NEGATIVE_END = -0.3
PARTIES = ("agent", "customer")
#: "missing in …: X (1 of 2)": some hits were found, and they are the evidence
_PARTIAL = re.compile(r"\(\d+ of \d+\)$")


def _mood_class(mood: float | None) -> str:
    if mood is None:
        return "neutral"
    return "negative" if mood <= NEGATIVE_END else "positive" if mood >= 0.3 else "neutral"


def sentiment_series(data: Mapping[str, Any]) -> dict[str, Any]:
    """``{"agent": [[t_s, mood], ...], "customer": [...], "customer_end": float | None}``: one
    point per informative turn at its midpoint; ``customer_end`` is the value the flags read."""
    s = data.get("sentiment") or {}
    series: dict[str, Any] = {p: [] for p in PARTIES}
    for u in s.get("utterances") or []:
        role = u.get("role")
        if role in series and u.get("informative", True) and isinstance(u.get("mood"), (int, float)):
            series[role].append([round((u["start"] + u["end"]) / 2, 2), round(float(u["mood"]), 3)])
    series["customer_end"] = s.get("customer_end") if s else None
    series["threshold"] = NEGATIVE_END
    return series


def timeline(data: Mapping[str, Any]) -> dict[str, Any]:
    """Lanes of the call timeline: per party its talk turns (coloured by mood), then silence,
    overtalk and hold; markers for failed items' evidence and flags' evidence (alerts)."""
    utts = data.get("utterances") or []
    duration = max([float(data.get("duration_s") or 0.0)] + [float(u.get("end") or 0) for u in utts] + [1.0])
    moods = {u.get("utterance_id"): u.get("mood") for u in (data.get("sentiment") or {}).get("utterances") or []}
    metrics = data.get("metrics") or {}

    def seg(start: float, end: float, **extra: Any) -> dict[str, Any]:
        return {"start": round(start, 2), "end": round(end, 2), "x": round(1000 * start / duration, 2),
                "w": round(max(1000 * (end - start) / duration, 2.0), 2), **extra}

    lanes = []
    # speech whose role is unknown (a lone speaker without positive evidence) gets its own lane
    unknown = ("unknown",) if any(u.get("role") == "unknown" for u in utts) else ()
    for party in PARTIES + unknown:
        turns = [seg(u["start"], u["end"], text=u.get("text", ""), mood=_mood_class(moods.get(u.get("id"))))
                 for u in utts if u.get("role") == party]
        lanes.append({"id": party, "kind": "talk", "segments": turns})
    silences = metrics.get("silences") or []
    lanes.append({"id": "silence", "kind": "silence",
                  "segments": [seg(s["start"], s["end"]) for s in silences if s["end"] - s["start"] < HOLD_MIN_S]})
    lanes.append({"id": "overtalk", "kind": "overtalk",
                  "segments": [seg(o["start"], o["end"]) for o in metrics.get("interruptions") or []]})
    lanes.append({"id": "hold", "kind": "hold",
                  "segments": [seg(s["start"], s["end"]) for s in silences if s["end"] - s["start"] >= HOLD_MIN_S]})
    final = data.get("final_outcomes") or {}
    markers = []
    for item in (data.get("scorecard") or {}).get("items") or []:
        if final.get(item["id"], item.get("outcome")) == "fail":
            for ev in _evidence(item)[:3]:
                markers.append(seg(ev["start"], ev["start"], kind="evidence", item=item["id"]))
    for flag in data.get("flags") or []:
        for ev in flag.get("evidence") or []:
            markers.append(seg(ev["start"], ev["start"], kind="alert", flag=flag["id"]))
    ticks = [{"t": t, "x": round(1000 * t / duration, 2), "label": f"{int(t // 60)}:{int(t % 60):02d}"}
             for t in range(0, int(duration) + 1, _tick_step(duration))]
    return {"duration": round(duration, 2), "lanes": lanes, "markers": markers, "ticks": ticks}


def _tick_step(duration: float) -> int:
    for step in (5, 10, 15, 30, 60, 120, 300, 600):
        if duration / step <= 10:
            return step
    return 1200


def _evidence(item: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An item's evidence to show: none for a "missing …" failure (the engine attaches the
    searched utterances, which are not evidence of anything), each utterance once otherwise."""
    reason = str(item.get("reason") or "")
    if item.get("outcome") == "fail" and reason.startswith("missing in ") and not _PARTIAL.search(reason):
        return []
    return _once(item.get("evidence") or [])


def _once(evidence: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evidence with each utterance once (overlapping phrase hits in one utterance are one quote)."""
    seen: set[Any] = set()
    out = []
    for ev in evidence:
        key = ev.get("utterance_id") or (ev.get("start"), ev.get("quote"))
        if key in seen:
            continue
        seen.add(key)
        out.append(ev)
    return out


def ordered_items(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Scorecard items, fatal failures first, then other failures, then the rest (rubric order
    inside each group), each with ``evidence_shown`` (see :func:`_evidence`) and ``missing``
    (True when the item failed because something was not said: the page says what was searched)."""
    final = data.get("final_outcomes") or {}
    items = []
    for i, item in enumerate((data.get("scorecard") or {}).get("items") or []):
        outcome = final.get(item["id"], item.get("outcome"))
        rank = 0 if outcome == "fail" and item.get("fatal") else 1 if outcome == "fail" else 2
        reason = str(item.get("reason") or "")
        missing = item.get("outcome") == "fail" and reason.startswith(("missing in ", "no "))
        items.append((rank, i, {**item, "final": outcome, "evidence_shown": _evidence(item), "missing": missing}))
    return [it for _, _, it in sorted(items, key=lambda x: (x[0], x[1]))]


def glance(data: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the top of the review page and its charts need."""
    items = ordered_items(data)
    return {
        "timeline": timeline(data),
        "sentiment": sentiment_series(data),
        "items": items,
        "n_failed": sum(1 for i in items if i["final"] == "fail"),
        "flags": [{**f, "evidence": _once(f.get("evidence") or [])} for f in sorted(data.get("flags") or [], key=lambda f: f.get("priority", 9))],
    }
