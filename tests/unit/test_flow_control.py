"""Correction 3 of streams/kafka_client.py: resuming flow that is already
active keeps what the stream queues hold (records fetched after the seek)."""
from __future__ import annotations

from mode.utils.queues import FlowControlEvent, FlowControlQueue

from streams import kafka_client


def queue_after(*steps: str) -> list:
    kafka_client.install()
    flow = FlowControlEvent()
    queue = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    for step in steps:
        if step == "put":
            queue.put_nowait("record")
        else:
            getattr(flow, step)()
    return [queue.get_nowait() for _ in range(queue.qsize())]


def test_resuming_active_flow_keeps_queued_records():
    # Faust's recovery: resume (changelogs), seek stream partitions, a record is queued, resume again
    assert queue_after("resume", "put", "resume") == ["record"]


def test_resuming_suspended_flow_drops_records_queued_before_the_suspension():
    assert queue_after("put", "suspend", "resume") == []
