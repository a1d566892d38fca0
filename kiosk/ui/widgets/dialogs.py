"""The dialogs: "Need help now?" (the clinic's own words), "Still there?", the text and
colours, trouble (the banner), and the overlay that keeps "Need help now?" in its place
(the player's end card is one too)."""

from __future__ import annotations

import os
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.lang import Builder
from kivy.metrics import dp
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.modalview import ModalView

from kiosk.ui.widgets.common import HelpButton, repeat_guard  # and KLabel, KButton, used by the kv


class HelpView(ModalView):
    pass


class DisplayView(ModalView):
    pass


class OverlayWithHelp(ModalView):
    """An overlay on a client's screen, over the whole window, with "Need help now?" where
    the screen below has it: a visitor who needs help finds it where it always is. Its kv
    holds a FloatLayout `room` with a HelpButton `help` and the overlay's `box`, placed by
    the methods below: centred, or just below the button, or on a short panel beside it."""

    help_at = ObjectProperty(None, allownone=True)  # the screen's own button, in the window
    beside = BooleanProperty(False)  # the box to the left of the button: no room below

    _below: Any = None  # the screen's own button, followed while open

    def on_pre_open(self) -> None:
        self._below = _help_button_of(App.get_running_app().manager.current_screen)
        if self._below is not None:
            # The screen may still be laying out (an overlay opened as it appears): follow.
            self._below.bind(pos=self._follow, size=self._follow)
        self._follow()
        self.beside = False

    def _follow(self, *_args: Any) -> None:
        below = self._below
        on_screen = below is not None and below.get_root_window() is not None
        self.help_at = tuple(below.to_window(below.x, below.y)) if on_screen else None

    def on_dismiss(self) -> None:
        if self._below is not None:
            self._below.unbind(pos=self._follow, size=self._follow)
            self._below = None

    def on_open(self) -> None:
        Clock.schedule_once(self._make_room, 0)  # once the box has its height at full width

    def _make_room(self, _dt: float) -> None:
        if self.ids.box.height > self.ids.help.y - self.ids.room.y - dp(10):
            self.beside = True

    # -- where the box goes, from the sizes the kv passes (and so binds to) ----------------
    @staticmethod
    def box_width(beside: bool, room_x: float, room_width: float, help_x: float, wide: float) -> float:
        return float(help_x - room_x - dp(20)) if beside else float(room_width * wide)

    @staticmethod
    def box_x(beside: bool, room_x: float, room_width: float, width: float) -> float:
        return float(room_x + dp(10)) if beside else float(room_x + (room_width - width) / 2)

    @staticmethod
    def box_y(beside: bool, room_y: float, room_height: float, help_y: float, height: float) -> float:
        centred = (room_height - height) / 2
        below = help_y - room_y - dp(10) - height
        return float(room_y + max(0, centred if beside else min(centred, below)))


class StillThereView(OverlayWithHelp):
    seconds_left = NumericProperty(0)
    total = NumericProperty(0)  # the seconds the question stays up


class Banner(OverlayWithHelp):
    """Trouble, told over the screen: it moves nothing below it and never goes on a timer
    (issue 17). It goes when the client closes it, when the visit is cleared, or when the
    trouble mends itself (`withdraw`: the sound is back, and Play works again)."""

    message_key = StringProperty("")

    @property
    def shown(self) -> bool:
        return self.parent is not None

    def show(self, key: str) -> None:
        self.message_key = key
        if not self.shown:
            self.open(animation=False)

    def withdraw(self) -> None:
        """Gone by itself: a finger already on its way to Close, landing there within the
        repeat guard's half second, touches nothing below."""
        if self.shown:
            close = self.ids.close
            repeat_guard.arm(*close.to_window(*close.center))
            self.dismiss(animation=False)

    def hide(self) -> None:
        if self.shown:
            self.dismiss(animation=False)


def _help_button_of(screen: Any) -> Any:
    return next((w for w in screen.walk(restrict=True) if isinstance(w, HelpButton)), None)


Builder.load_file(os.path.join(os.path.dirname(__file__), "dialogs.kv"))


class LeaveStationView(ModalView):
    """Therapist mode's "Leave the station": asked once more, since clients lose the station."""
