"""Late and out-of-order posts: within the configured allowed lateness they
are counted in their own minute; later ones are counted as late and left out
of the windows — they are valid posts, so they are not dead-lettered."""
from __future__ import annotations

from datetime import datetime, timezone

import orjson

from detectors.config import DetectorConfig
from detectors.pipeline import Pipeline

START = datetime(2016, 5, 22, 10, tzinfo=timezone.utc).timestamp()


def line(i: int, at: float, tag: str = "late") -> bytes:
    return orjson.dumps({"id": f"p{i}", "platform": "twitter", "author": f"u{i}", "text": f"#{tag}",
                         "created_at": datetime.fromtimestamp(at, timezone.utc).isoformat()})


def minute_counts(pipe: Pipeline, key: str) -> dict[float, int]:
    return {m * 60 - START: p for m, (p, _) in pipe.tags.states[key].history.items()}


def test_late_posts_count_in_their_minute_up_to_the_allowed_lateness():
    pipe = Pipeline(DetectorConfig.from_dict({"tags": {"allowed_lateness": 180.0}}))
    for i in range(600):  # one post every second, 10:00-10:10, in order
        pipe.process_raw(line(i, START + i))
    pipe.process_raw(line(1000, START + 600 - 150))   # 2.5 minutes late: minute 10:07
    pipe.process_raw(line(1001, START + 600 - 300))   # 5 minutes late: too late
    pipe.process_raw(line(1002, START + 600 - 179, tag="fresh"))  # a new tag, just in time
    for i in range(600, 700):
        pipe.process_raw(line(i, START + i))
    pipe.finish()

    counts = minute_counts(pipe, "late")
    assert counts[7 * 60] == 61, "a post within the allowed lateness belongs to its own minute"
    assert counts[5 * 60] == 60, "a post later than the allowed lateness is left out"
    assert sum(counts.values()) == 700 + 1
    assert minute_counts(pipe, "fresh") == {7 * 60: 1}
    assert pipe.tags.late_hits == 1 and pipe.shards.late_posts == 1
    assert pipe.stats["rejected"] == 0


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
