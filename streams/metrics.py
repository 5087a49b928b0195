"""Prometheus metrics of a Rasd worker.

Every label is bounded: platforms map to a fixed list (else ``other``), DLQ
reasons, alert kinds, severities, stages and detectors are enumerations.  No
hashtag, author or post id is ever a label value; names of trending tags are on
the JSON endpoint, their scores here by rank.
"""
from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from detectors.alerts import KINDS, SEVERITIES, Alert
from detectors.records import DLQ_REASONS

REGISTRY = CollectorRegistry(auto_describe=True)

POSTS_INGESTED = Counter("rasd_posts_ingested", "Valid posts ingested", ["platform"], registry=REGISTRY)
# stage: which of the worker's five readers took them (posts, then the four internal topics)
STAGES = ("ingest", "tags", "shards", "summaries", "platforms")
MESSAGES_TAKEN = Counter("rasd_messages_taken", "Kafka messages a stage has taken from its input topic",
                         ["stage"], registry=REGISTRY)
DLQ_MESSAGES = Counter("rasd_dlq_messages", "Messages sent to the dead-letter topic", ["reason"], registry=REGISTRY)
# error: the client's exception class (a bounded set); each failure restarts the
# reader from its committed offsets, so a batch it cannot decode repeats forever
POSTS_READ_ERRORS = Counter("rasd_posts_read_errors",
                            "Failures of the posts reader: reading posts or forwarding a batch of them",
                            ["error"], registry=REGISTRY)
ALERTS_FIRED = Counter("rasd_alerts_fired", "Alert episodes fired", ["kind", "severity"], registry=REGISTRY)
ALERTS_RESOLVED = Counter("rasd_alerts_resolved", "Alert episodes resolved", ["kind"], registry=REGISTRY)
ALERTS_FIRING = Gauge("rasd_alerts_firing", "Alert episodes currently firing", ["kind", "severity"], registry=REGISTRY)
PROCESSING_LAG = Gauge("rasd_processing_lag_seconds", "Wall-clock now minus event time of the last record processed",
                       ["stage"], registry=REGISTRY)
DETECTOR_DURATION = Histogram("rasd_detector_duration_seconds", "Time spent in detector code per batch",
                              ["detector"], registry=REGISTRY,
                              buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
PLATFORM_OBSERVED = Gauge("rasd_platform_observed_posts_per_minute", "Posts in the last closed minute",
                          ["platform"], registry=REGISTRY)
PLATFORM_EXPECTED = Gauge("rasd_platform_expected_posts_per_minute", "Expected posts for the last closed minute",
                          ["platform"], registry=REGISTRY)
LATE_EVENTS = Counter("rasd_late_events", "Records later than the allowed lateness, left out of windows",
                      ["stage"], registry=REGISTRY)
DUPLICATE_EVENTS = Counter("rasd_duplicate_events", "Replayed records recognised and not counted again",
                           ["stage"], registry=REGISTRY)
TRACKED_TAGS = Gauge("rasd_tracked_tags", "Tags with state on this worker", registry=REGISTRY)
HELD_TAG_HITS = Gauge("rasd_held_tag_hits", "First hits of tags not tracked yet (a tag is tracked from its second)",
                      registry=REGISTRY)
# table: one of the worker's five tables
CHANGELOG_RECORDS_SKIPPED = Counter("rasd_changelog_records_skipped",
                                    "Table states too big for one record even compressed, not written to the changelog",
                                    ["table"], registry=REGISTRY)
RECOVERY_RESTARTS = Counter("rasd_recovery_restarts", "Table recoveries restarted (a group rejoin) after they stalled",
                            registry=REGISTRY)
TAG_EVICTIONS = Counter("rasd_tag_evictions", "Tag states evicted to respect the memory cap", registry=REGISTRY)
TRENDING_SCORE = Gauge("rasd_trending_score", "Significance of the tag at each trending rank", ["rank"],
                       registry=REGISTRY)
LAST_MESSAGE = Gauge("rasd_last_message_timestamp_seconds", "Wall-clock time the worker last received a post",
                     registry=REGISTRY)
WATERMARK = Gauge("rasd_event_watermark_timestamp_seconds", "Highest event time seen by the ingest stage",
                  registry=REGISTRY)


def _create_series() -> None:
    """Every series of a bounded label set exists from the start (at zero), so
    rates and dashboards work before the first event of a kind."""
    for kind in KINDS:
        ALERTS_RESOLVED.labels(kind)
        for severity in SEVERITIES:
            ALERTS_FIRED.labels(kind, severity)
            ALERTS_FIRING.labels(kind, severity)
    for reason in (*DLQ_REASONS, "processing_error"):
        DLQ_MESSAGES.labels(reason)
    for stage in STAGES:
        MESSAGES_TAKEN.labels(stage)
    for stage in ("tags", "shards", "platforms", "summaries"):
        LATE_EVENTS.labels(stage)
        DUPLICATE_EVENTS.labels(stage)
    for rank in range(1, 11):
        TRENDING_SCORE.labels(str(rank))


_create_series()


def record_alert(alert: Alert) -> None:
    if alert.status == "firing":
        ALERTS_FIRED.labels(alert.kind, alert.severity).inc()
        ALERTS_FIRING.labels(alert.kind, alert.severity).inc()
    else:
        ALERTS_RESOLVED.labels(alert.kind).inc()
        ALERTS_FIRING.labels(alert.kind, alert.severity).dec()


def record_lag(stage: str, event_time: float) -> None:
    PROCESSING_LAG.labels(stage).set(max(time.time() - event_time, 0.0))


def record_trending(rows: list[dict], ranks: int = 10) -> None:
    for rank in range(1, ranks + 1):
        TRENDING_SCORE.labels(str(rank)).set(rows[rank - 1]["score"] if rank <= len(rows) else 0.0)


def exposition() -> bytes:
    return generate_latest(REGISTRY)


_synced: dict[tuple, float] = {}


def sync_counter(counter: Counter, total: float, *labels: str) -> None:
    """Bring a counter up to a running total kept by a detector stage."""
    key = (counter._name, labels)
    delta = total - _synced.get(key, 0.0)
    if delta > 0:
        (counter.labels(*labels) if labels else counter).inc(delta)
        _synced[key] = total
