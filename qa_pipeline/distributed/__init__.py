"""Distributed scoring on Ray: stages split by resource, a streaming driver, and ``qa watch``.

Needs the ``distributed`` extra (``ray``, ``minio``, ``pyarrow``).
"""

from .runner import BatchProgress, RayRunner

__all__ = ["BatchProgress", "RayRunner"]
