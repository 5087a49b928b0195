"""AlertmanagerPusher against a real Alertmanager running the repo's config."""

import asyncio

import pytest

import promstack
from streams.alertmanager import AlertmanagerPusher

pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.skipif(promstack.ALERTMANAGER is None, reason="alertmanager not installed"),
]

EPISODE = {
    "kind": "counter_campaign",
    "severity": "critical",
    "subject": "#حملة_مضادة",
    "summary": "Counter-campaign against #حملة_مضادة",
    "id": "cc-7",
    "status": "firing",
    "at": "2024-05-01T10:03:00Z",
    "started_at": "2024-05-01T10:00:00Z",
    "score": 9.5,
    "observed": 340,
    "expected": 20,
    "evidence": {},
}


@pytest.fixture
def alertmanager(tmp_path):
    daemon = promstack.start_alertmanager(tmp_path)
    yield daemon
    daemon.stop()


def am_alerts(daemon):
    return promstack.http_json(daemon.url + "/api/v2/alerts")[1]


def test_pushed_alert_appears_then_resolves(alertmanager):
    async def scenario():
        pusher = AlertmanagerPusher(alertmanager.url, board_url="http://board.test:6066")
        try:
            await pusher.push([EPISODE])
            firing = await asyncio.to_thread(
                promstack.wait_until, lambda: am_alerts(alertmanager), timeout=10, what="pushed alert"
            )
            # A resolve record may omit fields; the pusher reuses the firing labels.
            await pusher.push([{"id": "cc-7", "kind": "counter_campaign", "status": "resolved", "at": "2024-05-01T10:20:00Z"}])
            await asyncio.to_thread(
                promstack.wait_until, lambda: am_alerts(alertmanager) == [], timeout=10, what="alert resolved"
            )
            return firing
        finally:
            await pusher.close()

    [alert] = asyncio.run(scenario())
    assert alert["labels"] == {
        "alertname": "RasdCounterCampaign",
        "kind": "counter_campaign",
        "severity": "critical",
        "rasd_id": "cc-7",
        "team": "rasd",
    }
    assert alert["annotations"] == {
        "subject": "#حملة_مضادة",
        "summary": "Counter-campaign against #حملة_مضادة",
        "evidence_url": "http://board.test:6066/alerts/cc-7",
        "observed": "340",
        "expected": "20",
        "score": "9.5",
    }
    assert alert["startsAt"].startswith("2024-05-01T10:00:00")
    assert alert["status"]["state"] == "active"
    assert [r["name"] for r in alert["receivers"]] == ["rasd-critical"]


def test_pushed_episode_inhibits_the_metric_fallback(alertmanager):
    fallback = {
        "labels": {"alertname": "RasdDetectorAlertFiring", "kind": "emerging", "severity": "warning", "team": "rasd"},
        "annotations": {"summary": "1 Rasd emerging alert(s) firing (warning)"},
    }
    episode = {**EPISODE, "kind": "emerging", "severity": "warning", "id": "em-1"}
    status, _ = promstack.http_json(alertmanager.url + "/api/v2/alerts", [fallback])
    assert status == 200

    async def push():
        pusher = AlertmanagerPusher(alertmanager.url)
        await pusher.push([episode])
        await pusher.close()

    asyncio.run(push())

    def fallback_inhibited():
        alerts = {a["labels"]["alertname"]: a for a in am_alerts(alertmanager)}
        return "RasdEmerging" in alerts and alerts["RasdDetectorAlertFiring"]["status"]["inhibitedBy"]

    promstack.wait_until(fallback_inhibited, timeout=10, what="fallback inhibited")
