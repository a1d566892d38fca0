"""The content lock: one import, removal or leftover cleaning changes the content folder at
a time, across processes (the station and the CLI)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["ContentBusy", "content_lock", "content_lock_path"]


class ContentBusy(Exception):
    """Another import or removal is changing the content folder right now."""


def content_lock_path(content_dir: Path) -> Path:
    """The lock that imports, removals and leftover cleaning hold while they change files.

    Beside the content folder rather than in it, so that the folder holds only what rows
    reference (and a refused import leaves it byte for byte as it was).
    """
    return content_dir.with_name(content_dir.name + ".lock")


@contextlib.contextmanager
def content_lock(content_dir: Path, *, wait: bool = False) -> Iterator[None]:
    """Holds the content folder's lock (an flock, released by the kernel if we die)."""
    path = content_lock_path(content_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise ContentBusy(
                "another import or removal is changing the content right now; "
                "try again when it has finished"
            ) from None
        yield
    finally:
        os.close(fd)
