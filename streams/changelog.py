"""Table changelogs written in record batches instead of one message a write.

Faust produces every table write as a message of its own: a future, sensor
calls, a buffer that wakes a flusher per message, one ``send`` through
aiokafka.  A flood of distinct tags makes several writes a post (a held first
hit, its deletion, a new state, an eviction): 200 000 such posts took a
worker 161 CPU seconds that way, 28 in batches.  Here a write only
records the key's latest value; ``flush`` encodes what changed and produces
it as one record batch per changelog partition.  A compacted changelog needs
no more than each key's latest value, and recovery reads it as Faust wrote it.

A state can outgrow what the broker takes in one record (a surging tag's
coordination window keeps up to 3 000 hits with their texts): such a record
goes alone in an lz4-compressed batch, and one still too big compressed is
not written — counted (``rasd_changelog_records_skipped_total``) and logged.
The worker keeps the state in memory and goes on; only a recovery would find
that key's older value.  Refused by the broker, the whole flush would fail,
and with it the worker, again after every restart.

Flushes run before every offset commit (Faust flushes its producer first,
and ``install`` flushes the changelog before that), and whenever more than a
backlog of records waits (``flush_if_over``).  Each flush sends the tables in
the order they were registered and waits for one table's batches to be
acknowledged before it sends the next: a tag's state is stored before the
held hit's deletion and the watermarks that rely on it.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable

from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch
from faust.serializers import codecs
from faust.transport.drivers.aiokafka import Producer

from streams import metrics

log = logging.getLogger(__name__)

# under Kafka's default message.max.bytes (1 048 588), a record batch's header included
MAX_RECORD_BYTES = 1_000_000

# a record's value: the table's value (encoded at flush), or None for a deletion
Pending = dict[tuple[int, Hashable], object]


class ChangelogBatches:
    """Each registered table's changed keys since the last flush, per partition."""

    def __init__(self) -> None:
        self.tables: list = []  # registration order is flush order
        self.pending: dict[str, Pending] = {}
        self.size = 0
        self._flushing = asyncio.Lock()

    def register(self, table) -> None:
        self.tables.append(table)
        self.pending[table.name] = {}

    def put(self, table, partition: int, key: Hashable, value: object) -> None:
        pending = self.pending[table.name]
        if (partition, key) not in pending:
            self.size += 1
        pending[partition, key] = value

    async def flush(self, producer: Producer) -> None:
        """Produce every change recorded so far, table by table, and wait for
        the broker to take it."""
        async with self._flushing:
            # taken at once: a write-back (tag states, then the held hits'
            # deletions) is never split across two flushes
            taken = [(table, self.pending[table.name]) for table in self.tables]
            for table, _ in taken:
                self.pending[table.name] = {}
            self.size = 0
            client = producer._ensure_producer()
            for table, records in taken:
                if records:
                    await asyncio.gather(*await _send_batches(client, table, records))

    async def flush_if_over(self, backlog: int, producer: Producer) -> None:
        if self.size > backlog:
            await self.flush(producer)


async def _send_batches(client, table, records: Pending) -> list[asyncio.Future]:
    topic = table.changelog_topic.get_topic_name()
    encode_key, encode_value = table.key_serializer, table.value_serializer
    batches: dict[int, object] = {}
    sent = []
    for (partition, key), value in records.items():
        key_bytes = codecs.dumps(encode_key, key)
        value_bytes = None if value is None else codecs.dumps(encode_value, value)
        if len(key_bytes) + len(value_bytes or b"") > MAX_RECORD_BYTES:
            alone = await _send_compressed(client, table.name, topic, partition, key_bytes, value_bytes)
            if alone is not None:
                sent.append(alone)
            continue
        batch = batches.get(partition)
        if batch is None:
            batch = batches[partition] = client.create_batch()
        if batch.append(key=key_bytes, value=value_bytes, timestamp=None) is None:  # full
            sent.append(await client.send_batch(batch, topic, partition=partition))
            batch = batches[partition] = client.create_batch()
            batch.append(key=key_bytes, value=value_bytes, timestamp=None)  # an empty batch takes any record
    for partition, batch in batches.items():
        sent.append(await client.send_batch(batch, topic, partition=partition))
    return sent


async def _send_compressed(client, table: str, topic: str, partition: int, key: bytes,
                           value: bytes | None) -> asyncio.Future | None:
    batch = BatchBuilder(MAX_RECORD_BYTES, DefaultRecordBatch.CODEC_LZ4)
    batch.append(key=key, value=value, timestamp=None)
    size = len(batch._build())  # compressed: what the broker will judge
    if size > MAX_RECORD_BYTES:
        metrics.CHANGELOG_RECORDS_SKIPPED.labels(table).inc()
        log.error("%s: the state of %r is %d bytes, %d compressed, over the %d a record may take: "
                  "not written to the changelog (a recovery would find its older value)",
                  table, key[:80], len(value or b""), size, MAX_RECORD_BYTES)
        return None
    return await client.send_batch(batch, topic, partition=partition)


CHANGELOG = ChangelogBatches()


def install() -> None:
    """Flush the changelog whenever Faust flushes its producer (idempotent)."""
    if getattr(Producer.flush, "flushes_changelog", False):
        return
    faust_flush = Producer.flush

    async def flush(self: Producer) -> None:
        await CHANGELOG.flush(self)
        await faust_flush(self)

    flush.flushes_changelog = True  # type: ignore[attr-defined]
    Producer.flush = flush
