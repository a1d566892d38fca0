"""The two dialogs: "Need help now?" (the clinic's own words) and "Still there?"."""

from __future__ import annotations

import os
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.lang import Builder
from kivy.metrics import dp
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty
from kivy.uix.modalview import ModalView

from kiosk.ui.widgets.common import HelpButton  # and KLabel, KButton, used by the kv


class HelpView(ModalView):
    pass


class DisplayView(ModalView):
    pass


class StillThereView(ModalView):
    """ "Still there?" over the whole window, with "Need help now?" where the screen below
    has it: a visitor who needs help finds it where it always is."""

    seconds_left = NumericProperty(0)
    total = NumericProperty(0)  # the seconds the question stays up
    help_at = ObjectProperty(None, allownone=True)  # the screen's own button, in the window
    beside = BooleanProperty(False)  # the question to the left of it: no room below

    def on_pre_open(self) -> None:
        below = _help_button_of(App.get_running_app().manager.current_screen)
        on_screen = below is not None and below.get_root_window() is not None
        self.help_at = tuple(below.to_window(below.x, below.y)) if on_screen else None
        self.beside = False

    def on_open(self) -> None:
        Clock.schedule_once(self._make_room, 0)  # once the box has its height at full width

    def _make_room(self, _dt: float) -> None:
        box, button = self.ids.box, self.ids.help
        if box.height > button.y - self.ids.room.y - dp(10):
            self.beside = True


def _help_button_of(screen: Any) -> Any:
    return next((w for w in screen.walk(restrict=True) if isinstance(w, HelpButton)), None)


Builder.load_file(os.path.join(os.path.dirname(__file__), "dialogs.kv"))


class LeaveStationView(ModalView):
    """Therapist mode's "Leave the station": asked once more, since clients lose the station."""
