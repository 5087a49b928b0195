"""The posts reader (streams/ingest.py) against the embedded broker: what it
forwards, in which order, after a send fails."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaTimeoutError

from streams.embedded import ensure_topics
from streams.ingest import PostsConsumer, group_id
from tests.harness import produce

pytestmark = pytest.mark.broker

RECORDS = 300


async def committed(bootstrap: str, topic: str, app_id: str) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id(app_id), enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()


def test_after_a_failed_send_nothing_read_later_is_sent_before_the_failed_batch_again(broker):
    """The first batch's delivery fails (the broker was away, say) a moment
    after it is sent.  Had the next batch been sent meanwhile, its hits would
    reach the stages before the first batch's replay, whose hits (older
    offsets) they would then drop as already counted.  Nothing is sent until
    the failure is known; then reading restarts at the first batch, the
    progress told downstream is forgotten, and every record is sent once
    successfully, in order, and committed."""
    topic, app_id = "ordered-posts", "rasd-reader-test"
    ensure_topics(broker.bootstrap, {topic: 1})
    produce(broker.bootstrap, [b"%d" % n for n in range(RECORDS)], topic=topic, partition=0)
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
                if await committed(broker.bootstrap, topic, app_id) == RECORDS:
                    break
                await asyncio.sleep(0.1)
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
        return await committed(broker.bootstrap, topic, app_id)

    assert asyncio.run(run()) == RECORDS
    assert events[0][:2] == ("failed", 0)
    assert events[1] == ("rewound",), events
    assert events[2][:2] == ("sent", 0), events
    assert delivered == list(range(RECORDS))
    assert len(events) > 3  # the records came in more than one batch
