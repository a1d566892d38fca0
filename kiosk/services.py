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
5. the drop folder's watcher (kiosk/content/inbox.py), on its own thread, once the database
   is ready: it imports what is put in `[content] inbox` while the station runs;
6. the take-home server, in a process of its own (kiosk/takehome/process.py): under `kiosk run` started from a thread once the first
   frame is up (start_take_home_soon: aiohttp is a third of the start-up); a take-home asked
   for before it is up waits for it (wait_for_take_home), and one that cannot start is
   logged, hidden on the screen and named by `kiosk doctor`.
The screen comes last: `kiosk run` hands it this object (the services never import the
screen): `settings`, `player` (None when the engine could not start), `plays`, `take_home`
(None when off or unavailable), `watchdog`.
"""

from __future__ import annotations

import enum
import logging
import threading
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
    from kiosk.console.server import ConsoleServer
    from kiosk.content.inbox import InboxWatcher
    from kiosk.takehome.process import TakeHomeProcess

log = logging.getLogger(__name__)

PlayerFactory = Callable[[Settings], Player]


class TakeHomeState(enum.Enum):
    OFF = "off"  # [take_home] enabled = false
    NOT_STARTED = "not started"
    STARTING = "starting"
    RUNNING = "running"
    UNAVAILABLE = "unavailable"  # it could not start: the log and `kiosk doctor` say why


def open_station_player(settings: Settings) -> Player:
    """The real engine, in its own process; its events arrive on its reader thread."""
    from kiosk.audio import open_player

    return open_player(settings.audio)


class Services:
    def __init__(self, settings: Settings, *, player_factory: PlayerFactory = open_station_player,
                 inbox_timing: tuple[float, float] | None = None):
        self.settings = settings
        # Tests pass the drop folder's (poll, settle) seconds; the station uses the watcher's.
        self._inbox_timing = inbox_timing
        # Tests pass a fake player's factory; the station uses the engine.
        self._player_factory = player_factory
        self._stops: list[tuple[str, Callable[[], object]]] = []
        # Pings systemd only while the UI loop beats (a no-op when not under systemd).
        self.watchdog = Watchdog()
        self.usage = UsageWriter(self.open_db, settings.station_name)
        self.plays = PlayCounter(self.usage.record)
        self.player: Player | None = None
        self.take_home: TakeHomeProcess | None = None
        self.console: ConsoleServer | None = None
        self.inbox: InboxWatcher | None = None
        self.take_home_state = (TakeHomeState.NOT_STARTED if settings.take_home.enabled
                                else TakeHomeState.OFF)
        self._take_home_settled = threading.Event()
        if not settings.take_home.enabled:
            self._take_home_settled.set()

    def open_db(self) -> sqlite_utils.Database:
        """A connection for the calling thread (each thread its own)."""
        return open_db(self.settings.db_path)

    def start(self, *, take_home_later: bool = False) -> None:
        """Starts every part; with `take_home_later`, all but the take-home server, which the
        screen starts once its first frame is up (start_take_home_soon)."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.usage.start()
        self._stops.append(("usage writer", self.usage.stop))
        self._start_player()
        self._prepare_database()
        self.watchdog.start()
        self._stops.append(("watchdog", self.watchdog.stop))
        self._start_inbox()
        if not take_home_later:
            self._start_take_home()
            self._start_console()

    def start_take_home_soon(self, then: Callable[[TakeHomeState], object] = lambda _s: None) -> None:
        """Starts the take-home server on a thread of its own; `then(state)` is called on that
        thread once it is running or has failed. A no-op once started.

        Why later and aside: importing aiohttp and starting its loop is a third of the
        station's start-up (bench/ui.py), and no phone needs the server before a visitor has
        chosen an exercise, so the attract screen is drawn first."""
        if self.take_home_state is not TakeHomeState.NOT_STARTED:
            return
        self.take_home_state = TakeHomeState.STARTING

        def run() -> None:
            try:
                self._start_take_home()
            except Exception:
                log.exception("the take-home server could not start")
            then(self.take_home_state)
            self._start_console()  # aiohttp is loaded by now; the console uses it too

        thread = threading.Thread(target=run, name="takehome-start", daemon=True)
        # Stopping while it still starts waits for it; its server's own stop comes after.
        self._stops.append(("take-home start", lambda: thread.join(35)))
        thread.start()

    def wait_for_take_home(self, timeout: float = 35.0) -> TakeHomeProcess | None:
        """The take-home server once its start has settled (None when off or unavailable);
        starts it first if nobody has. Never call it on the UI thread."""
        self.start_take_home_soon()
        self._take_home_settled.wait(timeout)
        return self.take_home

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

    def _start_inbox(self) -> None:
        if self.settings.inbox_path is None:
            return
        from kiosk.content.inbox import InboxWatcher

        if self._inbox_timing is None:
            watcher = InboxWatcher(self.settings, self.open_db)
        else:
            poll, settle = self._inbox_timing
            watcher = InboxWatcher(self.settings, self.open_db, poll_seconds=poll, settle_seconds=settle)
        watcher.start()
        self.inbox = watcher
        self._stops.append(("drop-folder watcher", watcher.stop))

    def _start_take_home(self) -> None:
        if not self.settings.take_home.enabled:
            return
        try:
            from kiosk.takehome.process import TakeHomeProcess
            from kiosk.takehome.server import TakeHomeError

            server = TakeHomeProcess(self.settings)
            try:
                server.start()
            except TakeHomeError as exc:
                # The station is still worth having without take-home: the screen hides it
                # and `kiosk doctor` names the cause.
                log.error("take-home is unavailable: %s", exc)
                self.take_home_state = TakeHomeState.UNAVAILABLE
                return
            self.take_home = server
            self._stops.append(("take-home server", server.stop))
            self.take_home_state = TakeHomeState.RUNNING
        finally:
            if self.take_home_state is not TakeHomeState.RUNNING:
                self.take_home_state = TakeHomeState.UNAVAILABLE
            self._take_home_settled.set()

    def _start_console(self) -> None:
        if not self.settings.console.enabled:
            return
        try:
            from kiosk.console.server import ConsoleError, ConsoleServer
        except Exception:  # a broken install (a file missing from the package): logged, not raised
            log.exception("the clinic console could not be loaded")
            return
        try:
            console = ConsoleServer(self.settings)
            console.start()
        except ConsoleError as exc:
            # The station serves its visitors without the console; `kiosk doctor` names why.
            log.error("the clinic console is unavailable: %s", exc)
            return
        except Exception:
            log.exception("the clinic console could not start")
            return
        self.console = console
        self._stops.append(("clinic console", console.stop))

    def stop(self) -> None:
        while self._stops:
            name, stop = self._stops.pop()
            try:
                stop()
            except Exception:
                log.exception("stopping %s failed", name)
