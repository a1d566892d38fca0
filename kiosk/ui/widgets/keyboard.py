"""An on-screen keyboard for search: a kiosk has no physical keyboard, and the system's
on-screen keyboards are not ours to style, translate or size for shaky fingers."""

from __future__ import annotations

import os
from typing import Any

from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from kiosk.ui.widgets.common import KButton

ROWS = ("1234567890", "qwertyuiop", "asdfghjkl'", "zxcvbnm-")
MAX_LENGTH = 40


class KeyButton(KButton):
    key = StringProperty("")


class OnScreenKeyboard(BoxLayout):
    """Edits `text`; dispatches on_done when the visitor touches Done.

    Folded away (`shown` False) it leaves the widget tree and comes back to the same place
    when shown: drawn at zero opacity, its forty-odd keys still cost llvmpipe about 40 ms in
    every frame of the screen behind it.
    """

    text = StringProperty("")
    key_height = NumericProperty(0)
    shown = BooleanProperty(False)
    compact = BooleanProperty(False)  # no row of digits

    __events__ = ("on_done",)

    def __init__(self, **kwargs: Any):
        self._place: tuple[Any, int] | None = None  # (parent, index) while folded away
        super().__init__(**kwargs)

    def on_parent(self, _instance: Any, parent: Any) -> None:
        # Built by a screen's rule, it is added to its place after its own rule set `shown`:
        # fold it away once it is there (not during add_widget itself).
        if parent is not None and not self.shown:
            Clock.schedule_once(lambda _dt: self._fold(), 0)

    def on_shown(self, _instance: Any, shown: bool) -> None:
        if shown:
            if self._place is not None and self.parent is None:
                parent, index = self._place
                parent.add_widget(self, index=min(index, len(parent.children)))
            self._place = None
        else:
            self._fold()

    def _fold(self) -> None:
        parent = self.parent
        if parent is None or self.shown:
            return
        self._place = (parent, parent.children.index(self))
        parent.remove_widget(self)

    def on_kv_post(self, base_widget: Any) -> None:
        # Kivy applies the kv rule after __init__ when this keyboard is built by another
        # rule, so the rows are added here, where `ids` exist.
        self._lines: list[BoxLayout] = []
        self.bind(key_height=lambda _k, _h: self.on_compact(self, self.compact))
        for row in ROWS:
            line = BoxLayout(spacing=self.spacing, size_hint_y=None, height=self.key_height)
            self._lines.append(line)
            for char in row:
                button = KeyButton(key=char, text=char.upper(), base_size=22)
                button.bind(on_release=self._typed)
                line.add_widget(button)
            self.ids.rows.add_widget(line)
        self.on_compact(self, self.compact)

    def on_compact(self, _instance: Any, compact: bool) -> None:
        """A short panel: no digits, and the keys' letters at the normal size (they are
        glyphs to find, not words to read), so that some results stay in view."""
        from kiosk.ui.theme import text_scale_for

        lines = getattr(self, "_lines", [])
        cap = text_scale_for(0) if compact else 0
        for line in lines:
            for button in line.children:
                button.scale_cap = cap
        for i, line in enumerate(lines):
            gone = compact and ROWS[i].isdigit()
            line.height = 0 if gone else self.key_height
            line.opacity = 0 if gone else 1
            line.disabled = gone

    def _typed(self, button: KeyButton) -> None:
        self.press(button.key)

    def press(self, key: str) -> None:
        if key == "space":
            if self.text and not self.text.endswith(" "):
                self.text = (self.text + " ")[:MAX_LENGTH]
        elif key == "delete":
            self.text = self.text[:-1]
        elif key == "done":
            self.dispatch("on_done")
        elif len(key) == 1:
            self.text = (self.text + key)[:MAX_LENGTH]

    def key_button(self, key: str) -> KButton:
        """The button for a key (letters by themselves, or space/delete/done), for tests."""
        for line in self.ids.rows.children:
            for button in line.children:
                if isinstance(button, KeyButton) and button.key == key:
                    return button
        return {"space": self.ids.space, "delete": self.ids.delete, "done": self.ids.done}[key]

    def on_done(self) -> None:
        pass


Builder.load_file(os.path.join(os.path.dirname(__file__), "keyboard.kv"))
