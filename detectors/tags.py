"""The tag stage: per-tag minute windows, emerging detection and summaries.

All state of a tag lives under its canonical key (one Kafka partition owns a
key), in a ``TagState``: the open one-minute buckets (posts, a KMV sketch of
distinct authors, top authors, sample post ids, co-occurring tags), a sparse
24-hour history of closed minutes, the emerging model and episode, and — only
while the tag surges — a ``CoordinationWindow`` computing campaign signals.

Event time drives everything.  Accepted hits wait in their tag's inbox until
the watermark passes them, then are applied in (event time, post id) order, a
few seconds at a time: the same input gives the same state and alerts however
Kafka partitions interleave.  Each partition has a watermark (the slowest
input source's newest event time minus ``allowed_lateness``, see
``detectors.windows.Watermark``).  A hit older than the watermark is late (counted, left out of the windows); a minute closes when
the watermark passes its end.  Both decisions depend only on the order of hits
within a partition, so the in-process backtest (one partition) and the Kafka
pipeline give the same windows for in-order input.

Memory is bounded.  Most tags are used once (a hashtag-stuffing flood is
nothing else), so a tag gets a ``TagState`` only at its second hit: its first
waits, encoded, among at most ``max_candidates`` held hits, and is applied
before the second when the tag is admitted — an admitted tag counts exactly
what it would have counted tracked from its first hit (a one-hit minute makes
no summary and no alert, so applying it late changes nothing seen).  Beyond
``max_candidates`` the oldest held hits are forgotten.  At most ``max_tags``
tags are tracked; beyond that the least active ones (by a decayed post rate,
never a firing one) are evicted, and tags idle for ``idle_expiry`` seconds are
dropped (held hits too).  A replayed hit (same source partition and offset as
one already taken) is ignored, so at-least-once delivery does not double count.

>>> from detectors.records import TagHit
>>> stage = TagStage()
>>> stage.on_hit(TagHit("k", "K", "p1", "a", 10.0, "twitter", "#K", offset=1))
>>> _ = stage.advance_to(200.0)
>>> "k" in stage.states, stage.held()
(False, 1)
>>> stage.on_hit(TagHit("k", "K", "p2", "b", 230.0, "twitter", "#K", offset=2))
>>> _ = stage.advance_to(300.0)
>>> stage.states["k"].history.items(), stage.held()
([(0, (1, 1)), (3, (1, 1))], 0)
"""
from __future__ import annotations

import functools
import itertools
import math
from array import array
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field

import orjson

from detectors.alerts import Alert
from detectors.campaign import CampaignConfig, CoordinationWindow
from detectors.emerging import EmergingConfig, EmergingDetector, EmergingState
from detectors.records import TagHit, TagMinute
from detectors.windows import KMV, MINUTE, TopK, Watermark, floor_to, minute_of

HISTORY_MINUTES = 1440
APPLY_SLOT = 5  # seconds of event time applied together, in order
ACTIVITY_TAU = 3600.0
SAMPLE_POSTS = 5
SAMPLE_TEXT_CHARS = 280


@dataclass(slots=True)
class TagStageConfig:
    allowed_lateness: float = 20.0
    max_tags: int = 50_000
    # first hits of not yet tracked tags held (~0.3-0.5 KB each); beyond this
    # the oldest are forgotten (such a tag is tracked from its next two hits).
    # 0: every tag is tracked from its first hit.
    max_candidates: int = 100_000
    idle_expiry: float = 24 * 3600.0
    summary_min_posts: int = 2
    # keep a tag's coordination window this long after it stops surging: bursty
    # campaigns dip between bursts and must stay one window
    coordination_cooldown_minutes: int = 15
    max_summaries_per_minute: int = 500
    emerging: EmergingConfig = field(default_factory=EmergingConfig)
    campaign: CampaignConfig = field(default_factory=CampaignConfig)


