"""Starts the station's parts in order and stops them in reverse.

The order matters: the database before anything that reads it, the take-home server bound
before the screen shows (so a busy port fails at once, clearly), the screen last.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kiosk.config import Settings
from kiosk.store import open_db
from kiosk.watchdog import Watchdog

log = logging.getLogger(__name__)


class Services:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._stops: list[tuple[str, Callable[[], Any]]] = []
        # Pings systemd only while the UI loop beats (a no-op when not under systemd).
        self.watchdog = Watchdog()

    def start(self) -> None:
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        db = open_db(s.db_path)
        db.close()
        log.info("database ready at %s", s.db_path)
        self.watchdog.start()
        self._stops.append(("watchdog", self.watchdog.stop))

    def stop(self) -> None:
        while self._stops:
            name, stop = self._stops.pop()
            try:
                stop()
            except Exception:
                log.exception("stopping %s failed", name)

    def run_station(self, *, start_id: str | None = None, take_home_id: str | None = None,
                    lang: str | None = None) -> None:
        self.start()
        try:
            from kiosk.ui.boot import run_ui

            run_ui(self, start_id=start_id, take_home_id=take_home_id, lang=lang)
        finally:
            self.stop()
