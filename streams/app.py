"""The Rasd worker: topics, tables, agents, timers and views, top-down.

    posts ──ingest──► tag-hits (key: canonical tag) ──tags──► tag-minutes ──summaries──► alerts
      │                                                  └──────────────────────────────► alerts
      └────────────► platform-hits (key: platform/shard) ──shards──► platform-minutes ──platforms──► alerts
    bad input ──► posts-dlq (original bytes, reason in headers)

Agents are thin: each calls the same stage objects, in the same order, as
``detectors.pipeline.Pipeline`` does in a backtest.  State lives in Faust
tables (changelog-backed); the pure stages use the tables as their mappings.
"""
from __future__ import annotations

import asyncio
import math
import time

import faust
import orjson
from faust.serializers import codecs
from faust.web import Request, Response, View

from detectors.alerts import Alert
from detectors.config import DetectorConfig
from detectors.pipeline import build_stages
from detectors.platforms import PlatformStage, ShardState, shard_key
from detectors.records import InvalidPost, PlatformMinute, TagHit, TagMinute, hits_of, parse_post
from detectors.summaries import SummaryStage
from detectors.tags import TagState
from detectors.windows import MINUTE
from streams import metrics
from streams.board import AlertBoard, follow_topic
from streams.config import Settings, platform_label


class StateCodec(codecs.Codec):
    """Table values: any object with ``to_state``/``from_state``, as JSON."""

    def __init__(self, cls, **kwargs):
        self.cls = cls
        super().__init__(cls=cls, **kwargs)

    def _dumps(self, obj) -> bytes:
        return orjson.dumps(obj.to_state())

    def _loads(self, raw: bytes):
        return self.cls.from_state(orjson.loads(raw))


codecs.register("rasd-tag-state", StateCodec(TagState))
codecs.register("rasd-shard-state", StateCodec(ShardState))

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
    key_serializer="raw",
    value_serializer="raw",
    producer_max_request_size=4 * 1024 * 1024,
    stream_buffer_maxsize=8192,
)

# -- topics -------------------------------------------------------------------
posts_topic = app.topic(settings.topic_posts, partitions=settings.partitions)
dlq_topic = app.topic(settings.topic_dlq, partitions=1)
alerts_topic = app.topic(settings.topic_alerts, partitions=1)
tag_hits_topic = app.topic(settings.topic_tag_hits, partitions=settings.partitions, internal=True)
platform_hits_topic = app.topic(settings.topic_platform_hits, partitions=settings.partitions, internal=True)
tag_minutes_topic = app.topic(settings.topic_tag_minutes, partitions=1, internal=True)
platform_minutes_topic = app.topic(settings.topic_platform_minutes, partitions=1, internal=True)

# -- tables -------------------------------------------------------------------
# use_partitioner: a tag's changelog partition is the default partitioner's
# choice for its key, i.e. the same partition its hits arrive on, so tables can
# be written from timers as well as from the stream.
tag_table = app.Table("tag-state", partitions=settings.partitions, key_type=str,
                      value_serializer="rasd-tag-state", use_partitioner=True)
shard_table = app.Table("platform-shards", partitions=settings.partitions, key_type=str,
                        value_serializer="rasd-shard-state", use_partitioner=True)
stage_table = app.Table("global-stages", partitions=1, key_type=str, value_serializer="json",
                        use_partitioner=True)

tags, shards, platforms, summaries = build_stages(detector_config, tag_states=tag_table,
                                                  shard_states=shard_table)
board = AlertBoard()
# wall-clock time each stage (and tag/shard partition) last received input
last_wall: dict[str, float] = {}
ingest_watermark = [-math.inf]


async def publish(alerts: list[Alert]) -> None:
    for alert in alerts:
        metrics.record_alert(alert)
        await alerts_topic.send(key=alert.id.encode(), value=orjson.dumps(alert.to_json()))


def persist(table, stage) -> None:
    """Write back the values a batch changed (their changelog records)."""
    for key in stage.dirty:
        if key in stage.states:
            table[key] = stage.states[key]
    stage.dirty.clear()


# -- agents -------------------------------------------------------------------
@app.agent(posts_topic)
async def ingest(stream):
    async for events in stream.take_events(1000, within=0.05):
        started = time.perf_counter()
        now = time.time()
        newest = -math.inf
        for event in events:
            raw, message = event.value, event.message
            try:
                post = parse_post(raw, now)
            except InvalidPost as exc:
                await reject(raw, exc.reason, exc.detail, message)
                continue
            except Exception as exc:  # a bug must not lose the message or stop the worker
                await reject(raw, "processing_error", repr(exc)[:300], message)
                continue
            for hit in hits_of(post, message.partition, message.offset):
                await tag_hits_topic.send(key=hit.key.encode(), value=hit.to_wire())
            await platform_hits_topic.send(
                key=shard_key(post.platform, post.author, shards.shards).encode(),
                value=orjson.dumps([post.platform, post.created_at, post.author,
                                    message.partition, message.offset]))
            metrics.POSTS_INGESTED.labels(platform_label(post.platform)).inc()
            newest = max(newest, post.created_at)
        if newest > -math.inf:
            ingest_watermark[0] = max(ingest_watermark[0], newest)
            metrics.WATERMARK.set(ingest_watermark[0])
            metrics.record_lag("ingest", newest)
        last_wall["posts"] = now
        metrics.LAST_MESSAGE.set(now)
        metrics.DETECTOR_DURATION.labels("ingest").observe(time.perf_counter() - started)


