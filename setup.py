"""Builds Rasd's per-post detector modules as C extensions with mypyc.

Everything else is in ``pyproject.toml``.  The compiled modules are the same
source, type-checked and translated: ~1.45x the backtest's posts per
CPU-second (see docs/benchmarks.md).  ``RASD_PURE_PYTHON=1``, or a machine without a C
compiler, installs them as plain Python, with the same results.
"""
import os
import shutil
import sys

from setuptools import setup

# the modules every post or tag hit goes through, and the summary stage with
# variant grouping (every summarised tag, every minute); outage and config do
# little per minute and stay interpreted
COMPILED = ["alerts", "campaign", "emerging", "pipeline", "platforms", "records", "summaries", "tags", "text",
            "variants", "volume", "windows"]


def ext_modules() -> list:
    if os.environ.get("RASD_PURE_PYTHON"):
        return []
    if shutil.which(os.environ.get("CC", "cc")) is None:
        print("rasd: no C compiler found, the detectors are installed as pure Python", file=sys.stderr)
        return []
    from mypyc.build import mypycify

    return mypycify(["--ignore-missing-imports", "--follow-imports=silent",
                     *(f"detectors/{name}.py" for name in COMPILED)], opt_level="3")


setup(ext_modules=ext_modules())
