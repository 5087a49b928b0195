"""The worker's idle timer asks the consumer how far each tag/shard partition
goes; after a rebalance the stages still hold partitions the worker no longer
owns, and aiokafka asserts on those (seen with two workers on the live bench:
the uncaught error stopped a worker)."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.harness import REPO

PROBE = """
from streams import app as worker

class Revoked:
    def highwater(self, tp):
        raise AssertionError("Partition is not assigned")  # what aiokafka raises

worker.app.consumer = Revoked()
worker.taken_offsets[worker.tag_hits_topic.get_topic_name(), 3] = 10
print(worker.has_backlog(worker.tag_hits_topic, 3))
"""


def test_a_partition_taken_away_by_a_rebalance_is_not_moved_on(tmp_path):
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO), "RASD_DATA_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True"]


GATE_PROBE = """
import time
from detectors.windows import MinuteGate
from streams import app as worker

class Consumer:
    highwater_of = 0
    def highwater(self, tp):
        return self.highwater_of

worker.app.consumer = consumer = Consumer()
topic = worker.platform_minutes_topic
now = time.time()
for backlog in (True, False):
    gate = MinuteGate(sources=4, progress={0: 1463893980.0, 1: 1463893740.0, 2: 1463893740.0, 3: 1463893740.0})
    for source in range(4):  # replayed history: every report a few minutes old (wall clock)
        worker.report_wall["platforms", source] = now - 10 * worker.settings.idle_close_seconds
    worker.taken_offsets[topic.get_topic_name(), 0] = 41
    consumer.highwater_of = 60 if backlog else 42
    worker.exclude_quiet_sources("platforms", gate, topic, now)
    print(sorted(gate.excluded), gate.ready_before())
"""


def test_a_global_stage_behind_on_its_reports_does_not_call_upstream_quiet(tmp_path):
    """The likely cause of an outage that was not there, seen once in CI (load
    high, the worker slow): a platforms stage that takes no report for two idle
    periods because it is busy, not because upstream is silent, excluded every
    partition, and the one ahead released minutes before the others reported
    them.  Reports waiting unread mean nobody is quiet yet."""
    out = subprocess.run([sys.executable, "-c", GATE_PROBE], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO), "RASD_DATA_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-2000:]
    behind, read_up = out.stdout.splitlines()
    assert behind == "[] 1463893740.0"  # waits for the partitions behind
    assert read_up == "[0, 1, 2, 3] 1463893980.0"  # all read and silent: a finished replay moves on
