"""Agent/customer roles for the speakers of a diarized mono call.

Evidence, strongest first, combined into one score per speaker:

1. the agent's enrolled voiceprint (:mod:`.voiceprints`), when this agent has one;
2. opening-phrase evidence: the agent greets with the unit name and staff number
   (国家电网/中国移动/工号/很高兴为您服务; "thank you for calling", "my name is") and uses
   service phrases (可以帮您, 请稍等; "let me", "your account"); hits in the first 30 s count double;
3. forms of address: the agent says 您/you, the customer 我/I;
4. who speaks first (the agent answers an inbound call; the customer an outbound one).

A reviewer override (``custom.swap_roles = "true"`` in the call's metadata) swaps the
result; rescoring honours it.  Every decision is returned with its evidence so it can
be recorded with the call result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..records import CallMetadata, Role, RoleEvidence, RoleMethod, SpeakerEvidence, Utterance
from ..scoring.phrases import PhraseSet
from .voiceprints import Voiceprint

#: Agent opening/service phrases per language (pinyin-tolerant for Chinese).
AGENT_PHRASES: Mapping[str, tuple[str, ...]] = {
    "zh": (
        "国家电网", "中国移动", "中国联通", "中国电信", "工号", "很高兴为您服务", "为您服务",
        "可以帮您", "帮您", "为您", "请问您", "请您", "感谢您", "感谢来电", "客服", "请稍等",
        "还有其他", "祝您",
    ),
    "en": (
        "thank you for calling", "thanks for calling", "my name is", "how can i help",
        "how may i help", "help you", "let me", "your account", "is there anything else",
        "have a great day", "i apologize", "sorry to hear",
    ),
}
#: How a party refers to the other vs. to itself: the agent says 您/you, the customer 我/I.
YOU_WORDS: Mapping[str, tuple[str, ...]] = {"zh": ("您",), "en": ("you", "your")}
ME_WORDS: Mapping[str, tuple[str, ...]] = {"zh": ("我",), "en": ("i", "my", "me", "i'm")}

OPENING_WINDOW_S = 30.0
#: a lone speaker is the agent only with at least this many agent-phrase hits (and address > 0)
SINGLE_MIN_PHRASE_HITS = 2
SWAP_KEY = "swap_roles"


def swap_requested(metadata: CallMetadata) -> bool:
    return str(metadata.custom.get(SWAP_KEY, "")).strip().lower() in {"1", "true", "yes", "swap", "swapped"}


@dataclass(frozen=True)
class RoleAssignment:
    """Speaker label -> role, with the evidence behind it."""

    roles: Mapping[str, Role]
    method: RoleMethod  # single_speaker: the role may be unknown
    swapped: bool = False
    evidence: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def role(self, speaker: str | None) -> Role:
        if speaker is None:
            return Role.UNKNOWN
        return self.roles.get(speaker, Role.UNKNOWN)

    def record(self) -> RoleEvidence:
        """The assignment as the result records it (``versions.options.roles``), speakers sorted."""
        return RoleEvidence(
            method=self.method,
            swapped=self.swapped,
            roles=dict(sorted(self.roles.items())),
            evidence={s: _speaker_evidence(e) for s, e in sorted(self.evidence.items())},
        )


def _speaker_evidence(ev: Mapping[str, Any]) -> SpeakerEvidence:
    """One speaker's evidence as plain numbers (a voiceprint similarity may be a numpy float)."""
    sim = ev.get("voiceprint_similarity")
    return SpeakerEvidence(
        phrase_hits=int(ev["phrase_hits"]),
        address=float(ev["address"]),
        first_speaker=bool(ev["first_speaker"]),
        voiceprint_similarity=None if sim is None else float(sim),
        score=float(ev["score"]),
        decision=ev.get("decision"),
    )


