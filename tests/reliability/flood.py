"""A junk-tag flood through the tag stage, in-process, with a real trending
tag inside it.  Run as a script (a fresh process, so its peak RSS is the
flood's): ``python -m tests.reliability.flood JUNK_TAGS MAX_TAGS USES MAX_CANDIDATES``
prints JSON."""
from __future__ import annotations

import json
import sys
import time

from detectors.records import TagHit
from detectors.tags import TagStage, TagStageConfig
from tests.harness import peak_rss_mb

START = 1463911200.0  # 2016-05-22 10:00 UTC
REAL = "الفلوجة_تتحرر"
REPEAT_AFTER = 8  # a junk tag is used again this many junk tags later


def flood(junk_tags: int, max_tags: int = 50_000, uses: int = 1, max_candidates: int = 100_000,
          minutes: float = 10.0) -> dict:
    """``junk_tags`` distinct junk tags, each used ``uses`` times (a few hits
    apart, by different bots), over ``minutes`` of event time; every 20 junk
    hits (per use) the real tag, from a growing crowd of authors."""
    stage = TagStage(TagStageConfig(max_tags=max_tags, max_candidates=max_candidates))
    junk_tags -= junk_tags % REPEAT_AFTER
    hits = junk_tags * uses
    step = minutes * 60.0 / hits
    peak_tracked = peak_held = 0
    alerts = []
    for n in range(hits):
        at = START + n * step
        block, q = divmod(n, REPEAT_AFTER * uses)
        use, k = divmod(q, REPEAT_AFTER)
        i = block * REPEAT_AFTER + k  # the junk tag of this hit
        stage.on_hit(TagHit(f"junk{i:x}", f"junk{i:x}", f"j{i}-{use}", f"bot{(i + use) % 997}", at, "twitter",
                            "#junk", offset=n))
        if n % (20 * uses) == 0:
            stage.on_hit(TagHit(REAL, REAL, f"r{n}", f"user{n // (20 * uses)}", at, "twitter", "#" + REAL))
        if n % 1000 == 0:
            alerts += stage.advance()[0]
            peak_tracked = max(peak_tracked, len(stage.states))
            peak_held = max(peak_held, stage.held())
    real = stage.states.get(REAL)
    return {"junk_tags": junk_tags, "uses": uses, "max_candidates": max_candidates,
            "peak_tracked": max(peak_tracked, len(stage.states)), "peak_held": max(peak_held, stage.held()),
            "evictions": stage.evictions, "forgotten": stage.forgotten_candidates,
            "real_tracked": real is not None,
            "real_posts": sum(p for p, _ in real.history.values()) + sum(b.posts for b in real.open.values())
            + len(real.inbox) if real else 0,
            "real_expected": (hits + 20 * uses - 1) // (20 * uses),
            "real_fired": any(a.key == REAL and a.status == "firing" for a in alerts),
            "max_rss_mb": peak_rss_mb()}


if __name__ == "__main__":
    started = time.process_time()
    result = flood(*map(int, sys.argv[1:5]))
    result["cpu_seconds"] = round(time.process_time() - started, 1)
    print(json.dumps(result))


def spam_flood_lines(junk_tags: int, tags_per_post: int = 16, uses: int = 1, minutes: float = 10.0) -> list[bytes]:
    """A hashtag-stuffing spam flood as raw posts, for a worker: 997 bot accounts
    post spam each carrying ``tags_per_post`` never-seen junk tags (``junk_tags``
    in all, over ``minutes`` of event time), each spam post repeated ``uses``
    times in all by other bots a few posts later; after every second spam post
    a different person posts the real tag."""
    from datetime import datetime, timezone

    import orjson

    distinct = junk_tags // tags_per_post
    posts = (distinct - distinct % REPEAT_AFTER) * uses
    lines = []
    for p in range(posts):
        block, q = divmod(p, REPEAT_AFTER * uses)
        spam = block * REPEAT_AFTER + q % REPEAT_AFTER  # which spam text
        at = datetime.fromtimestamp(START + p * minutes * 60.0 / posts, timezone.utc).isoformat()
        junk = " ".join(f"#junk{spam * tags_per_post + j:x}" for j in range(tags_per_post))
        lines.append(orjson.dumps({"id": f"j{p}", "platform": "twitter", "author": f"bot{p % 997}",
                                   "created_at": at, "text": "اربح الان " + junk}))
        if p % 2:
            lines.append(orjson.dumps({"id": f"r{p}", "platform": "twitter", "author": f"user{p}",
                                       "created_at": at, "text": "#" + REAL}))
    return lines
