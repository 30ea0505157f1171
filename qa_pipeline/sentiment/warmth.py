"""Service warmth (服务温度), 0–100, from sub-scores a supervisor can coach on.

Components (points are the default weights; each component scores 0–1 and carries
evidence):

* ``greeting_address`` (20): a warm greeting in the agent's first turns, and respectful
  address (您, the customer's title, "please") across the agent's turns; the informal
  你 addressed at the customer counts against it in Chinese.
* ``empathy`` (20): after each negative customer turn, does the agent's reply (its turns up to
  the customer's next turn)
  apologise, empathise or soothe?  With no negative customer turn, any apology or
  empathy scores 1 and none scores 0.5 (no occasion shown).
* ``no_cold_forms`` (20): 1 minus ``cold_form_penalty`` per rhetorical question (反问),
  hurrying (催促) or blaming/deflecting the customer.
* ``tone`` (5): prosody of the agent's audio: pitch variation, no loud spikes,
  a comfortable speaking rate.  Not applicable without agent audio; the total is then
  renormalised over the applicable components.
* ``proactive_closing`` (20): proactive extra help (0.5), an offer of further help at
  the end (0.3), a warm close (0.2).
* ``customer_mood`` (15): the customer's mood change from start to end
  (0.5 + change / 2, clipped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

import numpy as np

from ..records import CallSentiment, Evidence, Outcome, Prosody, Role, Scorecard, Transcript, Utterance, Warmth, WarmthComponent
from ..scoring.fatal import context_reason
from ..scoring.phrases import PhraseMatch
from .lexicon import CueSets, default_cues, matches
from .prosody import ProsodyAnalyzer

_INFORMAL_YOU = re.compile(r"你(?![们好])")


@dataclass(frozen=True, slots=True)
class WarmthWeights:
    greeting_address: float = 20.0
    empathy: float = 20.0
    no_cold_forms: float = 20.0
    tone: float = 5.0
    proactive_closing: float = 20.0
    customer_mood: float = 15.0


@dataclass(frozen=True, slots=True)
class WarmthThresholds:
    warm: float = 80.0  # total at or above: "warm"
    neutral: float = 30.0  # at or above: "neutral"; below: "cold"
    cold_form_penalty: float = 0.34  # per cold form
    address_share: float = 0.5  # share of agent turns with respectful address for full marks
    monotone_st: float = 1.5  # pitch variation below this is monotone
    lively_st: float = 3.0  # at or above this is fully lively
    rate_ranges: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: {"chars/min": (150.0, 330.0), "words/min": (110.0, 200.0)}
    )
    max_evidence: int = 6  # per component


class WarmthScorer:
    """``scorer(transcript, sentiment, agent_audio=None, sample_rate=16000) -> Warmth``."""

    def __init__(
        self,
        weights: WarmthWeights = WarmthWeights(),
        thresholds: WarmthThresholds = WarmthThresholds(),
        cues: CueSets | None = None,
        prosody: ProsodyAnalyzer | None = None,
    ) -> None:
        self.weights = weights
        self.thresholds = thresholds
        self.cues = cues or default_cues()
        self.prosody = prosody or ProsodyAnalyzer()

    def __call__(self, transcript: Transcript, sentiment: CallSentiment, agent_audio: np.ndarray | None = None, sample_rate: int = 16000) -> Warmth:
        agent = [u for u in transcript.by_role(Role.AGENT) if u.text.strip()]
        prosody = self.prosody(agent_audio, sample_rate, agent) if agent_audio is not None and agent else None
        comps = (
            self._greeting_address(agent),
            self._empathy(transcript, sentiment),
            self._cold_forms(agent),
            self._tone(prosody),
            self._proactive(agent),
            self._mood(sentiment),
        )
        applicable = [c for c in comps if c.applicable]
        max_points = sum(c.weight for c in applicable)
        total = 100.0 * sum(c.points for c in applicable) / max_points if max_points > 0 else 0.0
        th = self.thresholds
        level = "warm" if total >= th.warm else "neutral" if total >= th.neutral else "cold"
        return Warmth(round(total, 1), level, comps, prosody)

    # -- components -----------------------------------------------------------------
    def _component(self, cid: str, name: str, score: float, reason: str, evidence: Sequence[Evidence] = (), applicable: bool = True) -> WarmthComponent:
        weight = float(getattr(self.weights, cid))
        score = float(min(1.0, max(0.0, score)))
        return WarmthComponent(cid, name, round(score, 3), weight, round(score * weight if applicable else 0.0, 2), applicable, reason, tuple(evidence[: self.thresholds.max_evidence]))

    def _greeting_address(self, agent: Sequence[Utterance]) -> WarmthComponent:
        greet = [m for u in agent[:2] for m in matches(self.cues.greeting, u)]
        respectful_turns = [u for u in agent if matches(self.cues.respectful, u)]
        informal = [u for u in agent if _INFORMAL_YOU.search(u.text) and not matches(self.cues.respectful, u)]
        share = (len(respectful_turns) - len(informal)) / len(agent) if agent else 0.0
        address = min(1.0, max(0.0, share / self.thresholds.address_share))
        score = 0.5 * bool(greet) + 0.5 * address
        ev = [greet[0].evidence()] if greet else []
        ev += [_whole(u) for u in informal] + [matches(self.cues.respectful, u)[0].evidence() for u in respectful_turns]
        reason = (
            f"{'warm greeting' if greet else 'no warm greeting in the first turns'}; "
            f"respectful address in {len(respectful_turns)}/{len(agent)} agent turns"
            + (f", informal 你 in {len(informal)}" if informal else "")
        )
        return self._component("greeting_address", "Warm greeting and respectful address", score, reason, ev)

    def _empathy(self, transcript: Transcript, sentiment: CallSentiment) -> WarmthComponent:
        utts = [u for u in transcript.utterances if u.text.strip()]
        mood = {s.utterance_id: s for s in sentiment.utterances}
        soothing = lambda u: matches(self.cues.apology, u) + matches(self.cues.empathy, u)  # noqa: E731
        negatives = [
            i for i, u in enumerate(utts)
            if u.role is not Role.AGENT and u.id in mood and mood[u.id].informative and mood[u.id].mood <= -0.3
        ]
        if not negatives:
            any_soothing = [m for u in utts if u.role is Role.AGENT for m in soothing(u)]
            score = 1.0 if any_soothing else 0.5
            reason = "no negative customer turn; " + ("the agent still apologised or empathised" if any_soothing else "no apology or empathy either")
            return self._component("empathy", "Empathy after negative customer turns", score, reason, [m.evidence() for m in any_soothing])
        answered, ev = 0, []
        for i in negatives:
            hits = [m for u in _agent_reply(utts, i) for m in soothing(u)]
            if hits:
                answered += 1
                ev.append(hits[0].evidence())
            else:
                ev.append(_whole(utts[i]))
        reason = f"agent soothed {answered} of {len(negatives)} negative customer turns"
        return self._component("empathy", "Empathy after negative customer turns", answered / len(negatives), reason, ev)

    def _cold_forms(self, agent: Sequence[Utterance]) -> WarmthComponent:
        found = []
        for kind, phrases in (("反问 rhetorical", self.cues.rhetorical), ("催促 hurrying", self.cues.hurrying), ("blaming", self.cues.blaming)):
            # the same context rules as fatal items: "whatever they're asking in Canada dollars" is no blaming
            found += [(kind, m) for u in agent for m in matches(phrases, u) if not context_reason(m)]
        score = 1.0 - self.thresholds.cold_form_penalty * len(found)
        kinds = sorted({k for k, _ in found})
        reason = f"{len(found)} cold forms" + (f" ({', '.join(kinds)})" if kinds else "")
        return self._component("no_cold_forms", "No cold forms (反问, 催促, blaming)", score, reason, [m.evidence() for _, m in found])

    def _tone(self, prosody: Prosody | None) -> WarmthComponent:
        if prosody is None:
            return self._component("tone", "Tone of voice (prosody)", 0.0, "no agent audio", applicable=False)
        th = self.thresholds
        pitch = (prosody.pitch_variation_st - th.monotone_st) / (th.lively_st - th.monotone_st)
        pitch = min(1.0, max(0.0, pitch))
        spikes = max(0.0, 1.0 - 0.25 * prosody.loud_spikes)
        lo, hi = th.rate_ranges.get(prosody.rate_unit, (0.0, float("inf")))
        rate = 1.0 if lo <= prosody.speaking_rate <= hi else max(0.0, 1.0 - abs(prosody.speaking_rate - (lo if prosody.speaking_rate < lo else hi)) / lo)
        score = 0.5 * pitch + 0.3 * spikes + 0.2 * rate
        reason = (
            f"pitch variation {prosody.pitch_variation_st:.1f} st, {prosody.loud_spikes} loud spikes, "
            f"rate {prosody.speaking_rate:.0f} {prosody.rate_unit}"
        )
        ev = tuple(Evidence(t, t + 0.1, "loud spike") for t in prosody.loud_spike_times)
        return self._component("tone", "Tone of voice (prosody)", score, reason, ev)

    def _proactive(self, agent: Sequence[Utterance]) -> WarmthComponent:
        pro = [m for u in agent for m in matches(self.cues.proactive, u)]
        offer = [m for u in agent for m in matches(self.cues.closing_offer, u)]
        close = [m for u in agent[-2:] for m in matches(self.cues.warm_close, u) if not _take_care_of(m)]
        score = 0.5 * bool(pro) + 0.3 * bool(offer) + 0.2 * bool(close)
        parts = [
            "proactive help" if pro else "no proactive extra help",
            "closing offer" if offer else "no offer of further help",
            "warm close" if close else "no warm close",
        ]
        ev = [m.evidence() for m in (pro[:2] + offer[:1] + close[:1])]
        return self._component("proactive_closing", "Proactive help and closing offer", score, "; ".join(parts), ev)

    def _mood(self, sentiment: CallSentiment) -> WarmthComponent:
        score = 0.5 + sentiment.customer_change / 2
        reason = f"customer mood {sentiment.customer_start:+.2f} → {sentiment.customer_end:+.2f} ({sentiment.change_label})"
        cust = [s for s in sentiment.utterances if s.role is not Role.AGENT and s.informative]
        ev = [Evidence(s.start, s.end, f"mood {s.mood:+.2f}", s.utterance_id) for s in (cust[:1] + cust[-1:])] if cust else []
        return self._component("customer_mood", "Customer mood improved", score, reason, ev)


def _take_care_of(m: PhraseMatch) -> bool:
    """"we'll take care of it" is no goodbye."""
    return m.phrase == "take care" and m.utterance.text[m.char_end :].lstrip().lower().startswith("of")


def align_with_scorecard(warmth: Warmth | None, card: Scorecard | None, thresholds: WarmthThresholds = WarmthThresholds()) -> Warmth | None:
    """One truth: the greeting part of ``greeting_address`` follows the rubric's ``greeting`` item.

    Where the rubric scored a ``greeting`` item pass or fail, warmth's "warm greeting" half
    (0.5 of the component) takes that outcome, with the item's evidence, and the total and
    level are recomputed. Without such an item (or with ``na``) warmth keeps its own cue.
    Returns a new :class:`Warmth` (records are immutable); ``None`` in, ``None`` out.
    """
    if warmth is None or card is None:
        return warmth
    item = next((i for i in card.items if i.id == "greeting" and i.outcome is not Outcome.NA), None)
    if item is None:
        return warmth
    comps = []
    for c in warmth.components:
        if c.id == "greeting_address":
            own = c.reason.startswith("warm greeting")
            passed = item.outcome is Outcome.PASS
            score = min(1.0, max(0.0, c.score - 0.5 * own + 0.5 * passed))
            rest = c.reason.split("; ", 1)[-1]
            reason = f"{'warm greeting' if passed else 'no greeting'} (rubric item greeting: {item.outcome.value}); {rest}"
            ev = tuple(item.evidence[:1]) + tuple(e for e in c.evidence[1 if own else 0 :])
            c = replace(c, score=round(score, 3), points=round(score * c.weight if c.applicable else 0.0, 2), reason=reason, evidence=ev[: thresholds.max_evidence])
        comps.append(c)
    applicable = [c for c in comps if c.applicable]
    max_points = sum(c.weight for c in applicable)
    total = round(100.0 * sum(c.points for c in applicable) / max_points, 1) if max_points > 0 else 0.0
    level = "warm" if total >= thresholds.warm else "neutral" if total >= thresholds.neutral else "cold"
    return replace(warmth, total=total, level=level, components=tuple(comps))


def _agent_reply(utts: Sequence[Utterance], i: int) -> list[Utterance]:
    """The agent's turns after utterance ``i`` up to the customer's next informative turn."""
    reply: list[Utterance] = []
    for u in utts[i + 1 :]:
        if u.role is Role.AGENT:
            reply.append(u)
        elif reply:
            break
    return reply


def _whole(u: Utterance) -> Evidence:
    return Evidence(u.start, u.end, u.text, u.id)
