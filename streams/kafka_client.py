"""What the worker needs from its Kafka client stack (Faust over aiokafka) for
at-least-once delivery across rebalances and broker outages, on any
Kafka-protocol broker.  A correction to the clients, installed once by
``install()`` before the worker starts.

Keep the member id when a commit meets a stale generation.  aiokafka
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
"""
from __future__ import annotations

from aiokafka import errors
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.protocol.group import JoinGroupRequest


def install() -> None:
    """Apply the correction (idempotent)."""
    if not getattr(GroupCoordinator._do_commit_offsets, "keeps_member_id", False):
        GroupCoordinator._do_commit_offsets = _keeping_member_id(GroupCoordinator._do_commit_offsets)


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

