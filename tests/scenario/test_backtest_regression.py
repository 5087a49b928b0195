"""The backtest's alerts on every scenario preset, held to a reviewed record.

Speed work on the hot path (issue 9) must not change a single alert: each
preset is backtested at its defaults and every alert is compared with
``backtest_alerts.json`` (its identity, timing and figures, and a digest of
its evidence).  A deliberate change of detection updates the record:

    RASD_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/scenario/test_backtest_regression.py
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import orjson
import pytest

from detectors.pipeline import run_lines
from scenarios.presets import PRESETS

GOLDEN = Path(__file__).with_name("backtest_alerts.json")
NOW = 1_700_000_000.0  # wall clock of the run: only rejects posts from the future


def alert_record(alert: dict) -> list:
    evidence = orjson.dumps(alert["evidence"], option=orjson.OPT_SORT_KEYS)
    return [alert["id"], alert["kind"], alert["status"], alert["subject"], alert["at"], alert["started_at"],
            alert["severity"], alert["score"], alert["observed"], alert["expected"], alert["related"],
            hashlib.sha256(evidence).hexdigest()[:16]]


def backtest_records(preset: str) -> list[list]:
    lines = [orjson.dumps(post) for post in PRESETS[preset]().posts]
    return [alert_record(a.to_json()) for a in run_lines(lines, now=NOW)]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_backtest_alerts_are_unchanged(preset):
    found = backtest_records(preset)
    golden = orjson.loads(GOLDEN.read_bytes()) if GOLDEN.exists() else {}
    if os.environ.get("RASD_UPDATE_GOLDEN"):
        golden[preset] = found
        GOLDEN.write_bytes(orjson.dumps(golden, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    assert preset in golden, "no record yet: run with RASD_UPDATE_GOLDEN=1"
    assert found == golden[preset]
