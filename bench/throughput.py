"""Backtest throughput beside its floor, on one core.

The floor is the least any backtest must do per line: read it, parse the JSON
and extract hashtags with Rasd's own regex.  Rasd's full detection
(``detectors.pipeline.run_lines``, what ``rasd backtest`` runs) is timed over
the same file in the same process, and so is ``parse_post`` alone (validation,
times, canonical tags: what every detector needs before it counts anything),
which tells how much of the floor's time the target leaves to detection.  Rates are posts per CPU-second of this
process (``time.process_time``): on a shared machine wall time measures the
neighbours too; the wall-clock rate is printed beside it.

Usage: .venv/bin/python bench/throughput.py [--posts N] [--data FILE] [--profile N]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import DEFAULT_POSTS, Figure, ensure_posts, machine, print_table

import orjson

from detectors.pipeline import batch_gc, run_lines
from detectors.records import InvalidPost, parse_post
from detectors.text import _HASHTAG_OR_URL

TARGET_POSTS_PER_SECOND = 100_000
TARGET_FLOOR_SHARE = 0.40


def timed(work) -> tuple[int, float, float]:
    """(result, CPU seconds, wall seconds) of ``work()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = work()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def floor_loop(path: Path) -> int:
    posts = 0
    findall = _HASHTAG_OR_URL.findall
    with path.open("rb") as f:
        for line in f:
            findall(orjson.loads(line)["text"])
            posts += 1
    return posts


def parse_loop(path: Path, now: float) -> int:
    posts = 0
    with path.open("rb") as f, batch_gc():  # as run_lines does
        for line in f:
            try:
                parse_post(line.rstrip(b"\r\n"), now)
            except InvalidPost:
                continue
            posts += 1
    return posts


def full_loop(path: Path) -> int:
    """Alerts raised over the file (a quiet day should raise next to none)."""
    with path.open("rb") as f:
        return sum(1 for _ in run_lines(f, now=time.time()))


def profile(path: Path, posts: int, top: int = 15) -> None:
    """Self time by function over the first ``posts`` posts (pyinstrument)."""
    from itertools import islice

    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    with path.open("rb") as f:
        lines = list(islice(f, posts))
    profiler.start()
    for _ in run_lines(lines, now=time.time()):
        pass
    profiler.stop()
    session = profiler.last_session
    self_time: dict[str, float] = {}

    by_module: dict[str, float] = {}

    def walk(frame, owner: tuple[str, str]) -> None:
        # a function's own time: its "[self]" child and the built-ins it calls
        if frame.is_synthetic or frame.file_path in (None, "<built-in>"):
            name, module = owner
        else:
            module = Path(frame.file_path).name
            name, module = f"{frame.function} ({module}:{frame.line_no})", module
        self_time[name] = self_time.get(name, 0.0) + frame.total_self_time
        by_module[module] = by_module.get(module, 0.0) + frame.total_self_time
        for child in frame.children:
            walk(child, (name, module))

    walk(session.root_frame(), ("?", "?"))
    total = sum(self_time.values())
    print(f"\n== profile: own time (incl. built-ins called) over {posts:,} posts")
    for name, seconds in sorted(self_time.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {100 * seconds / total:5.1f}%  {name}")
    print("  by module: " + ", ".join(f"{module} {100 * seconds / total:.0f}%" for module, seconds in
                                      sorted(by_module.items(), key=lambda kv: -kv[1])[:12]))


def run(posts: int = DEFAULT_POSTS, data: Path | None = None) -> list[Figure]:
    path = ensure_posts(data, posts)
    floor_first = timed(lambda: floor_loop(path))
    parse_first = timed(lambda: parse_loop(path, time.time()))
    alerts, cpu, wall = timed(lambda: full_loop(path))
    parse_again = timed(lambda: parse_loop(path, time.time()))
    floor_again = timed(lambda: floor_loop(path))
    # the faster floor run: the ratio errs against Rasd, never for it
    n, floor_cpu, floor_wall = min(floor_first, floor_again, key=lambda t: t[1])
    # the faster parsing run: it errs toward a larger budget for detection
    parsed, parse_cpu, _ = min(parse_first, parse_again, key=lambda t: t[1])
    rate, floor_rate, parse_rate = n / cpu, n / floor_cpu, n / parse_cpu
    # microseconds a post left for everything after parsing, at the target share and now
    budget = 1e6 * (1 / (TARGET_FLOOR_SHARE * floor_rate) - 1 / parse_rate)
    detection = 1e6 * (1 / rate - 1 / parse_rate)
    return [
        Figure("backtest floor (read + JSON + hashtag regex)", floor_rate, "posts/s",
               note=f"{n:,} posts, wall {n / floor_wall:,.0f}/s"),
        Figure("backtest full detection", rate, "posts/s", TARGET_POSTS_PER_SECOND,
               note=f"{n:,} posts in {cpu:.0f} CPU s, {alerts} alerts; wall {n / wall:,.0f}/s"),
        Figure("backtest share of floor", 100 * rate / floor_rate, "%", 100 * TARGET_FLOOR_SHARE),
        Figure("backtest parsing alone (parse_post)", parse_rate, "posts/s",
               note=f"{100 * parse_rate / floor_rate:.0f} % of the floor, {n - parsed} rejected; "
                    f"after it the 40 % target leaves {budget:.1f} us a post, detection takes {detection:.1f}"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=DEFAULT_POSTS)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also profile the first N posts and print the hottest functions")
    args = parser.parse_args()
    print(machine())
    print_table(run(args.posts, args.data), "backtest throughput")
    if args.profile:
        profile(ensure_posts(args.data, args.posts), args.profile)


if __name__ == "__main__":
    main()
