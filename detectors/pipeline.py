"""All of Rasd's detectors in one process: the backtest, and the reference the
Kafka pipeline is held to.

The stages and calls are exactly those the Faust agents make
(``streams/app.py``), in the same order per record:

    post ─► hits_of ─► TagStage.on_hit … advance ─► SummaryStage.on_batch
         └► PlatformShardCounter.on_post … advance ─► PlatformStage.on_batch

Here every stage sees one partition (0); in the worker each partition keeps
its own watermark.

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
from collections.abc import Iterator

from detectors.alerts import Alert
from detectors.campaign import CampaignDetector
from detectors.config import DetectorConfig
from detectors.outage import OutageDetector
from detectors.platforms import PlatformShardCounter, PlatformStage
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
