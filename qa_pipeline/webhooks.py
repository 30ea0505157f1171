"""Signed webhook delivery shared by live alerts (:mod:`qa_pipeline.live.webhook`) and analytics
warnings (:mod:`qa_pipeline.analytics.alerts`).

Both sign ``"<unix seconds>.<body>"`` with HMAC-SHA256 (the Stripe/GitHub webhook scheme) and
POST with a few attempts and exponential back-off; each keeps its own header layout.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

#: ``post(url, body, headers, timeout_s) -> HTTP status``; raises on transport errors.
Poster = Callable[[str, bytes, dict[str, str], float], int]


def hmac_hex(secret: bytes, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``b"<timestamp>." + body`` keyed with ``secret``."""
    return hmac.new(secret, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def httpx_post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
    """The default :data:`Poster` (httpx)."""
    import httpx

    return httpx.post(url, content=body, headers=headers, timeout=timeout_s).status_code


def post_signed(
    url: str,
    body: bytes,
    headers_for: Callable[[int], dict[str, str]],
    *,
    attempts: int = 3,
    timeout_s: float = 10.0,
    post: Poster = httpx_post,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """POST ``body`` with the headers signed at each attempt's time (``headers_for(unix seconds)``).

    Up to ``attempts`` tries, 1 s, 2 s, ... apart.  Returns ``"delivered <status>"`` or
    ``"failed: <reason>"``; never raises.
    """
    reason = "not attempted"
    for attempt in range(attempts):
        try:
            status = post(url, body, {"Content-Type": "application/json", **headers_for(int(time.time()))}, timeout_s)
        except Exception as exc:  # noqa: BLE001 - any transport error is a failed attempt
            reason = f"{type(exc).__name__}: {exc}"
        else:
            if 200 <= status < 300:
                return f"delivered {status}"
            reason = f"HTTP {status}"
        if attempt + 1 < attempts:
            sleep(2.0**attempt)
    return f"failed: {reason}"
