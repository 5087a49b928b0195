"""Memory: peak RSS after 24 h of event time with 1 M distinct tags.

What runs: the tag stage (``detectors.tags.TagStage``, the state a worker keeps
in its tag table, the state that grows with distinct tags) in a fresh
child process, fed the hits of 1 M posts spread evenly over 24 hours of event
time, each carrying a tag never seen before and three in four a common one
too, and advanced once per 500 posts as a worker's tag agent does per batch.
The figure is that process's peak RSS (``VmHWM``), interpreter and libraries
included.  Feeding 1 M tags through Kafka into a worker takes over an hour
here (a worker admits 100-300 new tags/s on this shared machine), far over the
bench budget.  A worker adds its own baseline (~150 MiB: Faust, aiokafka, web
server) and holds about twice this process's memory per tracked tag (~10 KB
against ~6 KB; the Faust table and changelog overhead is not yet broken down);
``make soak`` floods a real worker with 1 M junk tags
(``tests/reliability/test_floods.py``).

Usage: .venv/bin/python bench/memory.py [--tags N]
"""
from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import time
from pathlib import Path

from common import Figure, machine, print_table, rss_mb

import orjson

TARGET_MB = 500.0
DAY = 86400.0
START = 1463875200.0  # 2016-05-22T00:00:00Z
BATCH = 500  # posts between advances: a worker's tag agent advances once per batch
COMMON = ("العراق", "بغداد", "البصرة", "عاجل", "كرة_القدم", "الكهرباء")


def feed(tags: int) -> dict:
    from detectors.records import Post, Tag, hits_of
    from detectors.tags import TagStage
    from detectors.text import canonical_key

    base = rss_mb()
    # the figure is memory, not speed: cyclic GC over millions of live objects
    # more than doubles the run time, and with it off nothing is freed sooner,
    # so the peak can only be higher (200 000 tags: 356 MiB either way)
    gc.disable()
    started = time.process_time()
    stage = TagStage()
    common = [Tag(s, canonical_key(s)) for s in COMMON]
    step = DAY / tags
    peak_states = 0
    for i in range(tags):
        surface = f"وسم{i}"
        post_tags = (Tag(surface, canonical_key(surface)),) + ((common[i % len(common)],) if i % 4 else ())
        text = " ".join("#" + t.surface for t in post_tags)
        post = Post(f"p{i}", ("twitter", "facebook")[i % 2], f"u{i % 200_000}", START + i * step, text, post_tags)
        for hit in hits_of(post, 0, i):
            stage.on_hit(hit)
        if i % BATCH == 0:
            stage.advance()
            peak_states = max(peak_states, len(stage.states))
    stage.advance_to(START + DAY + 3600)
    return {"peak": rss_mb(peak=True), "end": rss_mb(), "base": base, "tracked": len(stage.states),
            "peak_tracked": peak_states, "evictions": stage.evictions, "posts": tags,
            "cpu_seconds": time.process_time() - started}


def run(tags: int = 1_000_000) -> list[Figure]:
    child = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", "--tags", str(tags)],
                           check=True, capture_output=True)
    result = orjson.loads(child.stdout.splitlines()[-1])
    return [Figure(f"peak memory, 24 h with {tags:,} distinct tags (tag stage, fresh process)",
                   result["peak"], "MiB", TARGET_MB, higher_is_better=False,
                   note=f"{result['posts']:,} posts in {result['cpu_seconds']:.0f} CPU s; {result['base']:.0f} MiB "
                        f"before the first post, {result['end']:.0f} MiB at the end; tags tracked at the end "
                        f"{result['tracked']:,} (peak {result['peak_tracked']:,}), {result['evictions']:,} evicted; "
                        f"a worker adds its own baseline")]


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
