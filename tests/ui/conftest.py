from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk.config import DisplaySettings, Settings, default_settings
from kiosk.services import Services
from tests.ui.driver import StationDriver
from tests.ui.fakes import FakeBackend


@pytest.fixture
def ui_settings(tmp_path: Path) -> Settings:
    return default_settings(tmp_path / "data", display=DisplaySettings(lockdown=True))


@pytest.fixture
def launch(ui_settings: Settings, screenshot_dir: Path, tmp_path: Path) -> Iterator[Callable[..., StationDriver]]:
    """Starts a real KioskApp in a real window (Xvfb) with its services; one per test.

    launch(settings=..., backend=..., start_id=..., take_home_id=..., lang=...): the backend
    defaults to the in-memory FakeBackend (tests/ui/fakes.py).
    """
    started: list[tuple[Any, Services, Any]] = []

    def start(settings: Settings | None = None, backend: Any = None, **deep_link: Any) -> StationDriver:
        from kiosk.ui.boot import prepare_kivy

        settings = settings or ui_settings
        prepare_kivy(settings)
        from kivy.base import EventLoop

        from kiosk.ui.app import KioskApp

        services = Services(settings)
        services.start()
        backend = backend or FakeBackend(settings, tmp_path / "fake-content")
        app = KioskApp(services, backend=backend, **deep_link)
        started.append((app, services, backend))
        app._run_prepare()  # what App.run() does before its main loop; we pump the loop ourselves
        EventLoop.ensure_window()
        app.dispatch("on_start")
        driver = StationDriver(app, screenshot_dir, backend)
        driver.pump(0.3)
        return driver

    yield start

    from kivy.core.window import Window

    for app, services, backend in started:
        app.dispatch("on_stop")
        for child in list(Window.children):
            Window.remove_widget(child)
        services.stop()
        close = getattr(backend, "close", None)
        if close:
            close()


@pytest.fixture
def station(launch: Callable[..., StationDriver]) -> StationDriver:
    return launch()


def with_session(settings: Settings, **values: Any) -> Settings:
    return dataclasses.replace(settings, session=dataclasses.replace(settings.session, **values))
