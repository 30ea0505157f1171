"""Agent voiceprints: CAM++ speaker embeddings enrolled from each agent's stereo calls.

On a stereo call the agent's channel is known, so every scored stereo call can add
to that agent's voiceprint (a running mean of unit-length embeddings).  On a mono
call of the same agent, the diarized speaker closest to the print is the agent.
The store is one small JSON file; it holds embeddings, never audio.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class Voiceprint:
    agent_id: str
    embedding: np.ndarray  # unit length
    seconds: float
    calls: tuple[str, ...]

    def similarity(self, embedding: np.ndarray) -> float:
        return cosine(self.embedding, embedding)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0 or not (np.isfinite(na) and np.isfinite(nb)):
        return float("nan")
    return float(np.dot(a, b) / (na * nb))


class VoiceprintStore:
    """``{agent_id: Voiceprint}`` persisted as JSON at ``path`` (``None`` = in memory only)."""

    #: Less agent speech than this in a call is not enrolled (too little for a stable print).
    min_seconds = 3.0

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._prints: dict[str, Voiceprint] = {}
        if path is not None and path.is_file():
            self._prints = _load(path)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._prints

    def __len__(self) -> int:
        return len(self._prints)

    def get(self, agent_id: str | None) -> Voiceprint | None:
        return self._prints.get(agent_id) if agent_id else None

    def enroll(self, agent_id: str, embedding: np.ndarray, *, seconds: float, call_id: str) -> Voiceprint | None:
        """Add one call's agent embedding; a call already enrolled for this agent is not counted twice."""
        emb = np.asarray(embedding, dtype=np.float64)
        norm = float(np.linalg.norm(emb))
        if seconds < self.min_seconds or not np.isfinite(norm) or norm == 0.0:
            return None
        emb = emb / norm
        old = self._prints.get(agent_id)
        if old is not None and call_id in old.calls:
            return old
        calls: tuple[str, ...]
        if old is None:
            mean, total, calls = emb, seconds, (call_id,)
        else:
            total = old.seconds + seconds
            mean = (old.embedding * old.seconds + emb * seconds) / total
            mean = mean / np.linalg.norm(mean)
            calls = (*old.calls, call_id)
        vp = Voiceprint(agent_id, mean.astype(np.float32), round(total, 2), calls)
        self._prints[agent_id] = vp
        self.save()
        return vp

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            a: {"embedding": [round(float(x), 6) for x in v.embedding], "seconds": v.seconds, "calls": list(v.calls)}
            for a, v in sorted(self._prints.items())
        }
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"model": "campplus-zh-en", "agents": data}), encoding="utf-8")
        os.replace(tmp, self.path)


def _load(path: Path) -> dict[str, Voiceprint]:
    try:
        raw: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return {
            agent: Voiceprint(agent, np.asarray(v["embedding"], dtype=np.float32), float(v["seconds"]), tuple(v["calls"]))
            for agent, v in raw.get("agents", {}).items()
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"unreadable voiceprint store: {exc}", path=path) from None


__all__ = ["Voiceprint", "VoiceprintStore", "cosine"]
