"""The worker writes changed tag and shard states back only when Faust is about
to commit offsets (``CheckpointSensor``), and a held first hit's deletion only
with them (``HeldHits``).  The broker-level proof is the crash-recovery suite;
these check the write-back's own rules, in a fresh process (the app module
builds a Faust app on import)."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.harness import REPO

PROBE = """
from types import SimpleNamespace
from streams import app as worker

# held hits: a deletion is seen at once, reaches the table only at flush
table = {"a": b"1", "b": b"2"}
held = worker.HeldHits(table)
del held["a"]
print("a" in held, "a" in table, sorted(held), len(held))
try:
    del held["a"]
except KeyError:
    print("KeyError")
held["a"] = b"3"          # held again before the flush: the deletion is void
del held["b"]
held.flush()
print(sorted(table.items()), held.deleted)

# the sensor Faust calls before committing offsets writes back what changed, then the deletions
written = []
class Table(dict):
    def __setitem__(self, key, value):
        written.append(key)
        super().__setitem__(key, value)
    def pop(self, key, default=None):
        written.append("-" + key)
        return super().pop(key, default)

worker.tag_table, worker.shard_table = Table(), Table()
worker.tags = SimpleNamespace(dirty={"k", "evicted"}, states={"k": "state of k"}, watermarks={})
worker.shards = SimpleNamespace(dirty={"twitter/0"}, states={"twitter/0": "shard"}, watermarks={})
worker.held_hits = worker.HeldHits(Table(k=b"first hit"))
del worker.held_hits["k"]
sensor = next(s for s in worker.app.sensors if isinstance(s, worker.CheckpointSensor))
sensor.on_commit_initiated(None)
print(written, worker.tags.dirty, worker.shards.dirty)
"""


def test_states_are_written_back_before_a_commit_and_held_hits_deleted_after_them(tmp_path):
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO), "RASD_DATA_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == [
        "False True ['b'] 1",
        "KeyError",
        "[('a', b'3')] set()",
        # the evicted tag is not written; the tag's state precedes its held hit's tombstone
        "['k', '-k', 'twitter/0'] set() set()",
    ]


VIEW_PROBE = """
import faust
from streams import app as worker
from streams.changelog import CHANGELOG

gets = []
class Counting(faust.Sensor):
    def on_table_get(self, table, key):
        gets.append(key)
worker.app.sensors.add(Counting())

view = worker.tags.states
view["k"] = "state of k"
print(view.get("k"), "k" in view, view["k"], len(view), list(view), list(view.items()), gets)
print(worker.tag_table["k"], gets)  # (Faust's own read, for the record: sensed)
print(CHANGELOG.pending["tag-state"])
del view["k"]
print(view.get("k"), "k" in view, dict(worker.tag_table.data.data), CHANGELOG.pending["tag-state"])
"""


def test_stages_read_their_tables_directly_and_write_through_them(tmp_path):
    out = subprocess.run([sys.executable, "-c", VIEW_PROBE], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO), "RASD_DATA_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0] == "state of k True state of k 1 ['k'] [('k', 'state of k')] []"
    assert lines[1] == "state of k ['k']"
    pending = eval(lines[2])  # {(partition, key): value} recorded for the next changelog flush
    (partition, key), = pending
    assert key == "k" and pending[partition, key] == "state of k"
    assert lines[3] == f"None False {{}} {{({partition}, 'k'): None}}"
