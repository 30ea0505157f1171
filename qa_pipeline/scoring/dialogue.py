"""Scripted dialogues (text transcripts without audio) for rubric authoring and the golden set.

Format (YAML or JSON)::

    id: zh_utility_01_good
    language: zh
    metadata: {queue: 95598-repair, direction: inbound, ended_by: customer}
    duration: 62.0
    turns:
      - [agent, 0.5, 6.0, "您好，国家电网95598，工号1023，很高兴为您服务。"]
      - [customer, 6.5, 10.0, "你好，我家停电了。"]

Words are spread evenly over each turn (one per Hanzi or English word), so evidence spans
have plausible times.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import QAError
from ..records import CallMetadata, Role, Transcript, Utterance, Word
from ..text import tokenize


class DialogueFile(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    language: Literal["zh", "en"]
    metadata: dict[str, Any] = Field(default_factory=dict)
    duration: float | None = None
    turns: list[tuple[Literal["agent", "customer", "unknown"], float, float, str]] = Field(min_length=1)


@dataclass(frozen=True)
class Dialogue:
    id: str
    transcript: Transcript
    metadata: CallMetadata
    raw: dict[str, Any]


def _words(text: str, start: float, end: float) -> tuple[Word, ...]:
    tokens = tokenize(text)
    if not tokens:
        return ()
    step = (end - start) / len(tokens)
    words = []
    for i, tok in enumerate(tokens):
        # word text covers the original characters up to the next token, so the words
        # concatenate back to the utterance text exactly
        lo = 0 if i == 0 else tok.start
        hi = tokens[i + 1].start if i + 1 < len(tokens) else len(text)
        words.append(Word(round(start + i * step, 3), round(start + (i + 1) * step, 3), text[lo:hi], 0.99))
    return tuple(words)


def dialogue_from_dict(raw: dict[str, Any], source: str | Path = "<dialogue>") -> Dialogue:
    try:
        spec = DialogueFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise QAError(f"invalid dialogue: {problems}", path=source) from None
    utts = []
    channel = {"agent": 0, "customer": 1, "unknown": 0}
    for i, (role, start, end, text) in enumerate(sorted(spec.turns, key=lambda t: t[1]), start=1):
        if end <= start:
            raise QAError(f"turn {i}: end {end} is not after start {start}", path=source)
        utts.append(Utterance(f"u{i:04d}", Role(role), channel[role], start, end, text, _words(text, start, end)))
    duration = spec.duration or max(u.end for u in utts) + 1.0
    meta_fields = {k: v for k, v in spec.metadata.items() if k in CallMetadata.__dataclass_fields__}
    metadata = CallMetadata(call_id=spec.id, language=spec.language, source="dialogue", **meta_fields)
    return Dialogue(spec.id, Transcript(spec.language, duration, tuple(utts)), metadata, raw)


def load_dialogue(path: Path) -> Dialogue:
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise QAError(f"cannot read dialogue: {exc}", path=path) from None
    if not isinstance(raw, dict):
        raise QAError("a dialogue must be a mapping with id, language and turns", path=path)
    return dialogue_from_dict(raw, path)
