"""Review and coaching web application (``qa serve``); needs the ``web`` extra."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from fastapi import FastAPI

    from ..config import Settings

__all__ = ["create_app"]


def create_app(settings: "Settings", **kwargs: Any) -> "FastAPI":
    from .app import create_app as _create

    return _create(settings, **kwargs)
