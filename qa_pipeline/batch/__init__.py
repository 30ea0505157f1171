"""Batches: finding recordings, the duplicate guard, scoring them in this process or on Ray,
and putting each result where it belongs.

* :mod:`.local` — discovery (:func:`discover`, :func:`source_for_file`), :func:`fetch_each` and
  the in-process loop :func:`score_sources`;
* :mod:`.sinks` — :class:`ResultSink` (database, JSON files, bucket copies) and :class:`CallOutcome`;
* :mod:`.run` — :func:`~.run.run_batch`: the in-process vs Ray switch (``ray.enabled``) and the
  batch's counts (:class:`~.run.BatchReport`).  Not re-exported here: it imports
  :mod:`qa_pipeline.distributed`, whose Ray driver uses :mod:`.sinks`.

The duplicate guard itself (:class:`~qa_pipeline.sources.DuplicateGuard`) lives with the
recording records, shared by the recording stores.
"""

from __future__ import annotations

from ..sources import CallSource, DuplicateGuard, SourceError
from .local import discover, fetch_each, score_sources, source_for_file
from .sinks import CallOutcome, ResultSink, call_day, write_result_json

__all__ = [
    "CallOutcome",
    "CallSource",
    "DuplicateGuard",
    "ResultSink",
    "SourceError",
    "call_day",
    "discover",
    "fetch_each",
    "score_sources",
    "source_for_file",
    "write_result_json",
]