class MinuteHistory:
    """A tag's closed minutes with posts, oldest first: (minute index, posts,
    distinct authors) in one flat array of machine integers.  Most tracked tags
    have a few minutes (~0.1 KB here, ~0.4 KB as a dict of lists); a busy tag
    has 1 440 (~35 KB, ~6 times less).

    >>> history = MinuteHistory()
    >>> history.add(5, 3, 2); history.add(7, 1, 1)
    >>> history.drop_until(5)
    >>> history.items(), history.to_state()
    ([(7, (1, 1))], [[7, [1, 1]]])
    """

    __slots__ = ("_flat", "_json")

    def __init__(self) -> None:
        self._flat = array("q")
        self._json: orjson.Fragment | None = None  # the state encoded, until it changes

    def add(self, minute: int, posts: int, authors: int) -> None:
        """Append a minute; a tag closes its minutes in time order, each once."""
        self._flat.extend((minute, posts, authors))
        self._json = None

    def drop_until(self, oldest: int) -> None:
        """Forget the minutes up to ``oldest``."""
        flat = self._flat
        end = 0
        while end < len(flat) and flat[end] <= oldest:
            end += 3
        if end:
            del flat[:end]
            self._json = None

    def __len__(self) -> int:
        return len(self._flat) // 3

    def items(self, last: int = 0) -> list[tuple[int, tuple[int, int]]]:
        """(minute, (posts, authors)) pairs, the ``last`` ones only if given."""
        flat = self._flat
        start = max(len(flat) - 3 * last, 0) if last else 0
        return [(flat[i], (flat[i + 1], flat[i + 2])) for i in range(start, len(flat), 3)]

    def values(self) -> list[tuple[int, int]]:
        return [pa for _, pa in self.items()]

    def to_state(self) -> list:
        flat = self._flat
        return [[flat[i], [flat[i + 1], flat[i + 2]]] for i in range(0, len(flat), 3)]

    def to_json(self) -> orjson.Fragment:
        """``to_state`` encoded, kept until the history changes: the worker writes a
        busy tag after every batch, its history changes once a minute."""
        if self._json is None:
            # a copy: the bytes orjson returns keep a 4 KiB buffer allocated, per tracked tag
            self._json = orjson.Fragment(bytes(memoryview(orjson.dumps(self.to_state()))))
        return self._json

    @classmethod
    def from_state(cls, state: list) -> MinuteHistory:
        history = cls()
        for minute, (posts, authors) in state:
            history.add(minute, posts, authors)
        return history


class MinuteBucket:
    """One open minute of one tag."""

    __slots__ = ("posts", "authors", "top_authors", "cotags", "surfaces", "samples", "sample_posts")

    def __init__(self) -> None:
        self.posts = 0
        self.authors = KMV(k=128)
        self.top_authors = TopK(16)
        self.cotags = TopK(10)
        self.surfaces = TopK(6)
        self.samples: list[str] = []
        # [post id, author, text] of the first posts: an alert shows what was said
        self.sample_posts: list[list[str]] = []

    def add(self, hit: TagHit) -> bool:
        """Count one hit; True if its author is new to the minute's author sketch."""
        self.posts += 1
        hashes = self.authors.hashes
        before = len(hashes)
        self.authors.add(hit.author)
        self.top_authors.add(hit.author)
        self.surfaces.add(hit.surface)
        for cotag in hit.cotags:
            self.cotags.add(cotag)
        if len(self.samples) < SAMPLE_POSTS:
            self.samples.append(hit.post_id)
            self.sample_posts.append([hit.post_id, hit.author, hit.text[:SAMPLE_TEXT_CHARS]])
        return len(hashes) > before

    def to_state(self) -> list:
        return [self.posts, self.authors.hashes, self.top_authors.counts, self.cotags.counts,
                self.surfaces.counts, self.samples, self.sample_posts]

    @classmethod
    def from_state(cls, state: list) -> "MinuteBucket":
        bucket = cls()
        posts, hashes, top_authors, cotags, surfaces, samples, *sample_posts = state  # older states lack texts
        bucket.posts = posts
        bucket.authors.hashes = hashes
        bucket.top_authors.counts = top_authors
        bucket.cotags.counts = cotags
        bucket.surfaces.counts = surfaces
        bucket.samples = samples
        bucket.sample_posts = sample_posts[0] if sample_posts else []
        return bucket


