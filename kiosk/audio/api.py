"""What the screen, the CLI and the tests depend on: the player's API and its events.

It lives apart from the engine so that anything above the audio layer can be tested with
`kiosk.audio.fake.FakePlayer`, and so that nothing here imports PyAudio.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from kiosk.config import AudioSettings

log = logging.getLogger(__name__)

Dispatch = Callable[[Callable[[], None]], None]
"""Runs an event delivery somewhere: the UI passes one built on `Clock.schedule_once`."""


def call_now(fn: Callable[[], None]) -> None:
    """The default dispatch: deliver on the thread that produced the event."""
    fn()


def engine_options(audio_settings: AudioSettings) -> dict[str, Any]:
    """An engine's keyword arguments from `settings.audio` (kiosk.config.AudioSettings)."""
    return dict(
        output_device=audio_settings.output_device,
        volume_cap=audio_settings.volume_cap,
        start_volume=audio_settings.start_volume,
        fade_ms=audio_settings.fade_ms,
        buffer_seconds=audio_settings.buffer_seconds,
    )


class PlayerState(StrEnum):
    IDLE = "idle"  # nothing loaded, just loaded, or stopped (rewound to the start)
    PLAYING = "playing"
    PAUSED = "paused"
    ENDED = "ended"  # played to the end; play() starts again from the beginning
    ERROR = "error"  # see the PlayerError reported with it


class SpeechState(StrEnum):
    """Talk-back's voice in the engine (speak()), apart from the track's PlayerState."""

    IDLE = "idle"  # nothing to say: said to the end, stopped, or never asked
    SPEAKING = "speaking"  # words in the headphones (or about to be); a playing track is ducked
    PAUSED = "paused"  # held where it was (resume_speaking() goes on); the track at full level


class PlayerErrorKind(StrEnum):
    """What went wrong, as the engine knows it where it happens; what the listener shows
    is chosen by this, never by reading the message."""

    DEVICE_UNAVAILABLE = "device_unavailable"  # no output device (or no engine to drive one)
    DEVICE_LOST = "device_lost"  # the device went away while open (a pulled cable)
    FILE_MISSING = "file_missing"  # the track's file is not there
    FILE_DAMAGED = "file_damaged"  # the file is there and cannot be decoded
    ENGINE_RESTARTING = "engine_restarting"  # the engine's process died; a new one is starting


@dataclass(frozen=True)
class PlayerError:
    """One failure, as delivered to `PlayerListener.on_error`. `detail` is for the log."""

    kind: PlayerErrorKind
    detail: str
    path: Path | None = None  # the file at fault, for the file kinds

    @property
    def about_file(self) -> bool:
        return self.kind in (PlayerErrorKind.FILE_MISSING, PlayerErrorKind.FILE_DAMAGED)

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.detail}"


@runtime_checkable
class PlayerListener(Protocol):
    def on_state(self, state: PlayerState) -> None: ...

    def on_position(self, seconds: float) -> None: ...

    def on_ended(self) -> None: ...

    def on_error(self, error: PlayerError) -> None: ...

    def on_speech(self, state: SpeechState) -> None: ...


class BaseListener:
    """A listener that ignores everything: subclass it and override what you need."""

    def on_state(self, state: PlayerState) -> None:
        pass

    def on_position(self, seconds: float) -> None:
        pass

    def on_ended(self) -> None:
        pass

    def on_error(self, error: PlayerError) -> None:
        pass

    def on_speech(self, state: SpeechState) -> None:
        pass


@runtime_checkable
class Player(Protocol):
    """Plays one track at a time on the station's headphones.

    `position` is in seconds *as heard* (output latency already taken off), so read-along
    highlighting matches the ear. `volume` is 0..cap; asking for more gives the cap.
    Every control method returns at once; what follows is reported through the listeners.
    """

    @property
    def state(self) -> PlayerState: ...

    @property
    def position(self) -> float: ...

    @property
    def duration(self) -> float: ...

    @property
    def volume(self) -> float: ...

    @property
    def volume_cap(self) -> float: ...

    @property
    def speech_state(self) -> SpeechState: ...

    def load(self, path: Path, duration: float | None = None, gain: float = 1.0) -> None:
        """Make `path` the current track, at 0 s, IDLE; a new session: start volume.

        `gain` multiplies the track's samples before the volume (the loudness target's,
        kiosk.audio.loudness.track_gain); what reaches the headphones stays within the cap."""

    def play(self) -> None:
        """Start from the position (from 0 after the end), or resume when paused; fades in."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def stop(self) -> None:
        """Fade out and rewind to the start; the track stays loaded (state IDLE)."""

    def seek(self, seconds: float) -> None: ...

    def skip(self, delta: float) -> None: ...

    def set_volume(self, v: float) -> None:
        """Clamped to [0, cap] inside."""

    def reset_volume(self) -> None:
        """Back to the configured start volume (a new visitor)."""

    def speak(self, path: Path) -> None:
        """Say `path` (a short WAV: talk-back's words) in the headphones over the track, at
        the visitor's volume and within the cap; a playing track goes on, ducked, and comes
        back up when the words end. Replaces the utterance in progress at once (a few ms
        fade). A file that cannot be read is logged and reported as SpeechState.IDLE."""

    def stop_speaking(self) -> None:
        """The words stop (a few ms fade); the track comes back up."""

    def pause_speaking(self) -> None:
        """The words hold where they are (SPEAKING -> PAUSED); the track comes back up."""

    def resume_speaking(self) -> None:
        """Paused words go on from where they were (PAUSED -> SPEAKING)."""

    def add_listener(self, listener: PlayerListener) -> None: ...

    def remove_listener(self, listener: PlayerListener) -> None: ...

    def close(self) -> None: ...


class ListenerSet:
    """A player's listeners, and the delivery of its events to them: through `dispatch`, in
    the order added, one listener's exception logged and kept from the others. Every
    player (the engine, RemotePlayer, FakePlayer) delivers through one of these."""

    def __init__(self, dispatch: Dispatch = call_now):
        self._dispatch = dispatch
        self._lock = threading.Lock()
        # Replaced, never changed in place: emit() reads it without the lock.
        self._listeners: tuple[PlayerListener, ...] = ()

    def add(self, listener: PlayerListener) -> None:
        with self._lock:
            self._listeners = (*self._listeners, listener)

    def remove(self, listener: PlayerListener) -> None:
        with self._lock:
            self._listeners = tuple(x for x in self._listeners if x is not listener)

    def clear(self) -> None:
        with self._lock:
            self._listeners = ()

    def emit(self, name: str, *args: Any) -> None:
        """Deliver `listener.<name>(*args)` to the listeners of this moment."""
        listeners = self._listeners
        if not listeners:
            return

        def deliver() -> None:
            for listener in listeners:
                try:
                    getattr(listener, name)(*args)
                except Exception:
                    log.exception("player listener %s failed", name)

        try:
            self._dispatch(deliver)
        except Exception:
            log.exception("player event dispatch failed")
