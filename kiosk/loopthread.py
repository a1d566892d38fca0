"""A server on a thread of its own: its own asyncio loop and its own SQLite connection.

The phones' server and the clinic console both run this way inside the station's processes.
The lifecycle is the fiddly part (a start that reports why it failed, a stop that cleans up
in the loop's own thread, the socket and connection closed whichever way it ends), so it
is written once here and each server says only what it serves.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from pathlib import Path

import sqlite_utils

from kiosk.store import open_db

log = logging.getLogger(__name__)

__all__ = ["LoopThread"]

START_TIMEOUT = 30.0


class LoopThread:
    """Subclasses set `what` (for log lines), `thread_name`, and write `_setup()` (on the
    loop, once the database is open) and, when they need one, `_shutdown()` and `_prepare()`."""

    what = "the server"
    thread_name = "server"

    def __init__(self, db_path: Path) -> None:
        self._db_path = db_path
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._db: sqlite_utils.Database | None = None

    def _start_thread(self, sock: socket.socket) -> BaseException | None:
        """Serves on `sock` (already bound) from a new thread; returns why it could not start,
        or None once it is serving."""
        if self._thread is not None:
            sock.close()
            raise RuntimeError(f"{self.what} is already started")
        self._sock = sock
        self._ready.clear()
        self._startup_error = None
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT) and self._startup_error is None:
            self._startup_error = TimeoutError(f"it did not start within {START_TIMEOUT:.0f} seconds")
        if self._startup_error is not None:
            self._thread.join(5)
            self._thread = None
            return self._startup_error
        return None

    def _stop_thread(self, timeout: float) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("%s thread did not stop in time", self.what)
        self._thread = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._prepare(loop)
            self._db = open_db(self._db_path)
            loop.run_until_complete(self._setup())
        except BaseException as exc:
            log.exception("%s could not start", self.what)
            self._startup_error = exc
            self._ready.set()
            self._close(loop)
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(self._shutdown())
            except Exception:
                log.exception("stopping %s failed", self.what)
            self._close(loop)

    def _close(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._db is not None:
            self._db.close()
            self._db = None
        try:
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()

    # -- what each server says ----------------------------------------------------------------
    def _prepare(self, loop: asyncio.AbstractEventLoop) -> None:
        """Before the database opens, in the loop's thread: handlers, executors."""

    async def _setup(self) -> None:
        raise NotImplementedError

    async def _shutdown(self) -> None:
        """On the loop, after it stops: close what `_setup` opened."""
