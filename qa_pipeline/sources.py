"""A recording to score and what can go wrong before scoring: the records shared by the
recording stores (:mod:`qa_pipeline.storage`) and the pipeline (:mod:`qa_pipeline.pipeline`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import MetadataError, QAError
from .records import CallMetadata, Flag


@dataclass(frozen=True)
class CallSource:
    """One recording to score, with its resolved metadata.

    ``path`` is a local file; ``uri`` the recording's address when it came from an object
    store (``s3://bucket/key``; ``path`` was then a temporary copy).
    """

    path: Path
    metadata: CallMetadata
    uri: str | None = None
    #: flags about the file found while it was on local disk (bucket copies are deleted after
    #: decoding): see :func:`qa_pipeline.checks.file_flags`
    file_flags: tuple[Flag, ...] = ()

    @property
    def location(self) -> str:
        return self.uri or str(self.path)


@dataclass(frozen=True)
class SourceError:
    """A recording that could not even be described (bad metadata, duplicate id)."""

    path: Path | str
    error: QAError


class DuplicateGuard:
    """Call ids seen in one batch: a second recording claiming an id is an error, not an overwrite."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def check(self, source: CallSource) -> None:
        call_id = source.metadata.call_id
        other = self._seen.setdefault(call_id, source.location)
        if other != source.location:
            raise MetadataError(f"duplicate call_id {call_id!r} (also {other})", path=source.location)
