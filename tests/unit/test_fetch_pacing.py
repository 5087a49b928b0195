"""The client-side long-poll of aiokafka's fetcher (``streams.fetch_pacing``),
without a broker: which fetches wait, and how long."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aiokafka.consumer.fetcher import Fetcher

from streams import fetch_pacing


@pytest.fixture
def pauses(monkeypatch) -> list[float]:
    """The sleeps asked for, instead of sleeping."""
    asked: list[float] = []

    async def sleep(seconds):
        asked.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    return asked


def fetch_after(got_records: bool, max_wait_ms: int = 500, closed: bool = False, active: bool = True) -> None:
    """Run a paced fetch whose request answers ``got_records`` at once."""

    async def answer(self, assignment, node_id, request):
        return got_records

    async def run():
        fetcher = SimpleNamespace(_closed=closed, _fetch_max_wait_ms=max_wait_ms)
        return await fetch_pacing.paced(answer, pause=0.1)(fetcher, SimpleNamespace(active=active), 0, None)

    assert asyncio.run(run()) is got_records


def test_an_empty_fetch_waits_before_the_next_one(pauses):
    fetch_after(got_records=False)
    assert len(pauses) == 1 and 0.09 < pauses[0] <= 0.1


def test_a_consumer_asking_for_a_shorter_wait_waits_that_long(pauses):
    fetch_after(got_records=False, max_wait_ms=20)
    assert len(pauses) == 1 and 0.0 < pauses[0] <= 0.02


def test_records_closing_or_a_lost_assignment_never_wait(pauses):
    fetch_after(got_records=True)
    fetch_after(got_records=False, closed=True)
    fetch_after(got_records=False, active=False)
    assert pauses == []


def test_installing_twice_wraps_aiokafka_once():
    fetch_pacing.install()
    fetch_pacing.install()
    wrapped = Fetcher._proc_fetch_request.__wrapped__
    assert not hasattr(wrapped, "__wrapped__") and wrapped.__qualname__ == "Fetcher._proc_fetch_request"
