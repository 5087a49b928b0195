"""MuteStore (acks and mutes from the alert-mutes topic), the board's merge of
a resolving record, and how the Alertmanager pusher treats muted alerts."""
import asyncio

import pytest

from streams.alertmanager import AlertmanagerPusher
from streams.board import AlertBoard
from streams.mutes import MAX_MUTE_MINUTES, MuteStore

T0 = 1_700_000_000.0
FIRING = {"id": "emerging-1", "kind": "emerging", "status": "firing", "subject": "#الفلوجة", "severity": "warning",
          "at": "2024-05-01T10:03:00Z", "started_at": "2024-05-01T10:00:00Z", "score": 7.0, "observed": 40,
          "expected": 2, "summary": "up", "evidence": {"sample_posts": [{"id": "p1", "author": "a", "text": "x"}]}}


def test_mute_expires_by_itself():
    store = MuteStore()
    store.apply(store.change("a1", "mute", by="layla", minutes=10, now=T0))
    assert store.is_muted("a1", now=T0 + 599)
    assert not store.is_muted("a1", now=T0 + 600)
    assert store.view("a1", now=T0 + 600)["muted"] is False


def test_a_record_is_the_whole_state_so_compaction_keeps_ack_and_mute():
    store = MuteStore()
    store.apply(store.change("a1", "mute", by="layla", minutes=60, now=T0))
    latest = store.change("a1", "ack", by="omar", now=T0 + 5)
    # what a restarted worker reads from the compacted topic: only the latest record
    restarted = MuteStore()
    restarted.apply(latest)
    view = restarted.view("a1", now=T0 + 10)
    assert view["muted"] and view["muted_by"] == "layla"
    assert view["acked"] and view["acked_by"] == "omar"


def test_unmute_keeps_the_ack():
    store = MuteStore()
    store.apply(store.change("a1", "ack", by="omar", now=T0))
    store.apply(store.change("a1", "mute", by="layla", minutes=5, now=T0))
    store.apply(store.change("a1", "unmute", by="layla", now=T0 + 1))
    view = store.view("a1", now=T0 + 2)
    assert not view["muted"] and view["muted_until"] is None and view["acked_by"] == "omar"


def test_apply_reports_changes_only():
    store = MuteStore()
    record = store.change("a1", "mute", minutes=5, now=T0)
    assert store.apply(record) is True
    assert store.apply(dict(record)) is False
    assert store.apply(store.change("a1", "mute", minutes=6, now=T0)) is True


@pytest.mark.parametrize("minutes", [None, 0, -5, MAX_MUTE_MINUTES + 1, "10"])
def test_a_mute_needs_a_sane_period(minutes):
    with pytest.raises(ValueError):
        MuteStore().change("a1", "mute", minutes=minutes, now=T0)


def test_unknown_action_is_refused():
    with pytest.raises(ValueError):
        MuteStore().change("a1", "delete", now=T0)


def test_names_and_notes_are_bounded():
    record = MuteStore().change("a1", "ack", by="x" * 1000, note="n" * 1000, now=T0)
    assert len(record["acked_by"]) == 64 and len(record["note"]) == 280


def test_store_is_bounded_oldest_change_dropped_first():
    store = MuteStore(capacity=3)
    for i in range(5):
        store.apply(store.change(f"a{i}", "ack", now=T0 + i))
    store.apply(store.change("a2", "ack", by="again", now=T0 + 9))
    assert list(store.records) == ["a3", "a4", "a2"]


def test_resolving_record_does_not_hide_why_it_fired():
    board = AlertBoard()
    board.apply(FIRING)
    board.apply({**FIRING, "status": "resolved", "at": "2024-05-01T10:30:00Z",
                 "evidence": {"sample_posts": [], "posts": 0}})
    merged = board.get("emerging-1")
    assert merged["resolved_at"] == "2024-05-01T10:30:00Z"
    assert merged["evidence"]["sample_posts"] == FIRING["evidence"]["sample_posts"]
    assert merged["evidence"]["posts"] == 0
    assert [t["status"] for t in merged["timeline"]] == ["firing", "resolved"]


class RecordingPusher(AlertmanagerPusher):
    """The real pusher, with the HTTP post recorded instead of sent."""

    def __init__(self, **kwargs):
        super().__init__("http://alertmanager.invalid", **kwargs)
        self.posts: list[list[dict]] = []

    async def _post(self, payloads):
        if payloads:
            self.posts.append(payloads)


def test_muted_alert_is_pushed_ended_and_not_resent():
    store = MuteStore()
    pusher = RecordingPusher(muted=store.is_muted)

    async def scenario():
        await pusher.push([FIRING])
        store.apply(store.change("emerging-1", "mute", minutes=30))
        await pusher.push([FIRING])  # the same alert again, e.g. replayed after a restart
        await pusher.resend()

    asyncio.run(scenario())
    first, muted = pusher.posts
    assert "endsAt" not in first[0]
    assert muted[0]["labels"]["rasd_id"] == "emerging-1" and "endsAt" in muted[0]
    assert len(pusher.posts) == 2, "resend skipped the muted alert"


async def settle() -> None:
    """Let the pusher's task run (it has nothing to wait for but the loop)."""
    for _ in range(20):
        await asyncio.sleep(0)


def test_run_pushes_queued_records_and_applies_mute_changes():
    store = MuteStore()
    pusher = RecordingPusher(muted=store.is_muted, resend_interval=3600)

    async def scenario():
        task = asyncio.create_task(pusher.run())
        pusher.enqueue({**FIRING, "score": 1.0})
        pusher.enqueue(FIRING)  # coalesced: the newer record of the same id wins
        await settle()
        store.apply(store.change("emerging-1", "mute", minutes=30))
        pusher.refresh("emerging-1")
        await settle()
        store.apply(store.change("emerging-1", "unmute"))
        pusher.refresh("emerging-1")
        await settle()
        task.cancel()

    asyncio.run(scenario())
    pushed, ended, again = pusher.posts
    assert len(pushed) == 1 and pushed[0]["annotations"]["score"] == "7"
    assert "endsAt" in ended[0]
    assert "endsAt" not in again[0]