class TagState:
    __slots__ = ("key", "partition", "surfaces", "open", "history", "emerging", "coordination",
                 "sources", "last_seen", "activity", "closed_until", "episode_samples",
                 "coordination_until", "inbox", "_leader")

    def __init__(self, key: str, partition: int, emerging: EmergingState):
        self.key = key
        self.partition = partition
        self.surfaces = TopK(8)
        self.open: dict[float, MinuteBucket] = {}
        self.history = MinuteHistory()
        self.emerging = emerging
        self.coordination: CoordinationWindow | None = None
        self.sources: dict[int, int] = {}
        self.last_seen = 0.0
        self.activity = 0.0
        self.closed_until = 0.0
        self.episode_samples: list[str] = []
        self.coordination_until = 0.0
        self.inbox: list[TagHit] = []  # accepted, not yet applied (waiting for the watermark)
        self._leader: str | None = None  # the most used surface, until another is counted

    @property
    def display(self) -> str:
        """The tag as most people write it.  Asked for on every new author's hit:
        the leading surface is kept until another surface is counted."""
        if self._leader is None:
            top = self.surfaces.top(1)
            self._leader = top[0][0] if top else self.key
        return "#" + self._leader

    def add_surface(self, surface: str) -> None:
        if surface == self.key:
            surface = self.key  # one string for both, as most tags are written (~0.1 KB a tag)
        self.surfaces.add(surface)
        if surface != self._leader:
            self._leader = None

    def to_state(self, history: bool = True) -> dict:
        return {
            "key": self.key, "partition": self.partition, "surfaces": self.surfaces.counts,
            "open": [[m, b.to_state()] for m, b in self.open.items()],
            "history": self.history.to_state() if history else None,
            "emerging": self.emerging.to_state(),
            "coordination": self.coordination.to_state() if self.coordination else None,
            "sources": list(self.sources.items()),
            "last_seen": self.last_seen, "activity": self.activity,
            "closed_until": self.closed_until, "episode_samples": self.episode_samples,
            "coordination_until": self.coordination_until,
            "inbox": [hit.to_fields() for hit in self.inbox],
        }

    def to_json(self) -> bytes:
        """``orjson.dumps(self.to_state())``, with the history's encoding kept
        (up to 1 440 minutes, ~16 KB: it was half of the encoding's cost)."""
        state = self.to_state(history=False)
        state["history"] = self.history.to_json()
        return orjson.dumps(state)

    @classmethod
    def from_state(cls, d: dict) -> "TagState":
        state = cls(d["key"], d["partition"], EmergingState.from_state(d["emerging"]))
        state.surfaces.counts = {state.key if s == state.key else s: c for s, c in d["surfaces"].items()}
        state.open = {m: MinuteBucket.from_state(b) for m, b in d["open"]}
        state.history = MinuteHistory.from_state(d["history"])
        if d["coordination"] is not None:
            state.coordination = CoordinationWindow.from_state(d["coordination"])
        state.sources = {s: o for s, o in d["sources"]}
        state.last_seen = d["last_seen"]
        state.activity = d["activity"]
        state.closed_until = d["closed_until"]
        state.episode_samples = d["episode_samples"]
        state.coordination_until = d["coordination_until"]
        state.inbox = [TagHit.from_fields(fields) for fields in d["inbox"]]
        return state


