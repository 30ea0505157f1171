"""AudioHook authentication of the WebSocket upgrade request.

As the AudioHook protocol defines it: the ``X-API-KEY`` header must be a configured key, and the
request must carry an RFC 9421 HTTP message signature (``Signature-Input`` / ``Signature``,
``alg="hmac-sha256"``, ``keyid`` = the API key, a ``nonce`` of at least 22 characters, created
at most :data:`MAX_AGE` ago) over ``@request-target``, ``@authority``,
``audiohook-organization-id``, ``audiohook-session-id``, ``audiohook-correlation-id`` and
``x-api-key``, keyed with the base64-decoded client secret. A key configured with an empty
secret accepts unsigned requests (Genesys lets an integration leave the secret empty).

Verification uses the ``http-message-signatures`` library; this module only supplies the key
resolution, the required components and the AudioHook-specific checks. The ``sign_headers``
helper signs a request the same way (the test client and the benchmark use it).
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    algorithms,
)
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from ..errors import QAError

REQUIRED_COMPONENTS = (
    "@request-target", "@authority", "audiohook-organization-id", "audiohook-session-id",
    "audiohook-correlation-id", "x-api-key",
)
#: Oldest accepted signature (seconds since ``created``), as the AudioHook reference server.
MAX_AGE = 10
MIN_NONCE = 22


class AuthError(QAError):
    """The upgrade request is refused (the reason is logged, never sent to the client)."""

    stage = "live-auth"


@dataclass(frozen=True)
class _Request:
    """What the signature library reads from a request: method, absolute URL, headers."""

    method: str
    url: str
    headers: Mapping[str, str]


class _Keys(HTTPSignatureKeyResolver):
    def __init__(self, key: bytes) -> None:
        self.key = key

    def resolve_public_key(self, key_id: str) -> bytes:
        return self.key

    def resolve_private_key(self, key_id: str) -> bytes:
        return self.key


@dataclass(frozen=True)
class ApiKeyAuthenticator:
    """Checks ``X-API-KEY`` and the request signature; ``keys`` maps API key -> base64 secret."""

    keys: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, path: str, headers: Mapping[str, str], *, signed: bool = True) -> str:
        """The API key of an accepted request (``path`` with query, ``headers`` case-insensitive).
        ``signed=False`` (the audio fork) accepts a known key without a signature; a signature
        that is present is always verified.

        Raises:
            AuthError: no or unknown key, missing/invalid/expired signature, keyid mismatch.
        """
        lower = {k.lower(): v for k, v in headers.items()}
        api_key = lower.get("x-api-key", "").strip()
        if not api_key:
            raise AuthError('missing "X-API-KEY" header')
        known = next((k for k in self.keys if hmac.compare_digest(k.encode(), api_key.encode())), None)
        if known is None:
            raise AuthError("unknown API key")
        secret = _secret(self.keys[known])
        if "signature" not in lower and "signature-input" not in lower:
            if secret and signed:
                raise AuthError("request is not signed (the key has a client secret)")
            return known
        verifier = HTTPMessageVerifier(signature_algorithm=algorithms.HMAC_SHA256, key_resolver=_Keys(secret))
        request = _Request("GET", f"http://{lower.get('host', 'localhost')}{path}", lower)
        try:
            results = verifier.verify(request, max_age=dt.timedelta(seconds=MAX_AGE), require_components=REQUIRED_COMPONENTS)
        except HTTPMessageSignaturesException as exc:
            raise AuthError(f"bad signature: {exc}") from None
        params = results[0].parameters
        if params.get("keyid") != api_key:
            raise AuthError("signature keyid does not match X-API-KEY")
        if len(str(params.get("nonce") or "")) < MIN_NONCE:
            raise AuthError(f"signature nonce missing or shorter than {MIN_NONCE} characters")
        return known


def sign_headers(path: str, authority: str, headers: Mapping[str, str], *, api_key: str, secret: str) -> dict[str, str]:
    """``headers`` plus ``X-API-KEY``, ``Signature-Input`` and ``Signature`` for an AudioHook
    upgrade request to ``path`` on ``authority`` (``host:port``); ``secret`` is base64."""
    out = {**headers, "x-api-key": api_key}
    request = _Request("GET", f"http://{authority}{path}", out)
    signer = HTTPMessageSigner(signature_algorithm=algorithms.HMAC_SHA256, key_resolver=_Keys(_secret(secret)))
    signer.sign(request, key_id=api_key, covered_component_ids=REQUIRED_COMPONENTS, nonce=secrets.token_urlsafe(18),
                created=dt.datetime.now(dt.UTC), label="sig1", include_alg=True)
    return dict(out)


def _secret(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True) if text else b""
    except ValueError:
        raise AuthError("configured client secret is not base64") from None
