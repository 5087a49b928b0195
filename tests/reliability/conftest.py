"""Reliability tests: the worker against a real broker under crashes,
rebalances, broker outages, hostile input and floods.  Long runs are marked
``soak`` (``make soak``); ``make test`` excludes them."""
from __future__ import annotations


def pytest_configure(config):
    config.addinivalue_line("markers", "soak: long reliability run, only in `make soak`")
