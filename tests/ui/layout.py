"""Reads the real widget tree of what is on screen and lists what a person would see wrong:
controls or words drawn over each other, anything cut by the window's edge or by the box it
sits in, a word broken across two lines, a touch target smaller than it should be.

Only what is visible counts: opacity 0, no size, or scrolled wholly out of a ScrollView's
view is not looked at. When a dialog is open, only the dialog is (it covers the rest).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

TOLERANCE = 1.0  # px: rounding in layouts


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def top(self) -> float:
        return self.y + self.h

    def intersect(self, other: Rect) -> Rect | None:
        x, y = max(self.x, other.x), max(self.y, other.y)
        r, t = min(self.right, other.right), min(self.top, other.top)
        if r - x <= TOLERANCE or t - y <= TOLERANCE:
            return None
        return Rect(x, y, r - x, t - y)

    def inside(self, other: Rect) -> bool:
        return (self.x >= other.x - TOLERANCE and self.y >= other.y - TOLERANCE
                and self.right <= other.right + TOLERANCE and self.top <= other.top + TOLERANCE)


@dataclass
class Seen:
    widget: Any
    box: Rect          # where it is drawn, in window coordinates
    clip: Rect         # what of the window can show it (a ScrollView's view, or the window)
    scrolled: bool     # inside a ScrollView: being partly out of view is expected there
    scroll_x: bool     # that ScrollView scrolls sideways too


def window_rect(widget: Any) -> Rect:
    x, y = widget.to_window(widget.x, widget.y)
    return Rect(x, y, widget.width, widget.height)


def describe(widget: Any) -> str:
    text = getattr(widget, "text", "")
    wid = next((k for k, v in _ids_of(widget).items() if v is widget), "")
    name = type(widget).__name__ + (f"#{wid}" if wid else "")
    return f"{name} {text[:40]!r}" if text else name


def _ids_of(widget: Any) -> dict[str, Any]:
    node = widget.parent
    for _ in range(8):
        if node is None:
            return {}
        ids = getattr(node, "ids", None)
        if ids and any(v is widget for v in ids.values()):
            return dict(ids)
        node = node.parent
    return {}


def _is_content(widget: Any) -> bool:
    from kivy.uix.behaviors import ButtonBehavior
    from kivy.uix.label import Label
    from kivy.uix.slider import Slider

    if isinstance(widget, Label):
        return bool(widget.text.strip()) or isinstance(widget, ButtonBehavior)
    return isinstance(widget, ButtonBehavior | Slider) or type(widget).__name__ in ("QRCode",)


def visible(window: Any) -> list[Seen]:
    from kivy.uix.modalview import ModalView
    from kivy.uix.scrollview import ScrollView

    top = window.children[0] if window.children else None
    roots = [top] if isinstance(top, ModalView) else list(window.children)
    whole = Rect(0, 0, window.width, window.height)
    found: list[Seen] = []

    def visit(widget: Any, clip: Rect, scrolled: bool, scroll_x: bool) -> None:
        if widget.opacity <= 0.01 or widget.width <= 0 or widget.height <= 0:
            return
        box = window_rect(widget)
        if scrolled and box.intersect(clip) is None:
            return  # scrolled wholly out of view
        if _is_content(widget):
            found.append(Seen(widget, box, clip, scrolled, scroll_x))
            return  # a label or button is one thing; nothing inside it is looked at
        if isinstance(widget, ScrollView):
            inner = box.intersect(clip)
            if inner is None:
                return
            clip, scrolled, scroll_x = inner, True, bool(widget.do_scroll_x)
        for child in widget.children:
            visit(child, clip, scrolled, scroll_x)

    for root in roots:
        if isinstance(root, ModalView):
            for child in root.children:  # the ModalView itself is the scrim
                visit(child, whole, False, False)
        else:
            visit(root, whole, False, False)
    return found


def ink(seen: Seen) -> Rect:
    """What a label draws: its texture, centred in its box (Kivy's Label rule). A button
    draws its whole shape."""
    from kivy.uix.behaviors import ButtonBehavior
    from kivy.uix.label import Label

    w = seen.widget
    if isinstance(w, Label) and not isinstance(w, ButtonBehavior):
        tw, th = w.texture_size
        cx, cy = seen.box.x + seen.box.w / 2, seen.box.y + seen.box.h / 2
        return Rect(cx - tw / 2, cy - th / 2, tw, th)
    return seen.box


def broken_words(widget: Any) -> list[str]:
    """Pieces of a word that the label's wrapping split over two lines."""
    core = getattr(widget, "_label", None)
    lines = getattr(core, "_cached_lines", None) if core is not None else None
    if not lines or len(lines) < 2:
        return []
    text = widget.text
    if getattr(widget, "markup", False):
        text = re.sub(r"\[/?[a-z_]+(=[^\]]*)?\]", "", text)
    from kiosk.ui.widgets.fitting import words_of

    words = set(words_of(text))
    pieces = []
    for line in lines:
        for token in words_of("".join(w.text for w in line.words)):
            if token not in words:
                pieces.append(token)
    return pieces


def problems(window: Any, *, min_target_px: float = 0.0) -> list[str]:
    """Everything wrong with what the window shows now, one line each."""
    from kivy.uix.behaviors import ButtonBehavior
    from kivy.uix.label import Label
    from kivy.uix.slider import Slider

    seen = visible(window)
    whole = Rect(0, 0, window.width, window.height)
    found: list[str] = []
    for s in seen:
        w, drawn = s.widget, ink(s)
        name = describe(w)
        if not s.scrolled and not drawn.inside(whole):
            found.append(f"cut by the window's edge: {name} at {drawn}")
        elif s.scrolled and not s.scroll_x and (drawn.x < s.clip.x - TOLERANCE
                                                or drawn.right > s.clip.right + TOLERANCE):
            found.append(f"cut at the side of its scrolling area: {name}")
        if isinstance(w, Label):
            tw, th = w.texture_size
            if isinstance(w, ButtonBehavior) and (tw > w.width + TOLERANCE or th > w.height + TOLERANCE):
                found.append(f"words larger than their button: {name} {w.texture_size} in {w.size}")
            if not isinstance(w, ButtonBehavior) and getattr(w, "max_lines", 0) == 0 and (
                    tw > w.width + TOLERANCE * 2):
                found.append(f"words wider than their box: {name} {w.texture_size} in {w.size}")
            pieces = broken_words(w)
            if pieces:
                found.append(f"a word broken across lines: {name}: {pieces}")
        touchable = isinstance(w, ButtonBehavior | Slider) and not w.disabled
        if touchable and min_target_px and min(w.width, w.height) < min_target_px - TOLERANCE:
            found.append(f"target smaller than {min_target_px:.0f} px: {name} {tuple(round(v) for v in w.size)}")
    for i, a in enumerate(seen):
        a_ink = ink(a).intersect(a.clip)
        if a_ink is None:
            continue
        for b in seen[i + 1:]:
            b_ink = ink(b).intersect(b.clip)
            if b_ink is None:
                continue
            if a_ink.intersect(b_ink) is not None:
                found.append(f"overlap: {describe(a.widget)} and {describe(b.widget)}")
    return found


def primary_controls(window: Any) -> list[Any]:
    return [s.widget for s in visible(window) if getattr(s.widget, "primary", False)]


def whole_on_screen(window: Any, widget: Any) -> bool:
    """Entirely in view: in the window, and not scrolled partly out of its ScrollView."""
    for s in visible(window):
        if s.widget is widget or s.widget.proxy_ref is widget:
            return s.box.inside(s.clip) and s.box.inside(Rect(0, 0, window.width, window.height))
    return False
