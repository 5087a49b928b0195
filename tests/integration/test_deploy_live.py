"""Prometheus + Alertmanager against a live worker.

`live_worker` (tests/conftest.py) is a worker fed by the embedded broker that
has processed a scenario: nonzero ingest counters and at least one firing
detector alert. It exposes `.metrics_url`, `.host_port` and `.web_url`.
"""

import re
import urllib.request

import pytest

import promstack

pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.skipif(
        not (promstack.PROMETHEUS and promstack.ALERTMANAGER), reason="prometheus / alertmanager not installed"
    ),
]

# Panels whose series legitimately do not exist after a clean scenario:
# nothing rejected or late, no rule alert firing, no alert fired in the last minute.
MAY_BE_EMPTY = ("DLQ", "Late events", "Ops alerts", "annotation")


@pytest.fixture
def stack(live_worker, tmp_path):
    with promstack.PromStack(tmp_path, [live_worker.host_port], rule_for="3s") as stack:
        stack.wait_targets_up()
        yield stack


def test_worker_exposes_every_documented_metric(live_worker):
    with urllib.request.urlopen(live_worker.metrics_url, timeout=10) as resp:
        text = resp.read().decode()
    declared = dict(re.findall(r"^# TYPE (\w+) (\w+)$", text, re.M))
    # client_python declares counters without `_total` in the TYPE line.
    declared |= {f"{name}_total": "counter" for name, kind in declared.items() if kind == "counter"}
    for name, kind in promstack.WORKER_METRICS.items():
        assert declared.get(name) == kind, f"{name} ({kind}) not exposed"


def test_dashboard_queries_return_data(stack):
    # rate() needs two scrapes in its window; give the 1s scrapes a moment.
    promstack.wait_until(
        lambda: stack.query('sum(rate(rasd_posts_ingested_total{job="rasd"}[1m])) >= 0'), what="two scrapes"
    )
    empty = [
        f"{where}: {expr}"
        for where, expr in promstack.dashboard_queries()
        if not any(tag in where for tag in MAY_BE_EMPTY) and not stack.query(expr)
    ]
    assert not empty, "\n".join(empty)
    ingested = stack.query('sum(rasd_posts_ingested_total{job="rasd"})')
    assert float(ingested[0]["value"][1]) > 0


def test_detector_alert_goes_pending_then_firing_and_reaches_alertmanager(stack):
    firing_series = stack.query('rasd_alerts_firing{job="rasd"} > 0')
    assert firing_series, "live_worker should have a firing detector alert"
    wanted = {(s["metric"]["kind"], s["metric"]["severity"]) for s in firing_series}

    def prometheus_firing():
        return {
            (a["labels"]["kind"], a["labels"]["severity"])
            for a in stack.rule_alerts()
            if a["labels"]["alertname"] == "RasdDetectorAlertFiring" and a["state"] == "firing"
        } >= wanted

    promstack.wait_until(prometheus_firing, timeout=30, what="RasdDetectorAlertFiring firing")
    # Prometheus records an ALERTS series for each state the alert went through.
    assert stack.query('count_over_time(ALERTS{alertname="RasdDetectorAlertFiring",alertstate="pending"}[5m])')

    def in_alertmanager():
        return {
            (a["labels"]["kind"], a["labels"]["severity"])
            for a in stack.am_alerts()
            if a["labels"]["alertname"] == "RasdDetectorAlertFiring"
        } >= wanted

    promstack.wait_until(in_alertmanager, timeout=30, what="alert in Alertmanager")
    for alert in stack.am_alerts():
        if alert["labels"]["alertname"] == "RasdDetectorAlertFiring":
            assert alert["labels"]["team"] == "rasd"
            assert f"Rasd {alert['labels']['kind']} alert(s) firing" in alert["annotations"]["summary"]
            assert alert["annotations"]["dashboard"].endswith("/d/rasd-overview/rasd-overview")

    names = {a["labels"]["alertname"] for a in stack.rule_alerts()}
    assert not names & {"RasdWorkerDown", "RasdWorkerAbsent"}
