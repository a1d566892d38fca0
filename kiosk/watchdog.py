"""systemd notifications and the watchdog that restarts a frozen station.

Under systemd (kiosk.service: Type=notify, WatchdogSec=30) the station says READY=1 once
its screen is up, then must send WATCHDOG=1 at least every 30 s or systemd kills and
restarts it. The pings come from a small thread, but only while the UI loop is alive: the
UI calls `Watchdog.beat()` every second from a Kivy Clock interval, and the thread pings
only when the last beat is recent. A frozen UI loop stops the beats, the pings stop, and
systemd restarts the station; a live process with a dead screen is not enough.

No dependency: sd_notify is one datagram on an AF_UNIX socket. Outside systemd (no
$NOTIFY_SOCKET) everything here does nothing.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

# A beat older than this means the UI loop is stuck. The UI beats every second, so a few
# seconds of slack absorbs a busy frame without letting a real freeze keep the pings going.
DEFAULT_STALE_AFTER = 5.0


def notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Sends one sd_notify message ("READY=1", "WATCHDOG=1", "STATUS=..."); True if sent.

    $NOTIFY_SOCKET is a path, or an abstract socket name written with a leading "@".
    """
    env = os.environ if env is None else env
    address = env.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        log.debug("NOTIFY_SOCKET %r is not a Unix socket; not notifying", address)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
    except OSError as exc:
        log.warning("could not notify systemd (%s): %s", message.split("=", 1)[0], exc)
        return False
    return True


def watchdog_interval(env: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """Seconds between pings (half of $WATCHDOG_USEC), or None when no watchdog expects us.

    $WATCHDOG_PID, when set, names the process the watchdog is meant for: a child process
    that inherited the variables must not ping on its parent's behalf.
    """
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC", "")
    if not usec or not env.get("NOTIFY_SOCKET"):
        return None
    wanted_pid = env.get("WATCHDOG_PID", "")
    if wanted_pid and wanted_pid != str(os.getpid() if pid is None else pid):
        return None
    try:
        micros = int(usec)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not a number; watchdog off", usec)
        return None
    if micros <= 0:
        return None
    return micros / 1e6 / 2


class Watchdog:
    """Pings systemd's watchdog from a thread named "watchdog" while `beat()` is recent.

    Wiring: create and `start()` it when the station starts; `ready()`
    when the first screen is shown; schedule `beat()` every second on the UI loop;
    `stopping()` then `stop()` on the way out. Every method is safe to call when not running
    under systemd, and from any thread.
    """

    def __init__(self, *, env: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 stale_after: float = DEFAULT_STALE_AFTER,
                 send: Callable[[str], bool] | None = None):
        self._env = dict(os.environ if env is None else env)
        self._clock = clock
        self.stale_after = stale_after
        self.interval = watchdog_interval(self._env)
        self._send = send or (lambda message: notify(message, self._env))
        self._last_beat: float | None = None
        self._last_ping: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.pings = 0
        self.skipped = 0  # checks at which a ping was due but the beat was stale

    @property
    def under_systemd(self) -> bool:
        return bool(self._env.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self.interval is not None

    def beat(self) -> None:
        """Called by the UI loop (every second): it is alive."""
        self._last_beat = self._clock()

    def ready(self, status: str = "showing the welcome screen") -> None:
        """The station is up: systemd's start is complete and its watchdog starts counting."""
        self.beat()
        if self.under_systemd:
            self._send(f"READY=1\nSTATUS={status}")

    def status(self, text: str) -> None:
        if self.under_systemd:
            self._send(f"STATUS={text}")

    def stopping(self) -> None:
        if self.under_systemd:
            self._send("STOPPING=1")

    def heartbeat_fresh(self) -> bool:
        last = self._last_beat
        return last is not None and self._clock() - last <= self.stale_after

    def check(self) -> bool:
        """Pings if one is due and the UI loop is alive; True when it pinged."""
        if self.interval is None:
            return False
        now = self._clock()
        due = self._last_ping is None or now - self._last_ping >= self.interval
        if not due:
            return False
        if not self.heartbeat_fresh():
            self.skipped += 1
            if self.skipped == 1 or self.skipped % 10 == 0:
                age = "never" if self._last_beat is None else f"{now - self._last_beat:.0f} s ago"
                log.error("the UI loop has not beaten (last beat %s): not pinging the watchdog", age)
            return False
        if self.skipped:
            log.warning("the UI loop is beating again; watchdog pings resume")
            self.skipped = 0
        self._last_ping = now
        if self._send("WATCHDOG=1"):
            self.pings += 1
        return True

    def start(self) -> None:
        """Starts the thread when systemd expects pings; otherwise does nothing."""
        if self.interval is None or self._thread is not None:
            return
        # systemd ends a frozen station with SIGABRT: have Python print every thread's stack
        # to standard error (the journal) first, so the freeze can be found afterwards.
        if not faulthandler.is_enabled():
            faulthandler.enable(all_threads=True)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()
        log.info("watchdog pings every %.1f s while the UI loop beats", self.interval)

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)

    def _run(self) -> None:
        # Checking often (not just once per interval) lets a ping go out within a moment of
        # a stall ending, so only a stall of tens of seconds, not a few, costs a restart.
        tick = min(1.0, max(0.01, (self.interval or 1.0) / 4))
        while not self._stop.wait(tick):
            try:
                self.check()
            except Exception:  # the thread must outlive a bad moment, or the station restarts
                log.exception("watchdog check failed")
