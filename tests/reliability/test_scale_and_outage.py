"""Scale-out and broker outage against the real broker: two workers share the
partitions and hand them over without loss while input keeps flowing, even when
the table recovery stalls on the way; a worker outlives a broker outage, raises
ingest_stall during it and catches up afterwards with the same counts as a
backtest."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from streams.ingest import group_id
from tests.harness import ORGANIC, REPO, Feed, backtest_alerts, read_alerts, scenario_lines, wait_for
from tests.reliability.common import (FALLUJAH, expected_history, group_members, reference, wait_for_alerts,
                                      wait_for_history)

pytestmark = pytest.mark.broker

STALL_HOOK = Path(__file__).parent / "stalled_recovery"
GROUP = group_id("rasd-test")  # the posts consumer's, for the harness's app id
# a replay quiet this long with the broker up is over; twice the harness's 10 s,
# so a producer starved of CPU on a loaded machine is not taken for the end of input
IDLE_CLOSE_SECONDS = 20.0


def posts_partitions(bootstrap: str) -> list[list[int]]:
    """Per group member, the input partitions it owns."""
    return sorted(assignment.get("posts", []) for assignment in group_members(bootstrap, GROUP).values())


def hand_over(broker, start_worker, first_env: dict | None = None):
    """Two workers share the input, the second leaves mid-stream; the first ends
    with the backtest's counts and alerts."""
    lines = scenario_lines("organic_emerging", **ORGANIC)
    first, second = start_worker("w1", extra_env=first_env), start_worker("w2")
    wait_for(lambda: [len(owned) for owned in posts_partitions(broker.bootstrap)] == [2, 2], 120,
             what="the two workers to share the posts partitions")
    feed = Feed(broker.bootstrap, lines, seconds=60)
    feed.start()
    wait_for(lambda: first.metric("rasd_tracked_tags") > 0 and second.metric("rasd_tracked_tags") > 0, 120,
             what="both workers to count tags")
    second.stop()  # a clean leave mid-stream: its partitions and state move to the first worker
    feed.join()
    wait_for(lambda: posts_partitions(broker.bootstrap) == [[0, 1, 2, 3]], 120,
             what="the first worker to own every partition")

    wait_for_history([first], FALLUJAH, expected_history(reference(lines), FALLUJAH), 300)
    wait_for_alerts(broker.bootstrap, backtest_alerts(lines), 120)
    return first


def test_two_workers_equal_one_and_hand_over_without_loss(broker, start_worker):
    hand_over(broker, start_worker)


def test_a_stalled_recovery_is_restarted_and_the_hand_over_completes(broker, start_worker):
    """The first worker's recovery after the second leaves waits for good on a
    changelog record (the hook in ``stalled_recovery/``): it rejoins the group,
    recovers again and still ends with the backtest's counts and alerts."""
    first = hand_over(broker, start_worker, first_env={
        "PYTHONPATH": os.pathsep.join([str(STALL_HOOK), str(REPO)]),
        "RASD_TEST_STALL_GENERATION": "3",
        "RASD_RECOVERY_STALL_SECONDS": "10"})
    assert first.metric("rasd_recovery_restarts_total") >= 1
    assert "the fetch loop now waits for good" in first.log_path.read_text()


def test_broker_outage_raises_ingest_stall_then_catches_up(broker, start_worker, workdir):
    config = workdir / "stall.toml"
    config.write_text("[outage]\nstall_after_seconds = 8.0\n", encoding="utf-8")
    lines = scenario_lines("quiet_day", rate=30.0, hours=1.0)
    pipe = reference(lines)
    busiest = sorted(pipe.tags.states, key=lambda k: -sum(p for p, _ in pipe.tags.states[k].history.values()))[:5]
    worker = start_worker(extra_env={"RASD_DETECTOR_CONFIG": str(config),
                                     "RASD_IDLE_CLOSE_SECONDS": str(IDLE_CLOSE_SECONDS)})
    # input flows until the broker goes and again once it is back (a pause while
    # the broker is up would look like the end of a replay: the worker closes it)
    feed = Feed(broker.bootstrap, lines, seconds=30)
    feed.start()
    wait_for(lambda: feed.sent >= len(lines) // 2, 60, what="the first half sent")
    # ingest_stall is judged by the platform stage: it must have started
    wait_for(lambda: worker.get_json("/api/platforms")["observed"], 60, what="platform volumes")
    feed.hold()
    broker.stop()  # hits and table writes of the last batches may still be unsent
    wait_for(lambda: worker.metric("rasd_alerts_firing", kind="ingest_stall") == 1, 90,
             what="ingest_stall while the broker is down")
    assert worker.get_json("/healthz")["ok"]
    # outlast the idle threshold: input the worker cannot see must not count as quiet
    time.sleep(2 * IDLE_CLOSE_SECONDS)
    broker.start()
    feed.release()
    feed.join()
    # a replay quiet for the idle threshold with the broker up is over by design:
    # its later posts are late.  The outage itself must not count as quiet.
    assert feed.resumed_after < IDLE_CLOSE_SECONDS / 2, f"the feed took {feed.resumed_after:.1f} s to resume"

    for key in busiest:
        wait_for_history([worker], key, expected_history(pipe, key), 180)
    stalls = wait_for(lambda: [a for a in read_alerts(broker.bootstrap) if a["kind"] == "ingest_stall"], 60,
                      what="the ingest_stall record on the alerts topic")
    assert stalls[0]["status"] == "firing"
