"""All of Rasd's detectors in one process: the backtest, and the reference the
Kafka pipeline is held to.

The stages and calls are exactly those the Faust agents make
(``streams/app.py``), in the same order per record:

    post ─► hits_of ─► TagStage.on_hit … advance ─► SummaryStage.on_batch
         └► PlatformShardCounter.on_post … advance ─► PlatformStage.on_batch

Here every stage sees one partition (0); in the worker each partition keeps
its own watermark, and :func:`route_posts` sends each hit and platform count to
the partition of its key.

>>> pipe = Pipeline()
>>> pipe.process_raw(b'{"id":"1","platform":"x","author":"a",'
...                  b'"created_at":"2020-01-01T00:00:00Z","text":"#t"}')
[]
>>> pipe.stats["posts"]
1
"""
from __future__ import annotations

import contextlib
import gc
import math
from collections.abc import Callable, Iterator

from detectors.alerts import Alert
from detectors.campaign import CampaignDetector
from detectors.config import DetectorConfig
from detectors.outage import OutageDetector
from detectors.platforms import PlatformShardCounter, PlatformStage, shard_key
from detectors.records import InvalidPost, Post, hits_of, parse_post
from detectors.summaries import SummaryStage
from detectors.tags import TagStage
from detectors.variants import VariantGrouper
from detectors.windows import MINUTE


def build_stages(config: DetectorConfig, partitions: int = 1, tag_states=None, shard_states=None,
                 held_hits=None) -> tuple[TagStage, PlatformShardCounter, PlatformStage, SummaryStage]:
    """The four stages, configured; shared by the backtest and the worker (which
    has ``partitions`` input partitions and passes its tables as the keyed
    stages' state mappings)."""
    sources = tuple(range(partitions))
    tags = TagStage(config.tags, tag_states, sources, held_hits)
    shards = PlatformShardCounter(config.tags.allowed_lateness, config.platform_shards, shard_states, sources)
    platforms = PlatformStage(OutageDetector(config.outage), partitions)
    summaries = SummaryStage(VariantGrouper(config.official, config.variants),
                             CampaignDetector(config.watched + config.official, config.campaign),
                             partitions)
    return tags, shards, platforms, summaries


class Pipeline:
    def __init__(self, config: DetectorConfig | None = None):
        self.config = config or DetectorConfig()
        # typed: the compiled pipeline calls into the stages natively
        self.tags: TagStage
        self.shards: PlatformShardCounter
        self.platforms: PlatformStage
        self.summaries: SummaryStage
        self.tags, self.shards, self.platforms, self.summaries = build_stages(self.config)
        self.stats = {"posts": 0, "hits": 0, "rejected": 0}
        self.rejects: dict[str, int] = {}
        self.max_event_time = -math.inf
        # watermarks the stages last advanced at: a stage whose watermark has not
        # moved has nothing to close (most posts share their second with others)
        self._tags_advanced_at: float | None = None
        self._shards_advanced_at: float | None = None

    def process_raw(self, raw: bytes | str, now: float | None = None) -> list[Alert]:
        """Parse and process one raw message; raises ``InvalidPost`` for bad input."""
        try:
            post = parse_post(raw, now)
        except InvalidPost as exc:
            self.stats["rejected"] += 1
            self.rejects[exc.reason] = self.rejects.get(exc.reason, 0) + 1
            raise
        return self.process_post(post)

    def process_post(self, post: Post, source: int = 0, offset: int = -1) -> list[Alert]:
        stats = self.stats
        stats["posts"] += 1
        if post.created_at > self.max_event_time:
            self.max_event_time = post.created_at
        alerts: list[Alert] = []
        if post.tags:  # (a post without tags moves no tag partition's event time)
            hits = hits_of(post, source, offset)
            stats["hits"] += len(hits)
            for hit in hits:
                self.tags.on_hit(hit)
            watermark = self.tags.watermark()
            if watermark != self._tags_advanced_at:
                self._tags_advanced_at = watermark
                alerts.extend(self._after_tags(*self.tags.advance()))
        self.shards.on_post(post.platform, post.created_at, post.author, source, offset)
        watermark = self.shards.watermark()
        if watermark != self._shards_advanced_at:
            self._shards_advanced_at = watermark
            alerts.extend(self._after_shards(self.shards.advance()))
        return alerts

    def _after_tags(self, alerts: list[Alert], minutes) -> list[Alert]:
        if minutes or self.tags.progress() > self.summaries.gate.progress.get(0, -math.inf):
            alerts.extend(self.summaries.on_batch(0, self.tags.progress(), minutes))
        return alerts

    def _after_shards(self, records) -> list[Alert]:
        if records or self.shards.progress() > self.platforms.gate.progress.get(0, -math.inf):
            return self.platforms.on_batch(0, self.shards.progress(), records)
        return []

    def end_of_input(self) -> float:
        """Event time by which every window of the input seen so far is closed."""
        return self.max_event_time + self.config.tags.allowed_lateness + 2 * MINUTE

    def finish(self) -> list[Alert]:
        """End of input: close every open window and judge every pending minute."""
        if self.max_event_time == -math.inf:
            return []
        end = self.end_of_input()
        alerts = self._after_tags(*self.tags.advance_to(end))
        alerts.extend(self._after_shards(self.shards.advance_to(end)))
        alerts.extend(self.platforms.flush())
        alerts.extend(self.summaries.flush())
        return alerts


