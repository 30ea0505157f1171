"""Live calls and alerts in the results database (tables ``live_calls``, ``live_alerts``).

The live servers write, the web app reads: every live server behind one URL writes the same
database, so the Live page shows every call whichever server holds its stream.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ..store import ResultStore
from ..tables import LiveAlertRow, LiveCallRow, utcnow
from .judge import Alert

SERVER_ID = f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class LiveCallView:
    """A live call as the Live page shows it (times in seconds, ``mood`` in [-1, 1] or None)."""

    call_id: str
    agent_id: str | None
    agent_name: str | None
    team: str | None
    queue: str | None
    language: str | None
    state: str
    started_at: datetime
    ended_at: datetime | None
    position_s: float
    hold_s: float
    lag_s: float
    mood: float | None
    utterances: Sequence[Mapping[str, Any]]
    alerts: Sequence[Mapping[str, Any]]
    recording_uri: str | None

    def to_dict(self, *, transcript: bool = True) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("utterances", "alerts")}
        out["started_at"] = self.started_at.isoformat()
        out["ended_at"] = self.ended_at.isoformat() if self.ended_at else None
        out["alerts"] = list(self.alerts)
        if transcript:
            out["utterances"] = list(self.utterances)
        return out


class LiveStore:
    """Writes and reads live call state over a :class:`~qa_pipeline.store.ResultStore`'s engine."""

    def __init__(self, results: ResultStore) -> None:
        self.results = results

    def open_call(self, call_id: str, *, session_id: str, protocol: str, meta: Mapping[str, Any]) -> None:
        """Start (or restart, on a reconnect) a call's row in state ``live``."""
        now = utcnow()
        with self.results.session() as s:
            row = s.get(LiveCallRow, call_id) or LiveCallRow(call_id=call_id, started_at=now, utterances=[])
            row.session_id, row.protocol, row.state, row.updated_at, row.server = session_id, protocol, "live", now, SERVER_ID
            row.ended_at, row.close_reason = None, None
            row.position_s, row.hold_s, row.lag_s = row.position_s or 0.0, row.hold_s or 0.0, 0.0
            for key in ("agent_id", "agent_name", "team", "queue", "language"):
                setattr(row, key, meta.get(key))
            s.add(row)
            s.commit()

    def update_call(self, call_id: str, **values: Any) -> None:
        """Set columns of the call's row (``utterances``, ``position_s``, ``state``, ...)."""
        with self.results.session() as s:
            row = s.get(LiveCallRow, call_id)
            if row is None:
                return
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            s.commit()

    def add_alert(self, alert: Alert, *, latency_s: float) -> int:
        """Store an alert; its id."""
        with self.results.session() as s:
            row = LiveAlertRow(
                call_id=alert.call_id, rule_id=alert.rule_id, kind=alert.kind, severity=alert.severity,
                agent_id=alert.agent_id, reason=alert.reason, quote=alert.quote, at_s=alert.at_s,
                raised_at=utcnow(), latency_s=round(latency_s, 3), evidence=alert.to_dict()["evidence"],
            )
            s.add(row)
            s.commit()
            return int(row.id)

    def alerts(self, call_id: str) -> list[dict[str, Any]]:
        """The call's alerts, oldest first (``at_s`` and ``latency_s`` in seconds)."""
        with self.results.session() as s:
            rows = s.scalars(select(LiveAlertRow).where(LiveAlertRow.call_id == call_id).order_by(LiveAlertRow.id)).all()
            return [_alert_dict(r) for r in rows]

    def calls(self, *, teams: Iterable[str] | None = None, include_ended: bool = True, limit: int = 200) -> list[LiveCallView]:
        """Calls on now (and those that ended, newest first); ``teams`` restricts to those teams."""
        with self.results.session() as s:
            q = select(LiveCallRow).order_by(LiveCallRow.started_at.desc()).limit(limit)
            if teams is not None:
                q = q.where(LiveCallRow.team.in_(list(teams)))
            if not include_ended:
                q = q.where(LiveCallRow.state == "live")
            rows = s.scalars(q).all()
            ids = [r.call_id for r in rows]
            alerts: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
            if ids:
                for a in s.scalars(select(LiveAlertRow).where(LiveAlertRow.call_id.in_(ids)).order_by(LiveAlertRow.id)):
                    alerts[a.call_id].append(_alert_dict(a))
            return [_view(r, alerts[r.call_id]) for r in rows]

    def call(self, call_id: str) -> LiveCallView | None:
        with self.results.session() as s:
            row = s.get(LiveCallRow, call_id)
            return _view(row, self.alerts(call_id)) if row is not None else None


def _alert_dict(r: LiveAlertRow) -> dict[str, Any]:
    return {
        "id": r.id, "call_id": r.call_id, "rule_id": r.rule_id, "kind": r.kind, "severity": r.severity,
        "agent_id": r.agent_id, "reason": r.reason, "quote": r.quote, "at_s": r.at_s,
        "raised_at": r.raised_at.isoformat(), "latency_s": r.latency_s, "evidence": r.evidence,
    }


def _view(r: LiveCallRow, alerts: list[dict[str, Any]]) -> LiveCallView:
    return LiveCallView(
        call_id=r.call_id, agent_id=r.agent_id, agent_name=r.agent_name, team=r.team, queue=r.queue,
        language=r.language, state=r.state, started_at=r.started_at, ended_at=r.ended_at,
        position_s=round(r.position_s or 0.0, 1), hold_s=round(r.hold_s or 0.0, 1), lag_s=round(r.lag_s or 0.0, 1),
        mood=r.mood, utterances=r.utterances or [], alerts=alerts, recording_uri=r.recording_uri,
    )
