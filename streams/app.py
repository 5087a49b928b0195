"""The Rasd worker: topics, tables, agents, timers and views, top-down.

    posts ──ingest──► tag-hits (key: canonical tag) ──tags──► tag-minutes ──summaries──► alerts
      │                                                  └──────────────────────────────► alerts
      └────────────► platform-hits (key: platform/shard) ──shards──► platform-minutes ──platforms──► alerts
    bad input ──► posts-dlq (original bytes, reason in headers)

Posts are read in batches by a plain consumer group (``streams.ingest``:
Faust's per-message cost is far above a post's); everything downstream is a
Faust agent.  Agents are thin: each calls the same stage objects, in the same order, as
``detectors.pipeline.Pipeline`` does in a backtest.  State lives in Faust
tables (changelog-backed); the pure stages use the tables as their mappings.
"""
from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import math
import time
from collections.abc import MutableMapping
from pathlib import Path
from urllib.parse import quote

import faust
import orjson
from aiokafka.partitioner import murmur2
from faust.serializers import codecs
from faust.types import TP, TopicT
from faust.web import Request, Response, View

from detectors.alerts import KINDS, Alert
from detectors.config import DetectorConfig
from detectors.pipeline import build_stages
from detectors.platforms import PlatformStage, ShardState, shard_key
from detectors.records import (InvalidPost, PlatformMinute, TagMinute, format_time, hits_of, parse_post,
                               parse_time)
from detectors.summaries import SummaryStage
from detectors.tags import TagState
from detectors.windows import MINUTE, MinuteGate, Watermark
from streams import changelog, fetch_pacing, glibc_malloc, kafka_client, metrics
from streams.alertmanager import AlertmanagerPusher
from streams.board import AlertBoard, follow_topic
from streams.config import Settings, platform_label
from streams.ingest import (Batch, PostsConsumer, ProgressMarks, interleaved, json_arrays, progress_messages,
                           read_progress)
from streams.mutes import ACTIONS, MuteStore
from streams.recovery_watch import RecoveryWatch


class StateCodec(codecs.Codec):
    """Table values: any object with ``to_state``/``from_state``, as JSON."""

    def __init__(self, cls, **kwargs):
        self.cls = cls
        super().__init__(cls=cls, **kwargs)

    def _dumps(self, obj) -> bytes:
        encode = getattr(obj, "to_json", None)  # a state that knows a faster way
        return encode() if encode is not None else orjson.dumps(obj.to_state())

    def _loads(self, raw: bytes):
        return self.cls.from_state(orjson.loads(raw))


class Utf8Codec(codecs.Codec):
    """Table keys as plain UTF-8, the bytes the input topics are keyed with, so a
    key's changelog partition is the partition its records arrive on."""

    def _dumps(self, obj: str) -> bytes:
        return obj.encode()

    def _loads(self, raw: bytes) -> str:
        return raw.decode()


class JsonStateCodec(codecs.Codec):
    def _dumps(self, obj) -> bytes:
        return orjson.dumps(obj)

    def _loads(self, raw: bytes):
        return orjson.loads(raw)


codecs.register("rasd-utf8", Utf8Codec())
codecs.register("rasd-tag-state", StateCodec(TagState))
codecs.register("rasd-shard-state", StateCodec(ShardState))
codecs.register("rasd-json", JsonStateCodec())


def key_partition(key: str, partitions: int) -> int:
    """Kafka's default partitioning of a UTF-8 key (murmur2)."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class KeyedTable(faust.Table):
    """A table whose changelog partition is computed from the key alone — the
    same function that routes the key's input records — so it can be written
    from timers too, and never depends on producer metadata being fresh.  Its
    writes go to the changelog in batches (``streams.changelog``)."""

    def partition_for_key(self, key: str) -> int:
        return key_partition(key, self.partitions)

    def on_key_set(self, key: str, value) -> None:
        changelog.CHANGELOG.put(self, self.partition_for_key(key), key, value)

    def on_key_del(self, key: str) -> None:
        changelog.CHANGELOG.put(self, self.partition_for_key(key), key, None)


class TableView(MutableMapping):
    """A stage's states: read from the table's in-memory dict, written and
    deleted through the table (so to its changelog).  A read through the table
    itself calls Faust's table sensors: once or twice a hit, ~4 % of a
    worker's CPU for counters nobody reads."""

    def __init__(self, table: KeyedTable):
        self.table = table
        self.data: dict = table.data.data  # the memory store's dict, made once per table
        # bound to the dict's own methods: a compiled stage's get is a C call
        self.get = self.data.get  # type: ignore[method-assign]

    def __getitem__(self, key: str):
        return self.data[key]

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def items(self):  # type: ignore[override]
        return self.data.items()

    def values(self):  # type: ignore[override]
        return self.data.values()

    def __setitem__(self, key: str, value) -> None:
        self.table[key] = value

    def __delitem__(self, key: str) -> None:
        del self.table[key]

    def __iter__(self):
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


class PartitionTable(KeyedTable):
    """Keyed ``stage/partition``: one record per input partition, in that
    partition's changelog, so it moves and recovers with the partition."""

    def partition_for_key(self, key: str) -> int:
        return int(key.rpartition("/")[2])


def serialized_as(codec: str) -> type:
    """A marker type: Faust tables pick their serializer from ``type._options``;
    changelog recovery then passes the decoded value through ``from_data``."""
    return type(codec, (), {"_options": type("Options", (), {"serializer": codec}),
                            "from_data": staticmethod(lambda data, preferred_type=None: data)})


