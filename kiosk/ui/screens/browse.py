"""Browse: large tiles, technique chips, search with the on-screen keyboard, language."""

from __future__ import annotations

import logging
import os
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.lang import Builder
from kivy.metrics import dp
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen

import kiosk.ui.widgets.keyboard  # noqa: F401  (OnScreenKeyboard used by the kv)
from kiosk.ui.widgets.common import Forgiving, KButton
from kiosk.ui.widgets.fitting import widest_word

log = logging.getLogger(__name__)

Builder.load_file(os.path.join(os.path.dirname(__file__), "browse.kv"))

SEARCH_PAUSE = 0.15  # seconds of no typing before the catalogue is asked
PREFETCH = 24  # tiles whose exercises are fetched ahead: a screenful and a scroll or two


class Tile(Forgiving, BoxLayout):
    spoken = StringProperty("")  # talk-back's words for it (kiosk/ui/talkback.py)
    exercise_id = StringProperty("")
    title = StringProperty("")
    summary = StringProperty("")
    duration_seconds = ObjectProperty(0.0)
    techniques = ListProperty([])
    # The tallest content among the tiles of its row: tiles side by side are the same height
    # (a GridLayout would sit a shorter tile at the bottom of its row).
    row_height = NumericProperty(0)


class Chip(KButton):
    technique = StringProperty("")


