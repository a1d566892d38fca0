"""The audio engine: exact, click-free, capped playback through PyAudio.

`api` (what everyone depends on: the Player protocol, PlayerState, PlayerError and its
kinds), `fake` (FakePlayer, the one fake, for the UI and audio tests), `player`
(PortAudioPlayer, the engine), `remote` (RemotePlayer: the engine in its own process, what
the station should use, and its EngineSnapshot), `unavailable` (UnavailablePlayer, when no
engine could start), `decode` (the playback copy made at import), `mp3scan` (an MP3's
frame walk: whole and consistent, or why not; the importer's checks use it too), `devices`
(for `kiosk doctor`). Importing this package does not load PortAudio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.audio.api import (
    BaseListener,
    Dispatch,
    Player,
    PlayerError,
    PlayerErrorKind,
    PlayerListener,
    PlayerState,
    SpeechState,
    call_now,
)

if TYPE_CHECKING:
    from kiosk.config import AudioSettings

__all__ = ["BaseListener", "Player", "PlayerError", "PlayerErrorKind", "PlayerListener", "PlayerState",
           "SpeechState", "open_player"]


def open_player(audio_settings: AudioSettings, dispatch: Dispatch = call_now, *, separate_process: bool = True) -> Player:
    """The station's player for `settings.audio`.

    In a separate process by default: there the audio callback never waits for the UI's GIL
    (Kivy holds it for 100 ms at times), and a crash in PortAudio cannot take the station
    down. In-process (PortAudioPlayer) suits the CLI and tests.
    """
    if separate_process:
        from kiosk.audio.remote import RemotePlayer

        return RemotePlayer.from_settings(audio_settings, dispatch=dispatch)
    from kiosk.audio.player import PortAudioPlayer

    return PortAudioPlayer.from_settings(audio_settings, dispatch=dispatch)
