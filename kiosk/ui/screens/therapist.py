"""The therapist panel, once the PIN is in: every exercise (therapist-only and hidden ones
marked), favourites pinned at the top, "Start" straight into the player; bundles of several
exercises behind one QR code; the live links, with revoke; the usage counts; Lock, and the
one way to the desktop.

Everything it asks goes through the UI worker; `forget()` (on Lock, auto-lock and reset)
drops every answer and everything chosen, so the next person to unlock starts clean.
"""

from __future__ import annotations

import logging
import math
import os
import time
from datetime import datetime
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import (
    BooleanProperty,
    DictProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    OptionProperty,
    StringProperty,
)
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen

import kiosk.ui.widgets.common  # noqa: F401  (KLabel, KButton used by the kv)
import kiosk.ui.widgets.keyboard  # noqa: F401  (OnScreenKeyboard used by the kv)
import kiosk.ui.widgets.qr_code  # noqa: F401  (QRCode used by the kv)
import kiosk.ui.widgets.toggles  # noqa: F401  (ToggleMark used by the kv)
from kiosk.ui import strings
from kiosk.ui.strings import format_date
from kiosk.ui.widgets.common import KButton, KLabel
from kiosk.words import format_time_of_day

log = logging.getLogger(__name__)

Builder.load_file(os.path.join(os.path.dirname(__file__), "therapist.kv"))

TABS = ("exercises", "bundle", "links", "usage")
EXPIRY_CHOICES = (1, 7, 30, 0)
UNDO_SECONDS = 6.0  # a Revoke waits this long for an Undo before the link stops working  # 0: the station's default (take_home.link_days)


def issued_words(moment: datetime, lang: str) -> str:
    """ "Issued today at 14:05", or on another day "Issued 2 December 2026 at 17:30" (the
    station's local time: the clinic's)."""
    local = moment.astimezone()
    time = format_time_of_day(local, lang)
    if local.date() == datetime.now().astimezone().date():
        when = strings.tr("therapist.today_at", lang, time=time)
    else:
        when = strings.tr("therapist.day_at", lang, date=format_date(local.date(), lang), time=time)
    return strings.tr("therapist.link_issued", lang, when=when)


class ExerciseRow(BoxLayout):
    exercise_id = StringProperty("")
    title = StringProperty("")
    duration_seconds = NumericProperty(0)
    therapist_only = BooleanProperty(False)
    hidden_from_public = BooleanProperty(False)
    favourite = BooleanProperty(False)
    chosen = BooleanProperty(False)
    panel = ObjectProperty(None)


class LinkRow(BoxLayout):
    short_id = StringProperty("")
    issued = StringProperty("")
    revoking_in = NumericProperty(0)  # seconds left to undo a Revoke; 0: not being revoked
    until = StringProperty("")
    titles = StringProperty("")
    downloads = NumericProperty(0)
    panel = ObjectProperty(None)


class LangButton(KButton):
    code = StringProperty("")


class TherapistStrip(BoxLayout):
    """While therapist mode is unlocked, above every screen but the panel (which says so in
    its own bar): "Therapist mode - Lock", and on the player "Hand to client". Nothing on the
    screen is covered: the strip has its own room, and gives it back on lock or hand-over.
    """

    over_player = BooleanProperty(False)

    @classmethod
    def follow(cls, app: Any) -> TherapistStrip:
        """Made once, on the first unlock; from then on in the tree exactly while it is due."""
        strip: TherapistStrip | None = getattr(app, "_therapist_strip", None)
        if strip is None:
            strip = cls()
            app._therapist_strip = strip
            app.bind(therapist_active=strip._place)
            app.manager.bind(current=strip._place)
            strip._place()
        return strip

    def _place(self, *_args: Any) -> None:
        app = App.get_running_app()
        root, current = app.root, app.manager.current
        self.over_player = current == "player"
        wanted = app.therapist_active and current not in ("therapist", "pin")
        if wanted and self.parent is None:
            root.add_widget(self, index=root.children.index(app.manager) + 1)  # just above it
        elif not wanted and self.parent is not None:
            self.parent.remove_widget(self)


