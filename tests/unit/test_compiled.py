"""The detector modules ``setup.py`` compiles with mypyc are the ones that run,
and they give exactly what their Python source gives."""
from __future__ import annotations

import ast
import importlib
import os
import shutil
import subprocess
import sys

import orjson
import pytest

from detectors import is_compiled
from detectors.pipeline import run_lines
from detectors.records import PlatformMinute, TagHit, TagMinute
from scenarios.presets import PRESETS
from tests.harness import REPO

NOW = 1_700_000_000.0


def compiled_names() -> list[str]:
    """``COMPILED`` as setup.py lists it (setup.py runs the build when imported)."""
    tree = ast.parse((REPO / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "COMPILED":
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py has no COMPILED list")


def test_the_listed_modules_are_the_compiled_ones():
    modules = [importlib.import_module(f"detectors.{name}") for name in compiled_names()]
    if not any(map(is_compiled, modules)):
        pytest.skip("detectors installed as pure Python (RASD_PURE_PYTHON or no C compiler)")
    assert [m.__name__ for m in modules if not is_compiled(m)] == []


def test_the_detectors_type_check(tmp_path):
    """mypyc compiles from these types, and checks only the modules it compiles:
    the ones left as Python (config, outage) would drift unnoticed."""
    # (a child process: mypy's api changes this one's garbage collector settings)
    run = subprocess.run([sys.executable, "-m", "mypy", "--ignore-missing-imports", "--cache-dir", str(tmp_path),
                          str(REPO / "detectors")], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_build_older_than_its_source_is_refused(tmp_path):
    package = tmp_path / "detectors"
    package.mkdir()
    (tmp_path / "setup.py").write_text("")
    shutil.copy(REPO / "detectors" / "__init__.py", package)
    (package / "tags.py").write_text("")
    built = package / "tags.cpython-311-x86_64-linux-gnu.so"
    built.write_bytes(b"")
    os.utime(built, (1_000_000_000, 1_000_000_000))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", "import detectors"], capture_output=True, text=True,
                         env=env, cwd=tmp_path)
    assert run.returncode == 1
    assert "detectors/tags.py changed after the detectors were compiled" in run.stderr
    os.utime(built)  # built after the source: accepted
    assert subprocess.run([sys.executable, "-c", "import detectors"], env=env, cwd=tmp_path).returncode == 0


BACKTEST = """
import sys, orjson
import detectors.tags
from detectors.pipeline import run_lines
assert detectors.tags.__file__ == sys.argv[2], detectors.tags.__file__
lines = sys.stdin.buffer.read().splitlines()
sys.stdout.buffer.write(orjson.dumps([a.to_json() for a in run_lines(lines, now=float(sys.argv[1]))]))
"""


@pytest.mark.parametrize("preset", ["counter_campaign", "platform_outage"])
def test_compiled_and_source_give_the_same_alerts(preset, tmp_path):
    import detectors.tags

    if not is_compiled(detectors.tags):
        pytest.skip("detectors installed as pure Python: nothing to compare")
    # the source alone, first on the path, so the compiled modules are not found
    shutil.copytree(REPO / "detectors", tmp_path / "detectors",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    lines = [orjson.dumps(post) for post in PRESETS[preset]().posts]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    source = subprocess.run([sys.executable, "-c", BACKTEST, str(NOW), str(tmp_path / "detectors" / "tags.py")],
                            input=b"\n".join(lines), capture_output=True, env=env, cwd=tmp_path, check=True,
                            timeout=600)
    compiled = [a.to_json() for a in run_lines(lines, now=NOW)]
    assert compiled, "the scenario raised no alert: nothing compared"
    assert orjson.loads(source.stdout) == orjson.loads(orjson.dumps(compiled))


def test_records_cross_the_wire_and_back():
    # the worker's agents pass these between topics: no introspection a compiled class lacks
    minute = TagMinute(key="k", display="#K", minute=60.0, posts=3, authors=2, expected=1.5, score=2.0,
                       surging=True, firing=False, surfaces=[("K", 3)], top_authors=[("a", 2)],
                       author_hashes=[7, 9], sample_post_ids=["p1"], cotags=[("x", 1)],
                       coordination={"posts": 3})
    hit = TagHit("k", "K", "p1", "a", 61.5, "twitter", "text #K", ("x",), 10.0, None, 2, 41)
    platform_minute = PlatformMinute("twitter", 60.0, 12, 9, "twitter/0")
    assert TagMinute.from_wire(minute.to_wire()) == minute
    assert TagHit.from_wire(hit.to_wire()) == hit
    assert PlatformMinute.from_wire(platform_minute.to_wire()) == platform_minute
