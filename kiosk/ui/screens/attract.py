"""Attract: the calm screen a visitor walks up to; one touch anywhere begins."""

from __future__ import annotations

import math
import os
import time
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.lang import Builder
from kivy.metrics import dp, sp
from kivy.properties import NumericProperty
from kivy.uix.screenmanager import Screen

import kiosk.ui.widgets.common  # noqa: F401  (KLabel, HiddenCorner used by the kv)
from kiosk.ui.widgets.fitting import text_height

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
    # The welcome's text scale where the largest text would not fit below "Need help now?"
    # (a 7-inch panel): the heading grows less, never below the hint's size; 0 is no cap.
    welcome_cap = NumericProperty(0)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._began = time.monotonic()
        self._breathing = Clock.schedule_interval(self._breathe, 1 / BREATH_STEPS_PER_SECOND)
        self._breathing.cancel()

    def on_kv_post(self, base_widget: Any) -> None:
        super().on_kv_post(base_widget)
        self.ids.words.bind(width=self._fit_welcome)
        self.ids.help.bind(y=self._fit_welcome, height=self._fit_welcome)
        App.get_running_app().bind(text_scale=self._fit_welcome, lang=self._fit_welcome)

    def _fit_welcome(self, *_args: Any) -> None:
        ids, app = self.ids, App.get_running_app()
        welcome, hint, width = ids.welcome, ids.touch_hint, ids.words.width
        if width < 10:
            return
        room = ids.help.y - dp(12) - self.y
        hint_height = text_height(hint.text, sp(hint.base_size) * app.text_scale, width)
        smallest = max(1.0, app.text_scale * hint.base_size / welcome.base_size)
        scale = app.text_scale
        while scale > smallest and (text_height(welcome.text, sp(welcome.base_size) * scale, width)
                                    + ids.words.spacing + hint_height > room):
            scale = round(scale - 0.1, 1)
        self.welcome_cap = 0 if scale >= app.text_scale else max(scale, smallest)

    def spoken_summary(self) -> str:
        app = App.get_running_app()
        return str(app.tr("talk.attract", welcome=app.tr("attract.welcome"),
                          touch=app.tr("attract.touch")))

    def talk_activate(self) -> None:
        """Talk-back's double tap with nothing in focus: as a touch anywhere, it begins."""
        App.get_running_app().begin()

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
