"""When to ask "Still there?" and when to clear the station for the next visitor.

Pure logic with an injected clock, so it is tested without a window. An exercise that is
playing holds the station: the quiet time counts from when it stops (a paused exercise
counts as stopped, so a visitor who paused and left is not waited for forever).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum


class IdleAction(Enum):
    NOTHING = "nothing"
    ASK = "ask"        # show "Still there?" (or keep showing it)
    RESET = "reset"    # the countdown ran out: back to attract, everything forgotten


class IdleWatch:
    def __init__(self, quiet_seconds: float, countdown_seconds: float,
                 now: Callable[[], float] = time.monotonic):
        self.quiet_seconds = quiet_seconds
        self.countdown_seconds = countdown_seconds
        self._now = now
        self._last_activity = now()
        self.asking_since: float | None = None

    def activity(self) -> None:
        self._last_activity = self._now()
        self.asking_since = None

    def seconds_left(self) -> float:
        if self.asking_since is None:
            return self.countdown_seconds
        return max(0.0, self.countdown_seconds - (self._now() - self.asking_since))

    def tick(self, *, at_rest: bool, playing: bool) -> IdleAction:
        """`at_rest`: the attract screen is showing, nothing to clear."""
        now = self._now()
        if at_rest or playing:
            self._last_activity = now
            self.asking_since = None
            return IdleAction.NOTHING
        if self.asking_since is not None:
            if now - self.asking_since >= self.countdown_seconds:
                self.asking_since = None
                self._last_activity = now
                return IdleAction.RESET
            return IdleAction.ASK
        if now - self._last_activity >= self.quiet_seconds:
            self.asking_since = now
            return IdleAction.ASK
        return IdleAction.NOTHING


class AutoLock:
    """Therapist mode locks itself after `seconds` without a touch. Playing does not hold it
    open: an unattended, unlocked panel is the risk, whatever is playing."""

    def __init__(self, seconds: float, now: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self._now = now
        self._last_touch = now()

    def activity(self) -> None:
        self._last_touch = self._now()

    def due(self) -> bool:
        return self._now() - self._last_touch >= self.seconds
