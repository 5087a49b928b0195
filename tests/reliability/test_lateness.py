"""Late and out-of-order posts: within the configured allowed lateness they
are counted in their own minute; later ones are counted as late and left out
of the windows — they are valid posts, so they are not dead-lettered.  Checked
in-process and through the broker and a worker (its per-minute counts against
the backtest's, ``rasd_late_events_total``, posts-dlq)."""
from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest

from detectors.config import DetectorConfig
from detectors.pipeline import Pipeline
from tests.harness import produce, read_topic, wait_for
from tests.reliability.common import expected_history, reference, wait_for_history

START = datetime(2016, 5, 22, 10, tzinfo=timezone.utc).timestamp()


def line(i: int, at: float, tag: str = "late") -> bytes:
    return orjson.dumps({"id": f"p{i}", "platform": "twitter", "author": f"u{i}", "text": f"#{tag}",
                         "created_at": datetime.fromtimestamp(at, timezone.utc).isoformat()})


def minute_counts(pipe: Pipeline, key: str) -> dict[float, int]:
    return {m * 60 - START: p for m, (p, _) in pipe.tags.states[key].history.items()}


UNREADABLE_TIME = orjson.dumps({"id": "bad-time", "platform": "twitter", "author": "u", "text": "#late",
                                "created_at": "22/05/2016 10:05"})
LATENESS_180 = DetectorConfig.from_dict({"tags": {"allowed_lateness": 180.0}})


def late_stream() -> list[bytes]:
    """Ten minutes of #late, one post a second, then: a post 2.5 minutes late, one
    5 minutes late, a new tag just in time (twice: a tag is tracked from its
    second post), a post with an unreadable time; then more in-order posts.
    With 180 s allowed lateness the second is too late."""
    lines = [line(i, START + i) for i in range(600)]
    lines += [line(1000, START + 600 - 150), line(1001, START + 600 - 300), line(1002, START + 600 - 179, "fresh"),
              line(1003, START + 600 - 175, "fresh"), UNREADABLE_TIME]
    return lines + [line(i, START + i) for i in range(600, 700)]


def test_late_posts_count_in_their_minute_up_to_the_allowed_lateness():
    pipe = reference(late_stream(), config=LATENESS_180)
    counts = minute_counts(pipe, "late")
    assert counts[7 * 60] == 61, "a post within the allowed lateness belongs to its own minute"
    assert counts[5 * 60] == 60, "a post later than the allowed lateness is left out"
    assert sum(counts.values()) == 700 + 1
    assert minute_counts(pipe, "fresh") == {7 * 60: 2}
    assert pipe.tags.late_hits == 1 and pipe.shards.late_posts == 1
    assert pipe.rejects == {"invalid_time": 1}


def test_out_of_order_posts_within_the_lateness_give_the_in_order_counts():
    in_order = [line(i, START + i) for i in range(300)]
    shuffled = in_order[:]
    for k in range(0, 300, 10):  # reverse every ten-second run: up to 9 s out of order
        shuffled[k:k + 10] = reversed(shuffled[k:k + 10])
    results = []
    for lines in (in_order, shuffled):
        pipe = Pipeline(DetectorConfig.from_dict({"tags": {"allowed_lateness": 20.0}}))
        for raw in lines:
            pipe.process_raw(raw)
        pipe.finish()
        results.append((minute_counts(pipe, "late"), pipe.tags.late_hits))
    assert results[0] == results[1] == ({m * 60: 60 for m in range(5)}, 0)


@pytest.mark.broker
def test_a_worker_counts_late_posts_in_their_minute_and_drops_later_ones(broker, start_worker, workdir):
    config_path = workdir / "late.toml"
    config_path.write_text("[tags]\nallowed_lateness = 180.0\n", encoding="utf-8")
    lines = late_stream()
    pipe = reference(lines, config=LATENESS_180)  # as checked above: 10:07 has 61 posts, 10:05 60

    # one input partition: lateness is judged within a source, and a watermark
    # waits for every input partition it has not heard from yet
    worker = start_worker(extra_env={"RASD_DETECTOR_CONFIG": str(config_path), "RASD_TOPIC_PARTITIONS": "1"})
    produce(broker.bootstrap, lines, partition=0)
    for key in ("late", "fresh"):
        wait_for_history([worker], key, expected_history(pipe, key), 180)
    wait_for(lambda: worker.metric("rasd_late_events_total", stage="tags") == 1
             and worker.metric("rasd_late_events_total", stage="shards") == 1, 60,
             what="one late tag hit and one late platform post counted")
    assert worker.metric("rasd_posts_ingested_total") == len(lines) - 1

    # the late post is a valid post, left out of windows but not dead-lettered;
    # the post whose time cannot be read is, with its original bytes and reason
    dead = read_topic(broker.bootstrap, "posts-dlq")
    assert [(m.value, dict(m.headers)["rasd-reason"]) for m in dead] == [(UNREADABLE_TIME, b"invalid_time")]
