"""Rasd's detection logic: pure, event-time driven, no Kafka or Faust.

The per-post modules may be compiled in place by ``setup.py`` (mypyc).  A
compiled module is imported before its source, so one built before its source
last changed would run old code: refuse that, loudly."""
from pathlib import Path


def _refuse_stale_builds() -> None:
    here = Path(__file__).parent
    for built in here.glob("*.so"):
        source = here / (built.name.split(".", 1)[0] + ".py")
        if source.exists() and source.stat().st_mtime > built.stat().st_mtime:
            raise ImportError(f"detectors/{built.name} was compiled before {source.name} last changed: "
                              "run `make setup` to rebuild it, or delete detectors/*.so to run the source")


_refuse_stale_builds()
