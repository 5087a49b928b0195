"""Shared parts of the benchmarks: the seeded input file, RSS readings and the
figures table.  Figures are printed, never asserted: the bench machine is
shared and noisy, so a number is evidence, not a test."""
from __future__ import annotations

import os
import platform
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import orjson  # noqa: E402

DEFAULT_POSTS = 1_000_000
SEED = 2016


@dataclass(slots=True)
class Figure:
    """One measured figure beside its target.  ``higher_is_better`` decides the
    ratio's direction, so a ratio ≥ 1 always means the target is met."""

    name: str
    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = True
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.target is None or not self.value:
            return None
        return self.value / self.target if self.higher_is_better else self.target / self.value


def print_table(figures: list[Figure], title: str = "") -> None:
    if title:
        print(f"\n== {title}")
    rows = [("figure", "value", "target", "ratio", "note")]
    for f in figures:
        sign = "≥" if f.higher_is_better else "≤"
        rows.append((f.name, f"{f.value:,.1f} {f.unit}",
                     f"{sign} {f.target:,.{0 if f.target >= 100 else 1}f} {f.unit}" if f.target is not None else "-",
                     f"{f.ratio:.2f}" if f.ratio is not None else "-", f.note))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + ("  " + r[4] if r[4] else ""))
    sys.stdout.flush()


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    import detectors.tags

    build = "compiled with mypyc" if detectors.is_compiled(detectors.tags) else "source"
    return (f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}, load average {load:.1f}, detectors {build}")


def rss_mb(pid: int | str = "self", peak: bool = False) -> float:
    """Resident set size of a process now (or its peak so far), in MiB (Linux)."""
    field = "VmHWM:" if peak else "VmRSS:"
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


def ensure_posts(path: Path | None = None, posts: int = DEFAULT_POSTS) -> Path:
    """A seeded quiet_day file of at least ``posts`` posts (24 h of ordinary
    Iraqi traffic at the rate that yields that many); reused if present."""
    from scenarios.presets import PRESETS

    path = path or Path(tempfile.gettempdir()) / f"rasd-bench-quiet-{SEED}-{posts}.jsonl"
    if path.exists() and path.stat().st_size > 0:
        return path
    # quiet_day over 24 h yields ~1466 posts per post-per-minute of rate
    rate = posts / 1440
    partial = path.with_suffix(".part")
    with partial.open("wb") as out:
        for post in PRESETS["quiet_day"](seed=SEED, rate=rate, hours=24.0).posts:
            out.write(orjson.dumps(post) + b"\n")
    partial.rename(path)
    return path


def read_lines(path: Path, limit: int | None = None) -> list[bytes]:
    lines = []
    with path.open("rb") as f:
        for line in f:
            lines.append(line.rstrip(b"\n"))
            if limit is not None and len(lines) >= limit:
                break
    return lines
