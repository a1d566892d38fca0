"""Building blocks every screen shares: text that scales, buttons at least 48 dp, the top bar
with "Need help now?", and the hidden therapist corner."""

from __future__ import annotations

import os
import time
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.lang import Builder
from kivy.metrics import dp, sp
from kivy.properties import AliasProperty, BooleanProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from kiosk.ui.widgets.fitting import breaks_a_word, layout_lines, widest_word

MIN_TOUCH_DP = 48
THERAPIST_HOLD_SECONDS = 3.0
REPEAT_SECONDS = 0.5  # a second touch this soon at the same place is the same intent
REPEAT_RADIUS_DP = 24


class RepeatGuard:
    """Swallows a touch landing where a button was just released, within REPEAT_SECONDS:
    a double tap acts once, whether the second tap meets the same button (a key types
    once) or whatever replaced it there (Listen's second tap is not a touch on the player)."""

    def __init__(self) -> None:
        self.released_at = -1.0e9
        self.released_pos = (0.0, 0.0)
        self.window: Any = None

    def released(self, touch: Any) -> None:
        self.arm(touch.x, touch.y)

    def arm(self, x: float, y: float) -> None:
        """As if a button at (x, y), window coordinates, had just been released there."""
        from kivy.core.window import Window

        if self.window is None:
            # Bound handlers run before the window's own dispatch to its children.
            Window.bind(on_touch_down=self._down, on_touch_move=self._swallowed,
                        on_touch_up=self._swallowed)
            self.window = Window
        self.released_at = time.monotonic()
        self.released_pos = (float(x), float(y))

    def is_repeat(self, x: float, y: float) -> bool:
        if time.monotonic() - self.released_at > REPEAT_SECONDS:
            return False
        rx, ry = self.released_pos
        return bool((x - rx) ** 2 + (y - ry) ** 2 <= dp(REPEAT_RADIUS_DP) ** 2)

    def _down(self, _window: Any, touch: Any) -> bool:
        if touch.is_mouse_scrolling or not self.is_repeat(touch.x, touch.y):
            return False
        touch.ud["kiosk.repeat"] = True
        return True

    def _swallowed(self, _window: Any, touch: Any) -> bool:
        return bool(touch.ud.get("kiosk.repeat"))


repeat_guard = RepeatGuard()


class Forgiving(ButtonBehavior):
    """A button whose release arms the repeat guard (put it before ButtonBehavior's users)."""

    def on_touch_up(self, touch: Any) -> bool:
        mine = touch.grab_current is self and self.collide_point(*touch.pos)
        handled = bool(super().on_touch_up(touch))
        if mine:
            repeat_guard.released(touch)
        return handled




class Words(Label):
    """A label that can tell a layout how wide its words are."""

    def _get_widest_word(self) -> float:
        return widest_word(self.text, self.font_size, self.bold)

    def _get_line_width(self) -> float:
        return widest_word(self.text.replace(" ", "\u00a0"), self.font_size, self.bold)

    # The width its longest word needs, so that a layout can keep every word whole, and the
    # width of all its words on one line.
    widest_word = AliasProperty(_get_widest_word, bind=("text", "font_size", "bold"), cache=True)
    line_width = AliasProperty(_get_line_width, bind=("text", "font_size", "bold"), cache=True)


class KLabel(Words):
    """Text that follows the visitor's text size; `base_size` is in sp at normal size.

    `chrome`: grows only to "Larger" (theme: the shared controls). `fit_width`: when set, the
    words shrink rather than break where the longest would not fit it (an address).
    """

    base_size = NumericProperty(20)
    bold_text = BooleanProperty(False)
    chrome = BooleanProperty(False)
    fit_width = NumericProperty(0)
    scale_cap = NumericProperty(0)  # when set, the text grows no further than this scale
    spoken = StringProperty("")  # talk-back's words where the text is not how to say it


class KButton(Forgiving, Words):
    """A button as a calm, clearly outlined shape: never told apart by colour alone."""

    base_size = NumericProperty(20)
    chrome = BooleanProperty(False)  # as KLabel's
    fit_width = NumericProperty(0)
    scale_cap = NumericProperty(0)
    primary = BooleanProperty(False)
    selected = BooleanProperty(False)
    wrap = BooleanProperty(True)  # False: one line, the button as wide as its words
    min_height = NumericProperty(dp(58))  # 9 mm where dp is the panel's (theme.MIN_TARGET_MM)
    hidden = BooleanProperty(False)  # no height, not drawn, not touchable
    # What talk-back says for it when its words are not enough ("" : its words, "..., button").
    spoken = StringProperty("")


class HelpButton(KButton):
    """ "Need help now?" (the clinic's words from config.toml); it also pauses what plays."""


TITLE_LINES = 2
SMALLEST_TITLE = 0.6  # of the title's size: below this, a third line is the lesser evil


class TopBar(BoxLayout):
    """Back (optional), the screen's title, and the controls that must be one touch away."""

    title = StringProperty("")
    show_back = BooleanProperty(True)
    title_size = NumericProperty(26)  # sp, at normal text size
    title_fit = NumericProperty(1.0)  # what title_size is multiplied by to fit two lines

    __events__ = ("on_back",)

    def on_kv_post(self, base_widget: Any) -> None:
        label = self.ids.title_label
        self.bind(title=self._fit_title)
        label.bind(width=self._fit_title)
        App.get_running_app().bind(chrome_scale=self._fit_title)

    def _fit_title(self, *_args: Any) -> None:
        """The largest title size, in steps of a tenth, at which the title's words wrap into
        two lines of the room it has with no word broken (laid out without drawing: cheap,
        and only when the title, its room or the text size change)."""
        label = self.ids.title_label
        if not self.title or label.width < 10:
            self.title_fit = 1.0
            return
        full = sp(self.title_size) * App.get_running_app().chrome_scale
        fit = 1.0
        while fit > SMALLEST_TITLE:
            lines = layout_lines(self.title, full * fit, label.width, bold=True)
            if len(lines) <= TITLE_LINES and not breaks_a_word(self.title, full * fit, label.width, True):
                break
            fit = round(fit - 0.1, 1)
        self.title_fit = max(fit, SMALLEST_TITLE)

    def on_back(self) -> None:
        pass


class HiddenCorner(Widget):
    """The therapist's way in: hold this unmarked corner for a few seconds.

    A short touch here is passed on as an ordinary touch, so a visitor never notices it. The
    app's `on_therapist_gesture` event is the hook therapist mode binds to.
    """

    hold_seconds = NumericProperty(THERAPIST_HOLD_SECONDS)

    def on_touch_down(self, touch: Any) -> bool:
        if not self.collide_point(*touch.pos):
            return False
        touch.ud[self] = Clock.schedule_once(lambda _dt: self._fire(touch), self.hold_seconds)
        return False

    def on_touch_up(self, touch: Any) -> bool:
        event = touch.ud.pop(self, None)
        if event is not None:
            event.cancel()
        return False

    def _fire(self, touch: Any) -> None:
        touch.ud.pop(self, None)
        touch.ud["therapist_gesture"] = True
        app = App.get_running_app()
        if app is not None:
            app.therapist_gesture(self.parent_screen_name())

    def parent_screen_name(self) -> str:
        node = self.parent
        while node is not None and not hasattr(node, "manager"):
            node = node.parent
        return str(getattr(node, "name", ""))


Builder.load_file(os.path.join(os.path.dirname(__file__), "common.kv"))
