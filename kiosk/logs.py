"""The station's log: a rotating file in the data folder, with the thread name on each line.

A station is debugged from this file after the fact, so every line says which thread wrote
it (UI, audio feeder, take-home server...).

Two files, so that noise cannot wipe what an administrator may need:
  - `kiosk.log` (5 x 2 MB) takes everything. A line repeated in a storm (asyncio's "accept()
    out of system resource" at the descriptor limit, a scanner's malformed requests) is kept
    to `RATE_BURST` lines a minute for each kind of line (logger, level, message pattern);
    the next line of that kind written after the minute says how many were left out.
  - `records.log` (4 x 1 MB) takes only the records: take-home links issued, revoked and
    purged, completed downloads, and the clinic console's audit lines (sign-ins, wrong
    passwords, every change made there). These come at the pace of people at the station, so the
    file rotates in months, whatever the rest of the log does.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s [%(threadName)s] %(name)s: %(message)s"
LOG_FILE_NAME = "kiosk.log"
RECORDS_FILE_NAME = "records.log"
RECORDS_LOGGER = "kiosk.takehome.records"
RECORD_SOURCES = (RECORDS_LOGGER, "kiosk.takehome.links", "kiosk.console.audit")
RATE_BURST = 20
RATE_WINDOW = 60.0


class RateLimit(logging.Filter):
    """At most `burst` lines of one kind per `window` seconds; the rest are counted.

    A kind is (logger, level, message pattern, and a record's `rate_key` if it has one). The
    decision is made once per record, so one instance can sit on several handlers.
    """

    MAX_KINDS = 2000

    def __init__(self, burst: int = RATE_BURST, window: float = RATE_WINDOW,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.burst, self.window, self.clock = burst, window, clock
        self._kinds: OrderedDict[tuple[object, ...], list[float]] = OrderedDict()
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        decided = getattr(record, "_kiosk_rate", None)
        if decided is not None:
            return bool(decided)
        passed = self._decide(record)
        record._kiosk_rate = passed
        return passed

    def _decide(self, record: logging.LogRecord) -> bool:
        if record.name in RECORD_SOURCES:
            return True
        key = (record.name, record.levelno, str(record.msg), getattr(record, "rate_key", None))
        now = self.clock()
        entry = self._kinds.get(key)  # [window start, lines written, lines left out]
        if entry is None or now - entry[0] >= self.window:
            left_out = int(entry[2]) if entry is not None else 0
            self._kinds[key] = [now, 1, 0]
            self._kinds.move_to_end(key)
            while len(self._kinds) > self.MAX_KINDS:
                self._kinds.popitem(last=False)
            if left_out:
                record.msg = (f"{record.getMessage()} ({left_out} more like this left out "
                              f"in the last {self.window:.0f} s)")
                record.args = ()
            return True
        if entry[1] < self.burst:
            entry[1] += 1
            return True
        entry[2] += 1
        self.suppressed += 1
        return False


class _Records(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name in RECORD_SOURCES


def setup_logging(log_dir: Path | None, *, verbose: bool = False, console: bool = False) -> Path | None:
    """Send every logger to a rotating file (5 x 2 MB), records also to their own; returns
    the main file's path.

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
    rate = RateLimit()
    log_path: Path | None = None
    handlers: list[logging.Handler] = []
    if log_dir is not None:
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            log_path = log_dir / LOG_FILE_NAME
            main = logging.handlers.RotatingFileHandler(
                log_path, maxBytes=2_000_000, backupCount=5, encoding="utf-8")
            main.addFilter(rate)
            records = logging.handlers.RotatingFileHandler(
                log_dir / RECORDS_FILE_NAME, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
            records.addFilter(_Records())
            records.setLevel(logging.INFO)
            handlers += [main, records]
        except OSError:
            log_path = None
            console = True
    if console:
        stream = logging.StreamHandler(sys.stderr)
        stream.setLevel(logging.WARNING)
        stream.addFilter(rate)
        handlers.append(stream)
    for handler in handlers:
        handler.setFormatter(formatter)
        handler._kiosk = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    return log_path


# -- the station's child processes (the audio engine, the take-home server) log through it --

class PipeLogHandler(logging.Handler):
    """In a child process: each record goes to the parent (`relay`), which writes it to the
    station's files. One writer per file: two processes rotating the same file lose lines."""

    def __init__(self, send: Callable[[tuple[object, ...]], object]):
        super().__init__(logging.DEBUG)
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # the parent is gone: nothing useful to do
            self._send(("log", record.levelno, record.name, record.threadName, str(record.msg),
                        record.getMessage()))


def name_process(name: str) -> None:
    """Names this process as ps, top and /proc/PID/comm show it (at most 15 characters):
    the station's children are all `python` otherwise."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def relay(message: tuple[object, ...], process: str) -> None:
    """In the parent: writes a record sent by a child's PipeLogHandler. The child's message
    pattern goes with it, so the rate limit still tells its kinds of line apart."""
    _, level, name, thread, pattern, text = message
    logging.getLogger(str(name)).log(int(level), "[%s process, %s] %s", process, thread, text,  # type: ignore[call-overload]
                                     extra={"rate_key": pattern})
