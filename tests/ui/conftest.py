from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.config import DisplaySettings, Settings, default_settings
from kiosk.services import Services
from tests.ui.driver import StationDriver


@pytest.fixture
def ui_settings(tmp_path: Path) -> Settings:
    return default_settings(tmp_path / "data", display=DisplaySettings(lockdown=True))


@pytest.fixture
def station(ui_settings: Settings, screenshot_dir: Path) -> Iterator[StationDriver]:
    """A real KioskApp in a real window (Xvfb), with its services started."""
    from kiosk.ui.boot import prepare_kivy

    prepare_kivy(ui_settings)
    from kivy.base import EventLoop
    from kivy.core.window import Window

    from kiosk.ui.app import KioskApp

    services = Services(ui_settings)
    services.start()
    app = KioskApp(services)
    app._run_prepare()  # what App.run() does before the main loop; we pump the loop ourselves
    EventLoop.ensure_window()
    driver = StationDriver(app, screenshot_dir)
    driver.pump(0.3)
    try:
        yield driver
    finally:
        app.dispatch("on_stop")
        for child in list(Window.children):
            Window.remove_widget(child)
        services.stop()
