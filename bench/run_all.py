"""Every Rasd benchmark, then one table of figures, targets and ratios.

    .venv/bin/python bench/run_all.py [--quick]

Backtest throughput over ≥ 1 M posts beside its floor, live throughput with
one and two workers, alert latency, and memory with 1 M distinct tags.  About
12 minutes on an idle 2-core machine (the seeded input file is generated once,
~1 minute, and reused from the temp directory afterwards).  ``--quick`` runs
everything at a tenth of the size, to check the benches themselves.
"""
from __future__ import annotations

import argparse
import time

from common import DEFAULT_POSTS, Figure, machine, print_table

import latency
import live
import memory
import throughput


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
        ("live throughput", lambda: live.run(int(100_000 * scale), cap_seconds=150 * scale + 30)),
        ("alert latency", lambda: latency.run(bursts=8 if not args.quick else 2)),
        ("memory", lambda: memory.run(int(1_000_000 * scale))),
    ]
    for title, step in steps:
        begun = time.monotonic()
        found = step()
        print_table(found, f"{title} ({time.monotonic() - begun:.0f} s)")
        figures.extend(found)
    print_table(figures, f"all figures ({(time.monotonic() - started) / 60:.1f} min; {machine()})")


if __name__ == "__main__":
    main()
