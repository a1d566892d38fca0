"""What talk-back can speak on the screen now, in reading order, and how each thing is used.

An item is a control with spoken words (kiosk.ui.talkback.spoken_label) or a piece of text;
nothing inside a control is an item of its own (a tile is one thing, not its title and
length). An open overlay ("Need help now?", "Still there?") hides everything behind it, as
a screen reader's modal does. Things scrolled out of a list's view are items too: moving to
one scrolls it into view, as VoiceOver does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kivy.metrics import dp
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.label import Label
from kivy.uix.modalview import ModalView
from kivy.uix.scrollview import ScrollView

MARKUP = re.compile(r"\[/?[a-z_]+(=[^\]]*)?\]")
ROW_OVERLAP = 0.5  # boxes overlapping by half the smaller's height are in one row


@dataclass
class Item:
    label: str
    widget: Any = None
    scroll: Any = None  # the ScrollView it is in, if any
    action: Callable[[], None] | None = None  # talk-back's own controls, which draw nothing
    box: tuple[float, float, float, float] = field(default=(0.0, 0.0, 0.0, 0.0))  # window x, y, w, h

    @property
    def actionable(self) -> bool:
        if self.action is not None:
            return True
        w = self.widget
        return (not getattr(w, "disabled", False)
                and (isinstance(w, ButtonBehavior) or hasattr(w, "talk_activate")))

    def shown_box(self) -> tuple[float, float, float, float] | None:
        """Where it is on the panel now, clipped to its list's view; None if out of view."""
        if self.widget is None:
            return None
        x, y, w, h = window_box(self.widget)
        if self.scroll is not None:
            sx, sy, sw, sh = window_box(self.scroll)
            x0, y0 = max(x, sx), max(y, sy)
            x1, y1 = min(x + w, sx + sw), min(y + h, sy + sh)
            if x1 <= x0 or y1 <= y0:
                return None
            return (x0, y0, x1 - x0, y1 - y0)
        return (x, y, w, h)


def window_box(widget: Any) -> tuple[float, float, float, float]:
    x, y = widget.to_window(widget.x, widget.y)
    return (float(x), float(y), float(widget.width), float(widget.height))


def _reading(a: Any, b: Any) -> int:
    """Top to bottom, and left to right within a row."""
    ax, ay, _aw, ah = window_box(a)
    bx, by, _bw, bh = window_box(b)
    overlap = min(ay + ah, by + bh) - max(ay, by)
    if overlap >= ROW_OVERLAP * max(1.0, min(ah, bh)):
        return -1 if ax < bx else (1 if ax > bx else 0)
    return -1 if ay + ah > by + bh else 1


def items_on_show(window: Any, spoken: Callable[[Any], str]) -> list[Item]:
    top = window.children[0] if window.children else None
    roots = [top] if isinstance(top, ModalView) else list(reversed(window.children))
    width, height = window.width, window.height
    found: list[Item] = []

    def visit(widget: Any, scroll: Any) -> None:
        if widget.opacity <= 0.01 or widget.width <= 1 or widget.height <= 1:
            return
        if getattr(widget, "hidden", False):
            return
        box = window_box(widget)
        x, y, w, h = box
        if scroll is None and (x + w <= 0 or y + h <= 0 or x >= width or y >= height):
            return  # moved off the panel (a stage that is not on show)
        words = spoken(widget)
        if not words and isinstance(widget, Label) and not isinstance(widget, ButtonBehavior):
            words = " ".join(MARKUP.sub("", str(widget.text)).split())
        if words:
            found.append(Item(" ".join(words.split()), widget, scroll, box=box))  # as said
            return
        if isinstance(widget, ScrollView):
            scroll = widget
        for child in sorted(widget.children, key=functools.cmp_to_key(_reading)):
            visit(child, scroll)

    for root in roots:
        for child in (root.children if isinstance(root, ModalView) else [root]):
            visit(child, None)
    return found


def item_at(items: list[Item], x: float, y: float) -> Item | None:
    """The item under the finger; of two (a label in a box that has words), the smaller."""
    best: tuple[float, Item] | None = None
    slack = dp(4)
    for item in items:
        shown = item.shown_box()
        if shown is None:
            continue
        bx, by, bw, bh = shown
        inside = bx - slack <= x <= bx + bw + slack and by - slack <= y <= by + bh + slack
        if inside and (best is None or bw * bh < best[0]):
            best = (bw * bh, item)
    return best[1] if best else None


def bring_into_view(item: Item) -> None:
    if item.scroll is not None and item.widget is not None and item.shown_box() != window_box(item.widget):
        item.scroll.scroll_to(item.widget, padding=dp(12), animate=False)


def activate(item: Item) -> bool:
    """Uses the item as a tap would; False if it cannot be used (text, a dimmed button)."""
    if item.action is not None:
        item.action()
        return True
    w = item.widget
    if w is None or getattr(w, "disabled", False):
        return False
    hook = getattr(w, "talk_activate", None)
    if hook is not None:
        hook()
        return True
    if isinstance(w, ButtonBehavior):
        # Press and release at once: the control's own on_press/on_release, as a tap.
        w.trigger_action(duration=0)
        return True
    return False


def adjust(item: Item, direction: int) -> bool:
    hook = getattr(item.widget, "talk_adjust", None)
    if hook is None:
        return False
    hook(direction)
    return True
