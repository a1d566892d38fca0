"""The take-home server in a process of its own, as `kiosk run` starts it.

Why a process: in the station's own process the server shares the GIL with the screen. With
an exercise playing (the read-along redrawing), 100 phones asking at once waited 130-350 ms
for their first byte at the 99th percentile, against 30-60 ms for nginx in the same run
(bench/takehome.py); alone, the same server took 85 ms. In its own process the server runs
beside the screen on the other core, as the audio engine already does.

How: the parent binds the port (so a busy port still fails in `start`, with the same clear
error) and keeps the listening socket for as long as the station runs; the child gets a
duplicate of it over the pipe, serves it with TakeHomeServer, and logs through the parent
(`kiosk.logs.relay`), which alone writes the log files. A child that dies is started again
after RESTART_SECONDS; phones that connect meanwhile wait in the socket's backlog.
`kiosk serve` needs none of this: it is a process of its own already.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import socket
import threading
import time
from multiprocessing import reduction
from typing import TYPE_CHECKING, Any

from kiosk.logs import PipeLogHandler, RateLimit, name_process, relay
from kiosk.takehome.address import public_base_url
from kiosk.takehome.server import TakeHomeError, TakeHomeServer, bind

if TYPE_CHECKING:
    from kiosk.config import Settings

log = logging.getLogger(__name__)

RESTART_SECONDS = 2.0
START_TIMEOUT = 30.0


def _child_main(conn: multiprocessing.connection.Connection, settings: Settings, log_level: int) -> None:
    name_process("kiosk-takehome")
    lock = threading.Lock()

    def send(message: tuple[object, ...]) -> None:
        with lock:
            conn.send(message)

    # A storm of one kind of line is cut here, before it crosses the pipe.
    handler = PipeLogHandler(send)
    handler.addFilter(RateLimit())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(log_level)
    sock = socket.socket(fileno=reduction.recv_handle(conn))
    server = TakeHomeServer(settings)
    try:
        server.start(sock)
    except TakeHomeError as exc:
        send(("error", str(exc)))
        return
    send(("ready",))
    with contextlib.suppress(EOFError, OSError):
        conn.recv()  # "stop", or the parent gone
    server.stop()


class TakeHomeProcess:
    """What the station needs of its take-home server (start, stop, addresses), with the
    server in a child process named "kiosk-takehome"."""

    def __init__(self, settings: Settings, *, restart_seconds: float = RESTART_SECONDS):
        self.settings = settings
        self.port: int | None = None
        self._restart_seconds = restart_seconds
        self._sock: socket.socket | None = None
        self._proc: Any = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._ready = threading.Event()
        self._error: str | None = None
        self._closing = False
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return public_base_url(self.settings, port=self.port)

    def url_for(self, token: str) -> str:
        return f"{self.base_url}/t/{token}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        if self._sock is not None:
            raise RuntimeError("the take-home server is already started")
        self._sock = bind(self.settings)  # TakeHomeError, as the in-process server
        self.port = self._sock.getsockname()[1]
        self._spawn()
        if not self._ready.wait(START_TIMEOUT):
            self._error = self._error or f"it did not start within {START_TIMEOUT:.0f} seconds"
        if self._error is not None:
            error = self._error
            self.stop()
            raise TakeHomeError(f"the take-home server could not start: {error}")
        log.info("take-home server listening on port %d (process %s)", self.port, self.pid)

    def stop(self) -> None:
        with self._lock:
            self._closing = True
            proc, conn, sock = self._proc, self._conn, self._sock
            self._proc = self._conn = self._sock = None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send("stop")
        if proc is not None:
            proc.join(10)
            if proc.is_alive():
                log.warning("the take-home process did not stop in time")
                proc.kill()
                proc.join(5)
        if conn is not None:
            conn.close()
        if sock is not None:
            sock.close()
        if proc is not None:
            log.info("take-home server stopped")

    def _spawn(self) -> None:
        assert self._sock is not None
        ctx = multiprocessing.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe()
        proc = ctx.Process(target=_child_main, name="kiosk-takehome", daemon=True,
                           args=(child_conn, self.settings, logging.getLogger().getEffectiveLevel()))
        self._ready.clear()
        proc.start()
        child_conn.close()
        reduction.send_handle(parent_conn, self._sock.fileno(), proc.pid)
        self._proc, self._conn = proc, parent_conn
        threading.Thread(target=self._read_loop, args=(parent_conn, proc), name="takehome-events",
                         daemon=True).start()

    def _read_loop(self, conn: multiprocessing.connection.Connection, proc: Any) -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            if message[0] == "log":
                relay(message, "take-home")
            elif message[0] == "ready":
                self._ready.set()
            elif message[0] == "error":
                self._error = str(message[1])
                self._ready.set()
        proc.join(5)
        if not self._ready.is_set():
            self._error = self._error or f"its process ended (exit code {proc.exitcode})"
            log.error("the take-home process could not start: %s", self._error)
            self._ready.set()
            return
        while True:
            time.sleep(self._restart_seconds)
            with self._lock:
                if self._closing or proc is not self._proc:
                    return
                log.error("the take-home process stopped (exit code %s); starting a new one",
                          proc.exitcode)
                try:
                    self._spawn()
                    return
                except Exception:
                    log.exception("starting a new take-home process failed; trying again")