class HeldHits(MutableMapping):
    """The held first hits' table, whose deletions reach the changelog only at
    the next write-back, after the state of the tag a hit was admitted to.  A
    tombstone before that state, then a crash, would lose the first hit (its
    post's offset committed long before)."""

    def __init__(self, table):
        self.table = table
        self.deleted: set[str] = set()

    def __getitem__(self, key: str) -> bytes:
        if key in self.deleted:
            raise KeyError(key)
        return self.table[key]

    def __setitem__(self, key: str, value: bytes) -> None:
        self.deleted.discard(key)
        self.table[key] = value

    def __delitem__(self, key: str) -> None:
        if key in self.deleted or key not in self.table:
            raise KeyError(key)
        self.deleted.add(key)

    def __iter__(self):
        return (key for key in self.table if key not in self.deleted)

    def __len__(self) -> int:
        return len(self.table) - len(self.deleted)

    def flush(self) -> None:
        for key in self.deleted:
            self.table.pop(key, None)
        self.deleted.clear()


kafka_client.install()
changelog.install()
fetch_pacing.install()  # before any consumer starts
log = logging.getLogger(__name__)
settings = Settings()
detector_config = DetectorConfig.load(settings.detector_config)

app = faust.App(
    settings.app_id,
    broker=settings.broker,
    broker_credentials=settings.broker_credentials(),
    datadir=settings.data_dir,
    store="memory://",
    web_host=settings.web_host,
    web_port=settings.web_port,
    web_in_thread=False,
    topic_partitions=settings.partitions,
    topic_replication_factor=settings.replication,
    table_standby_replicas=0,
    consumer_auto_offset_reset="earliest",
    broker_commit_interval=settings.commit_interval_seconds,
    key_serializer="raw",
    value_serializer="raw",
    producer_max_request_size=4 * 1024 * 1024,
    # one produce request carries every message a partition got meanwhile: with
    # Faust's 16 KiB a second message to a partition waits for a broker round trip
    producer_max_batch_size=1024 * 1024,
    stream_buffer_maxsize=8192,
)

# -- topics -------------------------------------------------------------------
posts_topic = app.topic(settings.topic_posts, partitions=settings.partitions)
dlq_topic = app.topic(settings.topic_dlq, partitions=1)
alerts_topic = app.topic(settings.topic_alerts, partitions=1)
# a hits record carries up to one ingest batch of hits for a partition (~1 MB in
# a hashtag-stuffing flood): fetch only a few ahead of the stage, not thousands
HITS_BUFFERED = 32
tag_hits_topic = app.topic(settings.topic_tag_hits, partitions=settings.partitions, internal=True,
                           maxsize=HITS_BUFFERED)
platform_hits_topic = app.topic(settings.topic_platform_hits, partitions=settings.partitions, internal=True,
                                maxsize=HITS_BUFFERED)
tag_minutes_topic = app.topic(settings.topic_tag_minutes, partitions=1, internal=True)
platform_minutes_topic = app.topic(settings.topic_platform_minutes, partitions=1, internal=True)

# -- tables -------------------------------------------------------------------
# use_partitioner: a tag's changelog partition is the default partitioner's
# choice for its key, i.e. the same partition its hits arrive on, so tables can
# be written from timers as well as from the stream.
def keyed_table(name: str, partitions: int, value_codec: str, cls: type[KeyedTable] = KeyedTable) -> KeyedTable:
    table = app.tables.add(cls(
        app, name=name, beacon=app.tables.beacon, partitions=partitions,
        key_type=serialized_as("rasd-utf8"), value_type=serialized_as(value_codec), use_partitioner=True))
    changelog.CHANGELOG.register(table)  # in this order: states before the held hits' deletions
    return table


tag_table = keyed_table("tag-state", settings.partitions, "rasd-tag-state")
# first hits of tags not tracked yet (encoded): held until a tag's second hit,
# which may come after a restart
held_table = keyed_table("tag-held", settings.partitions, "raw")
held_hits = HeldHits(held_table)
shard_table = keyed_table("platform-shards", settings.partitions, "rasd-shard-state")
stage_table = keyed_table("global-stages", 1, "rasd-json")
# per tag/shard partition: each input source's newest event time.  Without it a
# restarted worker rebuilds a watermark from whichever source it reads first and
# drops the other sources' hits as late.  Registered last, so flushed last: a
# watermark stored ahead of the states would call the replayed hits late.
watermark_table = keyed_table("watermarks", settings.partitions, "rasd-json", PartitionTable)

tags, shards, platforms, summaries = build_stages(detector_config, settings.partitions,
                                                  tag_states=TableView(tag_table),
                                                  shard_states=TableView(shard_table),
                                                  held_hits=held_hits)
board = AlertBoard()
# wall-clock time each stage (and tag/shard partition) last received input
last_wall: dict[str, float] = {}
# per (topic, source partition): the progress last reported downstream, and when
last_progress: dict[tuple[str, int], tuple[float, float]] = {}
# per (stage, partition, input source): wall-clock time a record last came from it
source_wall: dict[tuple[str, int, int], float] = {}
# per (topic, partition) of tag-hits/platform-hits: offset of the last record taken
taken_offsets: dict[tuple[str, int], int] = {}
# per (global stage, upstream partition): wall-clock time of its last progress report
report_wall: dict[tuple[str, int], float] = {}
ingest_watermark = [-math.inf]
# A tag/shard partition's minutes are closed by its agent and by the idle timer.
# Each closes and reports them under its stage's lock: else a report of the
# progress one has made could overtake the other's records for those minutes
# (both await the sends), and the global stage would call those records late.
closing = {"tags": asyncio.Lock(), "shards": asyncio.Lock()}
# wall-clock time the worker last could not see all of its input (see quiet_since)
input_unseen_at = [0.0]


