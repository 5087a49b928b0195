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

Then the same 1 M posts go through the embedded broker into one real worker
(``worker_run``, ~3 minutes): the worker's Faust tables, Kafka clients and
buffers and its caches come on top of what the in-process figure counts.
Both caps (50 000 tracked tags, 100 000 held first hits) fill within the first
200 000 posts and bound the state from there on.  Its RSS is read the moment
it has taken the last post, and again ``SETTLE_SECONDS`` later: the flood's
fetch buffers are freed as the consumer catches up, and the worker gives free
heap pages back every few seconds (``streams.glibc_malloc.trim``), so the
first reading still holds some of the flood.  ``make soak`` floods a real
worker with 1 M junk tags (``tests/reliability/test_floods.py``).

Usage: .venv/bin/python bench/memory.py [--tags N] [--worker-tags N]
"""
from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from common import Figure, machine, print_table, rss_mb

import orjson

TARGET_MIB = 500e6 / 2**20  # the 500 MB; RSS is read in MiB (476.8)
DAY = 86400.0
START = 1463875200.0  # 2016-05-22T00:00:00Z
REUSED = 0.3  # share of the new tags used again
REUSE_WITHIN = 3600.0  # seconds
WORKER_TAGS = 1_000_000
WORKER_TIMEOUT = 900.0
SETTLE_SECONDS = 30.0
COMMON = ("العراق", "بغداد", "البصرة", "عاجل", "كرة_القدم", "الكهرباء")


def traffic(tags: int) -> Iterator[tuple[int, str, str, float, list[str]]]:
    """(index, platform, author, event time, hashtags) of each post: one new tag
    a post over 24 h, three in ten used again within the hour, and one post in
    sixteen also carrying a common tag."""
    rng = random.Random(2016)
    step = DAY / tags
    within = max(int(REUSE_WITHIN / step), 1)
    reuses: dict[int, list[str]] = {}  # post index -> earlier tags it uses again
    for i in range(tags):
        fresh = f"وسم{i}"
        if rng.random() < REUSED:
            for _ in range(rng.randint(1, 4)):
                reuses.setdefault(i + rng.randint(1, within), []).append(fresh)
        surfaces = [fresh, *reuses.pop(i, ())] + ([] if i % 16 else [COMMON[i // 16 % len(COMMON)]])
        yield i, ("twitter", "facebook")[i % 2], f"u{i % 200_000}", START + i * step, list(dict.fromkeys(surfaces))


def feed(tags: int) -> dict:
    import aiokafka  # noqa: F401  the worker's libraries, for its baseline
    import faust  # noqa: F401

    import streams.board  # noqa: F401
    import streams.metrics  # noqa: F401
    from detectors.pipeline import Pipeline, batch_gc
    from detectors.records import Post, Tag
    from detectors.text import canonical_key

    base = rss_mb()
    started, wall = time.process_time(), time.monotonic()
    pipe = Pipeline()
    stage = pipe.tags
    peak_tracked = peak_held = 0
    with batch_gc():
        for i, platform, author, at, surfaces in traffic(tags):
            post_tags = tuple(Tag(surface, canonical_key(surface)) for surface in surfaces)
            text = "خبر " + " ".join("#" + surface for surface in surfaces)
            pipe.process_post(Post(f"p{i}", platform, author, at, text, post_tags))
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
                   r["end"], "MiB", TARGET_MIB, higher_is_better=False, note=note),
            Figure(f"peak RSS, 24 h with {tags:,} distinct tags (worker stages, fresh process)",
                   r["peak"], "MiB", TARGET_MIB, higher_is_better=False, note="VmHWM of the same run")]


def worker_run(tags: int = WORKER_TAGS) -> list[Figure]:
    """The same traffic as posts, through the embedded broker into one real
    worker (Faust tables, Kafka clients and buffers included), produced as fast
    as the broker takes them; RSS once the tag stage has taken every hit."""
    from live import APP_ID, Offsets, cpu_seconds, ingested, produce_in_background

    from tests.harness import Worker, start_broker, temp_dir, wait_for

    lines = [orjson.dumps({"id": f"p{i}", "platform": platform, "author": author,
                           "created_at": datetime.fromtimestamp(at, timezone.utc).isoformat(),
                           "text": "خبر " + " ".join("#" + surface for surface in surfaces)})
             for i, platform, author, at, surfaces in traffic(tags)]
    workdir = temp_dir("rasd-bench-memory-")
    broker = start_broker()
    worker = None
    try:
        worker = Worker(broker.bootstrap, workdir, app_id=APP_ID).start()
        base, cpu_before = rss_mb(worker.proc.pid), cpu_seconds(worker.proc.pid)
        offsets = Offsets(broker.bootstrap)
        started = time.monotonic()
        producer = produce_in_background(broker.bootstrap, lines)
        wait_for(lambda: sum(ingested([worker])) >= tags and offsets.lag("tag-hits", APP_ID) == 0,
                 WORKER_TIMEOUT, 2.0, "the worker to take every post and tag hit")
        caught_up = time.monotonic()
        seconds = caught_up - started
        tracked, held = worker.metric("rasd_tracked_tags"), worker.metric("rasd_held_tag_hits")
        end, peak, cpu = (rss_mb(worker.proc.pid), rss_mb(worker.proc.pid, peak=True),
                          cpu_seconds(worker.proc.pid) - cpu_before)
        producer.join(30)
        offsets.close()
        time.sleep(max(0.0, caught_up + SETTLE_SECONDS - time.monotonic()))
        settled = rss_mb(worker.proc.pid)
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()
        broker.remove()
    note = (f"{tags:,} posts produced and taken in {seconds:.0f} s ({cpu:.0f} worker CPU s); "
            f"{base:.0f} MiB before the first post; {tracked:,.0f} tags tracked, {held:,.0f} first hits held "
            f"(caps 50 000 and 100 000)")
    return [Figure(f"worker RSS after 24 h with {tags:,} distinct tags (through the broker)", end, "MiB",
                   TARGET_MIB, higher_is_better=False, note=note),
            Figure(f"worker RSS {SETTLE_SECONDS:.0f} s later, idle (through the broker)", settled, "MiB",
                   TARGET_MIB, higher_is_better=False, note="the same worker, its flood's buffers freed"),
            Figure(f"worker peak RSS, 24 h with {tags:,} distinct tags (through the broker)", peak, "MiB",
                   TARGET_MIB, higher_is_better=False, note="VmHWM of the same worker")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tags", type=int, default=1_000_000)
    parser.add_argument("--worker-tags", type=int, default=WORKER_TAGS,
                        help="posts (each with a new tag) through a real worker; 0 skips it")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(orjson.dumps(feed(args.tags)).decode())
        return
    print(machine())
    print_table(run(args.tags), "memory")
    if args.worker_tags:
        print_table(worker_run(args.worker_tags), "memory of a worker")


if __name__ == "__main__":
    main()
