"""Per-platform volume: sharded minute counting, then one platform stage.

Every post is counted once in a *shard* of its platform (``platform/N``, N from
the author's hash) so a huge platform spreads over partitions.  A shard closes
its minutes on its partition's watermark and reports ``PlatformMinute``
records.  The platform stage gathers the shards' minutes, closes a minute once
every partition has closed it, zero-fills minutes nobody reported
(a gap in event time is exactly what an ingest stall looks like) and feeds the
outage detector one minute at a time, in order.

>>> counter = PlatformShardCounter(allowed_lateness=0)
>>> counter.on_post("twitter", 5.0, "a")
>>> counter.on_post("twitter", 65.0, "b")
>>> [(m.platform, m.minute, m.posts) for m in counter.advance()]
[('twitter', 0.0, 1)]
"""
from __future__ import annotations

import functools
import math
from collections.abc import MutableMapping

from detectors.alerts import Alert
from detectors.outage import OutageDetector
from detectors.records import PlatformMinute
from detectors.windows import KMV, MINUTE, GatedMinutes, GatedStage, Watermark, minute_of, stable_hash


def shard_key(platform: str, author: str, shards: int) -> str:
    return _shard_for(platform, stable_hash(author), shards)


def _shard_for(platform: str, author_hash: int, shards: int) -> str:
    return _shard_names(platform, shards)[author_hash % shards]


@functools.lru_cache(maxsize=1024)
def _shard_names(platform: str, shards: int) -> tuple[str, ...]:
    # formatted once: a shard key is asked for on every post
    return tuple(f"{platform}/{n}" for n in range(shards))


class ShardState:
    __slots__ = ("platform", "partition", "open", "sources", "closed_until")

    def __init__(self, platform: str, partition: int = 0):
        self.platform = platform
        self.partition = partition
        self.open: dict[float, list] = {}   # minute -> [posts, KMV]
        self.sources: dict[int, int] = {}
        self.closed_until = -math.inf

    def to_state(self) -> dict:
        return {"platform": self.platform, "partition": self.partition,
                "open": [[m, p, k.hashes] for m, (p, k) in self.open.items()],
                "sources": [[s, o] for s, o in self.sources.items()],
                "closed_until": None if self.closed_until == -math.inf else self.closed_until}

    @classmethod
    def from_state(cls, d: dict) -> "ShardState":
        state = cls(d["platform"], d["partition"])
        state.open = {m: [p, KMV(128, hashes)] for m, p, hashes in d["open"]}
        state.sources = {s: o for s, o in d["sources"]}
        state.closed_until = -math.inf if d["closed_until"] is None else d["closed_until"]
        return state


