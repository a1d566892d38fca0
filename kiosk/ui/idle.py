"""When to ask "Still there?" and when to clear the station for the next visitor.

Pure logic with an injected clock, so it is tested without a window. An exercise that is
playing holds the station: the quiet time counts from when it stops. A paused exercise
counts as stopped, so a visitor who paused and left is not waited for forever, but one paused
part-way waits the longer `paused_seconds`: resting with eyes closed is what the exercises
ask for, and it must not cost the visit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path

import soundfile

from kiosk.resources import PROMPTS_DIR


class IdleAction(Enum):
    NOTHING = "nothing"
    ASK = "ask"        # show "Still there?" (or keep showing it)
    RESET = "reset"    # the countdown ran out: back to attract, everything forgotten


class IdleWatch:
    def __init__(self, quiet_seconds: float, countdown_seconds: float,
                 now: Callable[[], float] = time.monotonic, paused_seconds: float = 0.0):
        self.quiet_seconds = quiet_seconds
        self.paused_seconds = paused_seconds
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

    def tick(self, *, at_rest: bool, playing: bool, paused_part_way: bool = False) -> IdleAction:
        """`at_rest`: the attract screen is showing, nothing to clear. `paused_part_way`: an
        exercise is paused between its start and its end."""
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
        quiet = max(self.quiet_seconds, self.paused_seconds) if paused_part_way else self.quiet_seconds
        if now - self._last_activity >= quiet:
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


def still_there_prompt(lang: str) -> tuple[Path, float] | None:
    """The spoken "Still there?" (a chime, then the words) in `lang`, or in British English
    where there is none in `lang`, with its length; None if it is not installed."""
    for name in (lang, "en-GB"):
        path = PROMPTS_DIR / f"still-there.{name}.flac"
        try:
            return path, float(soundfile.info(str(path)).duration)
        except (OSError, RuntimeError):  # soundfile's LibsndfileError is a RuntimeError
            continue
    return None
