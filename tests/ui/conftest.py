from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk.config import (
    ContentSettings,
    DisplaySettings,
    Settings,
    TakeHomeSettings,
    default_settings,
)
from kiosk.services import Services
from tests.ui.driver import StationDriver
from tests.ui.fakes import FakeBackend, fake_player


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def ui_settings(tmp_path: Path) -> Settings:
    port = free_port()
    take_home = TakeHomeSettings(bind="127.0.0.1", port=port, public_address=f"127.0.0.1:{port}")
    # No demo import at start: the fake catalogue serves these tests, and the journey on the
    # real catalogue copies a data folder where the demo was imported once per session.
    return default_settings(tmp_path / "data", display=DisplaySettings(lockdown=True),
                            take_home=take_home, content=ContentSettings(demo_pack=""))


@pytest.fixture
def launch(ui_settings: Settings, screenshot_dir: Path, tmp_path: Path) -> Iterator[Callable[..., StationDriver]]:
    """Starts a real KioskApp in a real window (Xvfb) with its services; one per test.

    launch(settings=..., backend=..., window_size=..., start_id=..., take_home_id=..., lang=...): the backend
    defaults to FakeBackend (tests/ui/fakes.py): the real catalogue holding a few test
    exercises, the real take-home links, QR codes and server on loopback; the services start a
    fake player (tests/ui/fakes.py fake_player), reached as `driver.backend.player`.
    """
    started: list[tuple[Any, Services, Any]] = []

    def start(settings: Settings | None = None, backend: Any = None,
              backend_factory: Callable[[Services], Any] | None = None,
              window_size: tuple[int, int] | None = None, **deep_link: Any) -> StationDriver:
        from kiosk.ui.boot import prepare_kivy

        settings = settings or ui_settings
        prepare_kivy(settings)
        from kivy.base import EventLoop

        from kiosk.ui.app import KioskApp

        services = Services(settings, player_factory=fake_player)
        services.start()  # the real take-home server too, when the settings enable it
        if backend_factory is not None:
            backend = backend_factory(services)
        backend = backend or FakeBackend(settings, services=services)
        app = KioskApp(services, backend=backend, **deep_link)
        started.append((app, services, backend))
        # One window serves every test: sized (back) here, once this app is the running one,
        # since the last test's widgets redo their kv when the window changes and kv's `app`
        # would cache whichever app is running then.
        from kivy.core.window import Window

        wanted = window_size or (settings.display.width, settings.display.height)
        if tuple(Window.size) != tuple(wanted):
            Window.size = wanted
        app._run_prepare()  # what App.run() does before its main loop; we pump the loop ourselves
        EventLoop.ensure_window()
        app.dispatch("on_start")
        driver = StationDriver(app, screenshot_dir, backend)
        driver.pump(0.3)
        return driver

    yield start

    from kivy.core.window import Window

    for app, services, _backend in started:
        app.dispatch("on_stop")
        for child in list(Window.children):
            Window.remove_widget(child)
        services.stop()


@pytest.fixture
def station(launch: Callable[..., StationDriver]) -> StationDriver:
    return launch()


def with_session(settings: Settings, **values: Any) -> Settings:
    return dataclasses.replace(settings, session=dataclasses.replace(settings.session, **values))
