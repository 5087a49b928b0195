"""Memory: a worker's RSS after 24 h of event time with 1 M distinct tags.

What runs: every stage a worker runs (``detectors.pipeline.Pipeline``: tag,
platform, campaign, variant, outage and summary stages, default settings) in a
fresh child process that has first imported the worker's libraries (Faust,
aiokafka, the web and metrics modules), fed 1 M posts spread evenly over 24 h
of event time.  Each post brings a tag never seen before; three in ten of those
tags are used again, one to four more times within the following hour (so they
are tracked: a tag gets its state at its second use), and one post in sixteen
also carries one of six common tags (~7 authors a minute each: busy, not
surging — a surging tag's campaign signals cost CPU, not memory, and would
blow the bench's time budget).  The figure is the child's RSS at the end (after 24 h
of event time) and its peak (``VmHWM``), interpreter and libraries included.

Not a worker through the broker: feeding 1 M posts through Kafka into a worker
takes far longer than the bench budget on this shared machine.  A worker keeps
the same state objects in its in-memory Faust tables; what it adds beyond this
process (the tables' changelog producer queue, bounded at 2 000 records, and
consumer buffers) is not measured here — ``make soak`` floods a real worker
with 1 M junk tags (``tests/reliability/test_floods.py``).

Usage: .venv/bin/python bench/memory.py [--tags N]
"""
from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from pathlib import Path

from common import Figure, machine, print_table, rss_mb

import orjson

TARGET_MB = 500.0
DAY = 86400.0
START = 1463875200.0  # 2016-05-22T00:00:00Z
REUSED = 0.3  # share of the new tags used again
REUSE_WITHIN = 3600.0  # seconds
COMMON = ("العراق", "بغداد", "البصرة", "عاجل", "كرة_القدم", "الكهرباء")


def feed(tags: int) -> dict:
    import aiokafka  # noqa: F401  the worker's libraries, for its baseline
    import faust  # noqa: F401

    import streams.board  # noqa: F401
    import streams.metrics  # noqa: F401
    from detectors.pipeline import Pipeline, batch_gc
    from detectors.records import Post, Tag
    from detectors.text import canonical_key

    base = rss_mb()
    rng = random.Random(2016)
    started, wall = time.process_time(), time.monotonic()
    pipe = Pipeline()
    stage = pipe.tags
    common = [Tag(s, canonical_key(s)) for s in COMMON]
    step = DAY / tags
    within = max(int(REUSE_WITHIN / step), 1)
    reuses: dict[int, list[Tag]] = {}  # post index -> earlier tags it uses again
    peak_tracked = peak_held = 0
    with batch_gc():
        for i in range(tags):
            surface = f"وسم{i}"
            fresh = Tag(surface, canonical_key(surface))
            if rng.random() < REUSED:
                for _ in range(rng.randint(1, 4)):
                    reuses.setdefault(i + rng.randint(1, within), []).append(fresh)
            post_tags = [fresh, *reuses.pop(i, ())] + ([] if i % 16 else [common[i // 16 % len(common)]])
            post_tags = list({t.key: t for t in post_tags}.values())
            text = "خبر " + " ".join("#" + t.surface for t in post_tags)
            pipe.process_post(Post(f"p{i}", ("twitter", "facebook")[i % 2], f"u{i % 200_000}",
                                   START + i * step, text, tuple(post_tags)))
            if i % 1000 == 0:
                peak_tracked = max(peak_tracked, len(stage.states))
                peak_held = max(peak_held, stage.held())
    tracked, held = len(stage.states), stage.held()
    end = rss_mb()
    pipe.finish()
    return {"peak": rss_mb(peak=True), "end": end, "base": base, "tracked": tracked, "held": held,
            "peak_tracked": peak_tracked, "peak_held": peak_held, "evictions": stage.evictions,
            "forgotten": stage.forgotten_candidates, "posts": tags, "hits": pipe.stats["hits"],
            "cpu_seconds": time.process_time() - started, "wall_seconds": time.monotonic() - wall}


def run(tags: int = 1_000_000) -> list[Figure]:
    child = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", "--tags", str(tags)],
                           check=True, capture_output=True)
    r = orjson.loads(child.stdout.splitlines()[-1])
    note = (f"{r['posts']:,} posts ({r['hits']:,} tag hits) in {r['cpu_seconds']:.0f} CPU s, "
            f"{r['wall_seconds']:.0f} s wall; {r['base']:.0f} MiB with the worker's libraries before the "
            f"first post; at the end {r['tracked']:,} tags tracked (peak {r['peak_tracked']:,}), "
            f"{r['held']:,} first hits held (peak {r['peak_held']:,}); {r['evictions']:,} evicted, "
            f"{r['forgotten']:,} held hits forgotten; every worker stage in one process, not through Kafka")
    return [Figure(f"RSS after 24 h with {tags:,} distinct tags (worker stages, fresh process)",
                   r["end"], "MiB", TARGET_MB, higher_is_better=False, note=note),
            Figure(f"peak RSS, 24 h with {tags:,} distinct tags (worker stages, fresh process)",
                   r["peak"], "MiB", TARGET_MB, higher_is_better=False, note="VmHWM of the same run")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tags", type=int, default=1_000_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(orjson.dumps(feed(args.tags)).decode())
        return
    print(machine())
    print_table(run(args.tags), "memory")


if __name__ == "__main__":
    main()
