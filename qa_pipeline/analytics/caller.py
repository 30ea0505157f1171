"""Caller numbers as a keyed hash: HMAC-SHA256 with a deployment secret (RFC 2104).

The raw number (metadata field ``caller``) never reaches the results database or the result
JSON: :func:`caller_hash` turns it into 32 hex characters (128 bits of the HMAC) right where
the metadata is resolved. Without the key, a hash cannot be tested against a guessed number
(a phone number has too few digits for an unkeyed hash to hide it).

The key, like the web session secret (:func:`qa_pipeline.web.app.session_secret`): the
environment variable ``QA_CALLER_KEY`` (at least 32 characters), else
``<data_dir>/caller_key``, created on first use atomically with mode 600
(:func:`qa_pipeline.privfs.write_private`). Every host that resolves metadata must use the
same key (set ``QA_CALLER_KEY`` on clusters); changing it breaks repeat-contact linking with
earlier calls.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from functools import lru_cache
from pathlib import Path

from ..privfs import private_dir, write_private
from . import AnalyticsError

KEY_ENV = "QA_CALLER_KEY"
KEY_FILE = "caller_key"
MIN_KEY_CHARS = 32
_NON_DIGITS = re.compile(r"[^\d]")


def normalize_number(number: str) -> str:
    """Digits only, without a China country prefix (+86 / 0086 / 86 before an 11-digit mobile).

    ``"+86 138-1234-5678"`` -> ``"13812345678"``; ``"(555) 213-4489"`` -> ``"5552134489"``.

    Raises:
        AnalyticsError: fewer than 3 digits (not a caller number).
    """
    digits = _NON_DIGITS.sub("", number)
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if len(digits) < 3:
        raise AnalyticsError(f"not a caller number: {len(digits)} digit(s)")
    return digits


def caller_hash(number: str, key: bytes) -> str:
    """HMAC-SHA256(key, normalized number), first 32 hex characters (128 bits).

    Raises:
        AnalyticsError: the number has fewer than 3 digits.
    """
    return hmac.new(key, normalize_number(number).encode("ascii"), hashlib.sha256).hexdigest()[:32]


def load_caller_key(data_dir: Path | None = None) -> bytes:
    """``QA_CALLER_KEY``, else ``<data_dir>/caller_key`` (created once, mode 600).

    ``data_dir`` defaults to the configured data directory (:func:`qa_pipeline.config.load_settings`).

    Raises:
        AnalyticsError: the key is shorter than 32 characters or the file cannot be read.
    """
    env = os.environ.get(KEY_ENV)
    if env is not None:
        return _checked(env.strip(), KEY_ENV)
    return _key_file(str(data_dir) if data_dir is not None else None)


@lru_cache(maxsize=8)
def _key_file(data_dir: str | None) -> bytes:
    if data_dir is None:
        from ..config import load_settings

        folder = load_settings(None).data_dir
    else:
        folder = Path(data_dir)
    path = private_dir(folder) / KEY_FILE
    if not path.exists():
        write_private(path, secrets.token_urlsafe(48).encode(), exclusive=True)  # False: another process won
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise AnalyticsError(f"cannot read the caller-number key: {exc}", path=path) from None
    return _checked(text, str(path))


def _checked(text: str, where: str) -> bytes:
    if len(text) < MIN_KEY_CHARS:
        raise AnalyticsError(
            f"the caller-number key in {where} has {len(text)} characters; it needs at least {MIN_KEY_CHARS} "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    return text.encode("utf-8")
