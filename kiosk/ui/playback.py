"""The player as the screens see it: Kivy properties fed by the engine's events.

The engine delivers events through the `dispatch` it was built with; ours is
`clock_dispatch`, so every listener call below runs on the UI thread. Between the engine's
position reports, the position is carried forward by the wall clock while playing, so the
read-along highlight moves within a frame of the cue's start rather than waiting for the
next report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.clock import Clock
from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty

from kiosk.audio.api import Player, PlayerError, PlayerErrorKind, PlayerState, SpeechState
from kiosk.ui.worker import DeliveredThrough

__all__ = ["BANNERS", "PlayerModel", "clock_dispatch", "trouble_banner"]

log = logging.getLogger(__name__)

PLAYING, PAUSED, IDLE, ENDED, ERROR = (PlayerState.PLAYING, PlayerState.PAUSED, PlayerState.IDLE,
                                       PlayerState.ENDED, PlayerState.ERROR)
POSITION_EVERY = 0.2  # seconds between position updates on screen while playing

BANNERS: dict[PlayerErrorKind, str] = {
    PlayerErrorKind.DEVICE_UNAVAILABLE: "banner.audio_unavailable",
    PlayerErrorKind.DEVICE_LOST: "banner.audio_unavailable",
    PlayerErrorKind.ENGINE_RESTARTING: "banner.audio_unavailable",
    PlayerErrorKind.FILE_MISSING: "banner.file_missing",
    PlayerErrorKind.FILE_DAMAGED: "banner.file_damaged",
}
"""The banner (a kiosk/ui/strings.py key) the client sees for each kind of player error."""


def trouble_banner(error: PlayerError) -> str:
    return BANNERS[error.kind]


_arrived: float | None = None  # while an engine event is delivered: when it reached us


def clock_dispatch(call: Callable[[], None]) -> None:
    """The dispatch handed to the engine: run the event on the UI thread, soon.

    The event may wait there behind a frame being drawn (30-60 ms in software GL), so the
    moment it arrived is noted here, on the engine's thread, and a position it carries is
    dated from then, not from when the UI thread gets to it.
    """
    arrived = time.monotonic()

    def deliver(_dt: float) -> None:
        global _arrived
        _arrived = arrived
        try:
            call()
        finally:
            _arrived = None

    Clock.schedule_once(deliver, 0)


class PlayerModel(EventDispatcher):
    state = ObjectProperty(PlayerState.IDLE, baseclass=PlayerState)
    position = NumericProperty(0.0)  # seconds as heard, carried forward between reports
    duration = NumericProperty(0.0)
    volume = NumericProperty(0.0)
    volume_cap = NumericProperty(1.0)
    loaded = StringProperty("")  # "<exercise id>/<lang>" of what is loaded, "" for nothing
    playing = BooleanProperty(False)
    ended = BooleanProperty(False)  # played to the end (the player screen says so)
    # A spoken prompt is in the headphones ("Still there?"): the visit's track is set aside,
    # and everything above stays as it was (play_prompt).
    prompting = BooleanProperty(False)
    # Talk-back's voice, as the engine last reported it (speak()): over the track, which
    # plays on lowered while the words are SPEAKING. `speaking`: words in progress (SPEAKING
    # or PAUSED), for a control that hushes or pauses them.
    speech = ObjectProperty(SpeechState.IDLE, baseclass=SpeechState)
    speaking = BooleanProperty(False)

    __events__ = ("on_trouble", "on_finished", "on_recovered")

    def __init__(self, player: Player, volume_cap: float, **kwargs: Any):
        super().__init__(**kwargs)
        self.player = player
        self.volume_cap = volume_cap
        self._reported = 0.0
        self._reported_at = time.monotonic()
        # A few updates a second move the clock and the seek bar; redrawing the whole screen
        # every frame would cost the rest of the station its frames (software GL on a small
        # box). The read-along highlight does not wait for these: the script view times its
        # own change to the next passage's start (live_position()).
        self._ticker = Clock.schedule_interval(self._carry_forward, POSITION_EVERY)
        self._ticker.cancel()
        player.add_listener(DeliveredThrough(clock_dispatch, _Listener(self)))
        self.volume = float(player.volume)
        self._track: tuple[Path, float | None, float] | None = None  # what load() was given
        # While a prompt plays, and until the engine's events about it and about putting the
        # track back have gone by: those events are not the visit's.
        self._muted = False
        self._aside: tuple[PlayerState, float] | None = None
        self._then: Callable[[], None] | None = None

    # -- commands (UI thread) -------------------------------------------------------------
    def load(self, key: str, path: Path, duration: float | None, gain: float = 1.0) -> bool:
        """`gain`: the track's, for the loudness target (kiosk.audio.loudness.track_gain)."""
        # A missing or damaged file is reported by the engine as an error event (kind
        # FILE_MISSING or FILE_DAMAGED), from its own thread: nothing here looks at the disk.
        self.end_prompt()  # the visitor's command goes to the track, never to the prompt
        try:
            self.player.load(path, duration, gain)
        except Exception:
            log.exception("loading %s failed", path)
            self.dispatch("on_trouble", "banner.audio_unavailable")
            return False
        self.loaded = key
        self._track = (path, duration, gain)
        self.duration = float(duration or self.player.duration or 0.0)
        self._report(0.0)
        return True

    def play(self) -> None:
        self.end_prompt()
        self._guard(self.player.play)

    def toggle(self) -> None:
        """Play or pause. The button answers at once (the engine's state event, a frame or
        two later, confirms it, or an error event overrules it)."""
        self.end_prompt()
        if self.state == PLAYING:
            if self._guard(self.player.pause):
                self._show(PAUSED)
        elif self.state == PAUSED:
            # play(), not resume(): after a prompt the engine holds the track IDLE at the
            # paused position, and play() goes on from the position either way.
            if self._guard(self.player.play):
                self._show(PLAYING)
        else:
            if self.state == ENDED:
                self._guard(lambda: self.player.seek(0.0))
            if self._guard(self.player.play):
                self._show(PLAYING)

    def _show(self, state: PlayerState) -> None:
        self.state = state
        self._update_playing()

    def seek(self, seconds: float) -> None:
        seconds = max(0.0, min(seconds, self.duration or seconds))
        self.end_prompt()
        self._guard(lambda: self.player.seek(seconds))
        self._report(seconds)

    def skip(self, delta: float) -> None:
        self.seek(self.position + delta)

    def set_volume(self, value: float) -> None:
        value = max(0.0, min(value, self.volume_cap))
        self._guard(lambda: self.player.set_volume(value))
        self.volume = float(self.player.volume)

    def stop(self) -> None:
        self._guard(self.player.stop)
        self.loaded = ""
        self.state = IDLE
        self._update_playing()
        self._report(0.0)

    def forget(self) -> None:
        """A new visitor: nothing loaded, the session's start volume."""
        if self.prompting:
            self.prompting = False  # the prompt goes with the visit: nothing to put back
            self._then = None
            clock_dispatch(self._unmute)
        if self.speaking:
            self.stop_speaking()  # nothing said for the last visitor goes on for the next
        self._track = None
        self.stop()
        self._guard(self.player.reset_volume)
        self.volume = float(self.player.volume)

    # -- talk-back's words, over the track ------------------------------------------------
    def speak(self, path: Path) -> bool:
        """Say `path` (a short WAV) in the headphones through the engine's speech voice, at
        the visitor's volume: the track (playing or not) is not touched, a playing one goes
        on lowered and comes back up after; the words in progress are replaced. False (and
        nothing done) while the engine is in trouble: nobody would hear them."""
        if self.state == ERROR:
            return False
        if not self._guard(lambda: self.player.speak(path)):
            return False
        self._show_speech(SpeechState.SPEAKING)  # the engine's event confirms it
        log.info("talk-back's words are in the headphones: %s", path.name)
        return True

    def stop_speaking(self) -> None:
        if self._guard(self.player.stop_speaking):
            self._show_speech(SpeechState.IDLE)

    def pause_speaking(self) -> None:
        if self.speech == SpeechState.SPEAKING and self._guard(self.player.pause_speaking):
            self._show_speech(SpeechState.PAUSED)

    def resume_speaking(self) -> None:
        if self.speech == SpeechState.PAUSED and self._guard(self.player.resume_speaking):
            self._show_speech(SpeechState.SPEAKING)

    def pause_or_resume_speaking(self) -> None:
        if self.speech == SpeechState.SPEAKING:
            self.pause_speaking()
        elif self.speech == SpeechState.PAUSED:
            self.resume_speaking()

    def _show_speech(self, state: SpeechState) -> None:
        self.speech = state
        self.speaking = state != SpeechState.IDLE

    def engine_speech(self, state: SpeechState) -> None:
        self._show_speech(SpeechState(state))

    # -- a prompt in the headphones ---------------------------------------------------------
    def play_prompt(self, path: Path, duration: float | None,
                    then: Callable[[], None] | None = None) -> bool:
        """Plays `path` (a short spoken prompt) in the headphones at the visitor's volume,
        with the visit's track set aside. When the prompt ends, or end_prompt() cuts it short,
        the track is loaded back at the same place, and `then` runs. Nothing on screen changes
        meanwhile: the Play button, the position and the volume stay the visit's. False (and
        nothing done) while playing or in trouble: the visitor is listening, or would not
        hear it. (Talk-back's words go over the track instead: speak().)"""
        if self.prompting or self._muted or self.state == ERROR or self.state == PLAYING:
            return False
        self._aside = (self.state, float(self.live_position()))
        self._then = then
        self._muted = self.prompting = True
        volume = self.volume
        if not (self._guard(lambda: self.player.load(path, duration))
                and self._guard(lambda: self.player.set_volume(volume))
                and self._guard(self.player.play)):
            self.end_prompt()
            return False
        log.info("a prompt is playing in the headphones: %s", path.name)
        return True

    def end_prompt(self) -> None:
        """The prompt stops (if it still plays); the track goes back where it was."""
        if not self.prompting:
            return
        self.prompting = False
        state, position = self._aside or (IDLE, 0.0)
        track, volume = self._track, self.volume
        if self.loaded and track is not None:
            # Back IDLE at the place (ENDED: at the start, as play() after the end would);
            # the model shows PAUSED (or ENDED) still, and toggle() plays on from there.
            self._guard(lambda: self.player.load(*track))
            self._guard(lambda: self.player.seek(0.0 if state == ENDED else position))
        else:
            self._guard(self.player.stop)
        self._guard(lambda: self.player.set_volume(volume))
        then, self._then = self._then, None
        if then is not None:
            then()
        # The engine's events for the commands above are queued already (the engine reports
        # a command's events before it answers it): hear the engine again after them.
        clock_dispatch(self._unmute)

    def _unmute(self) -> None:
        self._muted = False

    def close(self) -> None:
        self._ticker.cancel()
        self._guard(self.player.close)

    def _guard(self, call: Callable[[], Any]) -> bool:
        try:
            call()
        except Exception:
            log.exception("the audio engine refused a command")
            self.dispatch("on_trouble", "banner.audio_unavailable")
            return False
        return True

    # -- the engine's events (on the UI thread, through clock_dispatch and _Listener) ------
    def engine_state(self, state: PlayerState) -> None:
        if self._muted:
            return
        was = self.state
        self.state = state
        if was == ERROR and self.state != ERROR:
            self.dispatch("on_recovered")
        self._update_playing()
        self._report(float(self.player.position), _arrived)

    def engine_position(self, seconds: float) -> None:
        if self._muted:
            return
        self._report(seconds, _arrived)

    def engine_ended(self) -> None:
        if self._muted:
            self.end_prompt()  # the prompt has been heard to its end (no-op once ended)
            return
        self.state = ENDED
        self._update_playing()
        self._report(self.duration)
        self.dispatch("on_finished")

    def engine_error(self, error: PlayerError) -> None:
        log.warning("audio trouble (%s): %s", error.kind.value, error.detail)
        if self._muted:
            # The prompt could not be heard; the visit's track is put back, and a lasting
            # trouble (the device gone) is reported again when the visitor presses Play.
            self.end_prompt()
            return
        self.state = ERROR
        self._update_playing()
        self.dispatch("on_trouble", trouble_banner(error))

    # Kivy events need default handlers.
    def on_trouble(self, key: str) -> None:
        pass

    def on_recovered(self) -> None:
        pass

    def on_finished(self) -> None:
        pass

    # -- position ------------------------------------------------------------------------
    def _update_playing(self) -> None:
        self.playing = self.state == PLAYING
        self.ended = self.state == ENDED
        if self.playing:
            self._ticker()
        else:
            self._ticker.cancel()

    def _report(self, seconds: float, at: float | None = None) -> None:
        """`seconds` was the position as heard at monotonic time `at` (None: now)."""
        self._reported = float(seconds)
        self._reported_at = time.monotonic() if at is None else at
        self.position = self._reported

    def live_position(self) -> float:
        """The position as heard now: the last report carried forward by the time since it
        was taken. The engine reports 20 times a second, so this never runs on for long."""
        if self.state != PLAYING:
            return float(self.position)
        # Never run ahead of the last report by more than half a second (a stalled device).
        estimate = self._reported + min(time.monotonic() - self._reported_at, 0.5)
        return min(estimate, self.duration) if self.duration else estimate

    def _carry_forward(self, _dt: float) -> None:
        if self.state == PLAYING:
            self.position = self.live_position()


class _Listener:
    """The PlayerListener the engine calls; a separate object because a Kivy dispatcher's
    on_<property> methods are its own property observers."""

    def __init__(self, model: PlayerModel):
        self.model = model

    def on_state(self, state: PlayerState) -> None:
        self.model.engine_state(state)

    def on_position(self, seconds: float) -> None:
        self.model.engine_position(seconds)

    def on_ended(self) -> None:
        self.model.engine_ended()

    def on_error(self, error: PlayerError) -> None:
        self.model.engine_error(error)

    def on_speech(self, state: SpeechState) -> None:
        self.model.engine_speech(state)
