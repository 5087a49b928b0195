"""The posts consumer without a broker: how its batches are interleaved and
forwarded, and when it counts as having read everything there is."""
from __future__ import annotations

import asyncio
import doctest
import math
from collections import namedtuple
from types import SimpleNamespace

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError

from detectors.windows import GatedMinutes
from streams import ingest
from streams.ingest import PostsConsumer, interleaved, json_arrays, progress_messages, read_progress


def record(partition: int, offset: int):
    return SimpleNamespace(partition=partition, offset=offset)


def test_a_batch_takes_partitions_in_turn_each_in_offset_order():
    batch = {TopicPartition("posts", 2): [record(2, 7), record(2, 8), record(2, 9)],
             TopicPartition("posts", 0): [record(0, 40)],
             TopicPartition("posts", 1): [record(1, 3), record(1, 4)]}
    assert [(r.partition, r.offset) for r in interleaved(batch)] == [
        (2, 7), (0, 40), (1, 3), (2, 8), (1, 4), (2, 9)]


@pytest.mark.parametrize("sizes", [[], [10], [100] * 50, [300_000, 300_000, 10], [2_000_000, 5, 5]])
def test_forwarded_messages_carry_every_item_once_in_order_and_stay_small(sizes):
    items = [orjson.dumps(["x" * size, i]) for i, size in enumerate(sizes)]
    messages = list(json_arrays(items))
    assert [item for message in messages for item in orjson.loads(message)] == [orjson.loads(i) for i in items]
    assert all(orjson.loads(m) for m in messages) or not items  # no empty message
    # only an item larger than the limit on its own makes a larger message
    assert all(len(m) <= ingest.MESSAGE_BYTES + 1 or len(orjson.loads(m)) == 1 for m in messages)
    if sum(sizes) > ingest.MESSAGE_BYTES:
        assert len(messages) > 1


def test_ingest_doctests():
    assert doctest.testmod(ingest).failed == 0


class FakeConsumer:
    """What ``caught_up`` reads of an aiokafka consumer, per partition:
    (last fetch answered, ms; highwater; position)."""

    def __init__(self, partitions: dict[int, tuple[int | None, int | None, int | None]]):
        self.partitions = {TopicPartition("posts", p): state for p, state in partitions.items()}
        states = {tp: SimpleNamespace(has_valid_position=position is not None, highwater=highwater,
                                      position=position)
                  for tp, (_, highwater, position) in self.partitions.items()}
        self._subscription = SimpleNamespace(subscription=SimpleNamespace(
            assignment=SimpleNamespace(state_value=states.__getitem__)))

    def assignment(self):
        return set(self.partitions)

    def last_poll_timestamp(self, tp):
        return self.partitions[tp][0]


def reader(consumer, assigned=True) -> PostsConsumer:
    posts = PostsConsumer(SimpleNamespace(), "posts", None, None, None, session_timeout=60, heartbeat_interval=3,
                          rebalance_timeout=60, max_poll_interval=1000)
    posts.consumer, posts.assigned = consumer, assigned
    return posts


@pytest.mark.parametrize("partitions, caught_up", [
    ({0: (10_000, 50, 50), 1: (11_000, 0, 0)}, True),
    ({}, True),  # owns no posts partition: nothing to wait for
    ({0: (10_000, 50, 50), 1: (9_000, 7, 7)}, False),  # partition 1 not fetched since
    ({0: (10_000, 50, 50), 1: (None, None, 0)}, False),  # partition 1 never fetched
    ({0: (10_000, 50, 49), 1: (11_000, 7, 7)}, False),  # one record fetched but not handed on
    ({0: (10_000, 50, None)}, False),  # position not known yet (being reset)
])
def test_caught_up_only_when_every_owned_partition_was_fetched_lately_and_read_to_its_end(partitions, caught_up):
    assert reader(FakeConsumer(partitions)).caught_up(since=10.0) is caught_up


def test_not_caught_up_before_an_assignment_or_during_a_rebalance():
    assert reader(None).caught_up(since=0.0) is False
    assert reader(FakeConsumer({0: (10_000, 50, 50)}), assigned=False).caught_up(since=0.0) is False
    unsubscribed = FakeConsumer({0: (10_000, 50, 50)})
    unsubscribed._subscription = SimpleNamespace(subscription=None)  # aiokafka between assignments
    assert reader(unsubscribed).caught_up(since=0.0) is False


def test_not_caught_up_while_a_batch_is_in_hand_or_not_delivered():
    async def run():
        posts = reader(FakeConsumer({0: (10_000, 50, 50)}))
        posts._settling = asyncio.get_running_loop().create_future()
        waiting = posts.caught_up(since=0.0)
        posts._settling.set_result(None)
        async with posts._batch_in_hand:  # the next batch in hand, its sends not yet delivered
            in_hand = posts.caught_up(since=0.0)
        return waiting, in_hand, posts.caught_up(since=0.0)

    assert asyncio.run(run()) == (False, False, True)


def test_a_batch_is_committed_past_its_last_records_only_once_all_it_forwarded_is_delivered():
    batch = {TopicPartition("posts", 0): [record(0, 4), record(0, 5)], TopicPartition("posts", 3): [record(3, 9)]}

    async def run():
        delivered = [asyncio.get_running_loop().create_future() for _ in range(2)]
        commits = []

        class Consumer:
            async def commit(self, offsets):
                commits.append((all(f.done() for f in delivered), offsets))
                raise CommitFailedError("the group rebalanced")  # refused: the new owner reads again

        processing = asyncio.create_task(PostsConsumer._commit(Consumer(), batch, delivered))
        for future in delivered:
            await asyncio.sleep(0.01)
            assert commits == []
            future.set_result(None)
        await processing
        return commits

    assert asyncio.run(run()) == [(True, {TopicPartition("posts", 0): 6, TopicPartition("posts", 3): 10})]


def test_a_large_progress_report_is_split_and_the_gate_moves_on_at_its_last_message():
    """3 000 closed minutes of ~600 bytes: several messages; fed to a gate in
    order, none of the records is late and the minute is released once."""
    Rec = namedtuple("Rec", "name minute pad")
    records = [Rec(f"tag{n}", 0.0, "x" * 600) for n in range(3000)]
    messages = progress_messages(1, 60.0, [orjson.dumps(list(r)) for r in records])
    assert len(messages) > 1 and all(len(m) <= ingest.MESSAGE_BYTES + 200 for m in messages)
    reports = [read_progress(m) for m in messages]
    assert [progress for _, progress, _ in reports] == [-math.inf] * (len(reports) - 1) + [60.0]

    gate = GatedMinutes(sources=2, key=lambda r: r.name)
    gate.offer(0, 120.0, [])  # the other upstream partition is ahead
    released = []
    for source, progress, fields in reports:
        gate.offer(source, progress, [Rec(*f) for f in fields])
        released.extend(gate.release(gate.ready()))
    assert gate.late == 0
    assert [(minute, len(recs)) for minute, recs in released] == [(0.0, 3000)]