class RoleAssigner:
    """Decides which diarized speaker is the agent. Construction: languages; call: per call."""

    def __init__(
        self,
        *,
        voiceprint_threshold: float = 0.5,
        phrase_weight: float = 1.0,
        voiceprint_weight: float = 4.0,
        first_speaker_weight: float = 0.5,
        address_weight: float = 1.5,
    ) -> None:
        self.voiceprint_threshold = voiceprint_threshold
        self.phrase_weight = phrase_weight
        self.voiceprint_weight = voiceprint_weight
        self.first_speaker_weight = first_speaker_weight
        self.address_weight = address_weight
        self._phrases = {lang: PhraseSet(p) for lang, p in AGENT_PHRASES.items()}

    def phrase_hits(self, utterances: Sequence[Utterance], language: str) -> int:
        phrases = self._phrases.get(language) or self._phrases["en"]
        opening = [u for u in utterances if u.start < OPENING_WINDOW_S]
        return len(phrases.all(utterances)) + len(phrases.all(opening))  # opening hits count double

    @staticmethod
    def address(utterances: Sequence[Utterance], language: str) -> float:
        """(you - me) / (you + me) over the speaker's words, in [-1, 1]: > 0 talks like the agent."""
        lang = language if language in YOU_WORDS else "en"
        text = " ".join(u.text for u in utterances).lower()
        if lang == "zh":
            you = sum(text.count(w) for w in YOU_WORDS[lang])
            me = sum(text.count(w) for w in ME_WORDS[lang])
        else:
            tokens = re.findall(r"[a-z']+", text)
            you = sum(t in YOU_WORDS[lang] for t in tokens)
            me = sum(t in ME_WORDS[lang] for t in tokens)
        return (you - me) / (you + me) if you + me else 0.0

    def __call__(
        self,
        speakers: Mapping[str, Sequence[Utterance]],
        *,
        metadata: CallMetadata,
        language: str,
        centroids: Mapping[str, np.ndarray] | None = None,
        voiceprint: Voiceprint | None = None,
    ) -> RoleAssignment:
        swap = swap_requested(metadata)
        labels = [s for s, utts in speakers.items() if utts]
        if not labels:
            return RoleAssignment({}, "none", swapped=swap)
        first = min(labels, key=lambda s: min(u.start for u in speakers[s]))
        evidence: dict[str, dict[str, Any]] = {}
        scores: dict[str, float] = {}
        used_voice = False
        sims: dict[str, float] = {}
        if voiceprint is not None and centroids:
            sims = {s: voiceprint.similarity(centroids[s]) for s in labels if s in centroids}
            sims = {s: v for s, v in sims.items() if np.isfinite(v)}
        best_sim = max(sims.values(), default=float("nan"))
        for s in labels:
            hits = self.phrase_hits(speakers[s], language)
            address = self.address(speakers[s], language)
            score = self.phrase_weight * min(hits, 6) + self.address_weight * address
            ev: dict[str, Any] = {"phrase_hits": hits, "address": round(address, 3), "first_speaker": s == first}
            if s in sims:
                ev["voiceprint_similarity"] = round(sims[s], 3)
                if best_sim >= self.voiceprint_threshold:
                    used_voice = True
                    score += self.voiceprint_weight * (sims[s] - self.voiceprint_threshold) * 10
            opening_turn = metadata.direction != "outbound"
            if (s == first) == opening_turn:
                score += self.first_speaker_weight
            ev["score"] = round(score, 3)
            scores[s] = score
            evidence[s] = ev
        if len(labels) == 1:
            return self._single(labels[0], evidence, used_voice, swap)
        agent = max(labels, key=lambda s: (scores[s], s == first))
        method: RoleMethod = "first_speaker"
        if used_voice:
            method = "voiceprint"
        elif len(labels) > 1 and evidence[agent]["phrase_hits"] > max(
            evidence[s]["phrase_hits"] for s in labels if s != agent
        ):
            method = "opening_phrase"
        roles = {s: Role.AGENT if s == agent else Role.CUSTOMER for s in labels}
        if metadata.direction in ("transfer", "conference"):
            # a second agent (the transfer target) greets like one and is not the enrolled agent
            for s in labels:
                if s != agent and evidence[s]["phrase_hits"] >= 3 and sims.get(s, 0.0) < self.voiceprint_threshold:
                    roles[s] = Role.AGENT
        if swap:
            roles = _swap(roles, scores)
        return RoleAssignment(roles, method, swapped=swap, evidence=evidence)


    def _single(self, label: str, evidence: dict[str, dict[str, Any]], used_voice: bool, swap: bool) -> RoleAssignment:
        """One speaker: a role only with positive evidence, else ``unknown`` (never guessed).

        Positive evidence for the agent: the enrolled voiceprint matches, or agent phrasing
        (at least :data:`SINGLE_MIN_PHRASE_HITS` opening/service phrase hits, opening hits
        counting double) while addressing the other party more than itself (address > 0).
        Who spoke first is no evidence when nobody else spoke. A customer-only recording
        (a hotline customer's question) stays ``unknown``; the call is flagged
        (``roles_unknown``, ``separation_failed``) and role-dependent items are ``na``.
        """
        ev = evidence[label]
        sim = ev.get("voiceprint_similarity")
        voice = used_voice and sim is not None and sim >= self.voiceprint_threshold
        phrased = ev["phrase_hits"] >= SINGLE_MIN_PHRASE_HITS and ev["address"] > 0
        role = Role.AGENT if (voice or phrased) else Role.UNKNOWN
        ev["decision"] = "voiceprint" if voice else "agent phrasing" if phrased else "no positive evidence: role unknown"
        if swap and role is Role.AGENT:
            role = Role.CUSTOMER
        return RoleAssignment({label: role}, "voiceprint" if voice else "single_speaker", swapped=swap, evidence=evidence)


def _swap(roles: Mapping[str, Role], scores: Mapping[str, float]) -> dict[str, Role]:
    """Reviewer override: the agent(s) become customers; the best-scoring other speaker becomes the agent."""
    agents = [s for s, r in roles.items() if r is Role.AGENT]
    others = [s for s, r in roles.items() if r is not Role.AGENT]
    out = {s: Role.CUSTOMER for s in roles}
    if others:
        out[max(others, key=lambda s: scores.get(s, 0.0))] = Role.AGENT
    elif agents:
        out = {s: Role.CUSTOMER for s in roles}
    return out


__all__ = ["AGENT_PHRASES", "RoleAssigner", "RoleAssignment", "SWAP_KEY", "swap_requested"]
