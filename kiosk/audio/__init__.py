"""The audio engine: exact, click-free, capped playback through PyAudio.

`api` (what everyone depends on), `fake` (FakePlayer, for UI tests), `player`
(PortAudioPlayer, the engine), `remote` (RemotePlayer: the engine in its own process, what
the station should use), `decode` (the playback copy made at import), `devices` (for
`kiosk doctor`). Importing this package does not load PortAudio.
"""

from __future__ import annotations

from typing import Any

from kiosk.audio.api import BaseListener, Dispatch, Player, PlayerListener, PlayerState, call_now

__all__ = ["BaseListener", "Player", "PlayerListener", "PlayerState", "open_player"]


def open_player(audio_settings: Any, dispatch: Dispatch = call_now, *, separate_process: bool = True) -> Player:
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
