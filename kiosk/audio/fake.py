"""The one fake player, for the UI tests and the audio tests: no sound card, a clock instead.

It follows the real engine's rules (volume cap, start volume per session, the states, ended,
typed errors, a missing file reported as FILE_MISSING) so a screen tested against it behaves
the same on a station; tests/audio/test_audio_fake.py holds it to the Player protocol, method
by method, next to the real engine.

Its clock either runs by itself (`speed` > 0: a thread named "fake-player" moves it on
`speed` seconds a second while playing and reports the position from there, as the engine
reports from its own thread) or only when the test says (`speed=0` and `advance()`):

    player = FakePlayer(speed=0)
    player.load(path, duration=90.0)
    player.play(); player.advance(10.0)   # 10 s of listening, position events included
    player.fail(PlayerErrorKind.DEVICE_LOST)   # what a pulled cable looks like

Talk-back's voice (speak()) runs on the same clock: the words last their WAV's duration
(read from its header), and while they are SPEAKING `track_level` says the track is ducked
(the engine's DUCK_GAIN), as a test of the screen may want to see.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import soundfile

from kiosk.audio.api import (
    Dispatch,
    ListenerSet,
    Player,
    PlayerError,
    PlayerErrorKind,
    PlayerListener,
    PlayerState,
    SpeechState,
    call_now,
)
from kiosk.audio.stage import DUCK_GAIN

log = logging.getLogger(__name__)

DEVICE_KINDS = (PlayerErrorKind.DEVICE_UNAVAILABLE, PlayerErrorKind.DEVICE_LOST,
                PlayerErrorKind.ENGINE_RESTARTING)


class FakePlayer:
    POSITION_STEP = 0.1  # seconds between position events while advancing: 10 per second

    def __init__(
        self,
        dispatch: Dispatch = call_now,
        volume_cap: float = 0.8,
        start_volume: float = 0.4,
        *,
        speed: float = 1.0,
        report_every: float = POSITION_STEP,
        default_duration: float = 60.0,
        default_speech_duration: float = 1.0,
    ):
        self.volume_cap = max(0.0, min(1.0, float(volume_cap)))
        self.start_volume = min(self.volume_cap, max(0.0, float(start_volume)))
        self.speed = float(speed)
        self.report_every = float(report_every)
        self._default_duration = default_duration
        self._listeners = ListenerSet(dispatch)
        self._emit = self._listeners.emit
        self._lock = threading.RLock()
        self._logical = PlayerState.IDLE
        self._published = PlayerState.IDLE
        self._device_error: PlayerError | None = None
        self._file_error: PlayerError | None = None
        self.position = 0.0
        self.duration = 0.0
        self.volume = self.start_volume
        self.path: Path | None = None
        self.gain = 1.0  # the loaded track's, as load() was given it
        self.commands: list[str] = []  # what the code under test asked for, in order
        self._default_speech_duration = float(default_speech_duration)
        self.speech_state = SpeechState.IDLE
        self.spoken: list[Path] = []  # every speak()'s file, in order
        self.speech_position = 0.0  # seconds of the words heard
        self.speech_duration = 0.0
        self._closed = threading.Event()
        self._clock: threading.Thread | None = None

    @property
    def state(self) -> PlayerState:
        with self._lock:
            if self._device_error is not None or self._file_error is not None:
                return PlayerState.ERROR
            return self._logical

    # --- the Player API -------------------------------------------------------------
    def load(self, path: Path, duration: float | None = None, gain: float = 1.0) -> None:
        self.commands.append("load")
        path = Path(path)
        # The engine finds this out on its own thread; a fake may look at once.
        missing = None if path.is_file() else PlayerError(
            PlayerErrorKind.FILE_MISSING, f"{path}: the file does not exist", path)
        with self._lock:
            self.path = path
            self.gain = float(gain)
            self.duration = float(duration) if duration is not None else self._default_duration
            self.position = 0.0
            self.volume = self.start_volume
            self._logical = PlayerState.IDLE
            self._file_error = missing
        if missing is not None:
            self._emit("on_error", missing)
        self._publish()
        self._emit_position()

    def play(self) -> None:
        self.commands.append("play")
        with self._lock:
            if self.path is None:
                return
            problem = self._device_error or self._file_error
            if problem is None and self._logical != PlayerState.PLAYING:
                if self._logical == PlayerState.ENDED:
                    self.position = 0.0
                self._logical = PlayerState.PLAYING
                self._start_clock()
        if problem is not None:
            self._emit("on_error", problem)
        self._publish()

    def pause(self) -> None:
        self.commands.append("pause")
        with self._lock:
            if self._logical == PlayerState.PLAYING:
                self._logical = PlayerState.PAUSED
        self._publish()
        self._emit_position()

    def resume(self) -> None:
        self.commands.append("resume")
        with self._lock:
            paused = self._logical == PlayerState.PAUSED
        if paused:
            self.play()

    def stop(self) -> None:
        self.commands.append("stop")
        with self._lock:
            if self.path is None:
                return
            self.position = 0.0
            self._logical = PlayerState.IDLE
        self._publish()
        self._emit_position()

    def seek(self, seconds: float) -> None:
        self.commands.append("seek")
        with self._lock:
            if self.path is None:
                return
            self.position = max(0.0, min(float(seconds), self.duration))
            if self._logical == PlayerState.ENDED:
                self._logical = PlayerState.PAUSED
            ended = self.position >= self.duration and self.state == PlayerState.PLAYING
        self._publish()
        self._emit_position()
        if ended:
            self._end()

    def skip(self, delta: float) -> None:
        self.seek(self.position + float(delta))

    def set_volume(self, v: float) -> None:
        self.commands.append("set_volume")
        v = float(v)
        self.volume = 0.0 if v != v else max(0.0, min(v, self.volume_cap))

    def reset_volume(self) -> None:
        self.commands.append("reset_volume")
        self.volume = self.start_volume

    @property
    def track_level(self) -> float:
        """The track's gain from ducking now: the engine's DUCK_GAIN while words are heard."""
        return DUCK_GAIN if self.speech_state == SpeechState.SPEAKING else 1.0

    def speak(self, path: Path) -> None:
        self.commands.append("speak")
        path = Path(path)
        if not path.is_file():
            # As the engine: words that cannot be read are logged, and nothing is said.
            log.warning("talk-back's words cannot be read: %s is not there", path)
            self._set_speech(SpeechState.IDLE)
            return
        try:
            duration = float(soundfile.info(str(path)).duration)
        except Exception:  # not a sound file (a test's stand-in): a default length
            duration = self._default_speech_duration
        with self._lock:
            self.spoken.append(path)
            self.speech_position = 0.0
            self.speech_duration = duration
        self._set_speech(SpeechState.SPEAKING)
        with self._lock:
            self._start_clock()

    def stop_speaking(self) -> None:
        self.commands.append("stop_speaking")
        self._set_speech(SpeechState.IDLE)

    def pause_speaking(self) -> None:
        self.commands.append("pause_speaking")
        if self.speech_state == SpeechState.SPEAKING:
            self._set_speech(SpeechState.PAUSED)

    def resume_speaking(self) -> None:
        self.commands.append("resume_speaking")
        if self.speech_state == SpeechState.PAUSED:
            self._set_speech(SpeechState.SPEAKING)

    def _set_speech(self, state: SpeechState) -> None:
        with self._lock:
            if state == self.speech_state and state != SpeechState.SPEAKING:
                return
            changed = state != self.speech_state
            self.speech_state = state
        if changed:
            self._emit("on_speech", state)

    def _tick_speech(self, step: float) -> None:
        with self._lock:
            if self.speech_state != SpeechState.SPEAKING:
                return
            self.speech_position = min(self.speech_duration, self.speech_position + step)
            said = self.speech_position >= self.speech_duration
        if said:
            self._set_speech(SpeechState.IDLE)

    def add_listener(self, listener: PlayerListener) -> None:
        self._listeners.add(listener)

    def remove_listener(self, listener: PlayerListener) -> None:
        self._listeners.remove(listener)

    def close(self) -> None:
        self.commands.append("close")
        self._closed.set()
        clock = self._clock
        if clock is not None and clock is not threading.current_thread():
            clock.join(2.0)
        self._listeners.clear()

    # --- the test's controls ----------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Let `seconds` of listening pass: position events every 0.1 s, ended at the end."""
        remaining = float(seconds)
        self._tick_speech(remaining)
        while remaining > 1e-9:
            step = min(self.POSITION_STEP, remaining)
            remaining -= step
            if not self._tick(step):
                return

    def fail(self, kind: PlayerErrorKind = PlayerErrorKind.DEVICE_LOST, detail: str = "") -> None:
        """What the engine does when it meets `kind`: the error event, then ERROR. Playing
        stops where it is (PAUSED underneath), as in the engine."""
        error = PlayerError(kind, detail or f"the fake player was told: {kind.value}",
                            None if kind in DEVICE_KINDS else self.path)
        with self._lock:
            if kind in DEVICE_KINDS:
                self._device_error = error
            else:
                self._file_error = error
            if self._logical == PlayerState.PLAYING:
                self._logical = PlayerState.PAUSED
        self._emit("on_error", error)
        self._publish()

    def recover(self) -> None:
        """The device is back (or the engine restarted): where it was, PAUSED if it was playing."""
        with self._lock:
            self._device_error = None
        self._publish()

    # --- inside ---------------------------------------------------------------------
    def _tick(self, step: float) -> bool:
        """Move a playing clock on by `step`; False when it is not playing (any more)."""
        with self._lock:
            if self.state != PlayerState.PLAYING:
                return False
            self.position = min(self.duration, self.position + step)
            at_end = self.position >= self.duration
        self._emit_position()
        if at_end:
            self._end()
            return False
        return True

    def _start_clock(self) -> None:
        if self.speed > 0 and self._clock is None:
            self._clock = threading.Thread(target=self._run_clock, name="fake-player", daemon=True)
            self._clock.start()

    def _run_clock(self) -> None:
        # A clock thread woken late (the GIL held by a busy screen) catches up in report-sized
        # steps, as the engine does: it runs in its own process and reports every block it
        # played, however late the screen's process reads them. One big step would look like
        # a seek to the play counter.
        last = time.monotonic()
        while not self._closed.wait(self.report_every):
            now = time.monotonic()
            due, last = (now - last) * self.speed, now
            self._tick_speech(due)
            step = self.report_every * self.speed
            while due > 1e-9:
                if not self._tick(min(step, due)):
                    break
                due -= step

    def _end(self) -> None:
        with self._lock:
            if self._logical != PlayerState.PLAYING:
                return
            self._logical = PlayerState.ENDED
        self._publish()
        self._emit("on_ended")

    def _publish(self) -> None:
        with self._lock:
            state = self.state
            if state == self._published:
                return
            self._published = state
        self._emit("on_state", state)

    def _emit_position(self) -> None:
        self._emit("on_position", self.position)


def _follows_the_protocol(player: FakePlayer) -> Player:
    return player  # mypy (make lint) checks every method's signature against Player here