class BrowseScreen(Screen):
    @staticmethod
    def hint_width(font_size: float, bold: bool, lang: str) -> float:
        """How wide the search field must be to say "Touch here to search" on one line."""
        hint = App.get_running_app().tr("browse.search_hint", lang)
        return float(widest_word(hint.replace(" ", "\u00a0"), font_size, bold) + dp(24))

    query = StringProperty("")
    technique = StringProperty("")  # "" = all
    keyboard_open = BooleanProperty(False)
    loading = BooleanProperty(False)
    cards = ListProperty([])
    techniques = ListProperty([])

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._refresh = Clock.create_trigger(self._ask, SEARCH_PAUSE)
        self._asked = 0
        self._tiles: dict[str, Tile] = {}  # by exercise id: made once, reused for every answer
        self._even_rows = Clock.create_trigger(self._set_row_heights)
        self._prefetched: dict[str, Any] = {}  # exercise id -> Exercise, for the current answer
        # ids are weak references: this keeps the keyboard while it is folded out of the tree.
        self._keyboard = self.ids.keyboard.__self__
        # Typing waits for a pause; a touched chip asks at once.
        self.bind(query=lambda *_: self._refresh(), technique=lambda *_: self.refresh_now())
        Clock.schedule_once(self._wire, 0)

    def _wire(self, _dt: float) -> None:
        app = App.get_running_app()
        app.bind(lang=self._on_lang)
        self._build_languages()

    # -- data ---------------------------------------------------------------------------
    def on_pre_enter(self, *args: Any) -> None:
        # Ask again each time: a pack imported or an exercise hidden while the station runs
        # shows at once. An unchanged answer changes nothing on screen (on_cards only runs
        # for a different list), so coming back from an exercise keeps the scroll position.
        self.refresh_now()

    def spoken_summary(self) -> str:
        app = App.get_running_app()
        n = len(self.cards)
        key = "talk.browse_none" if n == 0 else "talk.browse_one" if n == 1 else "talk.browse"
        return str(app.tr(key, title=app.tr("browse.title"), n=n))

    def refresh_now(self) -> None:
        self._refresh.cancel()
        self._ask()

    def _ask(self, *_args: Any) -> None:
        app = App.get_running_app()
        lang, technique, query = app.lang, self.technique or None, self.query.strip() or None
        self._asked += 1
        asked = self._asked
        self.loading = True
        backend = app.backend

        def job(db: Any) -> tuple[list[str], list[Any]]:
            return backend.techniques(db), backend.cards(db, lang, technique, query)

        def done(result: tuple[list[str], list[Any]]) -> None:
            if asked != self._asked:
                return  # a newer question is on its way
            self.loading = False
            self.techniques, self.cards = result
            self._prefetch(asked, lang, result[1][:PREFETCH])

        def failed(_exc: BaseException) -> None:
            if asked == self._asked:
                self.loading = False
                app.show_banner("banner.error")

        app.worker.submit(job, done, failed)

    def _prefetch(self, asked: int, lang: str, cards: list[Any]) -> None:
        """The exercises behind the first tiles, asked now, so that a touched tile opens its
        exercise in the next frame instead of waiting for the worker's answer, which
        arrives while the frame showing the pressed tile is drawn (30-60 ms in software GL)."""
        app = App.get_running_app()
        backend = app.backend
        ids = [card.id for card in cards]

        def job(db: Any) -> dict[str, Any]:
            return {exercise_id: backend.exercise(db, exercise_id, lang) for exercise_id in ids}

        def done(exercises: dict[str, Any]) -> None:
            if asked == self._asked:
                self._prefetched = exercises

        self._prefetched = {}
        app.worker.submit(job, done)

    def on_cards(self, _instance: Any, cards: list[Any]) -> None:
        # One tile per exercise, kept: a filter or a search only adds and removes tiles,
        # whose words (and textures) stay as they were; only a changed word is drawn anew.
        # Rebuilding the grid made each answer cost a heavy frame that the next touch waited for.
        grid = self.ids.tiles
        wanted = []
        for card in cards:
            tile = self._tiles.get(card.id)
            if tile is None:
                tile = self._tiles[card.id] = Tile(exercise_id=card.id)
                # On release, never on press: a finger resting in a ScrollView past its
                # scroll_timeout is handed down as a press while still down (WCAG 2.5.2).
                tile.bind(on_release=self._open, minimum_height=self._even_rows)
            tile.title = card.title
            tile.summary = card.summary
            tile.duration_seconds = float(card.duration_seconds)
            tile.techniques = list(card.techniques)
            wanted.append(tile)
        if list(reversed(grid.children)) != wanted:
            grid.clear_widgets()
            for tile in wanted:
                grid.add_widget(tile)
        self.ids.tiles_scroll.scroll_y = 1
        self._even_rows()

    def _set_row_heights(self, *_args: Any) -> None:
        grid = self.ids.tiles
        tiles = list(reversed(grid.children))
        cols = max(1, int(grid.cols or 1))
        for first in range(0, len(tiles), cols):
            row = tiles[first:first + cols]
            height = max(tile.minimum_height for tile in row)
            for tile in row:
                tile.row_height = height

    def on_techniques(self, _instance: Any, techniques: list[str]) -> None:
        self._build_chips()

    def _build_chips(self) -> None:
        box = self.ids.chips
        box.clear_widgets()
        for slug in ["", *self.techniques]:
            chip = Chip(technique=slug, selected=slug == self.technique)
            chip.bind(on_release=self._chip_touched)  # in a ScrollView too: see on_cards
            box.add_widget(chip)

    def on_technique(self, _instance: Any, technique: str) -> None:
        for chip in self.ids.chips.children:
            chip.selected = chip.technique == technique

    def _chip_touched(self, chip: Chip) -> None:
        self.technique = chip.technique

    def _open(self, tile: Tile) -> None:
        self.close_keyboard()
        app = App.get_running_app()
        exercise = self._prefetched.get(tile.exercise_id)
        if exercise is not None and exercise.variant.lang == app.lang:
            app.show_exercise(exercise)
        else:
            app.open_exercise(tile.exercise_id)

    # -- search ----------------------------------------------------------------------------
    def open_keyboard(self) -> None:
        self.keyboard_open = True

    def close_keyboard(self) -> None:
        self.keyboard_open = False

    def clear_search(self) -> None:
        self.ids.keyboard.text = ""

    # -- language --------------------------------------------------------------------------
    def _build_languages(self) -> None:
        app = App.get_running_app()
        box = self.ids.languages
        box.clear_widgets()
        for code in app.settings.languages.available:
            button = LanguageButton(code=code)
            button.bind(on_release=lambda b: app.set_language(b.code))
            box.add_widget(button)

    def _on_lang(self, *_args: Any) -> None:
        self._refresh()

    # -- a new visitor -----------------------------------------------------------------------
    def forget(self) -> None:
        self._asked += 1
        self._prefetched = {}
        self.keyboard_open = False
        self.ids.keyboard.text = ""
        self.query = ""
        self.technique = ""
        self.cards = []
        self.techniques = []


class LanguageButton(KButton):
    code = StringProperty("")
