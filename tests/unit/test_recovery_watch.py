"""When the worker restarts a table recovery: only after the records it still
needs have stood still for the whole stall period."""
from __future__ import annotations

import doctest

from streams import recovery_watch
from streams.recovery_watch import RecoveryWatch


def test_recovery_watch_doctests():
    result = doctest.testmod(recovery_watch)
    assert result.failed == 0 and result.attempted > 0


def test_a_slow_but_moving_recovery_is_never_restarted():
    watch = RecoveryWatch(stall_seconds=60)
    assert not any(watch.stalled(now=t, remaining=10_000 - t) for t in range(0, 600, 5))


def test_a_stalled_recovery_is_restarted_once_a_period_until_it_moves():
    watch = RecoveryWatch(stall_seconds=60)
    verdicts = [watch.stalled(now=t, remaining=208) for t in range(0, 300, 5)]
    assert [t for t, stalled in zip(range(0, 300, 5), verdicts) if stalled] == [65, 130, 195, 260]
    assert not watch.stalled(now=300, remaining=400)  # the restarted recovery reads from the start


def test_no_recovery_is_never_stalled():
    watch = RecoveryWatch(stall_seconds=60)
    assert not any(watch.stalled(now=t, remaining=0) for t in range(0, 600, 5))
