"""New recordings of an S3 prefix, as they land (``qa watch``).

Bucket notifications are used where the server supports them (MinIO's
``ListenBucketNotification``); a reconciliation listing still runs every
``reconcile_s``.  Elsewhere (SeaweedFS, AWS S3 without an event queue) the prefix is listed
every ``interval_s`` and objects newer than the watermark are yielded.

The watermark survives restarts (``<data_dir>/watch/<hash>.json``) and only moves past an
object once the batch has finished it (:meth:`BucketWatcher.finished`), so a watcher killed
mid-call picks that call up again; already-scored calls are then skipped by the result key.

A ``{date:%Y-%m-%d}``-style field in the prefix restricts listings to today's (and, for
``grace_s`` after midnight, yesterday's) partition, in the centre's time zone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

from ..storage import RecordingRef, S3Store, StorageError

log = logging.getLogger(__name__)

_DATE_FIELD = re.compile(r"\{date(?::([^}]*))?\}")


class BucketWatcher:
    """An endless stream of new :class:`RecordingRef` (``None`` = nothing new yet)."""

    def __init__(
        self,
        objects: S3Store,
        *,
        state_dir: Path,
        interval_s: float = 2.0,
        reconcile_s: float = 60.0,
        since: datetime | None = None,
        timezone_name: str = "UTC",
        grace_s: float = 3600.0,
        notifications: bool = True,
    ) -> None:
        self.objects = objects
        self.interval_s = interval_s
        self.reconcile_s = reconcile_s
        self.tz = ZoneInfo(timezone_name)
        self.grace_s = grace_s
        self.state_path = state_dir / f"{hashlib.sha256(objects.uri.encode()).hexdigest()[:16]}.json"
        self.mode = "listing"
        self._notified: queue.Queue[str] = queue.Queue()
        self._use_notifications = notifications
        self._in_flight: dict[str, datetime] = {}
        #: Objects at/after the watermark already yielded (S3 times have 1 s resolution, so
        #: several uploads share the watermark's second).
        self._recent: dict[str, datetime] = {}
        self.watermark = self._load_watermark(since)
        self._stop = threading.Event()

    # -- state
    def _load_watermark(self, since: datetime | None) -> datetime:
        if since is not None:
            return since.astimezone(timezone.utc)
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
            mark = datetime.fromisoformat(data["watermark"])
            self._recent = {uri: mark for uri in data.get("done_at_watermark", [])}
            return mark
        except FileNotFoundError:  # first start: what lands from now on (S3 times have 1 s resolution)
            return datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=1)
        except (ValueError, KeyError) as exc:
            raise StorageError(f"unreadable watch state ({exc}); delete it or pass --since", path=self.state_path) from None

    def _save_watermark(self) -> None:
        mark = min(self._in_flight.values(), default=None)
        mark = (mark - timedelta(microseconds=1)) if mark is not None else self.watermark
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        done = sorted(u for u, lm in self._recent.items() if lm >= mark and u not in self._in_flight)
        state = {"uri": self.objects.uri, "watermark": mark.isoformat(), "done_at_watermark": done}
        tmp.write_text(json.dumps(state), encoding="utf-8")
        tmp.replace(self.state_path)

    def finished(self, uri: str) -> datetime | None:
        """The batch accounted for ``uri`` (scored, skipped or failed): the watermark may pass it.

        Returns when the object landed (its Last-Modified), for latency reports."""
        landed = self._in_flight.pop(uri, None)
        if landed is not None:
            self._save_watermark()
        return landed

    def stop(self) -> None:
        self._stop.set()

    # -- the stream
    def __iter__(self) -> Iterator[RecordingRef | None]:
        if self._use_notifications:
            self._start_listener()
        next_poll = 0.0
        while not self._stop.is_set():
            yielded = False
            for ref in self._drain_notifications():
                yielded = True
                yield ref
            now = time.monotonic()
            if now >= next_poll:
                for ref in self._poll():
                    yielded = True
                    yield ref
                next_poll = now + (self.reconcile_s if self.mode == "notifications" else self.interval_s)
            if not yielded:
                yield None
                try:  # wake early on a notification
                    key = self._notified.get(timeout=min(0.25, max(0.0, next_poll - time.monotonic())))
                    self._notified.put(key)
                except queue.Empty:
                    pass

    def _prefixes(self) -> list[str]:
        prefix = self.objects.prefix
        match = _DATE_FIELD.search(prefix)
        if match is None:
            return [prefix]
        fmt = match.group(1) or "%Y-%m-%d"
        now = datetime.now(self.tz)
        days = [now]
        if (now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() < self.grace_s:
            days.insert(0, now - timedelta(days=1))
        return [prefix[: match.start()] + d.strftime(fmt) + prefix[match.end() :] for d in days]

    def _poll(self) -> Iterator[RecordingRef]:
        newest = self.watermark
        for prefix in self._prefixes():
            store = self.objects if prefix == self.objects.prefix else self.objects.with_prefix(prefix)
            try:
                refs = list(self._new_refs(store))
            except StorageError as exc:
                log.warning("listing failed, retrying next poll: %s", exc)
                return
            for ref in refs:
                self._track(ref)
                if ref.last_modified and ref.last_modified > newest:
                    newest = ref.last_modified
                yield ref
        if newest > self.watermark:
            self.watermark = newest
            self._recent = {k: lm for k, lm in self._recent.items() if lm >= newest}
            self._save_watermark()

    def _new_refs(self, store: S3Store) -> Iterator[RecordingRef]:
        for ref in store.iter_recordings():
            lm = ref.last_modified
            if lm is None or lm < self.watermark or ref.uri in self._recent or ref.uri in self._in_flight:
                continue
            yield ref

    def _track(self, ref: RecordingRef) -> None:
        if ref.last_modified is not None:
            self._in_flight[ref.uri] = ref.last_modified
            self._recent[ref.uri] = ref.last_modified

    # -- notifications (MinIO)
    def _start_listener(self) -> None:
        def listen() -> None:
            try:
                events = self.objects.client.listen_bucket_notification(
                    self.objects.bucket, prefix=self.objects.prefix.split("{", 1)[0], events=("s3:ObjectCreated:*",)
                )
                with events:
                    for event in events:
                        self.mode = "notifications"
                        for record in event.get("Records", []):
                            self._notified.put(record["s3"]["object"]["key"])
                        if self._stop.is_set():
                            return
            except Exception as exc:  # noqa: BLE001 - unsupported here: listing only
                self.mode = "listing"
                log.info("bucket notifications unavailable (%s); listing every %.1f s", exc, self.interval_s)

        threading.Thread(target=listen, name="qa-watch-notifications", daemon=True).start()

    def _drain_notifications(self) -> Iterator[RecordingRef]:
        from urllib.parse import unquote

        while True:
            try:
                key = unquote(self._notified.get_nowait())
            except queue.Empty:
                return
            uri = self.objects.object_uri(key)
            if uri in self._in_flight or uri in self._recent:
                continue
            try:
                stat = self.objects.client.stat_object(self.objects.bucket, key)
            except Exception as exc:  # noqa: BLE001 - the reconciliation listing catches it later
                log.warning("cannot stat notified object %s: %s", uri, exc)
                continue
            ref = RecordingRef(uri=uri, key=key, size=stat.size, etag=stat.etag, last_modified=stat.last_modified)
            if not self.objects.accepts(key):
                continue
            self._track(ref)
            yield ref
