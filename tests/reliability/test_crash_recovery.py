"""kill -9 a worker mid-stream and restart it: counts and detector state come
back from Kafka (table changelogs + committed offsets, replayed hits ignored
by their source offsets), and the alert that was firing does not fire again."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from detectors.text import canonical_key
from streams.ingest import group_id as ingest_group

from tests.harness import ORGANIC, backtest_alerts, produce, read_alerts, scenario_lines, wait_for
from tests.reliability.common import (FALLUJAH, expected_history, expire_members, live_history, reference,
                                      wait_for_alerts, wait_for_history)

pytestmark = pytest.mark.broker

GROUPS = ("rasd-test", ingest_group("rasd-test"))  # Faust's and the posts consumer's (the harness's app id)


def expire_groups(bootstrap: str) -> None:
    for group in GROUPS:
        assert expire_members(bootstrap, group), f"{group} had no member: the killed worker was not in it"


def test_kill_9_mid_stream_loses_nothing_and_refires_nothing(broker, start_worker):
    lines = scenario_lines("organic_emerging", **ORGANIC)
    expected_alerts = backtest_alerts(lines)
    pipe = reference(lines)
    first_fire = next(a for a in expected_alerts if a["status"] == "firing")
    # cut the input shortly after the first alert fires (event time)
    cut = next(i for i, line in enumerate(lines) if orjson.loads(line)["created_at"] > first_fire["at"]) + 3000

    # states are written back at each commit of offsets: commit often, so the
    # restarted worker must take up recovered states and committed offsets
    worker = start_worker(extra_env={"RASD_COMMIT_INTERVAL_SECONDS": "1"})
    produce(broker.bootstrap, lines[:cut])
    wait_for(lambda: any(a["id"] == first_fire["id"] for a in read_alerts(broker.bootstrap)),
             240, what="the first alert to fire before the crash")
    worker.kill()
    offsets = committed_and_ends(broker.bootstrap, "rasd-test", {"tag-hits"})
    committed, end = sum(c for c, _ in offsets.values()), sum(e for _, e in offsets.values())
    assert committed > 0, f"no tag-hits offset (of {end}) was committed before the kill: nothing to recover"
    expire_groups(broker.bootstrap)

    produce(broker.bootstrap, lines[cut:])
    worker.start()
    wait_for_history([worker], FALLUJAH, expected_history(pipe, FALLUJAH), 300)
    live = wait_for_alerts(broker.bootstrap, expected_alerts, 120)
    firing = Counter(a["id"] for a in live if a["status"] == "firing")
    # at-least-once records with stable ids: a record re-sent after the crash has
    # the same id; a second *episode* would be an extra id (caught above)
    assert firing[first_fire["id"]] >= 1


def test_posts_read_again_after_kill_9_are_not_counted_twice(broker, start_worker):
    """The posts consumer commits a batch only once its hits are on the broker,
    so a crash can leave posts whose hits were sent and applied uncommitted.
    Rewinding the ingest group to the start after a kill -9 makes every post
    such a post: all of them are read and forwarded again, and the stages must
    recognise each replayed hit by its source offset."""
    lines = scenario_lines("organic_emerging", **ORGANIC)
    expected_alerts = backtest_alerts(lines)
    pipe = reference(lines)
    cut = len(lines) // 2

    worker = start_worker(extra_env={"RASD_COMMIT_INTERVAL_SECONDS": "0.5"})
    produce(broker.bootstrap, lines[:cut])
    # Faust's group has committed everything: duplicates after the restart can
    # only come from posts read again
    wait_for(lambda: committed_to_end(broker.bootstrap, ingest_group("rasd-test"), {"posts"})
             and committed_to_end(broker.bootstrap, "rasd-test", {"tag-hits", "platform-hits"}), 180,
             what="the first half and its hits to be committed")
    worker.kill()
    expire_groups(broker.bootstrap)
    rewind(broker.bootstrap, ingest_group("rasd-test"), "posts")

    produce(broker.bootstrap, lines[cut:])
    worker.start()
    wait_for_history([worker], FALLUJAH, expected_history(pipe, FALLUJAH), 300)
    wait_for_alerts(broker.bootstrap, expected_alerts, 120)
    # each post before the cut comes back to its platform shard, older than its
    # watermark (late) or within the allowed lateness (a duplicate): never counted
    def read_again() -> float:
        return sum(worker.metric(name, stage="shards")
                   for name in ("rasd_duplicate_events_total", "rasd_late_events_total"))

    wait_for(lambda: read_again() >= cut, 60, what=f"the {cut} posts before the cut to be read again")


def rewind(bootstrap: str, group: str, topic: str) -> None:
    """Commit offset 0 on every partition of ``topic`` for ``group`` (which must have no member)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.commit({tp: OffsetAndMetadata(0, "", -1) for tp in partitions})
        assert all(consumer.committed(tp) == 0 for tp in partitions), "the rewind was not committed"
    finally:
        consumer.close()