async def publish(alerts: list[Alert]) -> None:
    for alert in alerts:
        metrics.record_alert(alert)
        await alerts_topic.send(key=alert.id.encode(), value=orjson.dumps(alert.to_json()))


CHANGELOG_BACKLOG = 2000


async def changelog_ebb() -> None:
    """Produce the tables' changes once more than ``CHANGELOG_BACKLOG`` records
    wait: a flood of new tags (each held, admitted, written, evicted) makes
    them faster than commits come.  Not during a rebalance (flow suspended):
    the revocation waits for this batch to finish, then flushes the producer,
    and with it the changelog, itself."""
    if app.flow_control.is_active():
        await changelog.CHANGELOG.flush_if_over(CHANGELOG_BACKLOG, app.producer)


def write_back(table, stage, limit: int | None = None) -> None:
    """Write (at most ``limit`` of) the states a stage changed since its last
    write-back to their table (one changelog record each)."""
    keys = list(itertools.islice(stage.dirty, limit))
    stage.dirty.difference_update(keys)
    for key in keys:
        if key in stage.states:  # not evicted meanwhile
            table[key] = stage.states[key]


async def write_back_floods(table, stage) -> None:
    """Write back now if a batch changed many states (closing a flood's minute
    changes tens of thousands of tags at once), in chunks, letting the queue
    drain between them; otherwise states are written back only before offsets
    are committed (``CheckpointSensor``)."""
    while len(stage.dirty) >= CHANGELOG_BACKLOG:
        write_back(table, stage, CHANGELOG_BACKLOG)
        await changelog_ebb()


def write_back_tags() -> None:
    """The tag states, then the held hits' deletions (``HeldHits``)."""
    write_back(tag_table, tags)
    held_hits.flush()


class CheckpointSensor(faust.Sensor):
    """Write the changed states back just before Faust commits offsets (it
    flushes the producer, then commits).

    A busy tag changes with every batch, and writing it back each time (its
    whole state encoded, produced, stored by the broker) was a fifth of a
    worker's CPU.  Written back once per commit, a changelog is never behind
    the committed offsets: after a crash the replayed hits are those its
    states have not counted (hits already counted are ignored by offset).  The
    watermarks are written with them: one ahead of the states would call the
    replayed hits late."""

    def on_commit_initiated(self, consumer):
        write_back_tags()
        write_back(shard_table, shards)
        persist_watermarks("tags", tags.watermarks)
        persist_watermarks("shards", shards.watermarks)


app.sensors.add(CheckpointSensor())


def persist_watermarks(stage: str, watermarks: dict[int, Watermark]) -> None:
    for partition, mark in watermarks.items():
        record = [[source, at] for source, at in mark.newest.items()]
        key = f"{stage}/{partition}"
        if record and watermark_table.get(key) != record:
            watermark_table[key] = record


def restore_watermarks(stage: str, watermarks: dict[int, Watermark], lateness: float,
                       sources: tuple[int, ...]) -> None:
    for key, record in watermark_table.items():
        name, _, partition = key.rpartition("/")
        if name == stage:
            mark = watermarks.setdefault(int(partition), Watermark(lateness, sources))
            for source, at in record:
                mark.observe(source, at)


# -- agents -------------------------------------------------------------------
messages_taken = {stage: metrics.MESSAGES_TAKEN.labels(stage) for stage in metrics.STAGES}
# a message to send: (topic, partition or None, value, headers)
Outgoing = tuple[TopicT, int | None, bytes, list[tuple[str, bytes]] | None]


def ingest(batch: Batch) -> list[Outgoing]:
    """Validate posts; route their tag hits and platform counts, batched per
    destination partition (one message per partition per batch: Kafka's cost is
    per message, and per-key order within a partition is kept), and the
    rejected posts to the dead-letter topic."""
    started = time.perf_counter()
    now = time.time()
    outgoing: list[Outgoing] = []
    hit_batches: dict[int, list] = {}
    platform_batches: dict[int, list] = {}
    per_platform: dict[str, int] = {}  # counted once per batch: a labelled inc costs 3-8 us
    newest_of_source: dict[int, float] = {}
    for message in interleaved(batch):
        try:
            post = parse_post(message.value, now)
        except InvalidPost as exc:
            outgoing.append(rejected(message, exc.reason, exc.detail))
            continue
        except Exception as exc:  # a bug must not lose the message or stop the worker
            outgoing.append(rejected(message, "processing_error", repr(exc)[:300]))
            continue
        for hit in hits_of(post, message.partition, message.offset):
            hit_batches.setdefault(tag_partition(hit.key), []).append(hit.to_wire())
        shard = shard_key(post.platform, post.author, shards.shards)
        platform_batches.setdefault(tag_partition(shard), []).append(
            orjson.dumps([post.platform, post.created_at, post.author, message.partition, message.offset]))
        per_platform[post.platform] = per_platform.get(post.platform, 0) + 1
        if post.created_at > newest_of_source.get(message.partition, -math.inf):
            newest_of_source[message.partition] = post.created_at
    for platform, count in per_platform.items():
        metrics.POSTS_INGESTED.labels(platform_label(platform)).inc(count)
    hit_marks.add(hit_batches, newest_of_source)
    platform_marks.add(platform_batches, newest_of_source)
    for topic, batches in ((tag_hits_topic, hit_batches), (platform_hits_topic, platform_batches)):
        for partition, wires in batches.items():
            outgoing.extend((topic, partition, value, None) for value in json_arrays(wires))
    newest = max(newest_of_source.values(), default=-math.inf)
    if newest > -math.inf:
        ingest_watermark[0] = max(ingest_watermark[0], newest)
        metrics.WATERMARK.set(ingest_watermark[0])
        metrics.record_lag("ingest", newest)
    last_wall["posts"] = now
    metrics.LAST_MESSAGE.set(now)
    metrics.DETECTOR_DURATION.labels("ingest").observe(time.perf_counter() - started)
    messages_taken["ingest"].inc(sum(map(len, batch.values())))
    return outgoing


