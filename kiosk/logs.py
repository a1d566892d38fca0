"""The station's log: a rotating file in the data folder, with the thread name on each line.

A station is debugged from this file after the fact, so every line says which thread wrote
it (UI, audio feeder, take-home server...).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s [%(threadName)s] %(name)s: %(message)s"
LOG_FILE_NAME = "kiosk.log"


def setup_logging(log_dir: Path | None, *, verbose: bool = False, console: bool = False) -> Path | None:
    """Send every logger to a rotating file (5 x 2 MB); returns the file's path.

    With no writable folder the station still runs; the log then goes to standard error.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_kiosk", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # Under systemd, warnings also go to the journal (stderr is connected to it).
    console = console or "JOURNAL_STREAM" in os.environ
    formatter = logging.Formatter(FORMAT)
    log_path: Path | None = None
    handlers: list[logging.Handler] = []
    if log_dir is not None:
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            log_path = log_dir / LOG_FILE_NAME
            handlers.append(
                logging.handlers.RotatingFileHandler(
                    log_path, maxBytes=2_000_000, backupCount=5, encoding="utf-8"
                )
            )
        except OSError:
            log_path = None
            console = True
    if console:
        stream = logging.StreamHandler(sys.stderr)
        stream.setLevel(logging.WARNING)
        handlers.append(stream)
    for handler in handlers:
        handler.setFormatter(formatter)
        handler._kiosk = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    return log_path
