"""What the worker needs from its Kafka client stack (Faust over aiokafka) for
at-least-once delivery across rebalances and broker outages, on any
Kafka-protocol broker.  Three corrections to the clients, installed once by
``install()`` before the worker starts, one probe and one rejoin.

1. Keep the member id when a commit meets a stale generation.  aiokafka
   answers ``IllegalGeneration`` to an offset commit by forgetting its member
   id and re-joining as a *new* member; the old id stays in the group until
   the broker expires it.  Apache Kafka drops it at the end of the join phase;
   noida-db (the embedded broker) never does and keeps it as the group's
   leader, so the group waits forever for that leader's assignment (seen: two
   workers stuck in ``CompletingRebalance`` with three members).  noida-db
   answers ``IllegalGeneration`` to any commit made after a rebalance started,
   so a second worker joining or one leaving triggered it every time.  A stale
   generation says nothing about the member id: re-join under the same id.
   Where the broker has dropped it, the join answers ``UnknownMemberId`` and
   aiokafka starts afresh, as before.

2. Rewind partitions without a committed offset.  While a rebalance is under
   way Faust drops records aiokafka has already fetched, then seeks every
   partition back to its committed offset; aiokafka's ``seek_to_committed``
   leaves a partition with no committed offset (or offset 0) where the fetcher
   got to, so the dropped records were never processed (seen: after a broker
   restart, before the first commit, the worker skipped every post it fetched
   during the rebalance).  Such a partition goes back to its beginning — what
   ``auto_offset_reset=earliest`` promises; replays are recognised downstream
   by their source offsets.

3. Clear the stream queues only when flow resumes after a suspension.  Faust
   resumes flow (``FlowControlEvent.resume``, which empties every stream queue)
   when a rebalance's changelog recovery starts, and again once stream
   partitions have been resumed and sought to their committed offsets.  A
   record fetched between that seek and the second resume was dropped from its
   queue after Faust had marked it read, so it was never fetched again, and
   Faust's commit (which takes the committed offset for the last one processed)
   went past it (seen: the first post after a restart lost in 3 of 7 runs of a
   crash test).
   Records queued while flow was active come from the sought positions; only
   those queued before a suspension are stale.

``fetched_since`` tells whether the broker has recently answered a fetch for
every input partition the worker owns: quiet input counts as idle only then.
``polled_since`` and ``read_to_end`` ask the same of a plain aiokafka consumer
(``streams.ingest``).  ``rejoin_group`` makes Faust's consumer rejoin its group,
which revokes, reassigns, seeks and starts the table recovery again.
"""
from __future__ import annotations

from aiokafka import errors
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.protocol.group import JoinGroupRequest
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from mode.utils.queues import FlowControlEvent


def install() -> None:
    """Apply the three corrections (idempotent)."""
    if not getattr(GroupCoordinator._do_commit_offsets, "keeps_member_id", False):
        GroupCoordinator._do_commit_offsets = _keeping_member_id(GroupCoordinator._do_commit_offsets)
    if not getattr(AIOKafkaConsumerThread.seek_to_committed, "rewinds_uncommitted", False):
        AIOKafkaConsumerThread.seek_to_committed = _seek_to_committed_or_beginning
    if not getattr(FlowControlEvent.resume, "clears_only_after_suspend", False):
        FlowControlEvent.resume = _resume_clearing_only_after_suspend


def _keeping_member_id(commit):
    async def do_commit_offsets(self, assignment, offsets):
        member_id = self.member_id
        try:
            return await commit(self, assignment, offsets)
        except errors.IllegalGenerationError:
            # aiokafka reset generation and member id, and asked to re-join
            if self.member_id == JoinGroupRequest.UNKNOWN_MEMBER_ID:
                self.member_id = member_id
            raise

    do_commit_offsets.keeps_member_id = True
    return do_commit_offsets


async def seek_to_committed_or_beginning(consumer, skip_topics: set[str]) -> dict:
    """``AIOKafkaConsumer.seek_to_committed``, and back to the beginning for each
    partition with no committed offset (except those of ``skip_topics``)."""
    committed = await consumer.seek_to_committed()
    uncommitted = [tp for tp, offset in committed.items() if not offset and tp.topic not in skip_topics]
    if uncommitted:
        await consumer.seek_to_beginning(*uncommitted)
    return committed


async def _seek_to_committed_or_beginning(self: AIOKafkaConsumerThread) -> dict:
    # changelog partitions are positioned by Faust's table recovery
    return await self.call_thread(seek_to_committed_or_beginning, self._ensure_consumer(),
                                  self.app.tables.changelog_topics)


_seek_to_committed_or_beginning.rewinds_uncommitted = True


def _resume_clearing_only_after_suspend(self: FlowControlEvent) -> None:
    suspended = self._suspend.is_set()
    self._suspend.clear()
    self._resume.set()
    if suspended:
        self.clear()


_resume_clearing_only_after_suspend.clears_only_after_suspend = True


def fetched_since(app, topics: set[str], since: float) -> bool:
    """Has the broker answered a fetch, after ``since`` (epoch seconds), for each
    partition of ``topics`` Faust's consumer owns?  Not during a broker outage,
    nor a rebalance, nor a backlog (aiokafka fetches a partition again only once
    its buffered records are taken)."""
    if app.rebalancing:
        return False
    try:
        return polled_since(app.consumer._thread._ensure_consumer(), topics, since)
    except (AttributeError, KeyError, RuntimeError, errors.IllegalStateError):
        return False  # not started, or the consumer thread is changing the assignment


async def rejoin_group(app) -> None:
    """Ask Faust's consumer to rejoin its group (aiokafka's consumer lives on
    Faust's consumer thread: the request is made there)."""
    thread = app.consumer._thread

    async def rejoin() -> None:
        thread._ensure_consumer()._coordinator.request_rejoin()

    await thread.call_thread(rejoin)


def polled_since(consumer, topics: set[str], since: float) -> bool:
    """``fetched_since`` for one aiokafka consumer."""
    owned = [tp for tp in consumer.assignment() if tp.topic in topics]
    return all((consumer.last_poll_timestamp(tp) or 0) / 1000 >= since for tp in owned)


def read_to_end(consumer) -> bool:
    """Has ``consumer`` handed out every record up to each assigned partition's
    highwater (as of its last fetch)?  aiokafka moves a partition's position
    when ``getmany`` returns its records, not when they are fetched."""
    assignment = consumer._subscription.subscription.assignment
    for tp in consumer.assignment():
        state = assignment.state_value(tp)
        if not state.has_valid_position or state.highwater is None or state.highwater > state.position:
            return False
    return True
