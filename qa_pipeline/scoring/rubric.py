"""Rubric files: YAML validated against a pydantic schema.

A rubric is a list of items; each item has a *scope* (which party, which part
of the call) and a *check* (what must or must not happen there).  Checks are a
tagged union on ``kind`` so new operators plug in without touching the others
(see :mod:`qa_pipeline.scoring.engine` for the evaluator registry).

Errors name the file, the item and the field::

    rubrics/basic_zh.yaml: item 'greeting' (items[0]) check.groups: List should have at least 1 item
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import RubricError
from ..records import SCALAR_METRICS

_ID_RE = r"^[a-z][a-z0-9_]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scope(_Strict):
    """Where an item looks: whose speech, and which part of the call."""

    role: Literal["agent", "customer", "any"] = "agent"
    #: Only utterances that start within the first N seconds of the call.
    first_s: float | None = Field(None, gt=0)
    #: Only utterances that end within the last N seconds of the call.
    last_s: float | None = Field(None, gt=0)

    @property
    def needs_roles(self) -> bool:
        return self.role != "any"

    def describe(self) -> str:
        who = {"agent": "agent speech", "customer": "customer speech", "any": "the conversation"}[self.role]
        if self.first_s:
            return f"{who} in the first {self.first_s:g} s"
        if self.last_s:
            return f"{who} in the last {self.last_s:g} s"
        return who


class PhraseCheck(_Strict):
    """Phrases that must be present (every group matched) or absent (no phrase of any group)."""

    kind: Literal["phrases"]
    expect: Literal["present", "absent"] = "present"
    #: AND of groups; inside a group, any phrase (OR).
    groups: list[Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]] = Field(min_length=1)
    #: Also match Chinese phrases by toneless pinyin (tolerates ASR homophone errors).
    fuzzy: bool = True


class MetricCheck(_Strict):
    """A conversation metric must stay within bounds."""

    kind: Literal["metric"]
    metric: str
    max: float | None = None
    min: float | None = None

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in SCALAR_METRICS:
            raise ValueError(f"unknown metric {value!r}; known: {', '.join(sorted(SCALAR_METRICS))}")
        return value

    @model_validator(mode="after")
    def _has_bound(self) -> "MetricCheck":
        if self.max is None and self.min is None:
            raise ValueError("a metric check needs max and/or min")
        return self


Check = Annotated[Union[PhraseCheck, MetricCheck], Field(discriminator="kind")]


class Item(_Strict):
    id: Annotated[str, Field(pattern=_ID_RE)]
    name: str
    section: str = "general"
    description: str = ""
    weight: float = Field(1.0, ge=0)
    #: A failed fatal item zeroes the call's score and flags it for review.
    fatal: bool = False
    scope: Scope = Scope()
    check: Check


class Rubric(_Strict):
    id: Annotated[str, Field(pattern=_ID_RE)]
    version: str
    name: str
    language: Literal["zh", "en"] | None = None
    description: str = ""
    #: Calls scoring below this total are flagged for review.
    flag_below: float = Field(80.0, ge=0, le=100)
    items: list[Item] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> "Rubric":
        seen: set[str] = set()
        for item in self.items:
            if item.id in seen:
                raise ValueError(f"duplicate item id {item.id!r}")
            seen.add(item.id)
        return self

    @property
    def fingerprint(self) -> str:
        """Content hash: editing a rubric without bumping its version still changes results' key."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def load_rubric(path: Path) -> Rubric:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RubricError("rubric file not found", path=path) from None
    except yaml.YAMLError as exc:
        raise RubricError(f"invalid YAML: {exc}", path=path) from None
    if not isinstance(raw, dict):
        raise RubricError("a rubric must be a YAML mapping with id, version, name and items", path=path)
    try:
        return Rubric.model_validate(raw)
    except ValidationError as exc:
        raise RubricError(_describe(exc, raw), path=path) from None


def find_rubric(name_or_path: str, rubrics_dir: Path) -> Rubric:
    """A rubric by id (``rubrics/<id>.yaml``) or by file path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        return load_rubric(path)
    if not re.match(_ID_RE, name_or_path):
        raise RubricError(f"not a rubric id or file: {name_or_path!r}")
    return load_rubric(rubrics_dir / f"{name_or_path}.yaml")


def _describe(exc: ValidationError, raw: dict[str, Any]) -> str:
    problems = []
    for err in exc.errors():
        loc = list(err["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int):
            items = raw.get("items") or []
            item_id = items[loc[1]].get("id", "?") if loc[1] < len(items) and isinstance(items[loc[1]], dict) else "?"
            where = f"item {item_id!r} (items[{loc[1]}]) "
            loc = loc[2:]
        if len(loc) >= 2 and loc[0] == "check" and loc[1] in ("phrases", "metric"):
            del loc[1]  # the union tag pydantic inserts for discriminated unions
        field = ".".join(str(p) for p in loc) or "rubric"
        problems.append(f"{where}{field}: {err['msg']}")
    return "; ".join(problems)
