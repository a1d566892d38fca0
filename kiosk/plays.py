"""Plays, as the usage counts mean them: a listener on the player that records "play_started"
and "play_completed" (kiosk.usage), whatever screen the play was started from.

A play starts when sound begins: the first stretch of the track heard after the visitor
pressed play (a play that never makes a sound, with the device gone, is not counted). It is
completed when at least COMPLETED_FRACTION of the track has been *heard*: the seconds heard
are counted, not the position reached, so a seek to the end does not complete a play, and
hearing the same minute twice counts that minute once. Heard seconds are the steps between
two position reports while playing; a step backwards or of more than SEEK_SECONDS is a seek
(or the engine catching up after a restart) and is not counted. A play ends at the end of
the track, at a stop, or when another track is loaded; a pause keeps it going.

Events arrive on the player's thread; the app names the track it loads (`track`) on the UI
thread. Recording goes through `record`, which must return at once (UsageWriter queues).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from kiosk.audio.api import BaseListener, PlayerState
from kiosk.usage import PLAY_COMPLETED, PLAY_STARTED

log = logging.getLogger(__name__)

COMPLETED_FRACTION = 0.9
# The engine reports the position 12.5 times a second (every 80 ms); a report late by a
# busy machine is still well under this, a skip (15 s) or a tap on the seek bar rarely is.
SEEK_SECONDS = 1.0

Record = Callable[[str, str, str], None]
"""record(kind, exercise_id, lang)"""


class Heard:
    """The parts of a track heard, as merged (start, end) intervals in seconds."""

    def __init__(self) -> None:
        self._spans: list[tuple[float, float]] = []

    def add(self, start: float, end: float) -> None:
        spans = sorted([*self._spans, (start, end)])
        merged = [spans[0]]
        for low, high in spans[1:]:
            if low <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], high))
            else:
                merged.append((low, high))
        self._spans = merged

    @property
    def seconds(self) -> float:
        return sum(high - low for low, high in self._spans)


@dataclass(frozen=True)
class SetAside:
    """A play in progress while something else is played (PlayCounter.set_aside)."""

    track: tuple[str, str, float] | None
    heard: Heard | None
    started: bool
    completed: bool
    last: float | None


class PlayCounter(BaseListener):
    def __init__(self, record: Record):
        self._record = record
        self._lock = threading.Lock()
        self._track: tuple[str, str, float] | None = None  # exercise id, lang, duration
        self._playing = False
        self._last: float | None = None  # the last reported position
        self._heard: Heard | None = None  # the play in progress, None between plays
        self._started = self._completed = False

    def track(self, exercise_id: str, lang: str, duration: float) -> None:
        """The app loaded this variant (`duration` in seconds, as the catalogue knows it)."""
        with self._lock:
            self._track = (exercise_id, lang, float(duration))
            self._end_play()

    def set_aside(self) -> SetAside:
        """Something else is about to play (a spoken prompt): the play in progress, kept
        for put_back(); until then nothing heard counts."""
        with self._lock:
            saved = SetAside(self._track, self._heard, self._started, self._completed, self._last)
            self._track, self._heard = None, None
            return saved

    def put_back(self, saved: SetAside) -> None:
        """The set-aside track is loaded again where it was: its play goes on."""
        with self._lock:
            self._track, self._heard = saved.track, saved.heard
            self._started, self._completed, self._last = saved.started, saved.completed, saved.last
            self._playing = False

    # -- the player's events (on the player's thread) ------------------------------------
    def on_state(self, state: PlayerState) -> None:
        state = PlayerState(state)
        with self._lock:
            self._playing = state is PlayerState.PLAYING
            if self._playing and self._heard is None:
                self._heard = Heard()
                self._started = self._completed = False
            elif state is PlayerState.IDLE:
                self._end_play()  # stopped, or a new track: from the start

    def on_position(self, seconds: float) -> None:
        with self._lock:
            last, self._last = self._last, float(seconds)
            if self._playing and last is not None and 0.0 < seconds - last <= SEEK_SECONDS:
                self._hear(last, float(seconds))

    def on_ended(self) -> None:
        with self._lock:
            if self._track is not None and self._last is not None:
                duration = self._track[2]
                if self._playing and 0.0 < duration - self._last <= SEEK_SECONDS:
                    self._hear(self._last, duration)  # the last reports' worth before the end
            self._playing = False
            self._end_play()  # play() after the end starts from the beginning

    # -- the counting (with the lock held) ---------------------------------------------------
    def _hear(self, start: float, end: float) -> None:
        if self._track is None or self._heard is None:
            return
        exercise_id, lang, duration = self._track
        self._heard.add(start, end)
        if not self._started:
            self._started = True
            self._emit(PLAY_STARTED, exercise_id, lang)
        if (not self._completed and duration > 0
                and self._heard.seconds >= COMPLETED_FRACTION * duration):
            self._completed = True
            self._emit(PLAY_COMPLETED, exercise_id, lang)

    def _end_play(self) -> None:
        self._heard = None
        self._last = 0.0  # every way a play ends leaves the player at the start

    def _emit(self, kind: str, exercise_id: str, lang: str) -> None:
        log.info("%s: %s (%s)", kind, exercise_id, lang)
        try:
            self._record(kind, exercise_id, lang)
        except Exception:
            log.exception("recording %s failed", kind)
