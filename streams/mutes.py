"""Acknowledgements and mutes of alert episodes, shared by every worker.

A media-cell operator acknowledges an alert ("I am on it") or mutes it for a
period ("stop paging about this").  Each change is written to the compacted
``alert-mutes`` topic keyed by the alert id, and every worker follows that
topic into a ``MuteStore``, so the state survives restarts and is the same on
every worker.  Compaction keeps only the newest record per id, so a record is
the *whole* state of its alert (ack and mute together), never a delta.

A muted alert is not (re)sent to Alertmanager; acknowledging only marks it on
the board.  Mutes end by themselves at ``muted_until``.

>>> store = MuteStore()
>>> record = store.change("emerging-1", "mute", by="layla", minutes=30, now=1000.0)
>>> store.apply(record), store.apply(record)  # a record seen twice changes nothing
(True, False)
>>> store.is_muted("emerging-1", now=1000.0 + 29 * 60), store.is_muted("emerging-1", now=1000.0 + 31 * 60)
(True, False)
>>> store.apply(store.change("emerging-1", "ack", by="omar", now=1100.0))
True
>>> view = store.view("emerging-1", now=1200.0)
>>> view["muted"], view["muted_by"], view["acked_by"]
(True, 'layla', 'omar')
"""
from __future__ import annotations

import time
from collections import OrderedDict

ACTIONS = ("mute", "unmute", "ack")
MAX_MUTE_MINUTES = 7 * 24 * 60
MAX_BY_CHARS = 64
MAX_NOTE_CHARS = 280
FIELDS = ("id", "muted_until", "muted_by", "muted_at", "acked_by", "acked_at", "note")


class MuteStore:
    """The latest ack/mute record of up to ``capacity`` alert ids (oldest change dropped first)."""

    def __init__(self, capacity: int = 10_000):
        self.capacity = capacity
        self.records: OrderedDict[str, dict] = OrderedDict()

    def apply(self, record: dict) -> bool:
        """Take one record from the topic; True if it changed anything."""
        alert_id = record["id"]
        if self.records.get(alert_id) == record:
            return False
        self.records.pop(alert_id, None)
        self.records[alert_id] = record
        while len(self.records) > self.capacity:
            self.records.popitem(last=False)
        return True

    def change(self, alert_id: str, action: str, by: str = "", minutes: float | None = None,
               note: str = "", now: float | None = None) -> dict:
        """The record that applies ``action`` to the alert's current state.

        Raises ``ValueError`` for an unknown action or a mute without a sane period."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}")
        now = time.time() if now is None else now
        by = str(by or "").strip()[:MAX_BY_CHARS]
        record = dict(self.records.get(alert_id) or dict.fromkeys(FIELDS))
        record["id"] = alert_id
        if action == "mute":
            if not isinstance(minutes, (int, float)) or not 0 < minutes <= MAX_MUTE_MINUTES:
                raise ValueError(f"minutes must be a number in (0, {MAX_MUTE_MINUTES}]")
            record.update(muted_until=now + minutes * 60.0, muted_by=by, muted_at=now)
        elif action == "unmute":
            record.update(muted_until=None, muted_by=None, muted_at=None)
        else:
            record.update(acked_by=by, acked_at=now)
        if note:
            record["note"] = str(note)[:MAX_NOTE_CHARS]
        return record

    def is_muted(self, alert_id: str, now: float | None = None) -> bool:
        record = self.records.get(alert_id)
        if record is None or record.get("muted_until") is None:
            return False
        return (time.time() if now is None else now) < record["muted_until"]

    def view(self, alert_id: str, now: float | None = None) -> dict | None:
        """The record with ``muted`` (still in force) and ``acked`` flags, for the API."""
        record = self.records.get(alert_id)
        if record is None:
            return None
        return {**record, "muted": self.is_muted(alert_id, now), "acked": record.get("acked_at") is not None}
