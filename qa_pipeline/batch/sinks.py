"""Where a batch puts its results (:class:`ResultSink`) and what happened to each call (:class:`CallOutcome`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Mapping

from ..errors import QAError
from ..records import CallResult
from ..storage import result_payload
from ..store import ResultStore, claim_owner

if TYPE_CHECKING:
    from ..storage import S3Store


@dataclass(frozen=True)
class CallOutcome:
    """What happened to one recording in a batch (``path`` is a file path or an ``s3://`` URI)."""

    path: str
    call_id: str | None
    status: Literal["scored", "skipped", "failed"]
    result: CallResult | None = None
    stage: str | None = None
    error: str | None = None
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]


def write_result_json(result: CallResult, results_dir: Path) -> Path:
    """One JSON file per call, written atomically."""
    from ..privfs import private_dir, write_private

    target = private_dir(results_dir) / f"{result.call_id}.json"
    write_private(target, json.dumps(result.to_dict(), ensure_ascii=False, indent=2).encode("utf-8"))  # 0600
    return target


class ResultSink:
    """Where a batch puts results: the database, ``<results_dir>/<call_id>.json`` and, for
    object-store batches, ``<results prefix>/calls/<call_id>.json`` in the bucket.

    The database write comes first; a result whose JSON copies went missing is rewritten
    when the call is next skipped, so re-running a batch repairs them.
    """

    def __init__(
        self,
        store: ResultStore,
        results_dir: Path,
        *,
        objects: "S3Store | None" = None,
        force: bool = False,
        timezone: str = "UTC",
    ) -> None:
        self.store = store
        self.timezone = timezone
        self.results_dir = results_dir
        self.objects = objects
        self.force = force
        #: Days (of the calls) that got new results in this batch: their daily summaries are rewritten.
        self.days: set[str] = set()
        #: this batch's id in the per-call claims (``host:pid:token``)
        self.owner = claim_owner()
        self._claims: dict[str, str] = {}

    def start(self, call_id: str, result_key: str) -> CallResult | str | None:
        """Decide, before any model work, whether this batch scores the call.

        Returns the stored result when the call was already scored with the same inputs (and
        not ``force``), the claim's owner when another batch is scoring it, or None when this
        batch holds the claim now. The stored result is looked up again once the claim is
        held: a batch that saved the call and dropped its claim between the first look-up and
        the claim has scored it, and it is not transcribed a second time.
        """
        stored = self.cached(call_id, result_key)
        if stored is not None:
            return stored
        holder = self.store.claim(call_id, result_key, self.owner)
        if holder is not None:
            return holder
        self._claims[call_id] = result_key
        stored = self.cached(call_id, result_key)
        if stored is not None:
            self._release(call_id)
        return stored

    def _release(self, call_id: str | None) -> None:
        key = self._claims.pop(call_id, None) if call_id else None
        if key is not None:
            self.store.release(call_id, key, self.owner)  # type: ignore[arg-type]

    def cached(self, call_id: str, result_key: str) -> CallResult | None:
        """The stored result when this call was already scored with the same inputs (and not ``force``);
        its JSON copies are rewritten where they went missing."""
        if self.force or not self.store.has_result(call_id, result_key):
            return None
        result = self.store.current(call_id, result_key=result_key)
        if not (self.results_dir / f"{call_id}.json").is_file():
            write_result_json(result, self.results_dir)
        if self.objects is not None and not self.objects.has_result(call_id):
            self.objects.put_result(call_id, result_payload(result))
        return result

    def save(self, result: CallResult) -> None:
        """Bucket copy, JSON file, then the database row: the database is the commit point, so a
        call whose copies could not be written has no result and is scored again next run."""
        if self.objects is not None:
            self.objects.put_result(result.call_id, result_payload(result))
        write_result_json(result, self.results_dir)
        self.store.save(result, force=self.force)
        self._release(result.call_id)
        self.days.add(call_day(result, self.timezone))

    def fail(self, location: str, call_id: str | None, exc: BaseException) -> CallOutcome:
        stage = exc.stage if isinstance(exc, QAError) else "internal"
        reason = exc.reason if isinstance(exc, QAError) else f"{type(exc).__name__}: {exc}"
        return self.record_failure(location, call_id, stage=stage, error_type=type(exc).__name__, reason=reason)

    def record_failure(self, location: str, call_id: str | None, *, stage: str, error_type: str, reason: str) -> CallOutcome:
        """Store the failure (``qa failures`` lists it until the call scores) and report it."""
        self.store.record_failure(path=location, stage=stage, error_type=error_type, reason=reason, call_id=call_id)
        self._release(call_id)
        return CallOutcome(location, call_id, "failed", stage=stage, error=f"{location}: {reason}")


def call_day(result: CallResult, tz: str) -> str:
    """The day a call belongs to (its start time in the centre's time zone, else when scored)."""
    from zoneinfo import ZoneInfo

    moment = result.metadata.start_time or result.scored_at
    return moment.astimezone(ZoneInfo(tz)).date().isoformat()


__all__ = ["CallOutcome", "ResultSink", "call_day", "write_result_json"]
