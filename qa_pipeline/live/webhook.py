"""Alerts sent as signed webhooks to the centre's own systems (``live.webhook_url``).

Each alert is POSTed as JSON (:meth:`~qa_pipeline.live.judge.Alert.to_dict` plus ``latency_s``)
with ``X-QA-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` keyed with
``live.webhook_secret`` (the receiver recomputes it and rejects old timestamps). Deliveries run
on one background thread (three attempts, 1 s and 2 s apart), so a slow receiver never delays
recognition; failures are logged.
"""

from __future__ import annotations

import json
import logging
import queue
import threading

from ..webhooks import hmac_hex, post_signed
from .judge import Alert

log = logging.getLogger(__name__)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-QA-Signature`` header value of ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={hmac_hex(secret.encode(), timestamp, body)}"


class WebhookSender:
    """Callable alert sink: ``sender(alert, latency_s)`` queues one delivery."""

    def __init__(self, url: str, secret: str, *, timeout_s: float = 5.0, attempts: int = 3) -> None:
        self.url, self.secret, self.timeout_s, self.attempts = url, secret, timeout_s, attempts
        self._queue: queue.Queue[bytes | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="qa-live-webhook", daemon=True)
        self._thread.start()
        self.delivered = 0

    def __call__(self, alert: Alert, latency_s: float) -> None:
        body = json.dumps({**alert.to_dict(), "latency_s": round(latency_s, 3)}, ensure_ascii=False).encode("utf-8")
        self._queue.put(body)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            body = self._queue.get()
            if body is None:
                return

            def headers(ts: int, body: bytes = body) -> dict[str, str]:
                return {"X-QA-Signature": signature(self.secret, ts, body)}

            outcome = post_signed(self.url, body, headers, attempts=self.attempts, timeout_s=self.timeout_s)
            if outcome.startswith("delivered"):
                self.delivered += 1
            else:
                log.warning("live webhook to %s %s", self.url, outcome)