async def reject(raw: bytes, reason: str, detail: str, message) -> None:
    metrics.DLQ_MESSAGES.labels(reason).inc()
    await dlq_topic.send(value=raw, headers=[
        ("rasd-reason", reason.encode()), ("rasd-detail", detail.encode("utf-8", "replace")),
        ("rasd-source", f"{message.topic}/{message.partition}/{message.offset}".encode()),
    ])


@app.agent(tag_hits_topic)
async def tag_agent(stream):
    async for events in stream.take_events(2000, within=0.1):
        started = time.perf_counter()
        alerts: list[Alert] = []
        touched = set()
        for event in events:
            hit = TagHit.from_wire(event.value)
            touched.add(event.message.partition)
            alerts.extend(tags.on_hit(hit, event.message.partition))
            last_wall[f"tags/{event.message.partition}"] = time.time()
        minutes: list[TagMinute] = []
        for partition in touched:
            closed_alerts, closed = tags.advance(partition)
            alerts.extend(closed_alerts)
            minutes.extend(closed)
        await after_tags(alerts, minutes)
        metrics.DETECTOR_DURATION.labels("emerging").observe(time.perf_counter() - started)
        if events:
            metrics.record_lag("tags", TagHit.from_wire(events[-1].value).created_at)


async def after_tags(alerts: list[Alert], minutes: list[TagMinute]) -> None:
    persist(tag_table, tags)
    metrics.sync_counter(metrics.LATE_EVENTS, tags.late_hits, "tags")
    metrics.sync_counter(metrics.DUPLICATE_EVENTS, tags.duplicate_hits, "tags")
    metrics.sync_counter(metrics.TAG_EVICTIONS, tags.evictions)
    metrics.TRACKED_TAGS.set(len(tags.states))
    for summary in minutes:
        await tag_minutes_topic.send(key=b"minutes", value=summary.to_wire())
    await publish(alerts)


@app.agent(platform_hits_topic)
async def shard_agent(stream):
    async for events in stream.take_events(2000, within=0.1):
        touched = set()
        for event in events:
            platform, created_at, author, source, offset = orjson.loads(event.value)
            shards.on_post(platform, created_at, author, source, offset, event.message.partition)
            touched.add(event.message.partition)
            last_wall[f"shards/{event.message.partition}"] = time.time()
        records = [r for p in touched for r in shards.advance(p)]
        await after_shards(records)


async def after_shards(records: list[PlatformMinute]) -> None:
    persist(shard_table, shards)
    metrics.sync_counter(metrics.LATE_EVENTS, shards.late_posts, "shards")
    metrics.sync_counter(metrics.DUPLICATE_EVENTS, shards.duplicate_posts, "shards")
    for record in records:
        await platform_minutes_topic.send(key=record.platform.encode(), value=record.to_wire())


@app.agent(platform_minutes_topic)
async def platform_agent(stream):
    async for events in stream.take_events(500, within=0.1):
        started = time.perf_counter()
        alerts: list[Alert] = []
        for event in events:
            alerts.extend(platforms.on_shard_minute(PlatformMinute.from_wire(event.value)))
        last_wall["platforms"] = time.time()
        await after_platforms(alerts)
        metrics.DETECTOR_DURATION.labels("outage").observe(time.perf_counter() - started)


async def after_platforms(alerts: list[Alert]) -> None:
    stage_table["platforms"] = platforms.to_state()
    metrics.sync_counter(metrics.LATE_EVENTS, platforms.late_minutes, "platforms")
    for platform, value in platforms.detector.observed_volumes().items():
        metrics.PLATFORM_OBSERVED.labels(platform_label(platform)).set(value)
    for platform, value in platforms.detector.expected_volumes().items():
        metrics.PLATFORM_EXPECTED.labels(platform_label(platform)).set(value)
    if platforms.next_minute is not None:
        metrics.record_lag("platforms", platforms.next_minute)
    await publish(alerts)


