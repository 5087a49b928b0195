"""Table changelogs written in record batches (streams/changelog.py), against
the embedded broker with a plain aiokafka producer: what reaches each
changelog partition, in which order, and what a write during a flush becomes."""
from __future__ import annotations

import asyncio
import random
from types import SimpleNamespace

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.changelog import MAX_RECORD_BYTES, ChangelogBatches
from streams.embedded import ensure_topics
from streams.metrics import REGISTRY
from tests.harness import read_topic

pytestmark = pytest.mark.broker
PARTITIONS = 4


def table(name: str, value_serializer: str) -> SimpleNamespace:
    """What a flush asks of a Faust table."""
    topic = SimpleNamespace(get_topic_name=lambda: f"{name}-changelog")
    return SimpleNamespace(name=name, changelog_topic=topic, key_serializer="raw", value_serializer=value_serializer)


class Recorder:
    """A real producer, and for each batch sent: its table and which of the
    batches sent before it the broker had acknowledged by then."""

    def __init__(self, client: AIOKafkaProducer, during_send=None):
        self.client, self.during_send = client, during_send
        self.sent: list[tuple[str, asyncio.Future]] = []
        self.log: list[tuple[str, list[tuple[str, bool]]]] = []

    def _ensure_producer(self):
        return self

    def create_batch(self):
        return self.client.create_batch()

    async def send_batch(self, batch, topic, *, partition):
        self.log.append((topic, [(earlier, fut.done()) for earlier, fut in self.sent]))
        if self.during_send:
            self.during_send()
        fut = await self.client.send_batch(batch, topic, partition=partition)
        self.sent.append((topic, fut))
        return fut


def changelog_records(bootstrap: str, name: str) -> dict[int, list[tuple[str, object]]]:
    by_partition: dict[int, list] = {}
    for record in read_topic(bootstrap, f"{name}-changelog", idle_ms=1500):
        by_partition.setdefault(record.partition, []).append((record.key.decode(), record.value))
    return by_partition


async def with_producer(bootstrap: str, work, **settings):
    client = AIOKafkaProducer(bootstrap_servers=bootstrap, **settings)
    await client.start()
    try:
        return await work(client)
    finally:
        await client.stop()


def test_a_flush_writes_each_keys_latest_value_in_batches_table_after_table(broker):
    ensure_topics(broker.bootstrap, {"states-changelog": PARTITIONS, "held-changelog": PARTITIONS})
    states, held = table("states", "json"), table("held", "raw")
    changelog = ChangelogBatches()
    changelog.register(states)
    changelog.register(held)
    for n in range(3000):  # more than one 16 KiB batch a partition
        changelog.put(states, n % PARTITIONS, f"tag{n}", {"n": n, "pad": "x" * 40})
    changelog.put(held, 1, "tag1", b"first hit")
    changelog.put(states, 1, "tag1", {"n": "again"})  # the latest value only
    changelog.put(held, 1, "tag1", None)  # admitted: a deletion
    changelog.put(held, 2, "tag2", b"held")
    assert changelog.size == 3002

    async def flush(client):
        recorder = Recorder(client)
        await changelog.flush(recorder)
        return recorder

    recorder = asyncio.run(with_producer(broker.bootstrap, flush, max_batch_size=16 * 1024))
    assert changelog.size == 0

    written = changelog_records(broker.bootstrap, "states")
    assert sorted(written) == list(range(PARTITIONS))
    values = {key: orjson.loads(value) for records in written.values() for key, value in records}
    assert len(values) == sum(map(len, written.values())) == 3000
    assert values["tag1"] == {"n": "again"} and values["tag2998"]["n"] == 2998
    assert all(int(key[3:]) % PARTITIONS == partition for partition, records in written.items() for key, _ in records)
    assert changelog_records(broker.bootstrap, "held") == {1: [("tag1", None)], 2: [("tag2", b"held")]}

    state_batches = [earlier for topic, earlier in recorder.log if topic == "states-changelog"]
    held_batches = [earlier for topic, earlier in recorder.log if topic == "held-changelog"]
    assert len(state_batches) > PARTITIONS, "3 000 records of ~60 bytes fill more than a 16 KiB batch a partition"
    # no held record is sent before every state batch is acknowledged
    assert held_batches and all(done for earlier in held_batches for topic, done in earlier
                                if topic == "states-changelog")


def test_a_write_during_a_flush_waits_for_the_next_flush(broker):
    ensure_topics(broker.bootstrap, {"states-changelog": PARTITIONS})
    states = table("states", "raw")
    changelog = ChangelogBatches()
    changelog.register(states)
    changelog.put(states, 0, "a", b"1")

    async def flushes(client):
        written_meanwhile = lambda: changelog.put(states, 0, "a", b"2")  # noqa: E731
        await changelog.flush(Recorder(client, during_send=written_meanwhile))
        pending_after_first = changelog.size
        await changelog.flush(Recorder(client))
        return pending_after_first

    assert asyncio.run(with_producer(broker.bootstrap, flushes)) == 1
    assert changelog_records(broker.bootstrap, "states") == {0: [("a", b"1"), ("a", b"2")]}


def test_flush_if_over_waits_for_more_than_the_backlog(broker):
    ensure_topics(broker.bootstrap, {"states-changelog": 1})
    states = table("states", "raw")
    changelog = ChangelogBatches()
    changelog.register(states)

    async def fill(client):
        recorder = Recorder(client)
        for n in range(5):
            changelog.put(states, 0, f"k{n}", b"v")
            await changelog.flush_if_over(3, recorder)
        return changelog.size

    assert asyncio.run(with_producer(broker.bootstrap, fill)) == 1  # flushed at the fourth
    assert [key for key, _ in changelog_records(broker.bootstrap, "states")[0]] == ["k0", "k1", "k2", "k3"]



def test_a_state_too_big_for_a_record_goes_compressed_or_is_skipped_without_failing_the_flush(broker):
    """A state over the record limit goes alone in an lz4 batch (read back
    whole); one too big even compressed is counted and left out, and the rest
    of the flush is written."""
    ensure_topics(broker.bootstrap, {"states-changelog": 1})
    states = table("states", "raw")
    changelog = ChangelogBatches()
    changelog.register(states)
    compressible = orjson.dumps([{"author": f"u{n % 50}", "text": "خبر عاجل من بغداد " * 4} for n in range(12000)])
    incompressible = random.Random(7).randbytes(MAX_RECORD_BYTES + 1)
    assert len(compressible) > MAX_RECORD_BYTES
    changelog.put(states, 0, "busy", compressible)
    changelog.put(states, 0, "noise", incompressible)
    changelog.put(states, 0, "small", b"ok")
    skipped_before = REGISTRY.get_sample_value("rasd_changelog_records_skipped_total", {"table": "states"}) or 0.0

    async def flush(client):
        await changelog.flush(Recorder(client))

    asyncio.run(with_producer(broker.bootstrap, flush))
    written = dict(asyncio.run(read_lz4(broker.bootstrap, "states-changelog")))
    assert written == {"busy": compressible, "small": b"ok"}
    assert REGISTRY.get_sample_value("rasd_changelog_records_skipped_total", {"table": "states"}) == skipped_before + 1


async def read_lz4(bootstrap: str, topic: str) -> list[tuple[str, bytes]]:
    """Partition 0's records, through aiokafka (kafka-python would need the lz4 package)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        records = []
        for _ in range(20):
            if len(records) >= end:
                break
            records.extend((await consumer.getmany(tp, timeout_ms=500)).get(tp, []))
        return [(record.key.decode(), record.value) for record in records]
    finally:
        await consumer.stop()
