"""A junk-tag flood through the tag stage, in-process, with a real trending
tag inside it.  Run as a script (a fresh process, so its peak RSS is the
flood's): ``python -m tests.reliability.flood JUNK_TAGS [MAX_TAGS]`` prints JSON."""
from __future__ import annotations

import json
import sys
import time

from detectors.records import TagHit
from detectors.tags import TagStage, TagStageConfig
from tests.harness import peak_rss_mb

START = 1463911200.0  # 2016-05-22 10:00 UTC
REAL = "الفلوجة_تتحرر"


def flood(junk_tags: int, max_tags: int = 50_000, minutes: float = 10.0) -> dict:
    """``junk_tags`` distinct one-off tags spread over ``minutes`` of event time;
    every 20th hit is the real tag, from a growing crowd of authors."""
    stage = TagStage(TagStageConfig(max_tags=max_tags))
    step = minutes * 60.0 / junk_tags
    peak_tracked = 0
    alerts = []
    for i in range(junk_tags):
        at = START + i * step
        stage.on_hit(TagHit(f"junk{i:x}", f"junk{i:x}", f"j{i}", f"bot{i % 997}", at, "twitter", "#junk", offset=i))
        if i % 20 == 0:
            stage.on_hit(TagHit(REAL, REAL, f"r{i}", f"user{i // 20}", at, "twitter", "#" + REAL))
        if i % 1000 == 0:
            alerts += stage.advance()[0]
            peak_tracked = max(peak_tracked, len(stage.states))
    real = stage.states.get(REAL)
    return {"junk_tags": junk_tags, "peak_tracked": max(peak_tracked, len(stage.states)),
            "evictions": stage.evictions, "real_tracked": real is not None,
            "real_posts": sum(p for p, _ in real.history.values()) + sum(b.posts for b in real.open.values())
            + len(real.inbox) if real else 0,
            "real_fired": any(a.key == REAL and a.status == "firing" for a in alerts),
            "max_rss_mb": peak_rss_mb()}


if __name__ == "__main__":
    started = time.process_time()
    result = flood(*map(int, sys.argv[1:3]))
    result["cpu_seconds"] = round(time.process_time() - started, 1)
    print(json.dumps(result))


def spam_flood_lines(junk_tags: int, tags_per_post: int = 16, minutes: float = 10.0) -> list[bytes]:
    """A hashtag-stuffing spam flood as raw posts, for a worker: 997 bot accounts
    post spam each carrying ``tags_per_post`` never-seen junk tags (``junk_tags``
    in all, over ``minutes`` of event time); after every second spam post a
    different person posts the real tag."""
    from datetime import datetime, timezone

    import orjson

    posts = junk_tags // tags_per_post
    lines = []
    for p in range(posts):
        at = datetime.fromtimestamp(START + p * minutes * 60.0 / posts, timezone.utc).isoformat()
        junk = " ".join(f"#junk{p * tags_per_post + j:x}" for j in range(tags_per_post))
        lines.append(orjson.dumps({"id": f"j{p}", "platform": "twitter", "author": f"bot{p % 997}",
                                   "created_at": at, "text": "اربح الان " + junk}))
        if p % 2:
            lines.append(orjson.dumps({"id": f"r{p}", "platform": "twitter", "author": f"user{p}",
                                       "created_at": at, "text": "#" + REAL}))
    return lines
