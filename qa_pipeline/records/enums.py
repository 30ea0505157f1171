"""The enumerations every record shares (re-exported by :mod:`qa_pipeline.records`)."""

from __future__ import annotations

import enum


class Role(str, enum.Enum):
    AGENT = "agent"
    CUSTOMER = "customer"
    UNKNOWN = "unknown"


class Outcome(str, enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    NA = "na"
