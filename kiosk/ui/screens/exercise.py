"""Exercise: what it is, how long, and the two things a visitor can do with it."""

from __future__ import annotations

import os
from typing import Any

from kivy.app import App
from kivy.lang import Builder
from kivy.properties import BooleanProperty
from kivy.uix.screenmanager import Screen

import kiosk.ui.widgets.common  # noqa: F401  (KLabel, KButton, TopBar used by the kv)
from kiosk.ui.strings import length_words

Builder.load_file(os.path.join(os.path.dirname(__file__), "exercise.kv"))


class ExerciseScreen(Screen):
    side = BooleanProperty(True)  # the actions beside the words (else below them)

    def spoken_summary(self) -> str:
        app = App.get_running_app()
        exercise = app.exercise
        if exercise is None:
            return ""
        return str(app.tr("talk.exercise", title=exercise.title, summary=exercise.summary or "",
                          length=length_words(exercise.variant.duration_seconds, app.lang)))

    def on_pre_enter(self, *args: Any) -> None:
        self.ids.intro_scroll.scroll_y = 1
