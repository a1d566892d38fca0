"""A player with no sound card and a clock the test moves: for UI and service tests.

It follows the same rules as the real engine (volume cap, start volume per session, state
changes, ended, errors) so a screen tested against it behaves the same on a station.

    player = FakePlayer(volume_cap=0.8, start_volume=0.4)
    player.load(Path("x.flac"), duration=90.0)
    player.play(); player.advance(10.0)   # 10 s of listening, position events included
    player.fail("Audio output device lost")   # what a pulled cable looks like
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from kiosk.audio.api import Dispatch, ListenerSet, PlayerListener, PlayerState, call_now

log = logging.getLogger(__name__)


class FakePlayer:
    POSITION_STEP = 0.1  # seconds between position events while advancing: 10 per second

    def __init__(
        self,
        *,
        volume_cap: float = 0.8,
        start_volume: float = 0.4,
        dispatch: Dispatch = call_now,
        default_duration: float = 60.0,
    ):
        self.volume_cap = max(0.0, min(1.0, float(volume_cap)))
        self._start_volume = min(self.volume_cap, max(0.0, float(start_volume)))
        self._default_duration = default_duration
        self._listeners = ListenerSet(dispatch)
        self._emit = self._listeners.emit
        self._lock = threading.RLock()
        self.state = PlayerState.IDLE
        self.position = 0.0
        self.duration = 0.0
        self.volume = self._start_volume
        self.path: Path | None = None
        self.calls: list[str] = []  # what the code under test asked for, in order
        self.device_ok = True

    @classmethod
    def from_settings(cls, audio_settings: object, dispatch: Dispatch = call_now) -> FakePlayer:
        return cls(
            volume_cap=getattr(audio_settings, "volume_cap", 0.8),
            start_volume=getattr(audio_settings, "start_volume", 0.4),
            dispatch=dispatch,
        )

    # --- the Player API -------------------------------------------------------------
    def load(self, path: Path, duration: float | None = None) -> None:
        self.calls.append("load")
        with self._lock:
            self.path = Path(path)
            self.duration = float(duration) if duration is not None else self._default_duration
            self.position = 0.0
            self.volume = self._start_volume
            if self.device_ok:
                self._set_state(PlayerState.IDLE)
        self._emit_position()

    def play(self) -> None:
        self.calls.append("play")
        with self._lock:
            if not self._usable():
                return
            if self.state == PlayerState.ENDED:
                self.position = 0.0
            self._set_state(PlayerState.PLAYING)

    def pause(self) -> None:
        self.calls.append("pause")
        with self._lock:
            if self.state == PlayerState.PLAYING:
                self._set_state(PlayerState.PAUSED)

    def resume(self) -> None:
        self.calls.append("resume")
        with self._lock:
            if self.state == PlayerState.PAUSED and self._usable():
                self._set_state(PlayerState.PLAYING)

    def stop(self) -> None:
        self.calls.append("stop")
        with self._lock:
            self.position = 0.0
            if self.state != PlayerState.ERROR:
                self._set_state(PlayerState.IDLE)
        self._emit_position()

    def seek(self, seconds: float) -> None:
        self.calls.append("seek")
        with self._lock:
            if self.path is None:
                return
            self.position = max(0.0, min(float(seconds), self.duration))
            ended = self.position >= self.duration and self.state == PlayerState.PLAYING
        self._emit_position()
        if ended:
            self._end()

    def skip(self, delta: float) -> None:
        self.seek(self.position + delta)

    def set_volume(self, v: float) -> None:
        self.calls.append("set_volume")
        self.volume = max(0.0, min(float(v), self.volume_cap))

    def reset_volume(self) -> None:
        self.calls.append("reset_volume")
        self.volume = self._start_volume

    def add_listener(self, listener: PlayerListener) -> None:
        self._listeners.add(listener)

    def remove_listener(self, listener: PlayerListener) -> None:
        self._listeners.remove(listener)

    def close(self) -> None:
        self.calls.append("close")
        self._listeners.clear()

    # --- the test's controls ----------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Let `seconds` of listening pass: position events every 0.1 s, ended at the end."""
        remaining = float(seconds)
        while remaining > 1e-9:
            with self._lock:
                if self.state != PlayerState.PLAYING:
                    return
                step = min(self.POSITION_STEP, remaining)
                self.position = min(self.duration, self.position + step)
                at_end = self.position >= self.duration
            remaining -= step
            self._emit_position()
            if at_end:
                self._end()
                return

    def fail(self, message: str = "Audio output device lost") -> None:
        """What the engine does when the device goes away: ERROR, an error event."""
        with self._lock:
            self.device_ok = False
            self._set_state(PlayerState.ERROR)
        self._emit("on_error", message)

    def recover(self) -> None:
        """The device is back: PAUSED where it was (IDLE when nothing is loaded)."""
        with self._lock:
            self.device_ok = True
            self._set_state(PlayerState.PAUSED if self.path is not None else PlayerState.IDLE)

    # --- inside ---------------------------------------------------------------------
    def _usable(self) -> bool:
        if self.state == PlayerState.ERROR or self.path is None:
            if self.state == PlayerState.ERROR:
                self._emit("on_error", "No audio output device")
            return False
        return True

    def _end(self) -> None:
        with self._lock:
            self._set_state(PlayerState.ENDED)
        self._emit("on_ended")

    def _set_state(self, state: PlayerState) -> None:
        if state != self.state:
            self.state = state
            self._emit("on_state", state)

    def _emit_position(self) -> None:
        self._emit("on_position", self.position)
