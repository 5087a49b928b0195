"""The worker caps glibc's malloc arenas before its threads start, and gives
free pages from the middle of glibc's heap back to the system."""
import os
import subprocess
import sys
import textwrap

import pytest

from tests.harness import REPO

THREADS_ALLOCATING = textwrap.dedent("""
    import ctypes, sys, threading
    from streams.glibc_malloc import cap_arenas
    capped = sys.argv[1] == "cap" and cap_arenas()
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


# 100 MiB in glibc's heap (Python hands blocks over 512 bytes to malloc), then
# all but the last block freed: a free run in the middle of the heap, below a
# live block, that glibc keeps resident by itself
FREED_BELOW_A_LIVE_BLOCK = textwrap.dedent("""
    from streams.glibc_malloc import trim
    def rss_mib():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    blocks = [bytearray(2000) for _ in range(50_000)]
    live = blocks.pop()
    del blocks
    freed = rss_mib()
    released = trim()
    print(freed, rss_mib(), released, len(live))
""")


def run(program: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MALLOC_ARENA_MAX", None)
    return subprocess.run([sys.executable, "-c", program, *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=True)


def arenas_used(mode: str) -> tuple[int, str]:
    done = run(THREADS_ALLOCATING, mode)
    return done.stderr.count("Arena "), done.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_threads_share_two_malloc_arenas_once_capped():
    uncapped, _ = arenas_used("none")
    capped, applied = arenas_used("cap")
    assert uncapped > 2, "six allocating threads should each get an arena of their own"
    assert applied == "True" and capped <= 2, (uncapped, capped)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_trimming_gives_back_free_pages_below_a_live_block():
    freed, trimmed, released, _ = run(FREED_BELOW_A_LIVE_BLOCK).stdout.split()
    assert released == "True"
    assert float(freed) - float(trimmed) > 80, (freed, trimmed)