async def forward(outgoing: list[Outgoing]) -> list[asyncio.Future]:
    """Send what ``ingest`` routed; the delivery futures, for the offsets to wait on."""
    return [await topic.send(value=value, partition=partition, headers=headers)
            for topic, partition, value, headers in outgoing]


def rejected(message, reason: str, detail: str) -> Outgoing:
    metrics.DLQ_MESSAGES.labels(reason).inc()
    return dlq_topic, None, message.value, [
        ("rasd-reason", reason.encode()), ("rasd-detail", detail.encode("utf-8", "replace")),
        ("rasd-source", f"{message.topic}/{message.partition}/{message.offset}".encode())]


def forget_progress() -> None:
    hit_marks.forget()
    platform_marks.forget()


hit_marks, platform_marks = ProgressMarks(settings.partitions), ProgressMarks(settings.partitions)


@functools.lru_cache(maxsize=1 << 14)  # as records._tag_of
def tag_partition(key: str) -> int:
    """``key_partition`` for this worker's partition count (murmur2 in Python
    costs microseconds; the same tags and shards come back all the time)."""
    return key_partition(key, settings.partitions)


posts_reader = PostsConsumer(settings, settings.topic_posts, ingest, forward, forget_progress,
                             session_timeout=app.conf.broker_session_timeout,
                             heartbeat_interval=app.conf.broker_heartbeat_interval,
                             rebalance_timeout=app.conf.broker_rebalance_timeout,
                             max_poll_interval=app.conf.broker_max_poll_interval)


@app.task
async def read_posts() -> None:
    await posts_topic.maybe_declare()
    await posts_reader.run()


@app.agent(tag_hits_topic)
async def tag_agent(stream):
    async for events in stream.take_events(50, within=0.1):
        started = time.perf_counter()
        alerts: list[Alert] = []
        touched = set()
        newest = -math.inf
        now = time.time()
        for event in events:
            partition = event.message.partition
            touched.add(partition)
            newest_hit, sources = tags.on_records(orjson.loads(event.value), partition)
            newest = max(newest, newest_hit)
            for source in sources:
                source_wall["tags", partition, source] = now
            last_wall[f"tags/{partition}"] = now
            taken_offsets[tag_hits_topic.get_topic_name(), partition] = event.message.offset
            await changelog_ebb()  # admitting and evicting tags writes the table too
        await close_tags(touched, alerts)
        metrics.DETECTOR_DURATION.labels("emerging").observe(time.perf_counter() - started)
        messages_taken["tags"].inc(len(events))
        if newest > -math.inf:
            metrics.record_lag("tags", newest)


async def close_tags(partitions, alerts: list[Alert]) -> None:
    """Close what the watermarks passed in these partitions and report it (see ``closing``)."""
    async with closing["tags"]:
        closed = {}
        for partition in partitions:
            closed_alerts, closed[partition] = tags.advance(partition)
            alerts.extend(closed_alerts)
        await after_tags(alerts, closed)


async def after_tags(alerts: list[Alert], closed: dict[int, list[TagMinute]]) -> None:
    """Report each partition's closed minutes and progress downstream."""
    await write_back_floods(tag_table, tags)
    if len(held_hits.deleted) >= CHANGELOG_BACKLOG:  # a flood of junk tags forgotten
        write_back_tags()
        await changelog_ebb()
    metrics.sync_counter(metrics.LATE_EVENTS, tags.late_hits, "tags")
    metrics.sync_counter(metrics.DUPLICATE_EVENTS, tags.duplicate_hits, "tags")
    metrics.sync_counter(metrics.TAG_EVICTIONS, tags.evictions)
    metrics.TRACKED_TAGS.set(len(tags.states))
    metrics.HELD_TAG_HITS.set(tags.held())
    for partition, minutes in closed.items():
        await send_progress(tag_minutes_topic, partition, tags.progress(partition), minutes)
    await publish(alerts)


async def send_progress(topic, source: int, progress: float, records: list) -> None:
    """Report closed records and progress downstream; also re-sent as a heartbeat
    so a downstream gate can tell a quiet partition from a dead one."""
    if progress == -math.inf:
        return  # nothing closed yet
    name = topic.get_topic_name()
    now = time.time()
    reported, sent_at = last_progress.get((name, source), (-math.inf, 0.0))
    if records or progress > reported or now - sent_at >= settings.idle_close_seconds / 2:
        last_progress[name, source] = (max(progress, reported), now)
        for value in progress_messages(source, progress, [r.to_wire() for r in records]):
            await topic.send(key=str(source).encode(), value=value)


