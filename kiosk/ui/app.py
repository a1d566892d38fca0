"""KioskApp: builds the screens, locks the window down, keeps the station running.

Everything slow (database, QR matrices, audio) happens on other threads; their results come
back through Kivy's Clock, because only this thread may touch widgets.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kivy.app import App
from kivy.base import ExceptionHandler, ExceptionManager
from kivy.core.window import Window
from kivy.uix.screenmanager import FadeTransition, ScreenManager

from kiosk.ui import theme
from kiosk.ui.screens.attract import AttractScreen
from kiosk.ui.screens.home import HomeScreen

if TYPE_CHECKING:
    from kiosk.services import Services

log = logging.getLogger(__name__)

KEY_ESCAPE = 27
KEY_F1 = 282


class _LogAndCarryOn(ExceptionHandler):
    """A bug in a screen must never show a traceback or drop a client to the desktop."""

    def handle_exception(self, inst: BaseException) -> Any:
        if isinstance(inst, KeyboardInterrupt | SystemExit):
            return ExceptionManager.RAISE
        log.error("error in the screen, carrying on", exc_info=inst)
        return ExceptionManager.PASS


class KioskApp(App):
    title = "kiosk"
    use_kivy_settings = False

    def __init__(self, services: Services, *, start_id: str | None = None,
                 take_home_id: str | None = None, lang: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.services = services
        self.settings = services.settings
        self.deep_link = (start_id, take_home_id, lang)
        self.theme = theme.CALM
        self._exception_handler = _LogAndCarryOn()

    def build(self) -> ScreenManager:
        ExceptionManager.add_handler(self._exception_handler)
        Window.clearcolor = self.theme.background
        Window.bind(on_request_close=self._on_request_close, on_keyboard=self._on_keyboard)
        manager = ScreenManager(transition=FadeTransition(duration=0.25))
        manager.add_widget(AttractScreen(name="attract"))
        manager.add_widget(HomeScreen(name="home"))
        manager.current = "attract"
        return manager

    def on_stop(self) -> None:
        Window.unbind(on_request_close=self._on_request_close, on_keyboard=self._on_keyboard)
        if self._exception_handler in ExceptionManager.handlers:
            ExceptionManager.remove_handler(self._exception_handler)

    @property
    def locked_down(self) -> bool:
        return self.settings.display.lockdown

    def go(self, screen: str) -> None:
        assert self.root is not None
        self.root.current = screen

    def open_settings(self, *args: Any) -> bool:
        # F1 opens Kivy's settings panel by default; a station has none.
        return False

    def _on_request_close(self, *args: Any, **kwargs: Any) -> bool:
        if self.locked_down:
            log.info("ignored a request to close the window (lockdown is on)")
            return True
        return False

    def _on_keyboard(self, window: Any, key: int, *args: Any) -> bool:
        return self.locked_down and key in (KEY_ESCAPE, KEY_F1)
