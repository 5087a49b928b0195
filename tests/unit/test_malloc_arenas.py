"""The worker caps glibc's malloc arenas before its threads start."""
import os
import subprocess
import sys
import textwrap

import pytest

from tests.harness import REPO

THREADS_ALLOCATING = textwrap.dedent("""
    import ctypes, sys, threading
    from streams.cli import cap_malloc_arenas
    capped = sys.argv[1] == "cap" and cap_malloc_arenas()
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    started, release = threading.Barrier(7), threading.Event()
    def allocate():
        blocks = [libc.malloc(4096) for _ in range(64)]
        started.wait()
        release.wait()
    threads = [threading.Thread(target=allocate) for _ in range(6)]
    for thread in threads:
        thread.start()
    started.wait()
    libc.malloc_stats()  # one "Arena N:" paragraph per heap, on stderr
    release.set()
    print(capped)
""")


def arenas_used(mode: str) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MALLOC_ARENA_MAX", None)
    done = subprocess.run([sys.executable, "-c", THREADS_ALLOCATING, mode], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stderr.count("Arena "), done.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_threads_share_two_malloc_arenas_once_capped():
    uncapped, _ = arenas_used("none")
    capped, applied = arenas_used("cap")
    assert uncapped > 2, "six allocating threads should each get an arena of their own"
    assert applied == "True" and capped <= 2, (uncapped, capped)
