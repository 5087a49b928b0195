"""Memory: RSS after 24 h of event time with 1 M distinct tags.

Runs in a child process so the figure is that process alone: Rasd's
in-process stages (``detectors.pipeline.Pipeline``, the objects a worker keeps
in its in-memory tables) fed posts spread evenly over 24 hours, every post
carrying a tag never seen before and most a common one too.  Feeding 1 M posts
through Kafka into a worker does not fit the bench budget, so a worker's own
baseline RSS (Faust, aiokafka, web server; printed by ``bench/live.py``) comes
on top of this figure.

Usage: .venv/bin/python bench/memory.py [--tags N]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from common import Figure, machine, print_table, rss_mb

import orjson

TARGET_MB = 500.0
DAY = 86400.0
START = 1463875200.0  # 2016-05-22T00:00:00Z
COMMON = ("العراق", "بغداد", "البصرة", "عاجل", "كرة_القدم", "الكهرباء")


def feed(tags: int) -> dict:
    from detectors.pipeline import Pipeline
    from detectors.records import Post, Tag
    from detectors.text import canonical_key

    base = rss_mb()
    pipe = Pipeline()
    common = [Tag(s, canonical_key(s)) for s in COMMON]
    step = DAY / tags
    peak_states = 0
    for i in range(tags):
        surface = f"وسم{i}"
        post_tags = (Tag(surface, canonical_key(surface)),) + ((common[i % len(common)],) if i % 4 else ())
        text = " ".join("#" + t.surface for t in post_tags)
        pipe.process_post(Post(f"p{i}", ("twitter", "facebook")[i % 2], f"u{i % 200_000}", START + i * step,
                               text, post_tags))
        if i % 10_000 == 0:
            peak_states = max(peak_states, len(pipe.tags.states))
    pipe.finish()
    return {"rss": rss_mb(), "base": base, "tracked": len(pipe.tags.states), "peak_tracked": peak_states,
            "evictions": pipe.tags.evictions, "posts": pipe.stats["posts"]}


def run(tags: int = 1_000_000) -> list[Figure]:
    child = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", "--tags", str(tags)],
                           check=True, capture_output=True)
    result = orjson.loads(child.stdout.splitlines()[-1])
    return [Figure("memory, 24 h with 1 M distinct tags (in-process stages)", result["rss"], "MiB", TARGET_MB,
                   higher_is_better=False,
                   note=f"{result['posts']:,} posts, {tags:,} distinct tags; {result['base']:.0f} MiB before the "
                        f"first post; tags tracked at the end {result['tracked']:,} (peak {result['peak_tracked']:,}),"
                        f" {result['evictions']:,} evicted")]


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
