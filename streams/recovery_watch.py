"""When a table recovery has stopped making progress.

Faust's table recovery can stall after back-to-back rebalances: it resumes
fetching the changelogs and no record ever arrives ("No event received for
active tp … since recovery start"), so the worker never processes its input
again.  Seen in the hand-over test (a second worker joins and leaves within a
few seconds): once in CI and in 2 of about 30 runs on a loaded machine; the
same hang is reported against faust-streaming (issues #21, #74).  A rejoin of the
consumer group makes Faust revoke, reassign, seek and start the recovery
again.
"""
from __future__ import annotations


class RecoveryWatch:
    """Judge a recovery stalled when the records it still needs have not
    changed for ``stall_seconds``.

    >>> watch = RecoveryWatch(stall_seconds=60)
    >>> watch.stalled(now=0, remaining=120)
    False
    >>> watch.stalled(now=30, remaining=80)   # progress
    False
    >>> watch.stalled(now=89, remaining=80)
    False
    >>> watch.stalled(now=91, remaining=80)   # 61 s without a record
    True
    >>> watch.stalled(now=120, remaining=80)  # judged again only a full period later
    False
    >>> watch.stalled(now=130, remaining=0)   # recovered
    False
    """

    def __init__(self, stall_seconds: float):
        self.stall_seconds = stall_seconds
        self.remaining = 0
        self.since = 0.0

    def stalled(self, now: float, remaining: int) -> bool:
        if remaining != self.remaining or remaining == 0:
            self.remaining, self.since = remaining, now
            return False
        if now - self.since <= self.stall_seconds:
            return False
        self.since = now
        return True
