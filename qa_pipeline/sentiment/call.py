"""Per-call sentiment: every utterance of both parties, and the customer's trajectory.

Each utterance is scored by a :class:`~qa_pipeline.sentiment.model.SentimentModel` on
its text with polite formulas masked out (apologies are not negativity).  For the
customer, a *mood* per turn blends that score with conversational cues (thanks and
relief up; complaints, threats and resignation down), and turns that carry no mood
(read-out numbers, a bare "no" or "再见") are left out of the trajectory.

* quarters: mean customer mood per quarter of the call (by utterance midpoint);
* start / end: mean mood of the first / last ``edge_turns`` informative customer turns;
* change = end − start, labelled up / down / flat with ``flat_band``;
* negative moments: the most negative utterances (customer first), with evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from ..records import CallSentiment, Evidence, NegativeMoment, Role, Transcript, Utterance, UtteranceSentiment
from .lexicon import CueSets, default_cues, is_content_free, mask_politeness, matches
from .model import SentimentModel


@dataclass(frozen=True, slots=True)
class CallSentimentParams:
    edge_turns: int = 1  # informative customer turns averaged for start and for end
    flat_band: float = 0.3  # |change| below this is "flat"
    cue_weight: float = 0.85  # share of the conversational cues in a customer turn's mood when cues are present
    model_weight: float = 0.4  # the model score's share of the mood of a turn without cues
    question_weight: float = 0.2  # ... of a question without cues (most customer questions are inquiries)
    problem_cue: float = 0.3  # weight of a problem-statement cue relative to an emotional cue
    resigned_cue: float = 2.0  # weight of a resignation cue ("那好吧", "okay, fine")
    matter_of_fact: float = 0.5  # mood factor for inquiries/acknowledgements without emotional cues
    negative_moment: float = -0.3  # mood at or below this is a negative moment
    max_moments: int = 3


class CallSentimentAnalyzer:
    """``analyzer(transcript) -> CallSentiment``."""

    def __init__(self, model: SentimentModel, params: CallSentimentParams = CallSentimentParams(), cues: CueSets | None = None) -> None:
        self.model = model
        self.params = params
        self.cues = cues or default_cues()

    def __call__(self, transcript: Transcript) -> CallSentiment:
        utts = tuple(u for u in transcript.utterances if u.text.strip())
        masked = [mask_politeness(u, self.cues) for u in utts]
        scorable = [i for i, m in enumerate(masked) if m and not is_content_free(m)]
        results = self.model([masked[i] for i in scorable])
        by_index = dict(zip(scorable, results))
        scored: list[UtteranceSentiment] = []
        for i, u in enumerate(utts):
            res = by_index.get(i)
            score, label = (res.score, res.label) if res is not None else (0.0, "neutral")
            informative = res is not None
            mood, cues = score, [m.phrase for m in self.cues.polite.find(u)]
            if u.role is not Role.AGENT:
                mood, informative, found = self._mood(u, score, informative)
                cues += found
            scored.append(UtteranceSentiment(u.id, u.role, u.start, u.end, score, label, round(mood, 4), informative, tuple(cues)))
        return self._aggregate(transcript, utts, scored)

    def _mood(self, u: Utterance, score: float, informative: bool) -> tuple[float, bool, list[str]]:
        p, c = self.params, self.cues
        pos, neg, res = matches(c.customer_positive, u), matches(c.customer_negative, u), matches(c.customer_resigned, u)
        prob, neu = matches(c.customer_problem, u), matches(c.customer_neutral, u)
        found = [m.phrase for m in pos + neg + res + prob + neu]
        emotional = bool(pos or neg or res)
        if not informative:  # a read-out number or a bare "no"/"thanks": only complaints count
            if neg or res:
                return math.tanh(-len(neg) - p.resigned_cue * len(res)), True, found
            return 0.0, False, found
        if emotional or prob:
            if res:  # "okay, fine" / "那好吧" read as positive by a review-trained model: the resignation cue decides
                score = min(score, 0.0)
            cue = math.tanh(len(pos) - len(neg) - p.resigned_cue * len(res) - p.problem_cue * len(prob))
            mood = (1 - p.cue_weight) * score + p.cue_weight * cue
        else:
            question = u.text.strip().endswith(("?", "？", "吗", "呢"))
            mood = score * (p.question_weight if question else p.model_weight)
        if neu and not emotional:
            mood *= p.matter_of_fact
        return mood, True, found

    def _aggregate(self, transcript: Transcript, utts: Sequence[Utterance], scored: list[UtteranceSentiment]) -> CallSentiment:
        p = self.params
        customer_role = Role.CUSTOMER if any(u.role is Role.CUSTOMER for u in utts) else Role.UNKNOWN
        cust = [s for s in scored if s.role is customer_role and s.informative]
        duration = max(transcript.duration_s, max((u.end for u in utts), default=0.0), 1e-6)
        quarters: list[float | None] = []
        for q in range(4):
            lo, hi = q * duration / 4, (q + 1) * duration / 4
            moods = [s.mood for s in cust if lo <= (s.start + s.end) / 2 < hi or (q == 3 and (s.start + s.end) / 2 >= hi)]
            quarters.append(round(_mean(moods), 4) if moods else None)
        k = max(1, min(p.edge_turns, len(cust) // 2)) if len(cust) >= 2 else 1
        start = _mean([s.mood for s in cust[:k]])
        end = _mean([s.mood for s in cust[-k:]])
        change = end - start if len(cust) >= 2 else 0.0
        label = "flat" if abs(change) < p.flat_band else "up" if change > 0 else "down"
        agent = [s.score for s in scored if s.role is Role.AGENT and s.informative]
        return CallSentiment(
            model=self.model.name,
            utterances=tuple(scored),
            customer_quarters=tuple(quarters),
            customer_start=round(start, 4),
            customer_end=round(end, 4),
            customer_change=round(change, 4),
            change_label=label,
            customer_mean=round(_mean([s.mood for s in cust]), 4),
            agent_mean=round(_mean(agent), 4),
            negative_moments=self._moments(utts, scored, customer_role),
        )

    def _moments(self, utts: Sequence[Utterance], scored: list[UtteranceSentiment], customer_role: Role) -> tuple[NegativeMoment, ...]:
        neg = [(s, u) for s, u in zip(scored, utts) if s.informative and s.mood <= self.params.negative_moment]
        neg.sort(key=lambda su: (su[0].role is not customer_role, su[0].mood))
        return tuple(
            NegativeMoment(s.role, s.mood, Evidence(u.start, u.end, u.text, u.id))
            for s, u in neg[: self.params.max_moments]
        )


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0
