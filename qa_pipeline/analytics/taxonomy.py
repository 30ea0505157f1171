"""Call-driver taxonomies: why customers call, one YAML file per deployment (``taxonomies/``).

A taxonomy lists categories (停电/故障报修, 电费电价, 话费, "billing", ...); each category is
defined with the rubric engine's matchers (:class:`~qa_pipeline.scoring.rubric.Matcher`:
``any`` phrases, ``expr`` boolean expressions, ``regex``, ``similar_to`` semantic) over a
rubric :class:`~qa_pipeline.scoring.rubric.Scope` (default: customer speech), and compiled and
evaluated by the same code as rubric items (:func:`~qa_pipeline.scoring.matchers.compile_matcher`,
:func:`~qa_pipeline.scoring.engine.in_scope`): there is no second rule engine.

Every matching category is a driver of the call, with evidence (quotes and times). The
**primary driver** is chosen by ``tier`` (1 = a topic, 2 = a complaint overlay, 3 = a generic
inquiry; lowest tier wins), then by the earliest utterance that matched (the customer states the
reason for calling first), then by file order. A call that matches nothing has no driver and
goes to clustering (:mod:`.clusters`).

Routing: ``routes.queues`` (glob patterns such as ``95598*``) choose the taxonomy by the call's
queue; otherwise the taxonomy whose ``routes.default_for`` lists the call's language.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ..records import Evidence, Transcript
from ..scoring.engine import MAX_EVIDENCE, in_scope
from ..scoring.matchers import compile_matcher
from ..scoring.rubric import Matcher, Scope
from . import AnalyticsError

_ID = r"^[a-z][a-z0-9_]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Category(_Strict):
    """One call driver: matched when any of its matchers hits in its scope."""

    id: Annotated[str, Field(pattern=_ID)]
    name: str
    name_en: str = ""
    description: str = ""
    #: 1 topic (wins), 2 overlay such as complaints, 3 generic inquiry (fallback)
    tier: int = Field(1, ge=1, le=9)
    scope: Scope | None = None
    match: list[Matcher] = Field(min_length=1)

    @field_validator("match", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value


class Routes(_Strict):
    queues: list[str] = Field(default_factory=list)
    default_for: list[Literal["zh", "en"]] = Field(default_factory=list)


class Taxonomy(_Strict):
    id: Annotated[str, Field(pattern=_ID)]
    version: str
    name: str
    language: Literal["zh", "en"]
    description: str = ""
    routes: Routes = Routes()
    #: default scope of every category (customer speech: the reason is the customer's)
    scope: Scope = Scope(role="customer")
    categories: list[Category] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Taxonomy:
        ids = [c.id for c in self.categories]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate category id(s): {', '.join(dupes)}")
        return self

    def category(self, category_id: str) -> Category | None:
        return next((c for c in self.categories if c.id == category_id), None)


@dataclass(frozen=True, slots=True)
class DriverHit:
    """One category that matched a call.

    ``first_utterance`` is the index (0-based, in call order) of the first matching utterance;
    ``hits`` the number of matcher hits; ``evidence`` up to 5 quotes with times in seconds.
    """

    category_id: str
    name: str
    tier: int
    first_utterance: int
    hits: int
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True, slots=True)
class DriverAssignment:
    """The drivers of one call under one taxonomy; ``primary`` is None when nothing matched."""

    taxonomy_id: str
    taxonomy_version: str
    primary: str | None
    drivers: tuple[DriverHit, ...]


def load_taxonomy(path: Path) -> Taxonomy:
    """Read and validate one taxonomy YAML file.

    Raises:
        AnalyticsError: missing file, invalid YAML, or a schema error naming the category and field.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AnalyticsError("taxonomy file not found", path=path) from None
    except yaml.YAMLError as exc:
        raise AnalyticsError(f"invalid YAML: {exc}", path=path) from None
    if not isinstance(raw, dict):
        raise AnalyticsError("a taxonomy must be a mapping with id, version, name, language and categories", path=path)
    try:
        return Taxonomy.model_validate(raw)
    except ValidationError as exc:
        raise AnalyticsError(_describe(exc, raw), path=path) from None


def load_taxonomies(folder: Path) -> list[Taxonomy]:
    """Every ``*.yaml`` in ``folder``, sorted by file name.

    Raises:
        AnalyticsError: the folder has no taxonomy, a file is invalid, or two files share an id.
    """
    files = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
    if not files:
        raise AnalyticsError("no taxonomy files (*.yaml)", path=folder)
    taxonomies = [load_taxonomy(f) for f in files]
    ids = [t.id for t in taxonomies]
    if len(set(ids)) != len(ids):
        raise AnalyticsError(f"two taxonomy files share an id: {sorted(ids)}", path=folder)
    return taxonomies


def select_taxonomy(taxonomies: Iterable[Taxonomy], *, queue: str | None, language: str | None) -> Taxonomy | None:
    """The taxonomy for a call: first queue-pattern match, else the language default, else None."""
    taxonomies = list(taxonomies)
    if queue:
        for tax in taxonomies:
            if any(fnmatch.fnmatchcase(queue, pattern) for pattern in tax.routes.queues):
                return tax
    for tax in taxonomies:
        if language in tax.routes.default_for:
            return tax
    return None


def assign_drivers(taxonomy: Taxonomy, transcript: Transcript) -> DriverAssignment:
    """Evaluate every category on ``transcript`` (matchers compiled once per process).

    Mono calls without roles are searched in the whole conversation (a customer scope would find
    nothing there). Semantic (``similar_to``) matchers load the packaged e5 model on first use.
    """
    order = {u.id: i for i, u in enumerate(transcript.utterances)}
    found: list[tuple[int, int, int, DriverHit]] = []
    for position, cat in enumerate(taxonomy.categories):
        scope = cat.scope or taxonomy.scope
        if scope.needs_roles and not transcript.has_roles:
            scope = scope.model_copy(update={"role": "any"})
        utts = in_scope(scope, transcript)
        hits = [h for m in cat.match for u in utts for h in compile_matcher(m).find(u)]
        if not hits:
            continue
        hits.sort(key=lambda h: (order.get(h.utterance.id, 0), h.char_start))
        first = order.get(hits[0].utterance.id, 0)
        evidence = tuple(h.evidence() for h in hits[:MAX_EVIDENCE])
        found.append((cat.tier, first, position, DriverHit(cat.id, cat.name, cat.tier, first, len(hits), evidence)))
    found.sort(key=lambda t: t[:3])
    drivers = tuple(t[3] for t in found)
    return DriverAssignment(taxonomy.id, taxonomy.version, drivers[0].category_id if drivers else None, drivers)


def _describe(exc: ValidationError, raw: dict[str, Any]) -> str:
    problems = []
    for err in exc.errors():
        loc = list(err["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "categories" and isinstance(loc[1], int):
            cats = raw.get("categories") or []
            entry = cats[loc[1]] if loc[1] < len(cats) else None
            cid = entry.get("id", "?") if isinstance(entry, dict) else "?"
            where = f"category {cid!r} (categories[{loc[1]}]) "
            loc = loc[2:]
        field = ".".join(str(p) for p in loc) or "taxonomy"
        problems.append(f"{where}{field}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)
