"""The posts reader (streams/ingest.py) against the embedded broker: what it
forwards, in which order, after a send fails."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaTimeoutError

from streams.embedded import ensure_topics
from streams.ingest import BATCH_RECORDS, PostsConsumer, group_id, next_batch, partition_records
from tests.harness import produce

pytestmark = pytest.mark.broker



async def committed(bootstrap: str, topic: str, app_id: str) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id(app_id), enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()


@pytest.mark.parametrize("records", [3 * BATCH_RECORDS, 100])  # several batches; less than one
def test_after_a_failed_send_nothing_read_later_is_sent_before_the_failed_batch_again(broker, records):
    """The first batch's delivery fails (the broker was away, say) a moment
    after it is sent.  Had the next batch been sent meanwhile, its hits would
    reach the stages before the first batch's replay, whose hits (older
    offsets) they would then drop as already counted.  Nothing is sent until
    the failure is known; then reading restarts at the first batch, the
    progress told downstream is forgotten, and every record is sent once
    successfully, in order, and committed.  Also when the failed batch is the
    last one there is to read (no later batch brings the failure to light)."""
    topic, app_id = f"ordered-posts-{records}", "rasd-reader-test"
    ensure_topics(broker.bootstrap, {topic: 1})
    produce(broker.bootstrap, [b"%d" % n for n in range(records)], topic=topic, partition=0)
    settings = SimpleNamespace(kafka_bootstrap=lambda: broker.bootstrap, app_id=app_id,
                               security_protocol="PLAINTEXT")
    events: list[tuple] = []
    delivered: list[int] = []

    def route(batch):
        return [int(record.value) for records in batch.values() for record in records]

    async def forward(numbers):
        loop = asyncio.get_running_loop()
        delivery = loop.create_future()
        if not events:
            events.append(("failed", numbers[0], numbers[-1]))
            loop.call_later(0.3, delivery.set_exception, KafkaTimeoutError())
        else:
            events.append(("sent", numbers[0], numbers[-1]))
            delivered.extend(numbers)
            delivery.set_result(None)
        return [delivery]

    async def run():
        reader = PostsConsumer(settings, topic, route, forward, lambda: events.append(("rewound",)),
                               session_timeout=30, heartbeat_interval=1, rebalance_timeout=30,
                               max_poll_interval=300)
        reading = asyncio.create_task(reader.run())
        try:
            for _ in range(600):
                if await committed(broker.bootstrap, topic, app_id) == records:
                    break
                await asyncio.sleep(0.1)
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
        return await committed(broker.bootstrap, topic, app_id)

    assert asyncio.run(run()) == records
    assert events[0][:2] == ("failed", 0)
    assert events[1] == ("rewound",), events
    assert events[2][:2] == ("sent", 0), events
    assert delivered == list(range(records))
    assert len(events) > 3  # the records came in more than one batch


@pytest.mark.parametrize("partitions", [1, 2, 4])
def test_a_batch_takes_the_same_number_of_posts_however_many_partitions_a_worker_reads(broker, partitions):
    """A worker reading fewer partitions (one of two workers, say) takes more
    from each, so its batches, and the messages, commits and sends made per
    batch, are as big as a worker's reading them all; each partition gives an
    equal share, so they move on together in event time."""
    topic, per_partition = f"batched-posts-{partitions}", 600
    ensure_topics(broker.bootstrap, {topic: partitions})
    for partition in range(partitions):
        produce(broker.bootstrap, [b"%d" % n for n in range(per_partition)], topic=topic, partition=partition)
    each = partition_records(partitions)

    async def read_all() -> list[dict[int, int]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
            sizes: list[dict[int, int]] = []
            while sum(sum(size.values()) for size in sizes) < partitions * per_partition:
                batch = await next_batch(consumer)
                sizes.append({tp.partition: len(records) for tp, records in batch.items()})
            return sizes
        finally:
            await consumer.stop()

    sizes = asyncio.run(read_all())
    assert all(n <= each for size in sizes for n in size.values()), sizes
    assert max(sum(size.values()) for size in sizes) == each * partitions >= BATCH_RECORDS, sizes
    assert sum(sum(size.values()) for size in sizes) == partitions * per_partition
