"""Platform outages and ingest stalls (issue 5) on labelled presets, through
the in-process Pipeline (the backtest).

Rates are modest and warm-ups short so each case stays under about a minute
on a shared 2-core machine; the start times put the events where the daily
curve makes them hardest (the evening decline, the night minimum)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import orjson
import pytest

from detectors.config import DetectorConfig
from detectors.pipeline import run_lines
from scenarios.generator import parse_iso_utc
from scenarios.presets import PRESETS, WATCHED_TAG

PLATFORM_KINDS = ("outage", "ingest_stall")


def platform_alerts(scenario) -> list:
    config = DetectorConfig.from_dict({"watched": [WATCHED_TAG]})
    alerts = run_lines([orjson.dumps(p) for p in scenario.posts], config)
    return [a for a in alerts if a.kind in PLATFORM_KINDS]


def window(label: dict) -> tuple[float, float]:
    return parse_iso_utc(label["onset"]).timestamp(), parse_iso_utc(label["end"]).timestamp()


def test_three_hour_collapse_of_facebook_and_instagram_fires_outage_for_both_only():
    # onset 18:40 Baghdad time, four hours of warm-up before it
    scenario = PRESETS["platform_outage"](start=datetime(2016, 5, 22, 10, tzinfo=timezone.utc),
                                          warmup_hours=4, rate=40)
    onset, end = window(scenario.labels[0])
    alerts = platform_alerts(scenario)

    assert Counter((a.kind, a.subject, a.status) for a in alerts) == Counter({
        ("outage", "facebook", "firing"): 1, ("outage", "facebook", "resolved"): 1,
        ("outage", "instagram", "firing"): 1, ("outage", "instagram", "resolved"): 1})
    for alert in alerts:
        evidence = alert.evidence
        if alert.status == "firing":
            assert onset < alert.at <= onset + 10 * 60
            assert onset - 60 <= alert.started_at <= onset + 60
            assert alert.severity == "critical" and alert.observed < 0.2 * alert.expected
            assert evidence["drop_ratio"] < 0.15 and evidence["cause"] == "drop"
            # observed vs expected for every minute of the episode so far
            assert len(evidence["minutes"]) == evidence["duration_minutes"] >= 4
            assert all(observed < 0.3 * expected for _, observed, expected in evidence["minutes"])
        else:
            assert end <= alert.at <= end + 10 * 60
            assert 170 <= evidence["duration_minutes"] <= 190
            assert evidence["alert_area"] > 150 and evidence["drop_ratio"] < 0.15
            # the displaced traffic shows on the platforms that stayed up
            assert {r["platform"] for r in evidence["rising"]} == {"twitter", "telegram"}
    firing = {a.subject: a for a in alerts if a.status == "firing"}
    assert firing["instagram"].related == [firing["facebook"].id]


def test_twelve_minute_total_gap_is_an_ingest_stall_and_no_outage():
    scenario = PRESETS["ingest_gap"](warmup_hours=3, rate=40)
    onset, end = window(scenario.labels[0])
    alerts = platform_alerts(scenario)

    assert [(a.kind, a.status) for a in alerts] == [("ingest_stall", "firing"), ("ingest_stall", "resolved")]
    fired, resolved = alerts
    assert onset < fired.at <= onset + 5 * 60 and fired.evidence["reason"] == "no posts"
    assert end <= resolved.at <= end + 10 * 60 and resolved.id == fired.id
    assert 11 <= resolved.evidence["duration_minutes"] <= 13


@pytest.mark.parametrize("seed", [2016, 7])
def test_a_quiet_evening_and_night_fire_nothing(seed):
    # 18:00 to 06:00 Baghdad time: the evening decline and the night minimum,
    # where a baseline that lags the daily curve would call a platform down
    scenario = PRESETS["quiet_day"](seed=seed, start=datetime(2016, 5, 22, 15, tzinfo=timezone.utc),
                                    hours=12, rate=30)
    assert platform_alerts(scenario) == []
