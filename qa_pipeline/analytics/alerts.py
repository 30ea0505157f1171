"""Warnings: run the spike detector, store new alerts for the web app, post them to a webhook.

Each alert is stored once per (granularity, bucket, driver) (``analytics_alerts.key``), with
the calls behind it, and — when a webhook URL is configured — POSTed as JSON with an
HMAC-SHA256 signature, in the style of Stripe/GitHub webhooks:

* ``X-QA-Timestamp``: Unix seconds when the request was signed;
* ``X-QA-Signature``: ``sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``.

A receiver recomputes the HMAC over the raw body with the shared secret, compares in constant
time and rejects old timestamps (replays). :func:`verify_signature` is that check.
The secret: ``QA_WEBHOOK_SECRET`` (at least 32 characters). Delivery is retried 3 times
(1 s, 2 s back-off); the outcome is kept in ``webhook_status``.
"""

from __future__ import annotations

import hmac
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..tables import utcnow
from ..webhooks import Poster, hmac_hex, httpx_post, post_signed
from . import AnalyticsError
from .queries import bucket_counts, cell_calls
from .spikes import Spike, SpikeConfig, detect
from .tables import AlertRow

SECRET_ENV = "QA_WEBHOOK_SECRET"
SIGNATURE_HEADER = "X-QA-Signature"
TIMESTAMP_HEADER = "X-QA-Timestamp"


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str
    secret: bytes
    timeout_s: float = 10.0
    attempts: int = 3


def webhook_from_env(url: str | None) -> Webhook | None:
    """The webhook for ``url`` with the secret from ``QA_WEBHOOK_SECRET``; None without a URL.

    Raises:
        AnalyticsError: a URL without a secret, a short secret or a URL that is not http(s).
    """
    if not url:
        return None
    if not url.startswith(("https://", "http://")):
        raise AnalyticsError(f"webhook URL must start with https:// or http://: {url!r}")
    secret = os.environ.get(SECRET_ENV, "").strip()
    if len(secret) < 32:
        raise AnalyticsError(f"set {SECRET_ENV} (at least 32 characters) to sign webhook requests")
    return Webhook(url, secret.encode("utf-8"))


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, b"<timestamp>." + body)."""
    return "sha256=" + hmac_hex(secret, timestamp, body)


def verify_signature(secret: bytes, body: bytes, timestamp: str, signature: str, *, max_age_s: float = 300.0, now: float | None = None) -> bool:
    """True when ``signature`` is the HMAC of ``timestamp.body`` and the timestamp is recent."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - ts) > max_age_s:
        return False
    return hmac.compare_digest(sign(secret, body, ts), signature)


def payload(alert: AlertRow) -> dict[str, Any]:
    """The JSON body posted for one alert (also the API's alert shape)."""
    return {
        "id": alert.id,
        "key": alert.key,
        "granularity": alert.granularity,
        "bucket": alert.bucket,
        "bucket_label": bucket_label(alert.granularity, alert.bucket),
        "driver": alert.driver_id,
        "dimension": alert.dimension,
        "value": alert.dim_value,
        "count": alert.count,
        "baseline_mean": alert.baseline_mean,
        "p_value": alert.p_value,
        "cells": alert.cells,
        "call_ids": alert.call_ids,
        "state": alert.state,
        "created_at": alert.created_at.isoformat() if alert.created_at else None,
    }


def bucket_label(granularity: str, bucket: int) -> str:
    """A local hour bucket as ``YYYY-MM-DD HH:00``, a day bucket as ``YYYY-MM-DD`` (see :mod:`.tables`)."""
    from datetime import date, timedelta

    day = bucket // 24 if granularity == "hour" else bucket
    text = (date(1970, 1, 1) + timedelta(days=day)).isoformat()
    return f"{text} {bucket % 24:02d}:00" if granularity == "hour" else text


def deliver(hook: Webhook, body: dict[str, Any], *, post: Poster = httpx_post, sleep: Callable[[float], None] = time.sleep) -> str:
    """POST ``body`` signed; returns ``"delivered <status>"`` or ``"failed: <reason>"`` (never raises)."""
    raw = json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")

    def headers(ts: int) -> dict[str, str]:
        return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign(hook.secret, raw, ts)}

    return post_signed(hook.url, raw, headers, attempts=hook.attempts, timeout_s=hook.timeout_s, post=post, sleep=sleep)


def run_detection(
    s: Session, buckets: Sequence[int], config: SpikeConfig = SpikeConfig(), *, hook: Webhook | None = None, post: Poster = httpx_post
) -> list[AlertRow]:
    """Detect spikes in each of ``buckets``; store and deliver the new ones (idempotent per key).

    The caller commits the session. Returns the alerts created in this run.
    """
    created: list[AlertRow] = []
    for bucket in buckets:
        counts = bucket_counts(s, config.granularity, [bucket, *config.baseline_buckets_of(bucket)], config.dimensions)
        for spike in detect(counts, bucket, config):
            if s.execute(select(AlertRow.id).where(AlertRow.key == spike.key)).first() is not None:
                continue
            row = _row(s, spike)
            s.add(row)
            s.flush()
            if hook is not None:
                row.webhook_status = deliver(hook, payload(row), post=post)
            created.append(row)
    return created


def _row(s: Session, spike: Spike) -> AlertRow:
    head = spike.headline
    calls = cell_calls(s, spike.granularity, spike.bucket, spike.driver, head.dimension, head.value)  # type: ignore[arg-type]
    return AlertRow(
        key=spike.key,
        granularity=spike.granularity,
        bucket=spike.bucket,
        driver_id=spike.driver,
        dimension=head.dimension,
        dim_value=head.value,
        count=head.count,
        baseline_mean=head.baseline_mean,
        p_value=head.p_value,
        call_ids=calls,
        cells=[asdict(c) for c in spike.cells],
        created_at=utcnow(),
        state="open",
    )
