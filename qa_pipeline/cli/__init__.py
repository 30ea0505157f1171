"""The ``qa`` command line.  The only package that prints or configures logging.

Each module registers its commands on :data:`app` (:mod:`.common`):

* :mod:`.batch` — ``qa batch``, ``qa watch``, ``qa score`` (options and printing; the batch
  itself is :mod:`qa_pipeline.batch`);
* :mod:`.calls` — ``qa show``, ``qa failures``, ``qa export``, ``qa rescore``, ``qa rubric check|test``;
* :mod:`.admin` — ``qa models install|list``, ``qa serve``, ``qa live``, ``qa user add``;
* ``qa analytics`` is :mod:`qa_pipeline.analytics.cli`.
"""

from __future__ import annotations

from . import admin, batch, calls  # noqa: F401  (each registers its commands)
from .common import EXIT_CALLS_FAILED, EXIT_ERROR, EXIT_OK, app

__all__ = ["EXIT_CALLS_FAILED", "EXIT_ERROR", "EXIT_OK", "app"]

if __name__ == "__main__":  # pragma: no cover
    app()