def committed_and_ends(bootstrap: str, group: str, topics: set[str]) -> dict[TopicPartition, tuple[int, int]]:
    """Per partition of ``topics``: the group's committed offset (0 if none) and the end offset."""
    # a consumer that never subscribes only reads the group's offsets
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        ends = consumer.end_offsets([TopicPartition(topic, p) for topic in topics
                                     for p in consumer.partitions_for_topic(topic) or ()])
        return {tp: (consumer.committed(tp) or 0, end) for tp, end in ends.items()}
    finally:
        consumer.close()


def committed_to_end(bootstrap: str, group: str, topics: set[str]) -> bool:
    """Every record of ``topics`` is behind the group's committed offsets: none
    would be read again after a crash."""
    offsets = committed_and_ends(bootstrap, group, topics)
    return bool(offsets) and all(committed >= end for committed, end in offsets.values())


def once_tag_posts(start: float, n: int) -> list[bytes]:
    return [orjson.dumps({"id": f"once-{start:.0f}-{i}", "platform": "twitter", "author": f"u{start:.0f}-{i}",
                          "created_at": datetime.fromtimestamp(start + 3 * i, timezone.utc).isoformat(),
                          "text": f"#مرة_{i} خبر", "lang": "ar"}) for i in range(n)]


def test_a_first_hit_held_before_kill_9_counts_after_the_restart(broker, start_worker):
    """Tags posted once before the crash, with their offsets committed (so no
    replay brings the posts back), and again after the restart: the held first
    hits come back from their changelog and every tag counts both posts."""
    start = datetime(2016, 5, 22, 12, tzinfo=timezone.utc).timestamp()
    before, after = once_tag_posts(start, 20), once_tag_posts(start + 300, 20)
    pipe = reference(before + after)
    keys = sorted(k for k in pipe.tags.states if k.startswith(canonical_key("مرة_")))
    assert len(keys) == 20

    worker = start_worker(extra_env={"RASD_COMMIT_INTERVAL_SECONDS": "0.5"})
    produce(broker.bootstrap, before)
    wait_for(lambda: worker.metric("rasd_held_tag_hits") == 20, 120, what="the first hits to be held")
    wait_for(lambda: committed_to_end(broker.bootstrap, ingest_group("rasd-test"), {"posts"})
             and committed_to_end(broker.bootstrap, "rasd-test", {"tag-hits"}), 120,
             what="the posts and their hits to be committed")
    worker.kill()
    expire_groups(broker.bootstrap)

    worker.start()
    produce(broker.bootstrap, after)
    expected = {key: expected_history(pipe, key) for key in keys}

    def all_counted():
        live = {key: live_history([worker], key) for key in keys}
        return live if live == expected else None

    try:
        wait_for(all_counted, 180, interval=2, what="every tag's live counts to equal the backtest's")
    except AssertionError:
        live = {key: live_history([worker], key) for key in keys}
        differ = [k for k in keys if live[k] != expected[k]]
        shown = (differ or keys)[0]
        raise AssertionError(f"{len(differ)} of {len(keys)} tags differ; {shown}: backtest "
                             f"{expected[shown]}, live {live[shown]}") from None
