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