@app.agent(tag_minutes_topic)
async def summary_agent(stream):
    async for events in stream.take_events(1000, within=0.1):
        started = time.perf_counter()
        alerts: list[Alert] = []
        for event in events:
            alerts.extend(summaries.on_tag_minute(TagMinute.from_wire(event.value)))
        last_wall["summaries"] = time.time()
        await after_summaries(alerts)
        metrics.DETECTOR_DURATION.labels("variants").observe(time.perf_counter() - started)


async def after_summaries(alerts: list[Alert]) -> None:
    stage_table["summaries"] = summaries.to_state()
    metrics.sync_counter(metrics.LATE_EVENTS, summaries.late_summaries, "summaries")
    metrics.record_trending(summaries.trending.top(10))
    if summaries.next_minute is not None:
        metrics.record_lag("groups", summaries.next_minute)
    await publish(alerts)


# -- recovery -----------------------------------------------------------------
@tag_table.on_recover
async def tags_recovered() -> None:
    tags.rebuild_pending()


@shard_table.on_recover
async def shards_recovered() -> None:
    shards.rebuild_pending()


@stage_table.on_recover
async def stages_recovered() -> None:
    global platforms, summaries
    if "platforms" in stage_table:
        platforms = PlatformStage.from_state(stage_table["platforms"], detector_config.summary_lateness_minutes)
    if "summaries" in stage_table:
        summaries = SummaryStage.from_state(stage_table["summaries"], detector_config.summary_lateness_minutes)


# -- timers -------------------------------------------------------------------
@app.timer(interval=1.0)
async def close_idle_windows() -> None:
    """A stage whose input has been idle for ``idle_close_seconds`` moves its
    event time on, so the last minutes get judged and firing episodes can
    resolve.  It never moves past the wall clock: live (event time ~ now) this
    closes only minutes that are over; for a replay of history that has ended
    it closes everything, as the end of input does in a backtest."""
    now = time.time()
    tag_alerts: list[Alert] = []
    minutes: list[TagMinute] = []
    for name, seen in list(last_wall.items()):
        if name == "posts" or now - seen < settings.idle_close_seconds:
            continue
        del last_wall[name]
        stage, _, part = name.partition("/")
        if stage == "tags":
            partition = int(part)
            end = idle_target(tags.max_event_time[partition], tags.config.allowed_lateness, now)
            closed_alerts, closed = tags.advance_to(end, partition)
            tag_alerts.extend(closed_alerts)
            minutes.extend(closed)
        elif stage == "shards":
            partition = int(part)
            end = idle_target(shards.max_event_time[partition], shards.allowed_lateness, now)
            await after_shards(shards.advance_to(end, partition))
        elif stage == "platforms":
            await after_platforms(platforms.flush())
        elif stage == "summaries":
            await after_summaries(summaries.flush())
    if tag_alerts or minutes:
        await after_tags(tag_alerts, minutes)


def idle_target(max_event_time: float, lateness: float, now: float) -> float:
    return min(max_event_time + lateness + 2 * MINUTE, max(now, max_event_time))


@app.timer(interval=5.0)
async def ingest_heartbeat() -> None:
    """No post at all for a while: our ingest is stalled (not a platform outage)."""
    seen = last_wall.get("posts")
    if seen is None or platforms.next_minute is None:  # nothing seen, or not this worker's stage
        return
    now = time.time()
    if now - seen >= settings.stall_after_seconds:
        await publish(platforms.on_silence(now, seen))


@app.task
async def follow_alerts() -> None:
    """Every worker keeps the full alert board (all partitions of ``alerts``)."""
    await follow_topic(settings, settings.topic_alerts, board.apply)


# -- views ----------------------------------------------------------------------
@app.page("/metrics")
class MetricsView(View):
    async def get(self, request: Request) -> Response:
        return self.bytes(metrics.exposition(), content_type="text/plain; version=0.0.4; charset=utf-8")


@app.page("/trending")
class TrendingView(View):
    async def get(self, request: Request) -> Response:
        n = min(int(request.query.get("n", "10")), 100)
        return self.json({"at": summaries.trending.top(1)[0]["minute"] if summaries.trending.rows else None,
                          "items": summaries.trending.top(n)})


@app.page("/alerts")
class AlertsView(View):
    async def get(self, request: Request) -> Response:
        status = request.query.get("status")
        return self.json({"items": board.list(status=status, limit=int(request.query.get("limit", "200")))})


@app.page("/alerts/{alert_id}")
class AlertView(View):
    async def get(self, request: Request, alert_id: str) -> Response:
        alert = board.get(alert_id)
        if alert is None:
            return self.json({"error": "no such alert"}, status=404)
        return self.json(alert)


@app.page("/variants")
class VariantsView(View):
    async def get(self, request: Request) -> Response:
        tag = request.query.get("tag")
        if tag:
            group = summaries.variants.group_of(tag)
            return self.json({"tag": tag, "group": group}, status=200 if group else 404)
        return self.json({"groups": summaries.variants.groups()})


@app.page("/platforms")
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
