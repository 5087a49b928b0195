"""Bounded building blocks for event-time windows.

* ``minute_of`` — the start of an event's one-minute bucket.
* ``KMV`` — a K-minimum-values distinct counter: exact up to ``k`` items, an
  unbiased estimate beyond, mergeable, and a fixed size whatever the input.
* ``TopK`` — Space-Saving heavy hitters: the most frequent items of a stream in
  ``capacity`` counters, whatever the number of distinct items.

>>> s = KMV(k=8)
>>> for a in ["a", "b", "a", "c"]: s.add(a)
>>> s.estimate()
3.0
>>> t = TopK(capacity=2)
>>> for x in "aaabbc": t.add(x)
>>> t.top(1)
[('a', 3)]
"""
from __future__ import annotations

import functools
import hashlib
import math
from bisect import bisect_left
from collections.abc import Iterable
from typing import Final

from mypy_extensions import mypyc_attr

MINUTE_SECONDS: Final = 60  # an int: minute_of's integer arithmetic (floor_to)
MINUTE = float(MINUTE_SECONDS)
HASH_SPACE = float(1 << 64)


def minute_of(ts: float) -> float:
    return floor_to(ts, MINUTE_SECONDS)


def floor_to(ts: float, step: int) -> float:
    """``ts - ts % step``: the start of the ``step``-second slot holding ``ts``.
    Called a few times per hit; float ``%`` is libm's fmod (~240 instructions
    on a unix time), so a time that fits an integer takes integer arithmetic
    (the same value: both are exact there)."""
    if 0.0 <= ts < 1e15:
        seconds = int(ts)  # (truncation is the floor for ts >= 0)
        return float(seconds - seconds % step)
    return ts - ts % step


