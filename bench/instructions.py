"""Backtest and floor counted in instructions (callgrind), not seconds.

On the shared bench machine one backtest's posts/s moves by ±8-30 % from run
to run, more than most single changes are worth; the number of instructions
the same run executes moves by well under 1 %.  This runs the backtest and the
floor (``throughput.py``) over the first ``--posts`` posts of the bench file
under ``valgrind --tool=callgrind``, subtracts what the imports alone cost (the
same program over zero posts) and prints instructions per post and the floor's
share.  Instructions do not count memory stalls, a large share of the
backtest's time: use this to compare two builds, and posts/s for the targets.

Needs valgrind (Debian's ``valgrind``; not installed by ``make setup``).
A 60 000-post count takes ~3 minutes.  Not part of ``run_all.py``.

Usage: .venv/bin/python bench/instructions.py [--posts N] [--data FILE]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import REPO, Figure, ensure_posts, machine, print_table, read_lines

BENCH = Path(__file__).resolve().parent
# the child: one of throughput.py's loops over a file, nothing else
CHILD = """
import sys
sys.path[:0] = [{bench!r}, {repo!r}]
from pathlib import Path
import throughput
getattr(throughput, sys.argv[1])(Path(sys.argv[2]))
"""


def count(loop: str, path: Path) -> int:
    """Instructions of ``python -c CHILD loop path`` under callgrind."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # same dict layouts, same count
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, "-c", CHILD.format(bench=str(BENCH), repo=str(REPO)), loop, str(path)],
        env=env, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no count:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def run(posts: int = 60_000, data: Path | None = None) -> list[Figure]:
    if shutil.which("valgrind") is None:
        raise SystemExit("bench/instructions.py needs valgrind (apt-get install valgrind)")
    lines = read_lines(ensure_posts(data), posts)
    with tempfile.TemporaryDirectory() as scratch:
        sample, empty = Path(scratch) / "sample.jsonl", Path(scratch) / "empty.jsonl"
        sample.write_bytes(b"\n".join(lines) + b"\n")
        empty.write_bytes(b"")
        per_post = {}
        for loop in ("floor_loop", "full_loop"):
            imports = count(loop, empty)
            per_post[loop] = (count(loop, sample) - imports) / len(lines)
    floor, full = per_post["floor_loop"], per_post["full_loop"]
    return [
        Figure("floor, instructions per post", floor, "instr", higher_is_better=False,
               note=f"{len(lines):,} posts, the imports subtracted"),
        Figure("full detection, instructions per post", full, "instr", higher_is_better=False,
               note="callgrind; memory stalls not counted"),
        Figure("floor / full detection, in instructions", 100 * floor / full, "%"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=60_000)
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    print(machine())
    print_table(run(args.posts, args.data), "backtest counted in instructions")


if __name__ == "__main__":
    main()
