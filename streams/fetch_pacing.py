"""Long-poll on the client side: an aiokafka fetcher that got nothing back
waits before asking again.

A Kafka broker holds a fetch for up to ``fetch_max_wait_ms`` until data
arrives, so a consumer that is caught up sends a few requests a second.  The
embedded broker (noida-db 0.2.3) answers at once with nothing, and aiokafka
then asks again at once: each caught-up consumer spins at thousands of
requests a second, and a worker has several (Faust's, the alert board's, the
mutes').  Measured on the bench machine: ~3 400 requests/s and half a core
per idle consumer; during the live bench ~57 % of the worker's samples were
in writing those requests.

:func:`install` wraps ``Fetcher._proc_fetch_request``: after a response
without records, the fetcher keeps that node busy for what remains of
``min(fetch_max_wait_ms, pause)`` since the request was sent.  Against a
real broker an empty answer comes only after the broker's own wait, so
nothing changes there; a fetch that returns records is never delayed.
"""
from __future__ import annotations

import asyncio
import time

from aiokafka.consumer.fetcher import Fetcher

EMPTY_FETCH_PAUSE = 0.1  # seconds: ≤ 10 empty fetches a second per node; adds ≤ 0.1 s per hop when idle


def install(pause: float = EMPTY_FETCH_PAUSE) -> None:
    """Make every aiokafka consumer in this process pause after an empty fetch."""
    original = getattr(Fetcher._proc_fetch_request, "__wrapped__", Fetcher._proc_fetch_request)
    Fetcher._proc_fetch_request = paced(original, pause)


def paced(proc_fetch_request, pause: float):
    """``Fetcher._proc_fetch_request`` that, having got no records, keeps the
    node busy until ``min(fetch_max_wait_ms, pause)`` after the request."""
    async def paced_fetch_request(self, assignment, node_id, request):
        sent = time.monotonic()
        got_records = await proc_fetch_request(self, assignment, node_id, request)
        if got_records or self._closed or not assignment.active:
            return got_records
        rest = min(self._fetch_max_wait_ms / 1000, pause) - (time.monotonic() - sent)
        if rest > 0:
            try:
                await asyncio.sleep(rest)
            except asyncio.CancelledError:  # closing or unassigned: the result no longer matters
                return False
        return got_records

    paced_fetch_request.__wrapped__ = proc_fetch_request
    return paced_fetch_request