@app.agent(platform_hits_topic)
async def shard_agent(stream):
    async for events in stream.take_events(50, within=0.1):
        touched = set()
        now = time.time()
        for event in events:
            partition = event.message.partition
            for source in shards.on_records(orjson.loads(event.value), partition):
                source_wall["shards", partition, source] = now
            touched.add(partition)
            last_wall[f"shards/{partition}"] = now
            taken_offsets[platform_hits_topic.get_topic_name(), partition] = event.message.offset
        await close_shards(touched)
        messages_taken["shards"].inc(len(events))


async def close_shards(partitions) -> None:
    """Close what the watermarks passed in these partitions and report it (see ``closing``)."""
    async with closing["shards"]:
        await after_shards({p: shards.advance(p) for p in partitions})


async def after_shards(closed: dict[int, list[PlatformMinute]]) -> None:
    await write_back_floods(shard_table, shards)
    metrics.sync_counter(metrics.LATE_EVENTS, shards.late_posts, "shards")
    metrics.sync_counter(metrics.DUPLICATE_EVENTS, shards.duplicate_posts, "shards")
    for partition, records in closed.items():
        await send_progress(platform_minutes_topic, partition, shards.progress(partition), records)


@app.agent(platform_minutes_topic)
async def platform_agent(stream):
    async for events in stream.take_events(500, within=0.1):
        await apply_gated(events, "platforms", lambda fields: PlatformMinute(*fields), "outage")


async def apply_gated(events, name: str, decode, detector: str) -> None:
    """Feed upstream partitions' progress reports to a global stage."""
    stage = platforms if name == "platforms" else summaries
    started = time.perf_counter()
    alerts: list[Alert] = []
    now = time.time()
    for event in events:
        source, progress, records = read_progress(event.value)
        late = stage.minutes.late
        alerts.extend(stage.on_batch(source, progress, [decode(fields) for fields in records]))
        if stage.minutes.late > late:
            log.warning("%s: %d records of upstream partition %d late (closed before %s)", name,
                        stage.minutes.late - late, source, format_time(stage.minutes.next_minute or 0.0))
        report_wall[name, source] = now
        taken_offsets[event.message.topic, event.message.partition] = event.message.offset
    last_wall[name] = now
    await (after_platforms if name == "platforms" else after_summaries)(alerts)
    metrics.DETECTOR_DURATION.labels(detector).observe(time.perf_counter() - started)
    messages_taken[name].inc(len(events))


async def after_platforms(alerts: list[Alert]) -> None:
    stage_table["platforms"] = platforms.to_state()
    metrics.sync_counter(metrics.LATE_EVENTS, platforms.minutes.late, "platforms")
    for platform, value in platforms.detector.observed_volumes().items():
        metrics.PLATFORM_OBSERVED.labels(platform_label(platform)).set(value)
    for platform, value in platforms.detector.expected_volumes().items():
        metrics.PLATFORM_EXPECTED.labels(platform_label(platform)).set(value)
    if platforms.next_minute is not None:
        metrics.record_lag("platforms", platforms.next_minute)
    await publish(alerts)


@app.agent(tag_minutes_topic)
async def summary_agent(stream):
    async for events in stream.take_events(500, within=0.1):
        await apply_gated(events, "summaries", TagMinute.from_dict, "variants")


async def after_summaries(alerts: list[Alert]) -> None:
    stage_table["summaries"] = summaries.to_state()
    metrics.sync_counter(metrics.LATE_EVENTS, summaries.minutes.late, "summaries")
    metrics.record_trending(summaries.trending.top(10))
    if summaries.next_minute is not None:
        metrics.record_lag("groups", summaries.next_minute)
    await publish(alerts)


# -- recovery -----------------------------------------------------------------
@tag_table.on_recover
async def tags_recovered() -> None:
    tags.rebuild_pending()
    # every table is recovered before any on_recover callback runs
    tags.rebuild_held(lambda key: key_partition(key, settings.partitions))
    restore_watermarks("tags", tags.watermarks, tags.config.allowed_lateness, tags.sources)


@shard_table.on_recover
async def shards_recovered() -> None:
    shards.rebuild_pending()
    restore_watermarks("shards", shards.watermarks, shards.allowed_lateness, shards.sources)


@stage_table.on_recover
async def stages_recovered() -> None:
    global platforms, summaries
    if "platforms" in stage_table:
        platforms = PlatformStage.from_state(stage_table["platforms"])
    if "summaries" in stage_table:
        summaries = SummaryStage.from_state(stage_table["summaries"])


