"""Fixtures that start real parts: the embedded Kafka-protocol broker and
Rasd worker processes."""
from __future__ import annotations

import shutil

import pytest

from tests.harness import (ORGANIC, Worker, produce, read_alerts, scenario_lines, start_broker, temp_dir,
                           wait_for)


@pytest.fixture
def workdir():
    path = temp_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def broker():
    broker = start_broker()
    yield broker
    broker.stop()
    broker.remove()


@pytest.fixture
def start_worker(broker, workdir):
    """Start workers on the test's broker; all are stopped at the end."""
    workers: list[Worker] = []

    def start(name: str = "w1", **kwargs) -> Worker:
        worker = Worker(broker.bootstrap, workdir, name=name, **kwargs).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    assert_no_crashes([line for worker in workers for line in worker.crashes()])


@pytest.fixture(scope="module")
def live_worker():
    """A worker fed by the embedded broker with a scenario that fires an
    emerging alert; kept running for the module (Prometheus scrapes it)."""
    workdir = temp_dir("rasd-live-")
    broker = start_broker()
    worker = Worker(broker.bootstrap, workdir, name="live").start()
    try:
        produce(broker.bootstrap, scenario_lines("organic_emerging", **ORGANIC) +
                [b"{not json", b'{"id": "x"}'])
        wait_for(lambda: any(a["status"] == "firing" for a in read_alerts(broker.bootstrap)), 240,
                 what="a firing alert from the live worker")
        wait_for(lambda: worker.metric("rasd_alerts_firing") > 0, 60, what="rasd_alerts_firing > 0")
        worker.broker = broker
        yield worker
    finally:
        worker.stop()
        crashes = worker.crashes()
        broker.stop()
        broker.remove()
        shutil.rmtree(workdir, ignore_errors=True)
    assert_no_crashes(crashes)


def assert_no_crashes(crashes: list[str]) -> None:
    """Every broker test also fails if an agent of its workers crashed."""
    assert not crashes, "agents crashed:\n" + "\n".join(crashes[:5])
