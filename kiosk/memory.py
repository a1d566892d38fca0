"""The station's heap, kept compact over months of visitors (glibc's malloc; a no-op elsewhere).

bench/soak.py found the station's RSS climbing by about 100 MB over its first 25 visits and
then holding: no leak, but glibc's heap keeping what Kivy freed. Each screen shown renders
textures whose pixel buffers (often 0.2-4 MB) are allocated and freed again; glibc raises its
mmap threshold after the first such free, so later ones come from the main heap, where
freed holes between live objects are never handed back, and every thread's own arena keeps
its share too. Pinning the threshold sends large buffers to mmap (returned on free), two
arenas bound the per-thread copies, and a trim after each visit hands back the free pages at
the heap's top. What it cost and saved is in bench/results.md (soak).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
LARGE = 128 * 1024  # glibc's own starting threshold, kept fixed
ARENAS = 2


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018 - glibc only (musl has none)
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def tune_allocator() -> bool:
    """Once, early in the station's process. False where the C library is not glibc."""
    libc = _libc()
    if libc is None:
        return False
    ok = all(libc.mallopt(option, value) == 1 for option, value in (
        (_M_MMAP_THRESHOLD, LARGE), (_M_TRIM_THRESHOLD, LARGE), (_M_ARENA_MAX, ARENAS)))
    if not ok:
        log.warning("the C library refused a malloc setting; the heap is left as it is")
    return ok


def give_back_freed_memory() -> None:
    """Hands the heap's free pages back to the system (between visitors: it takes a few ms)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