# -- timers -------------------------------------------------------------------
@app.timer(interval=1.0)
async def close_idle_windows() -> None:
    """Wall-clock help for event time, live only (a backtest has end of input).

    * A live input source (event time near the wall clock) quiet for
      ``idle_close_seconds`` stops holding its partition's watermark back; a
      live upstream partition silent for twice that stops holding a global
      stage's ``MinuteGate`` back (in a replay, only once all are silent).
    * A stage whose whole input has been quiet that long moves its event time
      on, so the last minutes get judged and firing episodes can resolve.  It
      never moves past the wall clock: live (event time ~ now) this closes only
      minutes that are over; a finished replay of history closes everything.
    """
    now = time.time()
    idle = settings.idle_close_seconds
    if not (kafka_client.fetched_since(app, INPUT_TOPICS, now - idle / 2)
            and posts_reader.caught_up(now - idle / 2)):
        input_unseen_at[0] = now
    for stage, marks in (("tags", tags.watermarks), ("shards", shards.watermarks)):
        for partition, mark in marks.items():
            for source in mark.waiting:  # not heard from yet: quiet since we started waiting
                source_wall.setdefault((stage, partition, source), now)
    for (stage, partition, source), seen in list(source_wall.items()):
        mark = (tags if stage == "tags" else shards).watermarks[partition]
        # only a source that is live (its event time near the wall clock; one not
        # heard from yet is as live as its partition) may be skipped: in a replay
        # a quiet source is merely behind, and waiting for it is what keeps its
        # records from being late
        if now - quiet_since(seen) >= idle and now - mark.newest.get(source, mark.observed) < LIVE_HORIZON_SECONDS \
                and not has_backlog(settings.topic_tag_hits if stage == "tags" else settings.topic_platform_hits,
                                    partition):
            del source_wall[stage, partition, source]
            mark.forget(source)

    # a replay pausing mid-stream (a slow fetch, a rebalance) is not the end of
    # input: move a replayed partition on only once this worker's ingest is idle too
    ingest_idle = now - quiet_since(last_wall.get("posts", 0.0)) >= idle
    for partition, mark in list(tags.watermarks.items()):
        if may_move_on(last_wall.get(f"tags/{partition}", now), mark, ingest_idle, now) \
                and not has_backlog(settings.topic_tag_hits, partition):
            mark.advance_to(idle_target(mark.observed, mark.lateness, now))
    for partition, mark in list(shards.watermarks.items()):
        if may_move_on(last_wall.get(f"shards/{partition}", now), mark, ingest_idle, now) \
                and not has_backlog(settings.topic_platform_hits, partition):
            mark.advance_to(idle_target(mark.observed, mark.lateness, now))
    await close_tags(list(tags.watermarks), [])
    await close_shards(list(shards.watermarks))

    for name, stage, topic, publish_stage in (("platforms", platforms, platform_minutes_topic, after_platforms),
                                              ("summaries", summaries, tag_minutes_topic, after_summaries)):
        exclude_quiet_sources(name, stage.gate, topic, now)
        before = stage.next_minute
        alerts = stage.close_until(stage.gate.ready_before() - MINUTE)
        if alerts or stage.next_minute != before:
            await publish_stage(alerts)


def exclude_quiet_sources(name: str, gate: MinuteGate, topic, now: float) -> None:
    """Stop a global stage's gate waiting for upstream partitions that have gone
    silent.  Upstream partitions flush after ``idle_close_seconds``; their last
    reports get as long again.  Silence is judged by the reports this stage has
    taken: while more wait unread (the stage is behind, say on a loaded machine)
    nobody is silent, and a gate moved on by the one partition ahead would make
    the others' minutes late.  Every partition silent is the end of a replay
    only once this worker's stages have read all their input too: after a
    stall of the worker's loop every report is old while the upstream stages'
    input waits in their buffers."""
    reports = {source: seen for (n, source), seen in report_wall.items() if n == name}
    if not reports or has_backlog(topic.get_topic_name(), 0):
        return
    idle = settings.idle_close_seconds
    all_quiet = now - quiet_since(max(reports.values())) >= 2 * idle and not unread_input()
    oldest = min(reports.values())  # a partition never heard from counts as silent as the most silent
    for source in range(gate.sources):
        silent_for = now - quiet_since(reports.get(source, oldest))
        live = now - gate.progress.get(source, -math.inf) < LIVE_HORIZON_SECONDS
        if silent_for >= 2 * idle and (live or all_quiet) and source not in gate.excluded:
            gate.exclude(source)
            # a live partition gone silent is news; every partition silent is the end of a replay
            log.log(logging.WARNING if live else logging.INFO,
                    "%s: upstream partition %d silent for %.0f s (%s), no longer waited for", name, source,
                    silent_for, "live" if live else "every partition silent")


LIVE_HORIZON_SECONDS = 300.0
# what Faust's consumer reads (posts: posts_reader)
INPUT_TOPICS = {settings.topic_tag_hits, settings.topic_platform_hits, settings.topic_tag_minutes,
                settings.topic_platform_minutes}


def quiet_since(seen: float) -> float:
    """Since when input has been quiet: its last record, or the last moment the
    worker could not see all of its input (broker away, rebalance, backlog) —
    input it cannot see is not quiet, it is unknown."""
    return max(seen, input_unseen_at[0])


def has_backlog(name: str, partition: int) -> bool:
    """Records of this partition wait in Kafka or in the stream's buffer: a stage
    busy with a flood is behind, not idle, and its event time must wait for them."""
    taken = taken_offsets.get((name, partition))
    if taken is None:  # nothing taken yet: the partition is not idle either (see may_move_on)
        return False
    try:
        highwater = app.consumer.highwater(TP(name, partition))
    except AssertionError:  # aiokafka: not assigned (any more) — the stage's state outlives a rebalance
        return True  # not this worker's to move on (an uncaught error here stopped the worker)
    return highwater is not None and highwater > taken + 1


def unread_input() -> bool:
    """Records wait unread on some partition a stage of this worker reads (one
    a rebalance took away is another worker's)."""
    owned = app.consumer.assignment()
    return any(has_backlog(name, partition) for name, partition in list(taken_offsets) if TP(name, partition) in owned)


def may_move_on(seen: float, mark, ingest_idle: bool, now: float) -> bool:
    """May an idle partition's event time follow the wall clock?"""
    if now - quiet_since(seen) < settings.idle_close_seconds:
        return False
    return ingest_idle or now - mark.observed < LIVE_HORIZON_SECONDS


