"""The station's one composition root: starts every part in one ordered list, stops them in
reverse, and hands the screen what it needs (as Mopidy's server hands its frontends `core`).

The order matters:
1. the usage writer, so whatever follows may record (it opens its connection at its first
   event, after step 3 has migrated the database);
2. the audio engine's process, started and not waited for: it imports numpy and PortAudio
   and opens the device (a second or more) side by side with the rest, the window included;
   the play counter listens to it from the start;
3. the database: migrations, leftovers of an interrupted import, the demo, old usage events;
4. the systemd watchdog;
5. the take-home server, bound before the screen shows (a busy port fails at once, clearly).
The screen comes last: `kiosk run` hands it this object (the services never import the
screen): `settings`, `player` (None when the engine could not start), `plays`, `take_home`
(None when off or unavailable), `watchdog`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlite_utils

from kiosk.audio.api import Player
from kiosk.config import Settings
from kiosk.plays import PlayCounter
from kiosk.store import open_db
from kiosk.usage import UsageWriter, prune
from kiosk.watchdog import Watchdog

if TYPE_CHECKING:
    from kiosk.takehome.server import TakeHomeServer

log = logging.getLogger(__name__)

PlayerFactory = Callable[[Settings], Player]


def open_station_player(settings: Settings) -> Player:
    """The real engine, in its own process; its events arrive on its reader thread."""
    from kiosk.audio import open_player

    return open_player(settings.audio)


class Services:
    def __init__(self, settings: Settings, *, player_factory: PlayerFactory = open_station_player):
        self.settings = settings
        # Tests pass a fake player's factory; the station uses the engine.
        self._player_factory = player_factory
        self._stops: list[tuple[str, Callable[[], object]]] = []
        # Pings systemd only while the UI loop beats (a no-op when not under systemd).
        self.watchdog = Watchdog()
        self.usage = UsageWriter(self.open_db, settings.station_name)
        self.plays = PlayCounter(self.usage.record)
        self.player: Player | None = None
        self.take_home: TakeHomeServer | None = None

    def open_db(self) -> sqlite_utils.Database:
        """A connection for the calling thread (each thread its own)."""
        return open_db(self.settings.db_path)

    def start(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.usage.start()
        self._stops.append(("usage writer", self.usage.stop))
        self._start_player()
        self._prepare_database()
        self.watchdog.start()
        self._stops.append(("watchdog", self.watchdog.stop))
        self._start_take_home()

    def _start_player(self) -> None:
        try:
            player = self._player_factory(self.settings)
        except Exception:
            # The screen still works without sound: every Play then says sound is unavailable.
            log.exception("the audio engine could not start")
            return
        player.add_listener(self.plays)
        self.player = player
        self._stops.append(("audio engine", player.close))

    def _prepare_database(self) -> None:
        # Imported here, not at the top: the engine's process is already starting meanwhile.
        from kiosk.content import cleanup_leftovers, import_demo_if_empty

        s = self.settings
        db = open_db(s.db_path)
        try:
            # A crash or power cut during an import leaves a staging folder behind; it is
            # never half in the catalogue, so it is simply removed.
            cleanup_leftovers(s, db)
            result = import_demo_if_empty(s, db)
            if result is not None:
                log.info("imported the demo collection (%s)", result.pack_id)
            prune(db, s.usage.keep_days)
        finally:
            db.close()
        log.info("database ready at %s", s.db_path)

    def _start_take_home(self) -> None:
        if not self.settings.take_home.enabled:
            return
        from kiosk.takehome.server import TakeHomeError, TakeHomeServer

        server = TakeHomeServer(self.settings)
        try:
            server.start()
        except TakeHomeError as exc:
            # The station is still worth having without take-home: the screen hides it and
            # `kiosk doctor` names the cause.
            log.error("take-home is unavailable: %s", exc)
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
