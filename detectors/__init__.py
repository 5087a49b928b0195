"""Rasd's detection logic: pure, event-time driven, no Kafka or Faust.

In a checkout, ``setup.py`` compiles the per-post modules in place (mypyc).  A
compiled module is imported before its source, so a build older than the
source would run old code: refuse that, loudly."""
from pathlib import Path
from types import ModuleType


def is_compiled(module: ModuleType) -> bool:
    """Whether ``module`` was imported from its mypyc build, not its source."""
    return not str(module.__file__).endswith(".py")


def _refuse_stale_builds() -> None:
    here = Path(__file__).parent
    if not (here.parent / "setup.py").exists():
        return  # installed: built and copied together
    modules = list(here.glob("*.so"))
    if not modules:
        return
    # the code is in the shared library; a module's own .so is a stub that a rebuild may keep
    built_at = max(path.stat().st_mtime for path in modules + list(here.parent.glob("*__mypyc.*.so")))
    for module in modules:
        source = here / (module.name.split(".", 1)[0] + ".py")
        if source.exists() and source.stat().st_mtime > built_at:
            raise ImportError(f"detectors/{source.name} changed after the detectors were compiled: run "
                              "`make setup` to rebuild them, or delete detectors/*.so to run the source")


_refuse_stale_builds()
