"""Scale-out and broker outage against the real broker: two workers share the
partitions and hand them over without loss; a worker outlives a broker outage,
raises ingest_stall during it and catches up afterwards."""
from __future__ import annotations

import pytest

from tests.harness import ORGANIC, backtest_alerts, produce, read_alerts, scenario_lines, wait_for
from tests.reliability.common import (FALLUJAH, expected_history, live_history, reference, wait_for_alerts,
                                      wait_for_history)

# several minutes each, and not yet passing on noida-db: in `make soak`, not CI
pytestmark = [pytest.mark.broker, pytest.mark.soak]


def test_two_workers_equal_one_and_hand_over_without_loss(broker, start_worker):
    lines = scenario_lines("organic_emerging", **ORGANIC)
    half = len(lines) // 2
    first, second = start_worker("w1"), start_worker("w2")
    produce(broker.bootstrap, lines[:half])
    # both own partitions: each tracks tags
    wait_for(lambda: first.metric("rasd_tracked_tags") > 0 and second.metric("rasd_tracked_tags") > 0, 180,
             what="both workers to own tag partitions")
    wait_for(lambda: live_history([first, second], FALLUJAH), 120, what="the tag to be counted")
    second.stop()  # a clean leave: its partitions move to the first worker
    produce(broker.bootstrap, lines[half:])

    wait_for_history([first], FALLUJAH, expected_history(reference(lines), FALLUJAH), 300)
    wait_for_alerts(broker.bootstrap, backtest_alerts(lines), 120)


def test_broker_outage_raises_ingest_stall_then_catches_up(broker, start_worker, workdir):
    config = workdir / "stall.toml"
    config.write_text("[outage]\nstall_after_seconds = 8.0\n", encoding="utf-8")
    lines = scenario_lines("quiet_day", rate=30.0, hours=1.0)
    half = len(lines) // 2
    pipe = reference(lines)
    key = max(pipe.tags.states, key=lambda k: sum(p for p, _ in pipe.tags.states[k].history.values()))
    worker = start_worker(extra_env={"RASD_DETECTOR_CONFIG": str(config)})
    produce(broker.bootstrap, lines[:half])
    wait_for(lambda: worker.metric("rasd_posts_ingested_total") >= half, 120, what="the first half ingested")

    broker.stop()
    wait_for(lambda: worker.metric("rasd_alerts_firing", kind="ingest_stall") == 1, 90,
             what="ingest_stall while the broker is down")
    assert worker.get_json("/healthz")["ok"]
    broker.start()
    produce(broker.bootstrap, lines[half:])

    wait_for(lambda: worker.metric("rasd_posts_ingested_total") >= len(lines), 180, what="catching up")
    wait_for_history([worker], key, expected_history(pipe, key), 180)
    stalls = wait_for(lambda: [a for a in read_alerts(broker.bootstrap) if a["kind"] == "ingest_stall"], 60,
                      what="the ingest_stall record on the alerts topic")
    assert stalls[0]["status"] == "firing"
