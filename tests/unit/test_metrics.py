"""The worker's metrics: promtool-clean names, bounded labels."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from detectors.alerts import Alert
from streams import metrics
from streams.config import KNOWN_PLATFORMS, platform_label


def _alert(status: str, kind: str = "emerging", severity: str = "warning") -> Alert:
    return Alert(id="emerging-1", kind=kind, status=status, subject="#الفلوجة_تتحرر", key="الفلوجهتتحرر",
                 at=0.0, started_at=0.0, score=9.0, severity=severity, observed=40, expected=2, summary="s")


def test_firing_gauge_follows_episodes():
    before = metrics.ALERTS_FIRING.labels("emerging", "warning")._value.get()
    metrics.record_alert(_alert("firing"))
    assert metrics.ALERTS_FIRING.labels("emerging", "warning")._value.get() == before + 1
    metrics.record_alert(_alert("resolved"))
    assert metrics.ALERTS_FIRING.labels("emerging", "warning")._value.get() == before


def test_platform_label_is_bounded():
    assert platform_label("facebook") == "facebook"
    assert platform_label("some-new-network") == "other"
    assert set(map(platform_label, ["a", "b", "twitter"])) <= set(KNOWN_PLATFORMS) | {"other"}


def test_no_hashtag_or_author_ever_becomes_a_label_value():
    metrics.record_alert(_alert("firing", kind="counter_campaign", severity="critical"))
    metrics.record_trending([{"score": 7.5, "subject": "#الفلوجة_تتحرر"}])
    text = metrics.exposition().decode()
    assert "الفلوج" not in text
    assert 'rasd_trending_score{rank="1"} 7.5' in text


def test_every_stage_has_a_messages_taken_series_from_the_start():
    text = metrics.exposition().decode()
    for stage in ("ingest", "tags", "shards", "summaries", "platforms"):
        assert f'rasd_messages_taken_total{{stage="{stage}"}}' in text


def test_sync_counter_only_moves_forward():
    metrics.sync_counter(metrics.LATE_EVENTS, 5, "unit")
    metrics.sync_counter(metrics.LATE_EVENTS, 3, "unit")
    metrics.sync_counter(metrics.LATE_EVENTS, 8, "unit")
    assert metrics.LATE_EVENTS.labels("unit")._value.get() == 8


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_check_metrics_is_clean():
    metrics.record_lag("ingest", 0.0)
    metrics.DETECTOR_DURATION.labels("emerging").observe(0.01)
    result = subprocess.run(["promtool", "check", "metrics"], input=metrics.exposition(),
                            capture_output=True)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