class RoutedPosts:
    """A batch of raw posts, routed: per stage partition the tag hits
    (``TagHit.to_fields``) and platform counts (``[platform, created_at,
    author, source, offset]``) it gets; the rejected records with their reason
    and detail; per source partition the newest event time; posts per platform."""

    __slots__ = ("hits", "counts", "rejected", "newest", "platforms")

    def __init__(self) -> None:
        self.hits: dict[int, list] = {}
        self.counts: dict[int, list] = {}
        self.rejected: list[tuple[object, str, str]] = []
        self.newest: dict[int, float] = {}
        self.platforms: dict[str, int] = {}


def route_posts(records: list, now: float, partition_of: Callable[[str], int], shards: int) -> RoutedPosts:
    """Validate ``records`` (each with the raw post as ``value`` and its place in
    the input as ``partition`` and ``offset``) and route what each stage
    partition gets: a hit by its tag's key, a platform count by its shard's
    (``partition_of``).  Compiled: the worker's per-post work outside the stages.

    >>> raw = (b'{"id":"1","platform":"x","author":"a",'
    ...        b'"created_at":"2020-01-01T00:00:00Z","text":"#t #u"}')
    >>> class Record:
    ...     def __init__(self, value, offset):
    ...         self.value, self.partition, self.offset = value, 3, offset
    >>> routed = route_posts([Record(raw, 7), Record(b'{"id":', 8)], 2e9, len, 4)
    >>> {p: [hit[0] for hit in hits] for p, hits in routed.hits.items()}
    {1: ['t', 'u']}
    >>> routed.counts
    {3: [['x', 1577836800.0, 'a', 3, 7]]}
    >>> [(record.offset, reason) for record, reason, _ in routed.rejected]
    [(8, 'invalid_json')]
    >>> routed.newest, routed.platforms
    ({3: 1577836800.0}, {'x': 1})
    """
    routed = RoutedPosts()
    hits, counts, newest, platforms = routed.hits, routed.counts, routed.newest, routed.platforms
    for record in records:
        raw: bytes = record.value
        source: int = record.partition
        offset: int = record.offset
        try:
            post = parse_post(raw, now)
        except InvalidPost as exc:
            routed.rejected.append((record, exc.reason, exc.detail))
            continue
        except Exception as exc:  # a bug must not lose the post
            routed.rejected.append((record, "processing_error", repr(exc)[:300]))
            continue
        for hit in hits_of(post, source, offset):
            hits.setdefault(partition_of(hit.key), []).append(hit.to_fields())
        counts.setdefault(partition_of(shard_key(post.platform, post.author, shards)), []).append(
            [post.platform, post.created_at, post.author, source, offset])
        platforms[post.platform] = platforms.get(post.platform, 0) + 1
        if post.created_at > newest.get(source, -math.inf):
            newest[source] = post.created_at
    return routed


@contextlib.contextmanager
def batch_gc(threshold: int = 10_000):
    """Collect garbage in bigger batches while a backtest runs.

    A backtest allocates millions of short-lived records (posts, hits, minute
    buckets) beside a large state that changes slowly.  At CPython's default
    threshold (700 allocations) the collector re-scans that state dozens of
    times: a fifth of a 1 M-post backtest's CPU time.  Only the youngest
    generation's threshold is raised, so cycles are still collected.  The
    setting is process-wide: it is restored on leaving."""
    before = gc.get_threshold()
    gc.set_threshold(threshold, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def run_lines(lines, config: DetectorConfig | None = None, now: float | None = None,
              on_reject=None) -> Iterator[Alert]:
    """Backtest over raw lines (bytes or str); ``on_reject(line_no, raw, exc)`` sees bad lines.
    Runs under ``batch_gc`` until the generator is exhausted or closed."""
    pipe = Pipeline(config)
    with batch_gc():
        for line_no, raw in enumerate(lines, 1):
            if not raw or raw.isspace():  # (not raw.strip(): no copy of every line)
                continue
            try:
                alerts = pipe.process_raw(raw.rstrip(b"\r\n") if isinstance(raw, bytes) else raw.rstrip("\r\n"),
                                          now)
                if alerts:
                    yield from alerts
            except InvalidPost as exc:
                if on_reject is not None:
                    on_reject(line_no, raw, exc)
        yield from pipe.finish()
