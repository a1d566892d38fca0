"""Starts the station's parts in order and stops them in reverse.

The order matters: the database before anything that reads it, the take-home server bound
before the screen shows (so a busy port fails at once, clearly), the screen last.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kiosk.config import Settings
from kiosk.content import cleanup_leftovers, import_demo_if_empty
from kiosk.store import open_db
from kiosk.takehome.server import TakeHomeError, TakeHomeServer
from kiosk.watchdog import Watchdog

log = logging.getLogger(__name__)


class Services:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._stops: list[tuple[str, Callable[[], Any]]] = []
        # Pings systemd only while the UI loop beats (a no-op when not under systemd).
        self.watchdog = Watchdog()
        self.take_home: TakeHomeServer | None = None
        # What went wrong while starting, in words for the screen's banner (never a traceback).
        self.problems: list[str] = []

    def start(self) -> None:
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        db = open_db(s.db_path)
        try:
            # A crash or power cut during an import leaves a staging folder behind; it is
            # never half in the catalogue, so it is simply removed.
            cleanup_leftovers(s, db)
            result = import_demo_if_empty(s, db)
            if result is not None:
                log.info("imported the demo collection (%s)", result.pack_id)
        finally:
            db.close()
        log.info("database ready at %s", s.db_path)
        self.watchdog.start()
        self._stops.append(("watchdog", self.watchdog.stop))
        self._start_take_home()

    def _start_take_home(self) -> None:
        if not self.settings.take_home.enabled:
            return
        server = TakeHomeServer(self.settings)
        try:
            server.start()
        except TakeHomeError as exc:
            # The station is still worth having without take-home: the screen hides it and
            # `kiosk doctor` names the cause.
            log.error("take-home is unavailable: %s", exc)
            self.problems.append("take_home_unavailable")
            return
        self.take_home = server
        self._stops.append(("take-home server", server.stop))

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
