"""Attract: the calm screen a visitor walks up to; one touch anywhere begins."""

from __future__ import annotations

import os
from typing import Any

from kivy.animation import Animation
from kivy.app import App
from kivy.lang import Builder
from kivy.uix.screenmanager import Screen

import kiosk.ui.widgets.common  # noqa: F401  (KLabel, HiddenCorner used by the kv)

Builder.load_file(os.path.join(os.path.dirname(__file__), "attract.kv"))


class AttractScreen(Screen):
    def on_enter(self, *args: Any) -> None:
        # A slow "breathing" circle: about six breaths a minute, the pace of soothing breathing.
        circle = self.ids.breath
        circle.scale = 0.85
        self._breathing = Animation(scale=1.0, duration=5, t="in_out_sine") + Animation(
            scale=0.85, duration=5, t="in_out_sine"
        )
        self._breathing.repeat = True
        self._breathing.start(circle)

    def on_leave(self, *args: Any) -> None:
        Animation.cancel_all(self.ids.breath)

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
        if not touch.ud.get("therapist_gesture") and self.manager and self.manager.current == self.name:
            App.get_running_app().begin()
        return True
