"""Domain errors. Each names the offending file (or object) and the problem.

The CLI turns these into one-line messages; the batch runner records them per call
and carries on with the rest of the batch.
"""

from __future__ import annotations

from pathlib import Path


class QAError(Exception):
    """Base class of every error qa_pipeline raises on purpose."""

    stage = "pipeline"

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.reason = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class AudioError(QAError):
    """The audio file is missing, empty, corrupt, silent or not audio at all."""

    stage = "decode"


class MetadataError(QAError):
    """Call metadata (sidecar JSON, CSV manifest or file name) is invalid."""

    stage = "metadata"


class RubricError(QAError):
    """A rubric file is malformed; the message names the item and field."""

    stage = "rubric"


class ModelError(QAError):
    """A model cannot be found or loaded from local storage."""

    stage = "model"


class ConfigError(QAError):
    """The configuration file or environment is invalid."""

    stage = "config"


class NotFoundError(QAError):
    """A call or result asked for by id does not exist in the results store."""

    stage = "store"


class ReviewError(QAError):
    """A review action that is not allowed (closed appeal window, unknown item, decided appeal)."""

    stage = "review"
