"""Exercise: what it is, how long, and the two things a visitor can do with it."""

from __future__ import annotations

import os
from typing import Any

from kivy.lang import Builder
from kivy.properties import BooleanProperty
from kivy.uix.screenmanager import Screen

import kiosk.ui.widgets.common  # noqa: F401  (KLabel, KButton, TopBar used by the kv)

Builder.load_file(os.path.join(os.path.dirname(__file__), "exercise.kv"))


class ExerciseScreen(Screen):
    side = BooleanProperty(True)  # the actions beside the words (else below them)

    def on_pre_enter(self, *args: Any) -> None:
        self.ids.intro_scroll.scroll_y = 1
