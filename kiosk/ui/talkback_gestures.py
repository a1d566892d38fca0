"""Talk-back's gestures, read from one finger's touches as VoiceOver and TalkBack read them.

- touch and move (explore): what is under the finger is spoken as the finger reaches it,
  from the moment it lands (a "peek", taken back if the touch turns out a swipe or the
  first of a double tap, so those still act on what was in focus before);
- tap: makes what is under it the focus (once the time for a second tap has passed);
- double tap, anywhere: activates what was last spoken;
- swipe right / left: the next / previous thing on the screen;
- swipe up / down: adjusts what is spoken if it can be adjusted (the seek bar), else
  "say that again" / "pause or go on";
- touch and hold, still, for about three seconds: turns talk-back on (when it is offered).

Kivy-free on purpose: the screen feeds it times and positions (kiosk/ui/talkback.py) and
acts on what it answers, so each gesture's rules can be tested by numbers alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Gesture(Enum):
    PEEK = "peek"  # a finger came down: speak what is under it now, but it may yet be a swipe
    EXPLORE = "explore"  # speak what is at (x, y), and it is the focus
    DOUBLE_TAP = "double-tap"
    SWIPE_RIGHT = "swipe-right"
    SWIPE_LEFT = "swipe-left"
    SWIPE_UP = "swipe-up"
    SWIPE_DOWN = "swipe-down"
    HOLD = "hold"


@dataclass(frozen=True)
class Read:
    gesture: Gesture
    x: float = 0.0
    y: float = 0.0


# Times in seconds; distances in millimetres on the panel (px_per_mm converts).
EXPLORE_AFTER = 0.25  # a finger still down this long is exploring, not tapping (a tap is ~0.1 s)
DOUBLE_TAP_GAP = 0.35  # from the first tap's lift to the second's touch (VoiceOver's is similar)
SWIPE_MIN_MM = 12.0  # a flick shorter than this is a tap that slid
SWIPE_MAX_SECONDS = 0.7  # longer than this, a moving finger is exploring
STILL_MM = 4.0  # a finger that moves less than this is still (a tap, a hold)
HOLD_SECONDS = 3.0


@dataclass
class _Stroke:
    t0: float
    x0: float
    y0: float
    x: float
    y: float
    travelled: float = 0.0  # the furthest it has been from where it started, in px
    exploring: bool = False
    held: bool = False


class GestureReader:
    """Feed it one finger's down, moves and up, and call due() at next_deadline(); each call
    answers the gestures read so far, oldest first. A second finger is ignored."""

    def __init__(self, px_per_mm: float):
        self.mm = float(px_per_mm)
        self._stroke: _Stroke | None = None
        self._tap: tuple[float, float, float] | None = None  # a first tap's (lift time, x, y)

    @property
    def busy(self) -> bool:
        return self._stroke is not None or self._tap is not None

    def next_deadline(self) -> float | None:
        times = []
        s = self._stroke
        if s is not None and not s.held:
            if not s.exploring:
                times.append(s.t0 + EXPLORE_AFTER)
            times.append(s.t0 + HOLD_SECONDS)
        if self._tap is not None:
            times.append(self._tap[0] + DOUBLE_TAP_GAP)
        return min(times) if times else None

    def down(self, t: float, x: float, y: float) -> list[Read]:
        out = self.due(t)
        if self._stroke is None:
            self._stroke = _Stroke(t, x, y, x, y)
            if self._tap is None:  # else it may be a double tap's second: nothing to say
                out.append(Read(Gesture.PEEK, x, y))
        return out

    def move(self, t: float, x: float, y: float) -> list[Read]:
        s = self._stroke
        if s is None:
            return []
        s.x, s.y = x, y
        s.travelled = max(s.travelled, ((x - s.x0) ** 2 + (y - s.y0) ** 2) ** 0.5)
        out = self.due(t)
        if s.exploring and not s.held:
            out.append(Read(Gesture.EXPLORE, x, y))
        return out

    def up(self, t: float, x: float, y: float) -> list[Read]:
        out = self.move(t, x, y) if self._stroke is not None else []
        s, self._stroke = self._stroke, None
        if s is None or s.held or s.exploring:
            return out
        dx, dy = x - s.x0, y - s.y0
        if (dx * dx + dy * dy) ** 0.5 >= SWIPE_MIN_MM * self.mm and t - s.t0 <= SWIPE_MAX_SECONDS:
            out += self._flush_tap()
            if abs(dx) >= abs(dy):
                gesture = Gesture.SWIPE_RIGHT if dx > 0 else Gesture.SWIPE_LEFT
            else:  # Kivy's y grows upwards
                gesture = Gesture.SWIPE_UP if dy > 0 else Gesture.SWIPE_DOWN
            out.append(Read(gesture, s.x0, s.y0))
        elif s.travelled < STILL_MM * self.mm:
            if self._tap is not None:
                self._tap = None
                out.append(Read(Gesture.DOUBLE_TAP, x, y))
            else:
                self._tap = (t, x, y)
        return out

    def due(self, t: float) -> list[Read]:
        """What time alone has decided by `t`: a single tap, an exploring finger, a hold."""
        out: list[Read] = []
        if self._tap is not None and t >= self._tap[0] + DOUBLE_TAP_GAP:
            out += self._flush_tap()
        s = self._stroke
        if s is None or s.held:
            return out
        still = s.travelled < STILL_MM * self.mm
        if t >= s.t0 + HOLD_SECONDS and still:
            s.held = True
            out.append(Read(Gesture.HOLD, s.x, s.y))
            return out
        if not s.exploring and t >= s.t0 + EXPLORE_AFTER and (still or t - s.t0 > SWIPE_MAX_SECONDS):
            out += self._flush_tap()
            s.exploring = True
            out.append(Read(Gesture.EXPLORE, s.x, s.y))
        return out

    def _flush_tap(self) -> list[Read]:
        if self._tap is None:
            return []
        _t, x, y = self._tap
        self._tap = None
        return [Read(Gesture.EXPLORE, x, y)]

    def reset(self) -> None:
        self._stroke = None
        self._tap = None