class TagStage:
    """Per-key windows and detection for the tags of one or more partitions.

    ``states`` and ``held_hits`` (key -> encoded first hit of a tag not tracked
    yet) may be any mutable mappings (dicts in a backtest, Faust tables in the
    worker, so held hits survive a restart too); ``dirty`` names the keys whose
    stored value must be written back after a batch (a removed key is deleted
    from the mapping at once; a held hit is written and deleted at once).
    ``sources`` are the input partitions every partition's watermark waits for."""

    def __init__(self, config: TagStageConfig | None = None,
                 states: MutableMapping[str, TagState] | None = None, sources: tuple[int, ...] = (),
                 held_hits: MutableMapping[str, bytes] | None = None):
        self.config = config or TagStageConfig()
        self.sources = sources
        self.detector = EmergingDetector(self.config.emerging)
        self.states: MutableMapping[str, TagState] = states if states is not None else {}
        self.watermarks: dict[int, Watermark] = {}
        self.pending: dict[int, set[str]] = {}
        # per partition: apply slot -> the tags with a hit in it, so applying a
        # slot visits those tags, not every pending one
        self.due: dict[int, dict[float, set[str]]] = {}
        self.dirty: set[str] = set()
        self.late_hits = 0
        self.duplicate_hits = 0
        self.evictions = 0
        self.held_hits: MutableMapping[str, bytes] = held_hits if held_hits is not None else {}
        # per partition: key -> event time of its held hit, oldest held first
        # (in memory; ``rebuild_held`` makes it again from ``held_hits``)
        self.candidates: dict[int, dict[str, float]] = {}
        self.forgotten_candidates = 0
        self._next_sweep: dict[int, float] = {}
        self._closed_before: dict[int, float] = {}
        self._applied_before: dict[int, float] = {}
        # event time this stage started from (its first hit applied)
        self.origin: float | None = None

    # -- input -------------------------------------------------------------
    def watermark(self, partition: int = 0) -> float:
        mark = self.watermarks.get(partition)
        return mark.value() if mark is not None else -math.inf

    def on_progress(self, source: int, event_time: float, partition: int = 0) -> None:
        """Input partition ``source`` has read up to ``event_time``, whether or
        not it sent this partition anything: its watermark need not wait for it."""
        self._watermark(partition).observe(source, event_time)

    def _watermark(self, partition: int) -> Watermark:
        mark = self.watermarks.get(partition)
        if mark is None:
            mark = self.watermarks[partition] = Watermark(self.config.allowed_lateness, self.sources)
        return mark

    def on_hit(self, hit: TagHit, partition: int = 0) -> None:
        """Accept one hit into its tag's inbox.  It is applied once the watermark
        passes it (``advance``), in (event time, post id) order, so the result
        does not depend on how input partitions interleave."""
        key, at = hit.key, hit.created_at
        mark = self._watermark(partition)
        if at < mark.value():  # (a new partition's watermark is -inf: nothing is late)
            self.late_hits += 1
            return
        mark.observe(hit.source, at)
        state = self.states.get(key)
        if state is None:
            state = self._hold_or_admit(hit, partition)
            if state is None:
                return
        elif 0 <= hit.offset <= state.sources.get(hit.source, -1):
            self.duplicate_hits += 1
            return
        if minute_of(at) < state.closed_until:
            self.late_hits += 1
            return
        if hit.offset >= 0:
            state.sources[hit.source] = hit.offset
        state.inbox.append(hit)
        pending = self.pending.get(partition)
        if pending is None:
            pending = self.pending[partition] = set()
        pending.add(key)
        self._mark_due(partition, at, key)
        self.dirty.add(key)

    def on_records(self, records: list, partition: int = 0) -> tuple[float, set[int]]:
        """One message of the worker's hits topic: hits as ``TagHit.to_fields``
        lists and ``[source, event time]`` progress items (``on_progress``).
        Returns the newest hit's event time and the sources heard from.  (The
        agent's loop over them cost a few interpreted steps a hit.)

        >>> stage = TagStage(sources=(0, 1))
        >>> hit = TagHit("k", "K", "p1", "a", 10.0, "twitter", "#K", source=1, offset=7)
        >>> stage.on_records([hit.to_fields(), [0, 30.0]])
        (10.0, {0, 1})
        >>> stage.watermark()
        -10.0
        """
        newest = -math.inf
        sources: set[int] = set()
        for fields in records:
            if len(fields) == 2:
                source: int = fields[0]
                self.on_progress(source, fields[1], partition)
                sources.add(source)
                continue
            hit = TagHit.from_fields(fields)
            self.on_hit(hit, partition)
            if hit.created_at > newest:
                newest = hit.created_at
            sources.add(hit.source)
        return newest, sources

    def _mark_due(self, partition: int, at: float, key: str) -> None:
        slots = self.due.get(partition)
        if slots is None:
            slots = self.due[partition] = {}
        slot = floor_to(at, APPLY_SLOT)
        keys = slots.get(slot)
        if keys is None:
            slots[slot] = {key}
        else:
            keys.add(key)

    def _apply(self, state: TagState, hit: TagHit) -> list[Alert]:
        """Count one hit; may fire an early (partial-minute) emerging alert."""
        at = hit.created_at
        if self.origin is None:
            self.origin = at
        if state.last_seen == 0.0:  # first hit applied: the tag is born now
            state.emerging = self.detector.new_state(state.key, at, self.origin)
        minute = minute_of(at)
        state.activity = state.activity * math.exp(-max(at - state.last_seen, 0.0) / ACTIVITY_TAU) + 1.0
        state.last_seen = max(state.last_seen, at)
        state.add_surface(hit.surface)
        bucket = state.open.get(minute)
        if bucket is None:
            bucket = state.open[minute] = MinuteBucket()
        new_author = bucket.add(hit)
        if state.coordination is not None:
            state.coordination.add(hit)
        if not new_author:
            return []
        display = state.display
        evidence = functools.partial(self._evidence, state, bucket)  # built only if an alert fires
        alert = self.detector.check_new_tag(state.emerging, hit.author, at, display, evidence)
        if alert is None:
            alert = self.detector.check_partial(
                state.emerging, minute, bucket.authors.estimate(), at, display, evidence)
            if alert is None:
                return []
        return self._on_fire(state, alert, bucket)

    def held(self) -> int:
        """Held first hits of tags not tracked yet."""
        return sum(len(held) for held in self.candidates.values())

    def _hold_or_admit(self, hit: TagHit, partition: int) -> TagState | None:
        """Hold the first hit of an untracked tag; at its second, admit the tag
        with the first in its inbox (both are applied in order)."""
        key = hit.key
        if not self.config.max_candidates:
            return self._admit(key, partition, hit.created_at)
        held = self.candidates.get(partition)
        if held is None:
            held = self.candidates[partition] = {}
        if key not in held:
            held[key] = hit.created_at
            # a copy: the bytes orjson returns keep a 4 KiB buffer allocated
            self.held_hits[key] = bytes(memoryview(hit.to_wire()))
            self._mark_due(partition, hit.created_at, key)  # see _set_origin
            if len(held) > self.config.max_candidates / len(self.candidates):
                drop = len(held) // 10 + 1
                for forgotten in itertools.islice(held, drop):
                    del self.held_hits[forgotten]
                self.candidates[partition] = dict(itertools.islice(held.items(), drop, None))
                self.forgotten_candidates += drop
            return None
        first = TagHit.from_wire(self.held_hits[key])
        if first.source == hit.source and 0 <= hit.offset <= first.offset:
            self.duplicate_hits += 1
            return None
        del held[key]
        del self.held_hits[key]
        state = self._admit(key, partition, first.created_at)
        if first.offset >= 0:
            state.sources[first.source] = first.offset
        state.inbox.append(first)
        return state

    def _set_origin(self, key: str, partition: int) -> None:
        """The stage starts from its first hit applied, held ones included: a held
        hit is not applied, but would have been had its tag been tracked."""
        at = self.candidates.get(partition, {}).get(key)
        if at is not None:
            self.origin = at

    def _admit(self, key: str, partition: int, now: float) -> TagState:
        if len(self.states) >= self.config.max_tags:
            self._evict(now)
        # the emerging state is made anew when the first hit is applied (in order)
        state = TagState(key, partition, self.detector.new_state(key, now, now))
        self.states[key] = state
        return state

    def _evict(self, now: float) -> None:
        """Drop the least active tenth of the tags (never a firing one)."""
        target = int(self.config.max_tags * 0.9)
        candidates = sorted(
            (s.activity * math.exp(-max(now - s.last_seen, 0.0) / ACTIVITY_TAU), key)
            for key, s in self.states.items() if not s.emerging.episode.firing)
        for _, key in candidates[: max(len(self.states) - target, 0)]:
            self._remove(key)
            self.evictions += 1

    def _remove(self, key: str) -> None:
        state = self.states.pop(key)
        self.pending.get(state.partition, set()).discard(key)
        self.dirty.discard(key)

    # -- minute closing ----------------------------------------------------
    def advance(self, partition: int = 0) -> tuple[list[Alert], list[TagMinute]]:
        """Close every minute of this partition that the watermark has passed."""
        return self._close_until(partition, self.watermark(partition))

    def advance_to(self, event_time: float, partition: int = 0) -> tuple[list[Alert], list[TagMinute]]:
        """Move the partition's event time forward without a hit (end of input, or
        input idle) and close what that passes."""
        self._watermark(partition).advance_to(event_time)
        return self.advance(partition)

    def progress(self, partition: int = 0) -> float:
        """Every minute of this partition before this time is closed and reported."""
        return self._closed_before.get(partition, -math.inf)

    def _close_until(self, partition: int, watermark: float) -> tuple[list[Alert], list[TagMinute]]:
        alerts: list[Alert] = []
        minutes: list[TagMinute] = []
        if watermark == -math.inf:
            return alerts, minutes
        apply_before = floor_to(watermark, APPLY_SLOT)
        if apply_before <= self._applied_before.get(partition, -math.inf):
            return alerts, minutes
        self._applied_before[partition] = apply_before
        close_before = minute_of(watermark)
        minute_ended = close_before > self._closed_before.get(partition, -math.inf)
        if minute_ended:
            self._closed_before[partition] = close_before
        keys = self.pending.get(partition)
        slots = self.due.get(partition)
        # Within a minute only tags with a hit to apply have work: every other
        # pending tag was closed up to ``close_before`` when last visited.
        visit = set(keys) if minute_ended and keys else set()
        if slots:
            # (a slot starts at a multiple of APPLY_SLOT, as apply_before does: a
            # slot before it holds only hits before it)
            for slot in [slot for slot in slots if slot < apply_before]:
                visit |= slots.pop(slot)
        for key in sorted(visit):
            state = self.states.get(key)
            if state is None:  # held, forgotten, or evicted since its hit arrived
                if self.origin is None:
                    self._set_origin(key, partition)
                continue
            if state.inbox:
                ready = [h for h in state.inbox if h.created_at < apply_before]
                if ready:
                    if len(ready) == len(state.inbox):
                        state.inbox = []
                    else:
                        state.inbox = [h for h in state.inbox if h.created_at >= apply_before]
                    if len(ready) > 1:
                        ready.sort(key=lambda h: (h.created_at, h.post_id))
                    closed_before = None
                    for hit in ready:
                        # a minute is judged before any later minute's hit counts,
                        # however far the watermark jumped (a non-firing tag has
                        # nothing to close before the minute of its last hit)
                        minute = minute_of(hit.created_at)
                        if minute != closed_before or state.emerging.episode.firing:
                            self._close_state(state, minute, alerts, minutes)
                            closed_before = minute
                        alerts.extend(self._apply(state, hit))
            self._close_state(state, close_before, alerts, minutes)
            if keys is not None and not state.inbox and not state.open and not state.emerging.episode.firing:
                keys.discard(key)
        if watermark >= self._next_sweep.get(partition, -math.inf):
            self._sweep_idle(partition, watermark)
            self._next_sweep[partition] = watermark + 3600.0
        if not minutes:  # most slots close no minute
            return alerts, minutes
        minutes.sort(key=lambda m: (m.minute, -m.posts, m.key))
        return alerts, self._cap_summaries(minutes)

    def _close_state(self, state: TagState, close_before: float, alerts, minutes) -> None:
        """Close this tag's minutes below ``close_before``; a firing tag also gets
        its silent minutes judged (as zero), so it can resolve."""
        # called before every applied hit: nothing to close is the common case
        firing = state.emerging.episode.firing
        closable = [m for m in state.open if m < close_before]
        if not closable and not firing:
            return
        closable.sort()
        if firing:
            start = state.closed_until or (closable[0] if closable else close_before)
            closable = [start + MINUTE * i for i in range(int((close_before - start) // MINUTE))]
        for minute in closable:
            bucket = state.open.pop(minute, None) or MinuteBucket()
            self._close_minute(state, minute, bucket, alerts, minutes)
            if not state.emerging.episode.firing and not state.open:
                break
        if closable:
            state.closed_until = max(state.closed_until, closable[-1] + MINUTE)
            self.dirty.add(state.key)
        if not state.open:
            state.open = {}  # an emptied dict keeps its table (~170 B more), in every idle tag

    def _close_minute(self, state: TagState, minute: float, bucket: MinuteBucket, alerts, minutes) -> None:
        authors = bucket.authors.estimate()
        index = int(minute // MINUTE)
        if bucket.posts:
            state.history.add(index, bucket.posts, round(authors))
        state.history.drop_until(index - HISTORY_MINUTES)
        alert = self.detector.close_minute(state.emerging, minute, authors, state.display,
                                           lambda: self._evidence(state, bucket))
        if alert is not None:
            alerts.extend(self._on_fire(state, alert, bucket))
        surging = self.detector.is_surging(state.emerging, authors)
        if surging:
            state.coordination_until = minute + self.config.coordination_cooldown_minutes * MINUTE
        coordination = None
        if minute < state.coordination_until:
            if state.coordination is None:
                state.coordination = CoordinationWindow(self.config.campaign)
            else:
                coordination = state.coordination.signals(minute + MINUTE)
        else:
            state.coordination = None
        if bucket.posts >= self.config.summary_min_posts or coordination is not None \
                or surging or state.emerging.episode.firing:
            minutes.append(TagMinute(
                key=state.key, display=state.display, minute=minute, posts=bucket.posts,
                authors=round(authors), expected=round(state.emerging.expected, 3),
                score=round(state.emerging.score, 3), surging=surging,
                firing=state.emerging.episode.firing, surfaces=bucket.surfaces.top(6),
                top_authors=bucket.top_authors.top(10), author_hashes=bucket.authors.hashes[:64],
                sample_post_ids=list(bucket.samples), cotags=bucket.cotags.top(10),
                coordination=coordination))

    def _on_fire(self, state: TagState, alert: Alert | None, bucket: MinuteBucket) -> list[Alert]:
        if alert is None:
            return []
        if alert.status == "firing":
            state.episode_samples = list(bucket.samples)
            alert.related = ["#" + s for s, _ in state.surfaces.top(5) if "#" + s != state.display]
        self.dirty.add(state.key)
        return [alert]

    def _evidence(self, state: TagState, bucket: MinuteBucket) -> dict:
        recent = state.history.items(last=30)
        return {
            "distinct_authors": round(bucket.authors.estimate()),
            "posts": bucket.posts,
            "top_variants": [{"tag": "#" + s, "count": c} for s, c in state.surfaces.top(5)],
            "sample_post_ids": list(bucket.samples) or state.episode_samples,
            "sample_posts": [{"id": i, "author": a, "text": t} for i, a, t in bucket.sample_posts],
            "top_authors": [{"author": a, "posts": c} for a, c in bucket.top_authors.top(10)],
            "cooccurring_keys": [k for k, _ in bucket.cotags.top(5)],
            "authors_per_minute": [[i * 60, pa[1]] for i, pa in recent],
        }

    def _sweep_idle(self, partition: int, watermark: float) -> None:
        horizon = watermark - self.config.idle_expiry
        for key in [k for k, s in self.states.items()
                    if s.partition == partition and s.last_seen < horizon
                    and not s.emerging.episode.firing and not s.open and not s.inbox]:
            self._remove(key)
        held = self.candidates.get(partition)
        if held:
            for key in [k for k, at in held.items() if at < horizon]:
                del self.held_hits[key]
            self.candidates[partition] = {key: at for key, at in held.items() if at >= horizon}

    def _cap_summaries(self, minutes: list[TagMinute]) -> list[TagMinute]:
        cap = self.config.max_summaries_per_minute
        kept: list[TagMinute] = []
        per_minute: dict[float, int] = {}
        for m in minutes:  # sorted busiest first within each minute
            n = per_minute.get(m.minute, 0)
            if n < cap or m.surging or m.firing:
                kept.append(m)
                per_minute[m.minute] = n + 1
        return kept

    def rebuild_pending(self) -> None:
        """After recovery from a table: every tag with work left is pending again."""
        self.pending.clear()
        self.due.clear()
        self._closed_before.clear()
        self._applied_before.clear()
        self.watermarks.clear()  # the worker restores them (its watermark table)
        # the warm-up goes on from the earliest birth among the recovered tags (a
        # rebalance or restart early in a stream must not end it)
        births = [s.emerging.first_seen for s in self.states.values()
                  if s.last_seen and s.emerging.first_seen is not None]
        if births:
            self.origin = min(births) if self.origin is None else min(self.origin, *births)
        for key, state in self.states.items():
            if state.inbox or state.open or state.emerging.episode.firing:
                self.pending.setdefault(state.partition, set()).add(key)
            for hit in state.inbox:
                self._mark_due(state.partition, hit.created_at, key)

    def rebuild_held(self, partition_of: Callable[[str], int]) -> None:
        """After recovery from a table (and ``rebuild_pending``): each partition's
        held hits, oldest first by event time (the order they came in is lost).

        >>> stage = TagStage(held_hits={})
        >>> stage.on_hit(TagHit("k", "K", "p1", "a", 10.0, "twitter", "#K", offset=1))
        >>> restarted = TagStage(held_hits=stage.held_hits)
        >>> restarted.rebuild_pending(); restarted.rebuild_held(lambda key: 0)
        >>> restarted.on_hit(TagHit("k", "K", "p2", "b", 230.0, "twitter", "#K", offset=2))
        >>> _ = restarted.advance_to(300.0)
        >>> restarted.states["k"].history.items()
        [(0, (1, 1)), (3, (1, 1))]
        """
        self.candidates.clear()
        held = sorted((hit.created_at, hit.source, hit.offset, key)
                      for key, hit in ((k, TagHit.from_wire(raw)) for k, raw in self.held_hits.items()))
        for at, _, _, key in held:
            partition = partition_of(key)
            self.candidates.setdefault(partition, {})[key] = at
            if self.origin is None:  # see _set_origin
                self._mark_due(partition, at, key)