class TherapistScreen(Screen):
    tab = OptionProperty("exercises", options=list(TABS))
    lang = StringProperty("")  # the language "Start" and bundles use
    query = StringProperty("")
    keyboard_open = BooleanProperty(False)
    cards = ListProperty([])
    favourites = ListProperty([])
    chosen = ListProperty([])  # exercise ids for the bundle, in the order chosen
    titles = DictProperty({})
    expiry_days = NumericProperty(0)
    bundle_stage = OptionProperty("choose", options=["choose", "preparing", "code", "failed"])
    code = ObjectProperty(None, allownone=True)
    links = ListProperty([])
    usage_rows = ListProperty([])
    loading = BooleanProperty(False)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._asked = 0
        self.undo_seconds = UNDO_SECONDS
        self._revoking: dict[str, float] = {}  # short id -> when it is revoked (monotonic)
        self._revoke_tick: Any = None
        self.bind(query=lambda *_: self.refresh(), lang=lambda *_: self.refresh())
        # ids are weak references: this keeps the keyboard while it is folded out of the tree.
        self._keyboard = self.ids.keyboard.__self__

    def on_kv_post(self, base_widget: Any) -> None:
        app = App.get_running_app()
        for code in app.settings.languages.available:
            button = LangButton(code=code)
            button.bind(on_release=lambda b: setattr(self, "lang", b.code))
            self.ids.languages.add_widget(button)
        for days in EXPIRY_CHOICES:
            button = LangButton(code=str(days))
            button.bind(on_release=lambda b: setattr(self, "expiry_days", int(b.code)))
            self.ids.expiry.add_widget(button)
        self.bind(lang=self._label_buttons, expiry_days=self._label_buttons)
        app.bind(lang=self._label_buttons)
        app.bind(on_stop=lambda *_a: self._revoke_now_all())  # before the worker stops
        self._label_buttons()

    def _label_buttons(self, *_args: Any) -> None:
        app = App.get_running_app()
        for button in self.ids.languages.children:
            button.text = app.tr("language.name", button.code)
            button.selected = button.code == self.lang
        for button in self.ids.expiry.children:
            button.text = self.expiry_words(int(button.code), app.lang)
            button.selected = int(button.code) == int(self.expiry_days)

    def expiry_button(self, days: int) -> LangButton:
        return next(b for b in self.ids.expiry.children if int(b.code) == days)

    def language_button(self, code: str) -> LangButton:
        return next(b for b in self.ids.languages.children if b.code == code)

    def on_pre_enter(self, *args: Any) -> None:
        if not self.lang:
            self.lang = App.get_running_app().lang
        self.refresh()

    # -- asking the worker -----------------------------------------------------------------
    def _submit(self, job: Any, done: Any) -> None:
        asked = self._asked

        def answer(value: Any) -> None:
            if asked == self._asked:
                done(value)

        App.get_running_app().worker.submit(job, answer, lambda _e: self._failed(asked))

    def _failed(self, asked: int) -> None:
        if asked == self._asked:
            self.loading = False
            if self.bundle_stage == "preparing":
                self.bundle_stage = "failed"
            App.get_running_app().show_banner("banner.error")

    def refresh(self, keep_order: bool = False) -> None:
        if not self.lang:
            return
        backend, lang, query = App.get_running_app().backend, self.lang, self.query.strip() or None
        self.loading = True

        def job(db: Any) -> tuple[list[Any], list[str]]:
            return backend.therapist_cards(db, lang, query), backend.favourites(db)

        def done(result: tuple[list[Any], list[str]]) -> None:
            cards, favourites = result
            self.loading = False
            self.favourites = favourites
            self.titles.update({c.id: c.title for c in cards})
            self.cards = cards
            # Always: the same cards with a new favourite are an equal list, and no event.
            self._build_rows(keep_order)

        self._submit(job, done)

    def _build_rows(self, keep_order: bool = False) -> None:
        """Favourites first, each group in the catalogue's order; but a star just touched
        leaves every row where it is (a list that re-sorts under the finger would put another
        exercise under it), and the favourites move up the next time the list is made."""
        box = self.ids.rows
        shown = self.row_ids() if keep_order else []
        box.clear_widgets()
        favourite = set(self.favourites)
        ordered = sorted(self.cards, key=lambda c: c.id not in favourite)
        if shown:
            place = {exercise_id: i for i, exercise_id in enumerate(shown)}
            ordered.sort(key=lambda c: place.get(c.id, len(place)))  # stable: new ones last
        for card in ordered:
            visibility = getattr(card, "visibility", "public")
            box.add_widget(ExerciseRow(
                exercise_id=card.id, title=card.title, duration_seconds=card.duration_seconds,
                therapist_only=visibility != "public", hidden_from_public=bool(getattr(card, "hidden", False)),
                favourite=card.id in favourite, chosen=card.id in self.chosen, panel=self))

    def row(self, exercise_id: str) -> ExerciseRow:
        return next(r for r in self.ids.rows.children if r.exercise_id == exercise_id)

    def row_ids(self) -> list[str]:
        return [r.exercise_id for r in reversed(self.ids.rows.children)]

    # -- the exercises -----------------------------------------------------------------------
    def set_favourite(self, exercise_id: str, favourite: bool) -> None:
        if (exercise_id in self.favourites) == favourite:
            return
        backend = App.get_running_app().backend
        self._submit(lambda db: backend.set_favourite(db, exercise_id, favourite),
                     lambda _r: self.refresh(keep_order=True))

    def choose(self, exercise_id: str, chosen: bool) -> None:
        if chosen and exercise_id not in self.chosen:
            self.chosen.append(exercise_id)
        elif not chosen and exercise_id in self.chosen:
            self.chosen.remove(exercise_id)
        if self.bundle_stage != "choose":
            self.new_bundle()

    def start(self, exercise_id: str) -> None:
        self.close_keyboard()
        App.get_running_app().start_for_therapist(exercise_id, self.lang)

    def open_keyboard(self) -> None:
        self.keyboard_open = True

    def close_keyboard(self) -> None:
        self.keyboard_open = False

    def clear_search(self) -> None:
        self.ids.keyboard.text = ""

    # -- tabs ---------------------------------------------------------------------------------
    def on_tab(self, _instance: Any, tab: str) -> None:
        self.close_keyboard()
        if tab == "links":
            self.load_links()
        elif tab == "usage":
            self.load_usage()

    # -- bundles ------------------------------------------------------------------------------
    def expiry_words(self, days: int, lang: str) -> str:
        app = App.get_running_app()
        if days == 0:
            return app.tr("therapist.days_default", lang, n=app.settings.take_home.link_days)
        return app.tr("therapist.days_one", lang) if days == 1 else app.tr("therapist.days", lang, n=days)

    def show_qr(self) -> None:
        if not self.chosen or self.bundle_stage == "preparing":
            return
        backend = App.get_running_app().backend
        items = [(exercise_id, self.lang) for exercise_id in self.chosen]
        days = int(self.expiry_days) or None
        self.bundle_stage = "preparing"

        def done(code: Any) -> None:
            self.code = code
            self.ids.qr.matrix = code.matrix
            self.bundle_stage = "code"
            log.info("bundle code shown: %d exercise(s)", len(items))

        self._submit(lambda db: backend.bundle(db, items, days), done)

    def new_bundle(self) -> None:
        self.code = None
        self.ids.qr.matrix = None
        self.bundle_stage = "choose"

    def valid_until(self, lang: str) -> str:
        if self.code is None:
            return ""
        return App.get_running_app().tr("therapist.valid_until", lang,
                                        date=format_date(self.code.expires_at.date(), lang))

    # -- live links ----------------------------------------------------------------------------
    def load_links(self) -> None:
        backend, lang = App.get_running_app().backend, self.lang

        def job(db: Any) -> tuple[list[Any], dict[str, str]]:
            return backend.live_links(db), {c.id: c.title for c in backend.therapist_cards(db, lang, None)}

        def done(result: tuple[list[Any], dict[str, str]]) -> None:
            self.titles.update(result[1])
            self.links = result[0]

        self._submit(job, done)

    def on_links(self, *_args: Any) -> None:
        app = App.get_running_app()
        box = self.ids.link_rows
        box.clear_widgets()
        for link in self.links:
            titles = ", ".join(self.titles.get(it.exercise_id, it.exercise_id) for it in link.items)
            box.add_widget(LinkRow(
                short_id=link.short_id, titles=titles, downloads=link.total_downloads, panel=self,
                issued=issued_words(link.created_at, app.lang),
                until=app.tr("therapist.link_until", app.lang,
                             date=format_date(link.expires_at.astimezone().date(), app.lang))))
        self._count_down(0)

    def link_row(self, short_id: str) -> LinkRow:
        return next(r for r in self.ids.link_rows.children if r.short_id == short_id)

    def revoke(self, short_id: str) -> None:
        """Revoked after a few seconds in which Undo takes it back (the link keeps working
        meanwhile); Lock, hand-over and leaving the station revoke at once what is waiting."""
        if short_id in self._revoking:
            return
        self._revoking[short_id] = time.monotonic() + self.undo_seconds
        if self._revoke_tick is None:
            self._revoke_tick = Clock.schedule_interval(self._count_down, 0.25)
        self._count_down(0)

    def undo_revoke(self, short_id: str) -> None:
        if self._revoking.pop(short_id, None) is not None:
            log.info("take-home link %s: revoke undone", short_id)
        self._count_down(0)

    def _count_down(self, _dt: float) -> None:
        now, backend = time.monotonic(), App.get_running_app().backend
        for short_id, at in list(self._revoking.items()):
            if at <= now:
                del self._revoking[short_id]
                self._submit(lambda db, s=short_id: backend.revoke(db, s), lambda _ok: self.load_links())
        for row in self.ids.link_rows.children:
            due = self._revoking.get(row.short_id)
            row.revoking_in = max(1, math.ceil(due - now)) if due is not None else 0
        if not self._revoking and self._revoke_tick is not None:
            self._revoke_tick.cancel()
            self._revoke_tick = None

    def _revoke_now_all(self) -> None:
        # Straight to the worker: the session's answers are about to be dropped, the revoke
        # itself must still happen.
        app = App.get_running_app()
        if not self._revoking or app is None:  # nothing waiting, or the station is stopping
            self._revoking.clear()
            return
        backend = app.backend
        for short_id in list(self._revoking):
            app.worker.submit(lambda db, s=short_id: backend.revoke(db, s))
        self._revoking.clear()
        self._count_down(0)

    # -- usage -----------------------------------------------------------------------------------
    def load_usage(self) -> None:
        backend, lang = App.get_running_app().backend, self.lang

        def job(db: Any) -> tuple[list[Any], list[Any], dict[str, str]]:
            titles = {c.id: c.title for c in backend.therapist_cards(db, lang, None)}
            return backend.usage(db, 7), backend.usage(db, 30), titles

        def done(result: tuple[list[Any], list[Any], dict[str, str]]) -> None:
            week, month, titles = result
            self.titles.update(titles)
            by_week = {r.exercise_id: r for r in week}
            # The 30 days hold the 7: their rows name every exercise used.
            self.usage_rows = [(r.exercise_id, by_week.get(r.exercise_id), r) for r in month]

        self._submit(job, done)

    def on_usage_rows(self, *_args: Any) -> None:
        grid = self.ids.usage
        grid.clear_widgets()
        for exercise_id, week, month in self.usage_rows:
            grid.add_widget(KLabel(text=self.titles.get(exercise_id, exercise_id), base_size=18))
            for row in (week, month):
                for field in ("plays_started", "plays_completed", "links_issued", "downloads"):
                    grid.add_widget(KLabel(text=str(getattr(row, field, 0) if row else 0),
                                           base_size=18, halign="center"))

    def usage_numbers(self, exercise_id: str) -> list[int]:
        """The eight numbers shown for an exercise (7 days, then 30), for tests."""
        for eid, week, month in self.usage_rows:
            if eid == exercise_id:
                return [getattr(r, f, 0) if r else 0 for r in (week, month)
                        for f in ("plays_started", "plays_completed", "links_issued", "downloads")]
        return []

    # -- the session ends --------------------------------------------------------------------------
    def forget(self) -> None:
        self._revoke_now_all()
        self._asked += 1
        self.keyboard_open = False
        self.ids.keyboard.text = ""
        self.query = ""
        self.chosen = []
        self.cards = []
        self.favourites = []
        self._build_rows()
        self.titles = {}
        self.links = []
        self.usage_rows = []
        self.expiry_days = 0
        self.new_bundle()
        self.tab = "exercises"
        self.lang = ""
