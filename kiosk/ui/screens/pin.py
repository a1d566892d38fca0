"""The therapist PIN pad, reached only by the hidden corner.

Checking a PIN takes a few tenths of a second (scrypt) and may wait on the lockout, so it
runs on the UI worker; the pad says "Checking…" meanwhile. The typed digits live only here,
and are dropped as soon as they are sent, on leaving the screen and on every reset. While
the lockout holds, the pad shows the time left and takes no digits.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.lang import Builder
from kivy.metrics import dp
from kivy.properties import NumericProperty, OptionProperty, StringProperty
from kivy.uix.screenmanager import Screen

import kiosk.ui.widgets.common  # noqa: F401  (KLabel, KButton used by the kv)
from kiosk.ui.widgets.common import KButton

log = logging.getLogger(__name__)

Builder.load_file(os.path.join(os.path.dirname(__file__), "pin.kv"))

MAX_DIGITS = 16  # kiosk.therapist.pin.MAX_LENGTH
READY, CHECKING, WRONG, LOCKED = "ready", "checking", "wrong", "locked"


class PinKey(KButton):
    key = StringProperty("")


class PinScreen(Screen):
    entered = StringProperty("")
    status = OptionProperty(READY, options=[READY, CHECKING, WRONG, LOCKED])
    seconds_left = NumericProperty(0)
    came_from = StringProperty("attract")

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._lockout: Any = None  # made on the worker: it reads its state file
        self._countdown: Any = None

    def on_kv_post(self, base_widget: Any) -> None:
        for key in ("1", "2", "3", "4", "5", "6", "7", "8", "9", "delete", "0", "ok"):
            button = PinKey(key=key, base_size=20 if len(key) == 1 else 15, min_height=dp(58),
                            primary=key == "ok")
            button.bind(on_release=lambda b: self.press(b.key))
            self.ids.pad.add_widget(button)
        self._label_keys()

    def _label_keys(self) -> None:
        app = App.get_running_app()
        for button in self.ids.pad.children:
            if button.key == "delete":
                button.text = app.tr("pin.delete", app.lang)
            elif button.key == "ok":
                button.text = app.tr("pin.ok", app.lang)
            else:
                button.text = button.key

    def key_button(self, key: str) -> PinKey:
        return next(b for b in self.ids.pad.children if b.key == key)

    def on_pre_enter(self, *args: Any) -> None:
        self._label_keys()
        self.entered = ""
        self.status = READY
        self._ask_lockout()

    def on_leave(self, *args: Any) -> None:
        self.forget()

    # -- the lockout ---------------------------------------------------------------------
    def _lockout_for(self, data_dir: Any) -> Any:
        if self._lockout is None:
            from kiosk.therapist.pin import PinLockout

            self._lockout = PinLockout.for_data_dir(data_dir)
        return self._lockout

    def _ask_lockout(self) -> None:
        app = App.get_running_app()
        data_dir = app.settings.data_dir

        def done(left: float) -> None:
            if left > 0:
                self._locked(left)

        app.worker.submit(lambda _db: self._lockout_for(data_dir).seconds_left(), done)

    def _locked(self, seconds: float) -> None:
        self.status = LOCKED
        self.seconds_left = seconds
        if self._countdown is None:
            self._countdown = Clock.schedule_interval(self._tick, 0.25)

    def _tick(self, _dt: float) -> None:
        # seconds_left() is arithmetic under a lock: cheap enough for the UI thread.
        left = self._lockout.seconds_left() if self._lockout is not None else 0.0
        self.seconds_left = left
        if left <= 0:
            self._stop_countdown()
            self.status = READY

    def _stop_countdown(self) -> None:
        if self._countdown is not None:
            self._countdown.cancel()
            self._countdown = None

    # -- the pad -----------------------------------------------------------------------------
    def press(self, key: str) -> None:
        if self.status in (CHECKING, LOCKED):
            return
        if key == "delete":
            self.entered = self.entered[:-1]
        elif key == "ok":
            self.submit()
        elif key.isdigit() and len(self.entered) < MAX_DIGITS:
            if self.status == WRONG:
                self.status = READY
            self.entered += key

    def submit(self) -> None:
        if not self.entered or self.status in (CHECKING, LOCKED):
            return
        app = App.get_running_app()
        pin, self.entered = self.entered, ""
        stored, data_dir = app.settings.therapist.pin_hash, app.settings.data_dir
        self.status = CHECKING

        def done(result: Any) -> None:
            if self.status != CHECKING or app.manager.current != self.name:
                return
            if result.ok:
                self.status = READY
                app.unlock_therapist()
            elif result.locked_seconds > 0:
                self._locked(result.locked_seconds)
            else:
                self.status = WRONG

        def failed(_exc: BaseException) -> None:
            if self.status == CHECKING:
                self.status = WRONG

        app.worker.submit(lambda _db: self._lockout_for(data_dir).attempt(pin, stored), done, failed)

    def cancel(self) -> None:
        app = App.get_running_app()
        app.go(self.came_from if self.came_from in ("attract", "browse") else "attract")

    def forget(self) -> None:
        self.entered = ""
        self._stop_countdown()
        self.status = READY
        self.seconds_left = 0