class PlatformShardCounter:
    """Minute counts of platform shards, keyed ``platform/N``; replay-safe.
    ``sources`` are the input partitions every partition's watermark waits for."""

    def __init__(self, allowed_lateness: float = 20.0, shards: int = 4,
                 states: MutableMapping[str, ShardState] | None = None, sources: tuple[int, ...] = ()):
        self.allowed_lateness = allowed_lateness
        self.sources = sources
        self.shards = shards
        self.states: MutableMapping[str, ShardState] = states if states is not None else {}
        self.watermarks: dict[int, Watermark] = {}
        self.pending: dict[int, set[str]] = {}
        self.dirty: set[str] = set()
        self.late_posts = 0
        self.duplicate_posts = 0
        self._closed_before: dict[int, float] = {}

    def watermark(self, partition: int = 0) -> float:
        mark = self.watermarks.get(partition)
        return mark.value() if mark is not None else -math.inf

    def on_progress(self, source: int, event_time: float, partition: int = 0) -> None:
        """Input partition ``source`` has read up to ``event_time``, whether or
        not it sent this partition a post: its watermark need not wait for it.

        >>> counter = PlatformShardCounter(allowed_lateness=0, sources=(0, 1))
        >>> counter.on_post("twitter", 5.0, "a", source=0)
        >>> counter.on_post("twitter", 65.0, "b", source=0)
        >>> counter.advance()   # input partition 1 not heard from: it may be behind
        []
        >>> counter.on_progress(1, 70.0)
        >>> [(m.platform, m.minute, m.posts) for m in counter.advance()]
        [('twitter', 0.0, 1)]
        """
        self._watermark(partition).observe(source, event_time)

    def _watermark(self, partition: int) -> Watermark:
        mark = self.watermarks.get(partition)
        if mark is None:
            mark = self.watermarks[partition] = Watermark(self.allowed_lateness, self.sources)
        return mark

    def on_records(self, records: list, partition: int = 0) -> set[int]:
        """One message of the worker's platform hits topic: posts as
        ``[platform, created_at, author, source, offset]`` and ``[source, event
        time]`` progress items.  Returns the sources heard from.

        >>> counter = PlatformShardCounter(allowed_lateness=0, sources=(0, 1))
        >>> counter.on_records([["twitter", 5.0, "a", 0, 3], [1, 70.0]])
        {0, 1}
        >>> counter.watermark()
        5.0
        """
        sources: set[int] = set()
        for fields in records:
            if len(fields) == 2:
                source: int = fields[0]
                self.on_progress(source, fields[1], partition)
            else:
                platform, created_at, author, source, offset = fields
                self.on_post(platform, created_at, author, source, offset, partition)
            sources.add(source)
        return sources

    def on_post(self, platform: str, created_at: float, author: str, source: int = 0,
                offset: int = -1, partition: int = 0) -> None:
        mark = self._watermark(partition)
        if created_at < mark.value():  # (a new partition's watermark is -inf: nothing is late)
            self.late_posts += 1
            return
        mark.observe(source, created_at)
        author_hash = stable_hash(author)
        key = _shard_for(platform, author_hash, self.shards)
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = ShardState(platform, partition)
        elif 0 <= offset <= state.sources.get(source, -1):
            self.duplicate_posts += 1
            return
        minute = minute_of(created_at)
        if minute < state.closed_until:
            self.late_posts += 1
            return
        if offset >= 0:
            state.sources[source] = offset
        slot = state.open.get(minute)
        if slot is None:
            slot = state.open[minute] = [0, KMV(128)]
        slot[0] += 1
        authors: KMV = slot[1]  # (typed: a native call, not a method looked up by name)
        authors.add_hash(author_hash)
        pending = self.pending.get(partition)
        if pending is None:
            pending = self.pending[partition] = set()
        pending.add(key)
        self.dirty.add(key)

    def advance(self, partition: int = 0) -> list[PlatformMinute]:
        watermark = self.watermark(partition)
        out: list[PlatformMinute] = []
        if watermark == -math.inf:  # a source not heard from yet (and minute_of(-inf) is NaN)
            return out
        close_before = minute_of(watermark)
        if close_before <= self._closed_before.get(partition, -math.inf):
            return out
        self._closed_before[partition] = close_before
        keys = self.pending.get(partition, set())
        for key in sorted(keys):
            state = self.states[key]
            for minute in sorted(m for m in state.open if m < close_before):
                posts, authors = state.open.pop(minute)
                out.append(PlatformMinute(state.platform, minute, posts, round(authors.estimate()), key))
                state.closed_until = max(state.closed_until, minute + MINUTE)
                self.dirty.add(key)
            if not state.open:
                keys.discard(key)
        return out

    def advance_to(self, event_time: float, partition: int = 0) -> list[PlatformMinute]:
        self._watermark(partition).advance_to(event_time)
        return self.advance(partition)

    def progress(self, partition: int = 0) -> float:
        """Every minute of this partition before this time is closed and reported."""
        return self._closed_before.get(partition, -math.inf)

    def rebuild_pending(self) -> None:
        """After recovery from a table: every shard with open minutes is pending again."""
        self.pending.clear()
        self._closed_before.clear()
        self.watermarks.clear()  # the worker restores them (its watermark table)
        for key, state in self.states.items():
            if state.open:
                self.pending.setdefault(state.partition, set()).add(key)


class PlatformStage(GatedStage):
    """Sums the shards of each platform per minute and runs the outage detector.

    Shard reports come from several partitions at their own pace; a minute is
    judged once every partition has closed it (``GatedMinutes``), so the result
    does not depend on how the partitions interleave."""

    def __init__(self, detector: OutageDetector | None = None, sources: int = 1):
        self.detector = detector or OutageDetector()
        self.minutes = GatedMinutes(sources, key=_shard_of)

    def close_until(self, last_minute: float) -> list[Alert]:
        """Judge every minute up to ``last_minute`` (zero-filling silent ones)."""
        alerts: list[Alert] = []
        for minute, records in self.minutes.release(last_minute):
            counts: dict[str, int] = {}
            for record in records:
                counts[record.platform] = counts.get(record.platform, 0) + record.posts
            alerts.extend(self.detector.on_minute(minute, counts))
        return alerts

    def on_silence(self, now: float, last_event_at: float) -> list[Alert]:
        last = (self.next_minute or MINUTE) - MINUTE
        return self.detector.on_silence(now, last_event_at, last)

    def to_state(self) -> dict:
        return {"detector": self.detector.to_state(),
                "minutes": self.minutes.to_state(lambda r: r.to_wire().decode())}

    @classmethod
    def from_state(cls, d: dict) -> "PlatformStage":
        stage = cls(OutageDetector.from_state(d["detector"]))
        stage.minutes = GatedMinutes.from_state(
            d["minutes"], lambda raw: PlatformMinute.from_wire(raw.encode()), _shard_of)
        return stage


def _shard_of(record: PlatformMinute) -> str:
    return record.shard