def idle_target(observed: float, lateness: float, now: float) -> float:
    """Where an idle partition's event time may go: past its last minute (so that
    closes), but never past the wall clock.  The same every tick: no run-away."""
    return min(observed + lateness + 2 * MINUTE, max(now, observed))


@app.timer(interval=5.0)
async def ingest_heartbeat() -> None:
    """No post at all for a while: our ingest is stalled (not a platform outage)."""
    seen = last_wall.get("posts")
    if seen is None or platforms.next_minute is None:  # nothing seen, or not this worker's stage
        return
    alerts = platforms.on_silence(time.time(), seen)  # the detector judges how long is too long
    if alerts:
        await after_platforms(alerts)


@app.timer(interval=5.0)
async def release_free_memory() -> None:
    """A flood's fetch buffers, once freed, leave whole pages free in the
    middle of glibc's heap, which glibc does not give back by itself (1 M
    distinct tags: 2.5 ms a call, 0.06 % of the worker's CPU)."""
    glibc_malloc.trim()


recovery_watch = RecoveryWatch(settings.recovery_stall_seconds)


@app.timer(interval=5.0)
async def restart_stalled_recovery() -> None:
    """A table recovery that stopped receiving changelog records is started
    again by a group rejoin (see ``streams.recovery_watch``)."""
    recovery = app.tables.recovery
    remaining = recovery.active_remaining_total() if app.in_recovery else 0
    if not recovery_watch.stalled(time.monotonic(), remaining):
        return
    log.warning("table recovery stalled: %d changelog records still to read, none arrived in %.0f s; "
                "rejoining the consumer group to restart it", remaining, recovery_watch.stall_seconds)
    metrics.RECOVERY_RESTARTS.inc()
    await kafka_client.rejoin_group(app)


# -- alert board, mutes, Alertmanager -----------------------------------------
# Every worker follows the alerts and alert-mutes topics from the beginning, so
# any worker serves the whole board and pushes with the same mutes.
mutes_topic = app.topic(settings.topic_mutes, partitions=1, compacting=True)
mutes = MuteStore()
mutes_loaded = asyncio.Event()
pusher = AlertmanagerPusher.from_env(
    board_url=settings.public_url or f"http://{settings.web_host}:{settings.web_port}", muted=mutes.is_muted)


def on_alert_record(alert: dict) -> None:
    board.apply(alert)
    if pusher is not None:
        pusher.enqueue(alert)


def on_mute_record(record: dict) -> None:
    if mutes.apply(record) and pusher is not None:
        pusher.refresh(record["id"])


@app.task
async def follow_alerts() -> None:
    """Every worker keeps the full alert board (all partitions of ``alerts``)."""
    await follow_topic(settings, settings.topic_alerts, on_alert_record)


@app.task
async def follow_mutes() -> None:
    await mutes_topic.maybe_declare()
    await follow_topic(settings, settings.topic_mutes, on_mute_record, caught_up=mutes_loaded)


@app.task
async def push_to_alertmanager() -> None:
    """With ``RASD_ALERTMANAGER_URL`` set: push every alert, once the mutes are
    known (else a muted alert would be re-sent at each restart)."""
    if pusher is None:
        return
    await mutes_loaded.wait()
    try:
        await pusher.run()
    finally:
        await pusher.close()


# -- views ----------------------------------------------------------------------
# The board (/) and its JSON API (/api/...); the short paths are kept for the
# CLI, the Grafana links and older scripts.
WEB_DIR = Path(__file__).with_name("web")
STATIC = {"board.js": "text/javascript", "board.css": "text/css"}
# the page loads nothing but its own files: no inline script, no third party
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
ALERT_FIELDS = ("id", "kind", "status", "subject", "severity", "score", "observed", "expected", "summary",
                "at", "started_at", "resolved_at")


def pages(*paths: str):
    """``app.page`` for one view served at several paths."""
    def register(view: type[View]) -> type[View]:
        for path in paths:
            app.page(path)(view)
        return view
    return register


def alert_row(alert: dict) -> dict:
    """An alert for the lists: without its (large) evidence, with its mute state."""
    return {**{k: alert.get(k) for k in ALERT_FIELDS}, "mute": mutes.view(alert["id"])}


def trending_rows(n: int) -> dict:
    return {"at": summaries.trending.top(1)[0]["minute"] if summaries.trending.rows else None,
            "items": summaries.trending.top(n)}


def platform_rows() -> list[dict]:
    detector = platforms.detector
    expected = detector.expected_volumes()
    return [{"platform": name, "observed": observed, "expected": round(expected.get(name, 0.0), 2)}
            for name, observed in sorted(detector.observed_volumes().items())]


def grafana_link(alert: dict) -> str:
    """The ops dashboard around the alert's time (an hour before it started)."""
    started = parse_time(alert["started_at"], "started_at")
    ended = parse_time(alert["resolved_at"], "resolved_at") + 1800 if alert.get("resolved_at") else None
    until = f"{int(ended * 1000)}" if ended else "now"
    return f"{settings.grafana_url}?from={int((started - 3600) * 1000)}&to={until}"


def int_query(request: Request, name: str, default: int, most: int) -> int:
    try:
        return max(1, min(int(request.query.get(name, default)), most))
    except ValueError:
        return default


@app.page("/")
class BoardPage(View):
    async def get(self, request: Request) -> Response:
        return self.html((WEB_DIR / "index.html").read_text(), headers=PAGE_HEADERS)