@functools.lru_cache(maxsize=65536)
def stable_hash(text: str) -> int:
    """A 64-bit hash that is the same in every process (``hash()`` is salted).

    Cached: one post hashes its author for its platform shard, the shard's
    and every tag's author sketch; active authors post again and again."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


class KMV:
    """Distinct counting in ``k`` hashes: keep the ``k`` smallest item hashes."""

    __slots__ = ("k", "hashes")

    def __init__(self, k: int = 64, hashes: list[int] | None = None):
        self.k = k
        self.hashes = hashes if hashes is not None else []

    def add(self, item: str) -> None:
        self.add_hash(stable_hash(item))

    def add_hash(self, h: int) -> None:
        hashes = self.hashes
        if len(hashes) >= self.k and h >= hashes[-1]:
            return
        i = bisect_left(hashes, h)
        if i < len(hashes) and hashes[i] == h:
            return
        hashes.insert(i, h)
        if len(hashes) > self.k:
            hashes.pop()

    def add_hashes(self, hashes: list[int]) -> None:
        """``add_hash`` of each: a few are inserted one by one, more in one sort."""
        if len(hashes) <= 16:
            for h in hashes:
                self.add_hash(h)
        else:
            self.hashes[:] = sorted(set(self.hashes).union(hashes))[: self.k]

    def merge(self, other: "KMV") -> "KMV":
        merged = KMV(min(self.k, other.k))
        for h in sorted(set(self.hashes) | set(other.hashes))[: merged.k]:
            merged.hashes.append(h)
        return merged

    def estimate(self) -> float:
        n = len(self.hashes)
        if n < self.k:
            return float(n)
        return (self.k - 1) / (self.hashes[-1] / HASH_SPACE)


def jaccard(a: list[int], b: list[int], k: int = 64) -> float:
    """Estimated Jaccard similarity of two sets from their KMV hash lists."""
    if not a or not b:
        return 0.0
    union = sorted(set(a) | set(b))[:k]
    sa, sb = set(a), set(b)
    both = sum(1 for h in union if h in sa and h in sb)
    return both / len(union)


class TopK:
    """Space-Saving: ``capacity`` counters; an item's count is exact while it is
    tracked and an over-estimate by at most the evicted minimum otherwise."""

    __slots__ = ("capacity", "counts")

    def __init__(self, capacity: int = 16, counts: dict[str, int] | None = None):
        self.capacity = capacity
        self.counts = counts if counts is not None else {}

    def add(self, item: str, n: int = 1) -> None:
        counts = self.counts
        if item in counts:
            counts[item] += n
        elif len(counts) < self.capacity:
            counts[item] = n
        else:
            # the first tracked item with the least count (as min() with a key
            # function finds it, without calling the key once per item)
            least = min(counts.values())
            for victim, count in counts.items():
                if count == least:
                    break
            counts[item] = counts.pop(victim) + n

    def top(self, n: int) -> list[tuple[str, int]]:
        counts = self.counts
        if len(counts) <= 1:
            return list(counts.items())[:n]
        if n == 1:  # the leader alone needs no sort
            best = max(counts.values())
            return [(min(item for item, count in counts.items() if count == best), best)]
        return sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]

    def total(self) -> int:
        return sum(self.counts.values())


class Watermark:
    """Event-time progress of one stage partition fed by several input partitions.

    Kafka orders records within a partition only, so each input partition
    (``source``) is tracked on its own and the watermark is the slowest
    source's newest event time minus the allowed lateness: a record is late
    only if it is out of order within its own source.  Expected ``sources``
    not heard from yet hold the watermark back (else the first records of a
    partition read a little after another one would be late).  A source that
    has gone quiet can be ``forget``-ten so it does not hold the others back.

    >>> w = Watermark(lateness=10.0, sources=[0, 1])
    >>> w.observe(0, 100.0); w.value()   # partition 1 not heard from yet
    -inf
    >>> w.observe(1, 50.0); w.value()
    40.0
    >>> w.forget(1); w.value()
    90.0
    """

    __slots__ = ("lateness", "newest", "observed", "waiting", "_value")

    def __init__(self, lateness: float, sources: Iterable[int] = ()):
        self.lateness = lateness
        self.newest: dict[int, float] = {}
        self.observed = -math.inf  # newest event time of a real record (advance_to aside)
        self.waiting: set[int] = set(sources)  # expected, not heard from yet
        self._value = -math.inf  # asked for per record, changed far less often

    def observe(self, source: int, event_time: float) -> None:
        newest = self.newest
        if event_time > newest.get(source, -math.inf):
            newest[source] = event_time
            if event_time > self.observed:
                self.observed = event_time
            self.waiting.discard(source)
            self._refresh()

    def value(self) -> float:
        return self._value

    def forget(self, source: int) -> None:
        self.waiting.discard(source)
        if len(self.newest) > 1:
            self.newest.pop(source, None)
        self._refresh()

    def advance_to(self, event_time: float) -> None:
        """Every source has (as good as) reached ``event_time``."""
        self.waiting.clear()
        for source in list(self.newest) or [0]:
            self.newest[source] = max(self.newest.get(source, -math.inf), event_time)
        self._refresh()

    def _refresh(self) -> None:
        waiting = self.waiting or not self.newest
        self._value = -math.inf if waiting else min(self.newest.values()) - self.lateness


class MinuteGate:
    """When may a downstream stage close a minute?  Every upstream partition
    reports its progress (the minute before which it has closed everything);
    a minute is complete once all ``sources`` have passed it.  A partition that
    stays silent can be ``exclude``-d so it does not block the others (it is
    included again when it reports).

    >>> gate = MinuteGate(sources=2)
    >>> gate.report(0, 1200.0); gate.ready_before()   # partition 1 not heard from yet
    -inf
    >>> gate.report(1, 900.0); gate.ready_before()
    900.0
    >>> gate.exclude(1); gate.ready_before()
    1200.0
    """

    __slots__ = ("sources", "progress", "excluded")

    def __init__(self, sources: int = 1, progress: dict | None = None, excluded: set | None = None):
        self.sources = sources
        self.progress: dict[int, float] = progress if progress is not None else {}
        self.excluded: set[int] = excluded if excluded is not None else set()

    def report(self, source: int, closed_before: float) -> None:
        self.excluded.discard(source)
        if closed_before > self.progress.get(source, -math.inf):
            self.progress[source] = closed_before

    def exclude(self, source: int) -> None:
        self.excluded.add(source)

    def ready_before(self) -> float:
        waiting = [self.progress.get(s, -math.inf) for s in range(self.sources) if s not in self.excluded]
        if waiting:
            return min(waiting)
        return max(self.progress.values()) if self.progress else -math.inf

    def to_state(self) -> list:
        return [self.sources, [[s, p] for s, p in self.progress.items()], sorted(self.excluded)]

    @classmethod
    def from_state(cls, state: list) -> "MinuteGate":
        sources, progress, excluded = state
        return cls(sources, {s: p for s, p in progress}, set(excluded))


class GatedMinutes:
    """Per-minute records from several upstream partitions, released one minute
    at a time, in order, once every partition has closed that minute
    (``MinuteGate``).  Records are keyed (``key``), so a replayed report replaces
    rather than adds; a record for a minute already released is late.

    >>> from collections import namedtuple
    >>> Rec = namedtuple("Rec", "name minute")
    >>> minutes = GatedMinutes(sources=1, key=lambda r: r.name)
    >>> minutes.offer(0, 120.0, [Rec("b", 60.0), Rec("a", 0.0), Rec("a", 0.0)])
    >>> [(m, [r.name for r in recs]) for m, recs in minutes.release(minutes.ready())]
    [(0.0, ['a']), (60.0, ['b'])]
    """

    __slots__ = ("gate", "key", "buffer", "next_minute", "max_minute", "late")

    def __init__(self, sources: int = 1, key=None):
        self.gate = MinuteGate(sources)
        self.key = key
        self.buffer: dict[float, dict] = {}
        self.next_minute: float | None = None
        self.max_minute = -math.inf
        self.late = 0

    def offer(self, source: int, progress: float, records) -> None:
        """One upstream partition's closed records and its progress."""
        for record in records:
            if self.next_minute is not None and record.minute < self.next_minute:
                self.late += 1
                continue
            self.buffer.setdefault(record.minute, {})[self.key(record)] = record
            if record.minute > self.max_minute:
                self.max_minute = record.minute
        self.gate.report(source, progress)

    def ready(self) -> float:
        """The last minute every partition has closed."""
        return self.gate.ready_before() - MINUTE

    def release(self, last_minute: float):
        """Yield (minute, records sorted by key) for every minute up to
        ``last_minute`` — minutes nobody reported too, with no records."""
        if self.next_minute is None:
            if not self.buffer:
                return
            self.next_minute = min(self.buffer)
        while self.next_minute <= last_minute:
            minute = self.next_minute
            by_key = self.buffer.pop(minute, {})
            self.next_minute = minute + MINUTE
            yield minute, [by_key[k] for k in sorted(by_key)]

    def to_state(self, encode) -> dict:
        return {"gate": self.gate.to_state(), "next_minute": self.next_minute, "late": self.late,
                "max_minute": None if self.max_minute == -math.inf else self.max_minute,
                "records": [encode(r) for by_key in self.buffer.values() for r in by_key.values()]}

    @classmethod
    def from_state(cls, state: dict, decode, key) -> "GatedMinutes":
        minutes = cls(key=key)
        minutes.gate = MinuteGate.from_state(state["gate"])
        for raw in state["records"]:
            record = decode(raw)
            minutes.buffer.setdefault(record.minute, {})[key(record)] = record
        minutes.next_minute = state["next_minute"]
        minutes.max_minute = -math.inf if state["max_minute"] is None else state["max_minute"]
        minutes.late = state["late"]
        return minutes


# its stages are compiled too, but their source modules (docstring examples) subclass it
@mypyc_attr(allow_interpreted_subclasses=True)
class GatedStage:
    """A global stage fed per minute through ``GatedMinutes``: subclasses
    judge released minutes in ``close_until``."""

    minutes: GatedMinutes

    @property
    def gate(self) -> MinuteGate:
        return self.minutes.gate

    @property
    def next_minute(self) -> float | None:
        return self.minutes.next_minute

    def on_batch(self, source: int, progress: float, records) -> list:
        """One upstream partition's closed records and its progress."""
        self.minutes.offer(source, progress, records)
        return self.close_until(self.minutes.ready())

    def close_until(self, last_minute: float) -> list:
        raise NotImplementedError

    def flush(self) -> list:
        return self.close_until(self.minutes.max_minute)
