"""The player that stands in when the audio engine could not start at all.

The station still runs (browsing, scripts, take-home links); every attempt to play reports
DEVICE_UNAVAILABLE, so the screen shows its "sound is not available" banner.
"""

from __future__ import annotations

from pathlib import Path

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


class UnavailablePlayer:
    def __init__(self, dispatch: Dispatch = call_now, detail: str = "the audio engine could not start (see the log)"):
        self._listeners = ListenerSet(dispatch)
        self._error = PlayerError(PlayerErrorKind.DEVICE_UNAVAILABLE, detail)
        self.state = PlayerState.ERROR
        self.position = 0.0
        self.duration = 0.0
        self.volume = 0.0
        self.volume_cap = 0.0
        self.speech_state = SpeechState.IDLE

    def load(self, path: Path, duration: float | None = None, gain: float = 1.0) -> None:
        self.duration = duration or 0.0

    def play(self) -> None:
        self._listeners.emit("on_error", self._error)

    def resume(self) -> None:
        self.play()

    def pause(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def seek(self, seconds: float) -> None:
        pass

    def skip(self, delta: float) -> None:
        pass

    def set_volume(self, v: float) -> None:
        pass

    def reset_volume(self) -> None:
        pass

    def speak(self, path: Path) -> None:
        pass  # nothing to say it with: the words stay unsaid (IDLE), as the screen shows

    def stop_speaking(self) -> None:
        pass

    def pause_speaking(self) -> None:
        pass

    def resume_speaking(self) -> None:
        pass

    def add_listener(self, listener: PlayerListener) -> None:
        self._listeners.add(listener)

    def remove_listener(self, listener: PlayerListener) -> None:
        self._listeners.remove(listener)

    def close(self) -> None:
        self._listeners.clear()


def _follows_the_protocol(player: UnavailablePlayer) -> Player:
    return player  # mypy (make lint) checks every method's signature against Player here
