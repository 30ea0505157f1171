"""Contact-center analytics and early warning.

* :mod:`.taxonomy` — call-driver taxonomies (YAML per deployment, ``taxonomies/``), categories
  defined with the rubric engine's matchers; per-call drivers with evidence.
* :mod:`.caller` — caller numbers as a keyed hash (HMAC-SHA256 with a deployment secret).
* :mod:`.records` / :mod:`.refresh` — per-call analytics rows in the results database.
* :mod:`.repeats` — repeat contacts on the same driver within a window; FCR per agent/team.
* :mod:`.spikes` — hourly/daily counts per driver x area/queue/team and a Poisson spike test.
* :mod:`.alerts` — alerts stored for the web app and posted to a signed webhook.
* :mod:`.clusters` — unmatched calls clustered on multilingual-e5 embeddings.
* :mod:`.queries` — the dashboard aggregates (indexed SQL, SQLite and PostgreSQL).
"""

from __future__ import annotations

from ..errors import QAError


class AnalyticsError(QAError):
    """Analytics configuration or data is invalid (taxonomy file, thresholds, webhook, key)."""

    stage = "analytics"


__all__ = ["AnalyticsError"]
