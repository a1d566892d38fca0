"""The UI's worker thread: catalogue queries, link issuing and QR matrices happen here.

It owns its own SQLite connection (connections are bound to the thread that opened them)
and never touches a widget: each job's result goes back to the UI thread through
`Clock.schedule_once`. Jobs carry the session number they were asked in; when the station
resets for the next visitor, answers to the previous visitor's questions are dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from kivy.clock import Clock

from kiosk.audio.api import Dispatch, ListenerSet, PlayerListener, PlayerState, SpeechState

log = logging.getLogger(__name__)

THREAD_NAME = "ui-worker"

Job = Callable[[Any], Any]


class Worker:
    def __init__(self, open_db: Callable[[], Any], name: str = THREAD_NAME):
        self._open_db = open_db
        self._jobs: queue.Queue[tuple[int, Job, Callable[[Any], None] | None,
                                      Callable[[BaseException], None] | None] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.session = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._jobs.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def new_session(self) -> None:
        """Forget every pending answer: they belong to the visitor who has gone."""
        self.session += 1

    def submit(self, job: Job, on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[BaseException], None] | None = None) -> None:
        self._jobs.put((self.session, job, on_done, on_error))

    def _run(self) -> None:
        db = None
        try:
            db = self._open_db()
        except Exception:
            log.exception("the UI worker could not open the database; queries will fail")
        while True:
            item = self._jobs.get()
            if item is None:
                break
            session, job, on_done, on_error = item
            try:
                result = job(db)
            except Exception as exc:
                log.exception("a UI background job failed")
                if on_error is not None:
                    self._deliver(session, on_error, exc)
            else:
                if on_done is not None:
                    self._deliver(session, on_done, result)
        if db is not None:
            try:
                db.close()
            except Exception:
                log.exception("closing the UI worker's database failed")

    def _deliver(self, session: int, callback: Callable[[Any], None], value: Any) -> None:
        def on_ui_thread(_dt: float) -> None:
            if session != self.session:
                log.debug("dropped an answer meant for the previous visitor")
                return
            callback(value)

        Clock.schedule_once(on_ui_thread, 0)


class DeliveredThrough:
    """A player listener whose events are handed to `dispatch` (for the screens: the UI
    thread's) rather than run on the player's own thread. The station's player delivers on
    its thread, so that its other listener, the play counter, never waits for a frame."""

    def __init__(self, dispatch: Dispatch, listener: PlayerListener):
        self._events = ListenerSet(dispatch)
        self._events.add(listener)

    def on_state(self, state: PlayerState) -> None:
        self._events.emit("on_state", state)

    def on_position(self, seconds: float) -> None:
        self._events.emit("on_position", seconds)

    def on_ended(self) -> None:
        self._events.emit("on_ended")

    def on_error(self, error: object) -> None:
        self._events.emit("on_error", error)

    def on_speech(self, state: SpeechState) -> None:
        self._events.emit("on_speech", state)
