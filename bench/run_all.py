"""Every Rasd benchmark, then one table of figures, targets and ratios.

    .venv/bin/python bench/run_all.py [--quick]

Backtest throughput over ≥ 1 M posts beside its floor, the broker's ceiling
(plain clients, and Faust alone), live throughput with one and two workers,
a real worker's memory (1 M distinct tags through the broker), alert
latency, and memory of every stage with 1 M distinct tags (beside alert
latency, which mostly waits).  Under 15 minutes on the shared 2-core bench machine (the
seeded input file is generated once, ~1 minute, and reused from the temp
directory afterwards).  ``--quick`` runs everything at a tenth of the size,
to check the benches themselves.
"""
from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

from common import DEFAULT_POSTS, Figure, machine, print_table

import ceiling
import latency
import live
import memory
import throughput


def timed(title: str, step) -> tuple[list[Figure], str]:
    begun = time.monotonic()
    found = step()
    return found, f"{title} ({time.monotonic() - begun:.0f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the size: checks the benches, not Rasd")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    started = time.monotonic()
    print(machine())
    figures: list[Figure] = []
    steps = [
        ("backtest throughput", lambda: throughput.run(int(DEFAULT_POSTS * scale))),
        ("broker ceiling", lambda: ceiling.run(int(100_000 * scale))),
        # 200 k posts: 10-15 s of sustained input; with 60 k the run was over in ~5 s, of
        # which up to 2.8 s went waiting for Faust's next commit (the end-to-end mark)
        ("live throughput", lambda: live.run(int(200_000 * scale), cap_seconds=120 * scale + 30)),
        ("memory of a worker", lambda: memory.worker_run(int(memory.WORKER_TAGS * scale))),
    ]
    for title, step in steps:
        found, heading = timed(title, step)
        print_table(found, heading)
        figures.extend(found)
    # memory runs beside alert latency: latency waits for minutes to close (the
    # worker and broker need a few % of a core at 50 posts/s) and memory is one
    # single-threaded child whose figure is its peak RSS; one after the other
    # they took ~12 of the 15 minutes on the shared bench machine
    with ThreadPoolExecutor(1) as pool:
        beside = pool.submit(timed, "memory, beside alert latency",
                             lambda: memory.run() if not args.quick else memory.run(100_000))
        for found, heading in (timed("alert latency", lambda: latency.run(bursts=10 if not args.quick else 2)),
                               beside.result()):
            print_table(found, heading)
            figures.extend(found)
    print_table(figures, f"all figures ({(time.monotonic() - started) / 60:.1f} min; {machine()})")


if __name__ == "__main__":
    main()
