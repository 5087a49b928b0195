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

import bisect
import hashlib

MINUTE = 60.0
HASH_SPACE = float(1 << 64)


def minute_of(ts: float) -> float:
    return ts - ts % MINUTE


def stable_hash(text: str) -> int:
    """A 64-bit hash that is the same in every process (``hash()`` is salted)."""
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
        i = bisect.bisect_left(hashes, h)
        if i < len(hashes) and hashes[i] == h:
            return
        hashes.insert(i, h)
        if len(hashes) > self.k:
            hashes.pop()

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
            victim = min(counts, key=counts.__getitem__)
            counts[item] = counts.pop(victim) + n

    def top(self, n: int) -> list[tuple[str, int]]:
        return sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]

    def total(self) -> int:
        return sum(self.counts.values())
