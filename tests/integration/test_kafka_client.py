"""The worker's corrections to its Kafka clients (streams/kafka_client.py), each
against the embedded broker with plain aiokafka consumers: the smallest setting
in which the uncorrected client loses records or deadlocks the group."""
from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams import kafka_client
from streams.embedded import ensure_topics
from tests.reliability.common import group_members

pytestmark = pytest.mark.broker


async def fill(bootstrap: str, topic: str, partitions: int, per_partition: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for partition in range(partitions):
            for n in range(per_partition):
                await producer.send(topic, b"%d" % n, partition=partition)
        await producer.flush()
    finally:
        await producer.stop()


def consumer(bootstrap: str, topic: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                            auto_offset_reset="earliest", session_timeout_ms=30000, heartbeat_interval_ms=1000,
                            rebalance_timeout_ms=30000)


def test_a_partition_with_no_committed_offset_goes_back_to_its_beginning(broker):
    """What Faust relies on after a rebalance: records fetched and dropped must be
    read again, also where nothing was committed yet."""
    ensure_topics(broker.bootstrap, {"rewind": 2})

    async def run():
        await fill(broker.bootstrap, "rewind", 2, 10)
        reader = consumer(broker.bootstrap, "rewind", "rewind-group")
        await reader.start()
        try:
            read = 0
            while read < 20:
                read += sum(len(batch) for batch in (await reader.getmany(timeout_ms=1000)).values())
            first, second = TopicPartition("rewind", 0), TopicPartition("rewind", 1)
            await reader.commit({first: 4})
            await kafka_client.seek_to_committed_or_beginning(reader, skip_topics=set())
            return await reader.position(first), await reader.position(second)
        finally:
            await reader.stop()

    assert asyncio.run(run()) == (4, 0)


def test_members_committing_through_a_rebalance_share_the_partitions(broker):
    """Uncorrected, the first member re-joins under a new id on noida-db, the old
    id stays the group's leader and the group never becomes Stable."""
    kafka_client.install()
    ensure_topics(broker.bootstrap, {"shared": 4})

    async def member(stop: asyncio.Event) -> None:
        reader = consumer(broker.bootstrap, "shared", "shared-group")
        await reader.start()
        try:
            while not stop.is_set():
                await reader.getmany(timeout_ms=200)
                try:
                    await reader.commit()  # as Faust does, every few seconds, rebalance or not
                except Exception:  # a commit refused during the rebalance
                    pass
        finally:
            await reader.stop()

    async def run():
        await fill(broker.bootstrap, "shared", 4, 5)
        stop = asyncio.Event()
        first = asyncio.create_task(member(stop))
        await asyncio.sleep(3)
        second = asyncio.create_task(member(stop))
        try:
            for _ in range(60):
                await asyncio.sleep(1)
                owned = sorted(len(a.get("shared", [])) for a in
                               (await asyncio.to_thread(group_members, broker.bootstrap, "shared-group")).values())
                if owned == [2, 2]:
                    return owned
            return owned
        finally:
            stop.set()
            _, stuck = await asyncio.wait([first, second], timeout=15)
            for task in stuck:  # a member of a deadlocked group does not leave cleanly
                task.cancel()

    assert asyncio.run(run()) == [2, 2]
