"""Take home: consent in plain words first, then the QR code, the address and the Wi-Fi code.

The link is issued and both QR matrices are computed on the worker thread; only the
textures are made here.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from typing import Any

from kivy.app import App
from kivy.lang import Builder
from kivy.properties import ObjectProperty, OptionProperty, StringProperty
from kivy.uix.screenmanager import Screen

import kiosk.ui.widgets.common  # noqa: F401  (KLabel, KButton, TopBar used by the kv)
import kiosk.ui.widgets.qr_code  # noqa: F401  (QRCode used by the kv)
from kiosk.ui.backend import TakeHomeCode, link_expiry
from kiosk.ui.strings import format_date
from kiosk.ui.talkback import spelled

log = logging.getLogger(__name__)

Builder.load_file(os.path.join(os.path.dirname(__file__), "take_home.kv"))

CONSENT, PREPARING, CODE, FAILED = "consent", "preparing", "code", "failed"


class TakeHomeScreen(Screen):
    stage = OptionProperty(CONSENT, options=[CONSENT, PREPARING, CODE, FAILED])
    code = ObjectProperty(None, allownone=True)
    url = StringProperty("")

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._asked = 0

    def on_pre_enter(self, *args: Any) -> None:
        if self.stage != CODE:
            self.stage = CONSENT

    def on_leave(self, *args: Any) -> None:
        # A code is for the visitor who asked for it: leaving the screen forgets it.
        self.forget()

    def on_stage(self, _instance: Any, stage: str) -> None:
        if stage in (CODE, FAILED) and self.manager is not None and self.manager.current == self.name:
            App.get_running_app().talk_back.arrived(self)  # the code came: said as a new screen

    def spoken_summary(self) -> str:
        """The consent, read in full: it is what the visitor agrees to. Then the code's
        address, spelled slowly, for a visitor who cannot find the QR code."""
        app = App.get_running_app()
        title = app.exercise.title if app.exercise else ""
        if self.stage == FAILED:
            return str(app.tr("talk.take_home_failed", message=app.tr("takehome.failed")))
        if self.stage == CODE and self.code is not None:
            return str(app.tr("talk.take_home_code", title=app.tr("takehome.title"),
                              address=spelled(self.code.short_address, app.lang),
                              date=self.expiry_date(app.lang)))
        consent = app.tr("takehome.consent", title=title, date=self.promised_date(app.lang))
        return str(app.tr("talk.take_home", title=app.tr("takehome.title"), consent=consent))

    def promised_date(self, lang: str) -> str:
        app = App.get_running_app()
        return format_date(link_expiry(app.settings).date(), lang)

    def expiry_date(self, lang: str) -> str:
        if self.code is None:
            return ""
        expires: datetime = self.code.expires_at
        return format_date(expires.date(), lang)

    def agree(self) -> None:
        app = App.get_running_app()
        exercise = app.exercise
        if exercise is None:
            return
        self.stage = PREPARING
        self._asked += 1
        asked = self._asked
        backend, exercise_id, lang = app.backend, exercise.id, exercise.variant.lang

        def job(db: Any) -> TakeHomeCode:
            return backend.take_home(db, exercise_id, lang)

        def done(code: TakeHomeCode) -> None:
            if asked != self._asked:
                return
            self.code = code
            self.url = code.url
            self.ids.qr.matrix = code.matrix
            self.ids.wifi_qr.matrix = code.wifi_matrix
            self.stage = CODE
            log.info("take-home code shown")

        def failed(_exc: BaseException) -> None:
            if asked == self._asked:
                self.stage = FAILED

        app.worker.submit(job, done, failed)

    def decline(self) -> None:
        App.get_running_app().go("exercise")

    def forget(self) -> None:
        self._asked += 1
        self.code = None
        self.url = ""
        self.ids.qr.matrix = None
        self.ids.wifi_qr.matrix = None
        self.stage = CONSENT
