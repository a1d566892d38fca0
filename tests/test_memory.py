"""kiosk.memory: with the allocator tuned, what Kivy-sized buffers free goes back to the
system even when small objects made between them live on (the soak bench's warm-up)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kiosk import memory

PROBE = """
import sys
def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
if sys.argv[1] == "tuned":
    from kiosk.memory import give_back_freed_memory, tune_allocator
    assert tune_allocator()
big = bytearray(8 << 20)
del big  # glibc raises its mmap threshold after freeing this
before = rss_mb()
keep, chunks = [], []
for _ in range(200):
    chunks.append(bytearray(1 << 20))  # a texture's pixels, freed when the screen goes
    keep.append(bytearray(1000))  # something small made meanwhile that stays
del chunks
if sys.argv[1] == "tuned":
    give_back_freed_memory()
print(rss_mb() - before)
"""

needs_glibc = pytest.mark.skipif(memory._libc() is None, reason="glibc's malloc only")


def _kept_mb(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return float(out)


@needs_glibc
def test_freed_buffers_go_back_to_the_system_once_tuned() -> None:
    assert _kept_mb("plain") > 100  # glibc's default keeps them (what the soak bench saw)
    assert _kept_mb("tuned") < 20


@needs_glibc
def test_tuning_and_trimming_are_safe_to_repeat() -> None:
    assert memory.tune_allocator()
    assert memory.tune_allocator()
    memory.give_back_freed_memory()
