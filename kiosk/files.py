"""Writing a file so that a crash or power cut never leaves half of it (the config, the PIN
lock-out's state)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, mode: int | None = None,
                     owner: tuple[int, int] | None = None) -> None:
    """Replace `path` with `data` so that a crash or power cut leaves the old file or the
    new one, never a mix: temporary file in the same folder, fsync, rename, fsync folder.
    `mode` and `owner` (uid, gid) are given to the new file before it takes the old one's
    place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        if owner is not None:
            os.chown(tmp, *owner)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
