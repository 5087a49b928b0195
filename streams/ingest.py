"""Posts in: a plain aiokafka consumer group that reads ``posts`` in batches.

Faust hands its streams one message at a time (an event and a pair of tasks
per message in its consumer loop): about half of the worker's CPU during
ingest, against ~4 µs per message for aiokafka's ``getmany``.  ``posts`` is
the one topic with a record per post, so it skips Faust:
:class:`PostsConsumer` reads it in its own consumer group (:func:`group_id`),
hands each batch to the worker, waits until every message the worker produced
for the batch is on the broker, and only then commits the batch's offsets.
That is at-least-once: after a crash or a failed send the uncommitted posts are
read again, and the stages downstream recognise the replayed hits by their
source offsets.  A rebalance waits for the batch in hand (commit included), so
a partition changes owner between batches.

Faust no longer sees ``posts``, so whether the worker has heard from the
broker lately and read everything there is on ``posts`` comes from here
(:meth:`PostsConsumer.caught_up`).
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import math
from typing import Awaitable, Callable, Generic, Iterator, TypeVar

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from streams import kafka_client, metrics
from streams.board import kafka_security

log = logging.getLogger(__name__)

# ≤ 500 posts per batch (what the Faust agent took), shared evenly by the
# partitions a worker reads: the event loop (timers, web views, the other
# agents) is never held for long, and at 500 a partition with 4 partitions the
# worker junk-flood test peaked at 273 MiB instead of 218 (its cap is 250).  A
# worker with fewer partitions takes more from each: with a fixed 125 a
# partition, two workers of two partitions each made batches, and so messages
# to every stage partition, commits and sends, half as big as one worker's.
# fetch_max_wait_ms also paces empty fetches (streams.fetch_pacing): an idle
# consumer must not spin on a broker that answers them at once.
BATCH_RECORDS = 500
FETCH = {"max_partition_fetch_bytes": 4 * 1024 * 1024, "fetch_max_wait_ms": 100}

MESSAGE_BYTES = 512 * 1024  # a forwarded message stays well under the producer's 4 MiB request limit

Batch = dict[TopicPartition, list[ConsumerRecord]]
Routed = TypeVar("Routed")


def group_id(app_id: str) -> str:
    """The ingest consumer group of a Rasd app (Faust's own group is ``app_id``)."""
    return f"{app_id}-ingest"


class PostsConsumer(ConsumerRebalanceListener, Generic[Routed]):
    """Feeds batches of ``topic`` to ``route`` (the worker's work on them), then
    what it made to ``forward``, which sends it and returns the delivery
    futures; offsets are committed once those resolve.  ``rewind`` is called
    whenever reading restarts from the committed offsets."""

    def __init__(self, settings, topic: str, route: Callable[[Batch], Routed],
                 forward: Callable[[Routed], Awaitable[list[asyncio.Future]]], rewind: Callable[[], None], *,
                 session_timeout: float, heartbeat_interval: float, rebalance_timeout: float,
                 max_poll_interval: float):
        self.settings = settings
        self.topic = topic
        self.route, self.forward, self.rewind = route, forward, rewind
        self.timeouts = {"session_timeout_ms": int(session_timeout * 1000),
                         "heartbeat_interval_ms": int(heartbeat_interval * 1000),
                         "rebalance_timeout_ms": int(rebalance_timeout * 1000),
                         "max_poll_interval_ms": int(max_poll_interval * 1000)}
        self.consumer: AIOKafkaConsumer | None = None
        self.assigned = False  # between an assignment and the next revocation
        self._batch_in_hand = asyncio.Lock()
        self._settling: asyncio.Future | None = None  # the last batch's deliveries and commit

    async def run(self) -> None:
        """Forever; a broken connection or a failed send restarts from the committed offsets."""
        while True:
            self.consumer = consumer = AIOKafkaConsumer(
                bootstrap_servers=self.settings.kafka_bootstrap(), group_id=group_id(self.settings.app_id),
                enable_auto_commit=False, auto_offset_reset="earliest", **FETCH, **self.timeouts,
                **kafka_security(self.settings))
            consumer.subscribe([self.topic], listener=self)
            try:
                await consumer.start()
                while True:
                    # not held while fetching: during a rebalance getmany waits for the
                    # new assignment, which waits for on_partitions_revoked (a deadlock)
                    batch = await next_batch(consumer)
                    if not batch:
                        if self._settling is not None and self._settling.done():
                            # the last batch failed with nothing read after it: read it again now
                            await self._settled()
                        continue
                    async with self._batch_in_hand:
                        # the work on a batch overlaps the delivery and commit of the one
                        # before (waiting for them first left the worker idle half the time)
                        routed = self.route(batch)
                        # but its sends wait for them: a message of this batch delivered
                        # to a partition where one of that batch failed to go would make
                        # that batch's replay look like old news downstream (hits older
                        # than the newest offset a stage has taken are dropped)
                        await self._settled()
                        sent = await self.forward(routed)
                        self._settling = asyncio.ensure_future(self._commit(consumer, batch, sent))
            except asyncio.CancelledError:
                raise
            except KafkaError as exc:  # broker away or a send failed: read again what is not committed
                metrics.POSTS_READ_ERRORS.labels(type(exc).__name__).inc()
                log.warning("reading %s failed (%r); restarting from the committed offsets", self.topic, exc)
                await asyncio.sleep(2.0)
            finally:
                self.assigned = False
                if self._settling is not None:  # not committed: read again
                    self._settling.cancel()
                    await asyncio.wait([self._settling])
                    self._settling = None
                await consumer.stop()
                self.rewind()

    async def _settled(self) -> None:
        """Wait for the last batch to be delivered and committed (raises what its sends raised)."""
        settling, self._settling = self._settling, None
        if settling is not None:
            await settling

    @staticmethod
    async def _commit(consumer: AIOKafkaConsumer, batch: Batch, sent: list[asyncio.Future]) -> None:
        await asyncio.gather(*sent)
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # the group moved on: the partition's new owner reads these again
            log.info("commit of %s after a rebalance refused (%r)", offsets, exc)

    def _delivering(self) -> bool:
        """A batch is in hand (routed, its sends waiting for the one before it to
        settle or queued: ``_settled`` lets go of the loop while waiting) or the
        last one has not been delivered and committed."""
        return self._batch_in_hand.locked() or (self._settling is not None and not self._settling.done())

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.assigned = False
        async with self._batch_in_hand:  # let the batch in hand finish, be delivered and commit
            if self._settling is not None:
                await asyncio.wait([self._settling])

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.assigned = True

    def caught_up(self, since: float) -> bool:
        """Has the broker answered a fetch, after ``since`` (epoch seconds), for
        every partition this worker owns, and has the worker read each to its
        end?  Not before the group has assigned partitions, nor during a
        rebalance or a broker outage (quiet input the worker cannot see is not
        quiet, it is unknown), nor while what the last batch forwarded waits in
        the producer's queue (behind changelog writes, say): the stages have not
        seen it, and idle time counted from the batch closed their minutes early."""
        consumer = self.consumer
        if consumer is None or not self.assigned or self._delivering():
            return False
        try:
            return kafka_client.polled_since(consumer, {self.topic}, since) and kafka_client.read_to_end(consumer)
        except (AssertionError, AttributeError, IllegalStateError):  # aiokafka: the assignment is changing
            return False


def partition_records(partitions: int) -> int:
    """Records a batch takes from each of ``partitions`` assigned partitions.

    >>> [partition_records(n) for n in (0, 1, 2, 4, 16)]
    [500, 500, 250, 125, 32]
    """
    return -(-BATCH_RECORDS // max(partitions, 1))


async def next_batch(consumer: AIOKafkaConsumer) -> Batch:
    """Records from every assigned partition that has some buffered, at most
    ``partition_records`` each, so that the input partitions move on together
    in event time (a stage downstream tracks each input partition's progress;
    one partition read far ahead would make the others' hits late).  Waits up
    to a second for the first record."""
    each = partition_records(len(consumer.assignment()))
    batch = await consumer.getmany(timeout_ms=1000, max_records=each)
    for tp in consumer.assignment() - batch.keys():
        batch.update(await consumer.getmany(tp, timeout_ms=0, max_records=each))
    return batch


def interleaved(batch: Batch) -> Iterator[ConsumerRecord]:
    """The batch's records, taking one from each partition in turn (each
    partition's in offset order)."""
    for row in itertools.zip_longest(*batch.values()):
        for record in row:
            if record is not None:
                yield record


class ProgressMarks:
    """How far each input partition has read, told to every stage partition.

    A stage partition's watermark waits for every input partition (a record
    from one that is behind must not be late), but an input partition may
    send a stage partition nothing for hours: a producer that keys posts by
    platform leaves each platform shard to a few inputs.  Without word from the
    others the shard's minutes would stay open, and its state grow, until the
    whole input went quiet.  So each batch also tells every stage partition
    how far each input partition read has got, as ``[source, event time]``
    items, riding in the message the partition gets anyway or in one of their
    own.  Never held back to save messages: the last word before the input
    pauses is the one that lets the last minutes close.

    >>> marks = ProgressMarks(partitions=2)
    >>> batches = {0: [b'"a hit"']}
    >>> marks.add(batches, {3: 120.0})
    >>> batches
    {0: [b'"a hit"', b'[3,120.0]'], 1: [b'[3,120.0]']}
    >>> batches = {}
    >>> marks.add(batches, {3: 120.0, 1: 90.0})   # only what moved on
    >>> batches
    {0: [b'[1,90.0]'], 1: [b'[1,90.0]']}
    >>> marks.forget()   # reading restarts: what was told may not have arrived
    >>> batches = {}
    >>> marks.add(batches, {1: 90.0})
    >>> batches
    {0: [b'[1,90.0]'], 1: [b'[1,90.0]']}
    """

    def __init__(self, partitions: int):
        self.partitions = partitions
        self.told: dict[tuple[int, int], float] = {}  # (stage partition, source) -> event time

    def add(self, batches: dict[int, list[bytes]], newest: dict[int, float]) -> None:
        """Add the marks that move a stage partition on to ``batches``
        (stage partition -> items), from ``newest`` (source -> event time)."""
        told = self.told
        for partition in range(self.partitions):
            marks = [(source, at) for source, at in newest.items() if at > told.get((partition, source), -math.inf)]
            for source, at in marks:
                told[partition, source] = at
            if marks:
                batches.setdefault(partition, []).extend(orjson.dumps(mark) for mark in marks)

    def forget(self) -> None:
        self.told.clear()


def progress_messages(source: int, progress: float, records: list[bytes]) -> list[bytes]:
    """An upstream partition's closed records and progress as messages of
    about ``MESSAGE_BYTES`` at most: a catch-up can close hours of minutes of
    thousands of tags at once, more than the broker takes in one record.  Only
    the last message carries the progress (the others ``null``): a gate that
    moved on at the first would call the records after it late.

    >>> progress_messages(2, 120.0, [b'"a"', b'"b"'])
    [b'{"source":2,"progress":120.0,"records":["a","b"]}']
    """
    chunks = list(json_arrays(records))
    return [b'{"source":%d,"progress":%s,"records":%s}' % (
        source, orjson.dumps(progress) if i == len(chunks) - 1 else b"null", chunk) for i, chunk in enumerate(chunks)]


def read_progress(value: bytes) -> tuple[int, float, list]:
    """(source, progress, records) of a ``progress_messages`` message; the
    progress of a message more of the same report follows is ``-inf``.

    >>> [read_progress(m) for m in progress_messages(2, 120.0, [b'"a"'])]
    [(2, 120.0, ['a'])]
    """
    report = orjson.loads(value)
    progress = report["progress"]
    return report["source"], -math.inf if progress is None else progress, report["records"]


def json_arrays(items: list[bytes]) -> Iterator[bytes]:
    """JSON arrays of the given encoded items, each about ``MESSAGE_BYTES`` at
    most (an item alone may be more); together, every item once, in order.

    >>> list(json_arrays([b"1", b"[2,3]"]))
    [b'[1,[2,3]]']
    """
    start, size = 0, 0
    for i, item in enumerate(items):
        if size and size + len(item) > MESSAGE_BYTES:
            yield b"[" + b",".join(items[start:i]) + b"]"
            start, size = i, 0
        size += len(item) + 1
    yield b"[" + b",".join(items[start:]) + b"]"
