"""Prepares Kivy for a kiosk and runs the station's window.

Kivy reads its environment and `Config` when first imported and creates the window on
first use, so everything here must happen before any other Kivy import.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.config import Settings

if TYPE_CHECKING:
    from kiosk.services import Services

log = logging.getLogger(__name__)

STOP_CHECK_SECONDS = 0.2  # how soon a SIGTERM is acted on


def prepare_kivy(settings: Settings) -> None:
    os.environ.setdefault("KIVY_NO_ARGS", "1")  # our CLI owns the command line
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")  # Kivy logs into the station's log file
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    kivy_home = Path(os.environ.setdefault("KIVY_HOME", str(settings.data_dir / "kivy")))
    kivy_home.mkdir(parents=True, exist_ok=True)
    from kivy.config import Config

    display = settings.display
    # Kivy's defaults quit on Escape and open a settings panel on F1: never on a kiosk.
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "pause_on_minimize", "0")
    Config.set("kivy", "keyboard_mode", "system")
    Config.set("input", "mouse", "mouse,disable_multitouch")  # no red dots on right-click
    Config.set("graphics", "fullscreen", "auto" if display.fullscreen else "0")
    Config.set("graphics", "borderless", "1" if display.fullscreen else "0")
    Config.set("graphics", "width", str(display.width))
    Config.set("graphics", "height", str(display.height))
    Config.set("graphics", "show_cursor", "0" if display.lockdown else "1")
    Config.set("graphics", "resizable", "0" if display.lockdown else "1")
    # Kivy asks for 2x multisampling by default. In software GL (Mesa llvmpipe, what these
    # stations have) that makes every frame two to three times dearer (a full redraw of the
    # browse screen: about 90 ms instead of 30), and a touch waits for the frame in flight;
    # the edges it would smooth are a pixel's worth on shapes drawn at rest.
    Config.set("graphics", "multisamples", "0")
    # The default clock sleeps out each 1/60 s even when a worker thread or the audio engine
    # has just handed it an answer; this one wakes for them, so a catalogue answer or the
    # engine's position is acted on at once rather than up to 16 ms later.
    Config.set("kivy", "kivy_clock", "interrupt")


def run_ui(services: Services, *, start_id: str | None = None, take_home_id: str | None = None,
           lang: str | None = None) -> None:
    prepare_kivy(services.settings)
    from kiosk.ui.app import KioskApp

    app = KioskApp(services, start_id=start_id, take_home_id=take_home_id, lang=lang)

    from kivy.clock import Clock

    stop_asked: list[int] = []

    def stop_gently(signum: int, frame: object) -> None:
        # systemd stops the station with SIGTERM: leave through the app's normal stop, so
        # playback fades out and the parts shut down in order. Only a note here: a signal
        # handler runs between two bytecodes of the UI thread, which may be holding the
        # Kivy clock's lock just then, and scheduling on the clock from here would wait for
        # that lock for ever (bench/soak.py's signals hung a station that way).
        stop_asked.append(signum)

    def stop_if_asked(_dt: float) -> None:
        if stop_asked:
            log.info("received signal %s, stopping", stop_asked[0])
            stop_asked.clear()
            app.stop()

    signal.signal(signal.SIGTERM, stop_gently)
    Clock.schedule_interval(stop_if_asked, STOP_CHECK_SECONDS)
    app.run()
