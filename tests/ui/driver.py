"""Drives a real KioskApp in this process: touches through Kivy's input path, the Clock
pumped by hand, screenshots of the real window."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class StationDriver:
    def __init__(self, app: Any, screenshot_dir: Path, backend: Any = None):
        from kivy.base import EventLoop

        self.app = app
        self.backend = backend
        self.loop = EventLoop
        self.screenshot_dir = screenshot_dir

    @property
    def window(self) -> Any:
        return self.loop.window

    @property
    def screen(self) -> str:
        return str(self.app.manager.current)

    def pump(self, seconds: float = 0.05) -> None:
        from kivy.base import ExceptionManager

        end = time.monotonic() + seconds
        while True:
            # As Kivy's own main loop does: an error goes to the app's exception handlers,
            # and only one that answers RAISE stops the loop.
            try:
                self.loop.idle()
            except BaseException as exc:
                if ExceptionManager.handle_exception(exc) == ExceptionManager.RAISE:
                    raise
            if time.monotonic() >= end:
                return

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 20.0,
                 what: str | Callable[[], str] = "") -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.pump(0.02)
            if predicate():
                return
        described = what() if callable(what) else what
        raise AssertionError(f"timed out after {timeout} s waiting for {described or predicate}")

    def tap_at(self, x: float, y: float, hurried: bool = False) -> None:
        """A deliberate tap: as a person does, it waits out the moment in which the station
        takes a second touch at the same place for a double tap; `hurried` does not."""
        from kivy.tests.common import UnitTestTouch

        from kiosk.ui.widgets.common import repeat_guard

        while not hurried and repeat_guard.is_repeat(x, y):
            self.pump(0.02)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        self.pump(0.03)
        touch.touch_up()
        self.pump(0.05)

    def tap(self, widget: Any) -> None:
        """Taps a widget's centre; `widget` may be a function returning it, looked up after a
        frame (lists rebuilt by a late answer replace their widgets)."""
        self.pump(0.03)  # a widget made this frame is laid out in the next one
        if callable(widget) and not hasattr(widget, "dispatch"):
            widget = widget()
        assert widget.get_root_window() is not None, f"{widget!r} is not on screen"
        assert not widget.disabled, f"{widget!r} is disabled"
        self._scroll_into_view(widget)
        x, y = widget.to_window(*widget.center)
        width, height = self.window.size
        assert 0 <= x < width and 0 <= y < height, f"{widget!r} is off the window at {x:.0f},{y:.0f}"
        self.tap_at(x, y)

    def _scroll_into_view(self, widget: Any) -> None:
        """As a person scrolls a list until the row they want is whole on screen."""
        from kivy.uix.scrollview import ScrollView

        parent = widget.parent
        while parent is not None and parent is not parent.parent:
            if isinstance(parent, ScrollView):
                left, bottom = parent.to_window(parent.x, parent.y)
                x0, y0 = widget.to_window(widget.x, widget.y)
                x1, y1 = widget.to_window(widget.right, widget.top)
                if x0 < left or y0 < bottom or x1 > left + parent.width or y1 > bottom + parent.height:
                    parent.scroll_to(widget, padding=10, animate=False)
                    self.pump(0.05)
                return
            parent = parent.parent

    def get(self, screen: str) -> Any:
        return self.app.manager.get_screen(screen)

    def ids(self, screen: str) -> Any:
        return self.get(screen).ids

    def on(self, screen: str, timeout: float = 20.0) -> None:
        """Waits until `screen` is current and its transition has finished."""
        manager = self.app.manager
        self.wait_for(lambda: manager.current == screen and not manager.transition.is_active,
                      timeout, f"the {screen} screen")

    def key(self, key: int, scancode: int = 0, codepoint: str | None = None,
            modifiers: list[str] | None = None) -> None:
        """A key press as the window would dispatch it (on_key_down -> on_keyboard)."""
        self.window.dispatch("on_key_down", key, scancode, codepoint, modifiers or [])
        self.pump(0.02)
        self.window.dispatch("on_key_up", key, scancode)
        self.pump(0.02)

    def screenshot(self, name: str) -> Path:
        """Saves the whole window as <name>.png in tests/screenshots/, for people to look at."""
        self.pump(0.05)
        path = self.screenshot_dir / f"{name}.png"
        # Window.screenshot numbers its files; export the framebuffer directly instead.
        from kivy.graphics.opengl import GL_RGBA, GL_UNSIGNED_BYTE, glReadPixels
        from PIL import Image

        width, height = self.window.size
        data = glReadPixels(0, 0, width, height, GL_RGBA, GL_UNSIGNED_BYTE)
        image = Image.frombytes("RGBA", (width, height), data).transpose(Image.Transpose.FLIP_TOP_BOTTOM)
        image.convert("RGB").save(path)
        return path
