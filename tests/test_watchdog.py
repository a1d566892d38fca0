"""sd_notify over a real AF_UNIX datagram socket, and the watchdog that follows the UI's beat."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.watchdog import Watchdog, notify, watchdog_interval


class FakeSystemd:
    """The receiving end of $NOTIFY_SOCKET, as systemd holds it."""

    def __init__(self, address: str, bind_to: str):
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(bind_to)

    def receive(self, timeout: float = 2.0) -> str | None:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096).decode()
        except TimeoutError:
            return None

    def drain(self) -> list[str]:
        messages = []
        while (message := self.receive(timeout=0.01)) is not None:
            messages.append(message)
        return messages

    def env(self, watchdog_usec: int | None = None, pid: int | None = None) -> dict[str, str]:
        env = {"NOTIFY_SOCKET": self.address}
        if watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        if pid is not None:
            env["WATCHDOG_PID"] = str(pid)
        return env

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[FakeSystemd]:
    path = str(tmp_path / "notify.sock")
    fake = FakeSystemd(path, path)
    yield fake
    fake.close()


@pytest.fixture
def abstract_systemd() -> Iterator[FakeSystemd]:
    name = f"kiosk-test-{uuid.uuid4().hex}"
    fake = FakeSystemd("@" + name, "\0" + name)
    yield fake
    fake.close()


def test_notify_to_a_socket_path(systemd: FakeSystemd) -> None:
    assert notify("READY=1", systemd.env())
    assert systemd.receive() == "READY=1"


def test_notify_to_an_abstract_socket(abstract_systemd: FakeSystemd) -> None:
    assert notify("STATUS=showing the welcome screen", abstract_systemd.env())
    assert abstract_systemd.receive() == "STATUS=showing the welcome screen"


def test_notify_without_systemd_does_nothing() -> None:
    assert notify("READY=1", {}) is False
    assert notify("READY=1", {"NOTIFY_SOCKET": "vsock:2:1234"}) is False


def test_notify_to_a_missing_socket_fails_quietly(tmp_path: Path) -> None:
    assert notify("WATCHDOG=1", {"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}) is False


def test_interval_is_half_of_watchdog_usec() -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000"}
    assert watchdog_interval(env) == 15.0
    assert watchdog_interval({**env, "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert watchdog_interval({**env, "WATCHDOG_PID": "1"}, pid=4242) is None  # meant for another
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) is None  # nowhere to send
    assert watchdog_interval({**env, "WATCHDOG_USEC": "soon"}) is None
    assert watchdog_interval({**env, "WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval({"NOTIFY_SOCKET": "/run/x"}) is None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_pings_only_while_the_beat_is_fresh(systemd: FakeSystemd) -> None:
    clock = Clock()
    dog = Watchdog(env=systemd.env(watchdog_usec=30_000_000), clock=clock, stale_after=5)
    assert dog.interval == 15.0
    assert not dog.check()  # no beat yet: the UI has not come up
    dog.ready()
    assert systemd.receive() == "READY=1\nSTATUS=showing the welcome screen"

    assert dog.check()
    assert systemd.receive() == "WATCHDOG=1"
    clock.now += 10
    dog.beat()
    assert not dog.check()  # not due yet
    clock.now += 5
    assert dog.check()  # due, and the beat is 5 s old
    assert systemd.receive() == "WATCHDOG=1"

    # The UI loop freezes: beats stop, and so do the pings, however often we check.
    for _ in range(40):
        clock.now += 1
        dog.check()
    assert systemd.drain() == []
    assert dog.skipped > 0

    # It comes back: the next check pings at once.
    dog.beat()
    assert dog.check()
    assert systemd.receive() == "WATCHDOG=1"
    assert dog.skipped == 0


def test_thread_follows_a_real_ui_loop(systemd: FakeSystemd) -> None:
    # WatchdogSec=0.4 s: pings every 0.2 s, checked every 0.05 s.
    dog = Watchdog(env=systemd.env(watchdog_usec=400_000), stale_after=0.15)
    beating = threading.Event()
    beating.set()
    done = threading.Event()

    def ui_loop() -> None:
        while not done.is_set():
            if beating.is_set():
                dog.beat()
            time.sleep(0.02)

    ui = threading.Thread(target=ui_loop, name="ui")
    ui.start()
    dog.ready()
    dog.start()
    try:
        assert any(t.name == "watchdog" for t in threading.enumerate())
        assert systemd.receive() == "READY=1\nSTATUS=showing the welcome screen"
        pings = [systemd.receive(timeout=5) for _ in range(3)]
        assert pings == ["WATCHDOG=1"] * 3

        beating.clear()  # the UI loop freezes
        time.sleep(0.5)  # beat goes stale; a ping already on its way may still land
        systemd.drain()
        assert systemd.receive(timeout=0.8) is None

        beating.set()  # and recovers
        assert systemd.receive(timeout=5) == "WATCHDOG=1"
    finally:
        done.set()
        ui.join()
        dog.stop()
    assert not any(t.name == "watchdog" for t in threading.enumerate())


def test_outside_systemd_nothing_runs() -> None:
    sent: list[str] = []

    def send(message: str) -> bool:
        sent.append(message)
        return True

    dog = Watchdog(env={}, send=send)
    assert not dog.enabled and not dog.under_systemd
    dog.start()
    dog.ready()
    dog.beat()
    dog.status("x")
    dog.stopping()
    assert not dog.check()
    dog.stop()
    assert sent == []
    assert not any(t.name == "watchdog" for t in threading.enumerate())


def test_notify_without_watchdog_still_reports_ready(systemd: FakeSystemd) -> None:
    # Type=notify with no WatchdogSec: READY and STATUS go out, no thread starts.
    dog = Watchdog(env=systemd.env())
    assert dog.under_systemd and not dog.enabled
    dog.start()
    dog.ready("up")
    dog.stopping()
    assert systemd.drain() == ["READY=1\nSTATUS=up", "STOPPING=1"]
