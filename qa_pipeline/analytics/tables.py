"""Analytics tables (same ``Base`` as :mod:`qa_pipeline.tables`; created by migration 0006).

``call_analytics``  one row per call: routed taxonomy, primary driver, time buckets, who/where
                    (agent, team, queue, area), caller hash, escalation flags and the gaps to
                    the same customer's previous/next call on the same driver (repeat contacts).
``call_drivers``    every driver of a call with its evidence.
``analytics_alerts`` spike warnings with the calls behind them and the webhook delivery state.

Time buckets are integers so that the dashboards group and filter on plain indexed columns on
SQLite and PostgreSQL alike: ``hour`` = whole hours since 1970-01-01 00:00 **local time** (the
deployment's ``timezone``), ``day`` = ``hour // 24``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..tables import Base


class CallAnalyticsRow(Base):
    __tablename__ = "call_analytics"
    __table_args__ = (
        Index("ix_call_analytics_hour_driver", "hour", "primary_driver"),
        Index("ix_call_analytics_day_driver", "day", "primary_driver"),
        # covering the repeat/FCR aggregates per team / agent (an index-only scan per team or agent)
        Index("ix_call_analytics_team_repeat", "team", "day", "linked", "hour", "prev_gap_s", "next_gap_s"),
        Index("ix_call_analytics_agent_repeat", "agent_id", "day", "linked", "hour", "prev_gap_s", "next_gap_s"),
        Index("ix_call_analytics_caller_driver_at", "caller_hash", "primary_driver", "at"),
        Index("ix_call_analytics_escalation_day", "escalation", "day"),
    )

    call_id: Mapped[str] = mapped_column(ForeignKey("calls.call_id", ondelete="CASCADE"), primary_key=True)
    #: the result analysed (the call's current result when the row was written)
    result_id: Mapped[int] = mapped_column(Integer)
    taxonomy_id: Mapped[str | None] = mapped_column(String(64))
    taxonomy_version: Mapped[str | None] = mapped_column(String(32))
    #: None: no category matched (goes to clustering)
    primary_driver: Mapped[str | None] = mapped_column(String(64))
    #: call start (metadata start_time, else the scoring time), timezone-aware
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    hour: Mapped[int] = mapped_column(Integer)
    day: Mapped[int] = mapped_column(Integer)
    agent_id: Mapped[str | None] = mapped_column(String(64))
    team: Mapped[str | None] = mapped_column(String(128))
    queue: Mapped[str | None] = mapped_column(String(128))
    #: metadata custom "area" (供电所 / district), for the early warning's area dimension
    area: Mapped[str | None] = mapped_column(String(128))
    caller_hash: Mapped[str | None] = mapped_column(String(64))
    #: caller hash and primary driver both known: the call takes part in repeat linking
    linked: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the rubric flags external_escalation / repeat_complaint were raised
    escalation: Mapped[bool] = mapped_column(Boolean, default=False)
    repeat_complaint: Mapped[bool] = mapped_column(Boolean, default=False)
    #: seconds since this customer's previous / until their next call on the same primary driver
    prev_gap_s: Mapped[float | None] = mapped_column(Float)
    next_gap_s: Mapped[float | None] = mapped_column(Float)
    prev_call_id: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CallDriverRow(Base):
    __tablename__ = "call_drivers"
    __table_args__ = (Index("ix_call_drivers_driver_call", "driver_id", "call_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.call_id", ondelete="CASCADE"), index=True)
    driver_id: Mapped[str] = mapped_column(String(64))
    is_primary: Mapped[bool] = mapped_column(Boolean)
    hits: Mapped[int] = mapped_column(Integer)
    #: [{"start": s, "end": s, "quote": str, "utterance_id": str}, ...] (at most 5)
    evidence: Mapped[list[Any]] = mapped_column(JSON)


class AlertRow(Base):
    __tablename__ = "analytics_alerts"
    __table_args__ = (Index("ix_analytics_alerts_state_bucket", "state", "bucket"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: "<granularity>:<bucket>:<driver>" — one alert per driver and bucket
    key: Mapped[str] = mapped_column(String(400), unique=True)
    granularity: Mapped[str] = mapped_column(String(8))  # hour | day
    bucket: Mapped[int] = mapped_column(Integer)
    driver_id: Mapped[str] = mapped_column(String(64))
    #: the most specific spiking cell (dimensions in configured order: area, queue, team)
    dimension: Mapped[str] = mapped_column(String(16))
    dim_value: Mapped[str] = mapped_column(String(128))
    count: Mapped[int] = mapped_column(Integer)
    #: mean count per bucket over the baseline window
    baseline_mean: Mapped[float] = mapped_column(Float)
    p_value: Mapped[float] = mapped_column(Float)
    #: the calls behind the alert (the primary cell's calls in the bucket, at most 500)
    call_ids: Mapped[list[Any]] = mapped_column(JSON)
    #: every spiking cell of this driver and bucket: [{"dimension", "value", "count", "baseline_mean", "p_value"}]
    cells: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16), default="open")  # open | acknowledged
    webhook_status: Mapped[str | None] = mapped_column(Text)