@app.page("/static/{name}")
class StaticFile(View):
    async def get(self, request: Request, name: str) -> Response:
        if name not in STATIC:
            return self.error(404, "no such file")
        return self.bytes((WEB_DIR / name).read_bytes(), content_type=STATIC[name], headers=PAGE_HEADERS)


@app.page("/metrics")
class MetricsView(View):
    async def get(self, request: Request) -> Response:
        return self.bytes(metrics.exposition(), content_type="text/plain; version=0.0.4")


@app.page("/api/board")
class BoardView(View):
    """Everything the board shows, in one request (it polls this)."""

    async def get(self, request: Request) -> Response:
        firing = board.list(status="firing", limit=500)
        counts = {kind: 0 for kind in KINDS}
        for alert in firing:
            counts[alert["kind"]] = counts.get(alert["kind"], 0) + 1
        return self.json({
            "now": format_time(time.time()),
            "grafana_url": settings.grafana_url,
            "trending": trending_rows(int_query(request, "n", 15, 100)),
            "firing": [alert_row(a) for a in firing],
            "firing_by_kind": counts,
            "resolved": [alert_row(a) for a in board.list(status="resolved", limit=20)],
            "platforms": platform_rows(),
            "last_post_seconds_ago": (time.time() - last_wall["posts"]) if "posts" in last_wall else None,
        })


@pages("/api/trending", "/trending")
class TrendingView(View):
    async def get(self, request: Request) -> Response:
        return self.json(trending_rows(int_query(request, "n", 10, 100)))


@pages("/api/alerts", "/alerts")
class AlertsView(View):
    async def get(self, request: Request) -> Response:
        rows = board.list(status=request.query.get("status"), kind=request.query.get("kind"),
                          limit=int_query(request, "limit", 200, 5000))
        return self.json({"items": [{**a, "mute": mutes.view(a["id"])} for a in rows]})


@pages("/api/alerts/{alert_id}", "/alerts/{alert_id}")
class AlertView(View):
    """One alert with its evidence, timeline, mute state, variant group and Grafana
    link.  A browser following a link (Alertmanager's ``evidence_url``) gets the board."""

    async def get(self, request: Request, alert_id: str) -> Response:
        accept = request.headers.get("Accept", "")
        if "text/html" in accept and not request.path.startswith("/api/"):
            return self.text("", status=303, headers={"Location": "/#alert/" + quote(alert_id)})
        alert = board.get(alert_id)
        if alert is None:
            return self.error(404, "no such alert")
        group = summaries.variants.group_of(alert["subject"]) if alert["subject"].startswith("#") else None
        return self.json({**alert, "mute": mutes.view(alert_id), "grafana_url": grafana_link(alert),
                          "variant_group": group})


@app.page("/api/alerts/{alert_id}/{action}")
class AlertActionView(View):
    """POST ``mute`` {"minutes", "by", "note"}, ``unmute`` or ``ack`` {"by", "note"}."""

    async def post(self, request: Request, alert_id: str, action: str) -> Response:
        if action not in ACTIONS:
            return self.error(404, f"no such action; one of {', '.join(ACTIONS)}")
        # a JSON body cannot come from a plain cross-site form (no CORS is allowed here)
        if request.content_type != "application/json":
            return self.error(415, "send application/json")
        if board.get(alert_id) is None:
            return self.error(404, "no such alert")
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            record = mutes.change(alert_id, action, by=body.get("by", ""), minutes=body.get("minutes"),
                                  note=body.get("note", ""))
        except ValueError as exc:
            return self.error(400, str(exc))
        await mutes_topic.send(key=alert_id.encode(), value=orjson.dumps(record))
        on_mute_record(record)
        return self.json(mutes.view(alert_id))


@app.page("/api/mutes")
class MutesView(View):
    async def get(self, request: Request) -> Response:
        now = time.time()
        return self.json({"items": [mutes.view(alert_id, now) for alert_id in reversed(mutes.records)]})


@pages("/api/variants", "/variants")
class VariantsView(View):
    async def get(self, request: Request) -> Response:
        tag = request.query.get("tag")
        if tag:
            group = summaries.variants.group_of(tag)
            return self.json({"tag": tag, "group": group}, status=200 if group else 404)
        return self.json({"groups": summaries.variants.groups()})


@pages("/api/tags/{key}", "/tags/{key}")
class TagView(View):
    """Per-minute history of one tag (on the worker that owns its partition)."""

    async def get(self, request: Request, key: str) -> Response:
        from detectors.text import canonical_key

        state = tags.states.get(canonical_key(key))
        if state is None:
            return self.json({"error": "tag not tracked on this worker"}, status=404)
        return self.json({"key": state.key, "display": state.display,
                          "history": [[minute * 60, posts, authors]
                                      for minute, (posts, authors) in state.history.items()],
                          "surfaces": state.surfaces.top(8), "firing": state.emerging.episode.firing})


@pages("/api/platforms", "/platforms")
class PlatformsView(View):
    async def get(self, request: Request) -> Response:
        detector = platforms.detector
        return self.json({"observed": detector.observed_volumes(), "expected": detector.expected_volumes()})


@app.page("/healthz")
class HealthView(View):
    async def get(self, request: Request) -> Response:
        return self.json({"ok": True, "tracked_tags": len(tags.states),
                          "last_post_seconds_ago": (time.time() - last_wall["posts"]) if "posts" in last_wall else None})


def main() -> None:  # pragma: no cover - `rasd worker` is the entry point
    asyncio.set_event_loop_policy(None)
    app.main()
