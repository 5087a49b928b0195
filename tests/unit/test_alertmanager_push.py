import asyncio

import pytest

from streams.alertmanager import PUSH_ERRORS, AlertmanagerPusher, alertname, to_am_payload

FIRING = {
    "kind": "counter_campaign",
    "severity": "critical",
    "subject": "#حملة",
    "summary": "Counter-campaign against #حملة",
    "id": "cc-42",
    "status": "firing",
    "at": "2024-05-01T10:03:00+00:00",
    "started_at": "2024-05-01T10:00:00Z",
    "score": 7.25,
    "observed": 120,
    "expected": 12.5,
    "evidence": {"top_accounts": ["a", "b"]},
}


@pytest.mark.parametrize(
    "kind, name",
    [
        ("emerging", "RasdEmerging"),
        ("counter_campaign", "RasdCounterCampaign"),
        ("outage", "RasdOutage"),
        ("ingest_stall", "RasdIngestStall"),
        ("fragmentation", "RasdFragmentation"),
    ],
)
def test_alertname_is_camel_case_kind(kind, name):
    assert alertname(kind) == name


def test_firing_payload():
    payload = to_am_payload(FIRING, board_url="http://board.example:6066/")
    assert payload == {
        "labels": {
            "alertname": "RasdCounterCampaign",
            "kind": "counter_campaign",
            "severity": "critical",
            "rasd_id": "cc-42",
            "team": "rasd",
        },
        "annotations": {
            "subject": "#حملة",
            "summary": "Counter-campaign against #حملة",
            "evidence_url": "http://board.example:6066/alerts/cc-42",
            "observed": "120",
            "expected": "12.5",
            "score": "7.25",
        },
        "startsAt": "2024-05-01T10:00:00Z",
        "generatorURL": "http://board.example:6066/alerts/cc-42",
    }


def test_subject_is_never_a_label():
    labels = to_am_payload(FIRING)["labels"]
    assert "#حملة" not in labels.values()
    assert set(labels) == {"alertname", "kind", "severity", "rasd_id", "team"}


def test_resolved_payload_keeps_labels_and_ends():
    resolved = {**FIRING, "status": "resolved", "at": "2024-05-01T10:30:00"}
    payload = to_am_payload(resolved)
    assert payload["labels"] == to_am_payload(FIRING)["labels"]
    assert payload["startsAt"] == "2024-05-01T10:00:00Z"
    assert payload["endsAt"] == "2024-05-01T10:30:00Z"  # naive times are UTC


def test_firing_payload_has_no_ends_at_and_no_link_without_board():
    payload = to_am_payload({**FIRING, "started_at": None, "score": None})
    assert "endsAt" not in payload and "generatorURL" not in payload
    assert payload["startsAt"] == "2024-05-01T10:03:00Z"  # falls back to `at`
    assert "evidence_url" not in payload["annotations"] and "score" not in payload["annotations"]


def test_payload_is_pure():
    alert = {**FIRING, "evidence": dict(FIRING["evidence"])}
    assert to_am_payload(alert, "http://b") == to_am_payload(alert, "http://b")
    assert alert == FIRING


def _errors(reason):
    return PUSH_ERRORS.labels(reason)._value.get()


def test_push_never_raises_and_counts_failures():
    invalid, connection = _errors("invalid_alert"), _errors("connection")

    async def run():
        pusher = AlertmanagerPusher("http://127.0.0.1:1", timeout=2)  # nothing listens on port 1
        try:
            await pusher.push([{"kind": "emerging"}, FIRING])
        finally:
            await pusher.close()

    asyncio.run(run())
    assert _errors("invalid_alert") == invalid + 1
    assert _errors("connection") == connection + 1
