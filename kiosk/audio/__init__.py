"""The audio engine: exact, click-free, capped playback through PyAudio.

`api` (what everyone depends on), `fake` (for UI tests), `player` (the real engine),
`decode` (the playback copy made at import), `devices` (for `kiosk doctor`).
Importing this package does not load PortAudio.
"""

from kiosk.audio.api import BaseListener, Player, PlayerListener, PlayerState

__all__ = ["BaseListener", "Player", "PlayerListener", "PlayerState"]
