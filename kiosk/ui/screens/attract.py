"""Attract: the calm screen a visitor walks up to; one touch anywhere begins."""

from __future__ import annotations

import math
import os
import time
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.lang import Builder
from kivy.uix.screenmanager import Screen

import kiosk.ui.widgets.common  # noqa: F401  (KLabel, HiddenCorner used by the kv)

Builder.load_file(os.path.join(os.path.dirname(__file__), "attract.kv"))


# A slow "breathing" circle: one breath in and out every ten seconds, about six a minute, the
# pace of soothing breathing.
BREATH_SECONDS = 10.0
SMALLEST, LARGEST = 0.85, 1.0
# The swell moves about a pixel per step at this rate. Kivy's Animation would step 60 times
# a second, and each step redraws the whole window (about 20 ms in software GL), so a first
# touch would often wait behind a frame drawn for a change nobody could see.
BREATH_STEPS_PER_SECOND = 15


def breath_scale(seconds: float) -> float:
    """The circle's scale `seconds` into the breathing: smallest at 0, largest at half a breath."""
    phase = (seconds % BREATH_SECONDS) / BREATH_SECONDS
    return SMALLEST + (LARGEST - SMALLEST) * (1 - math.cos(2 * math.pi * phase)) / 2


class AttractScreen(Screen):
    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._began = time.monotonic()
        self._breathing = Clock.schedule_interval(self._breathe, 1 / BREATH_STEPS_PER_SECOND)
        self._breathing.cancel()

    def on_enter(self, *args: Any) -> None:
        self._began = time.monotonic()
        self.ids.breath.scale = SMALLEST
        self._breathing()

    def on_leave(self, *args: Any) -> None:
        self._breathing.cancel()  # never animate a screen nobody sees

    def _breathe(self, _dt: float) -> None:
        self.ids.breath.scale = breath_scale(time.monotonic() - self._began)

    def on_touch_down(self, touch: Any) -> bool:
        super().on_touch_down(touch)
        touch.grab(self)
        return True

    def on_touch_up(self, touch: Any) -> bool:
        # Begin on release, so a therapist's long hold in the hidden corner is not taken for
        # a visitor's touch.
        if touch.grab_current is not self:
            return bool(super().on_touch_up(touch))
        touch.ungrab(self)
        super().on_touch_up(touch)
        on_help = self.ids.help.collide_point(*touch.pos)
        if (not touch.ud.get("therapist_gesture") and not on_help and self.manager
                and self.manager.current == self.name):
            App.get_running_app().begin()
        return True
