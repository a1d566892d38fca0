"""KioskApp: builds the screens, locks the window down, forgets each visitor.

Everything slow (database, link issuing, QR matrices) happens on the UI worker thread and
audio on the engine's threads; their results come back through Kivy's Clock, because only
this thread may touch widgets.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kivy.app import App
from kivy.base import ExceptionHandler, ExceptionManager
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager

from kiosk.audio.api import PlayerState, SpeechState, call_now
from kiosk.audio.loudness import track_gain
from kiosk.audio.unavailable import UnavailablePlayer
from kiosk.memory import give_back_freed_memory
from kiosk.services import TakeHomeState
from kiosk.ui import strings, theme
from kiosk.ui.backend import Backend, StationBackend
from kiosk.ui.fonts import register_fonts
from kiosk.ui.idle import AutoLock, IdleAction, IdleWatch, still_there_prompt
from kiosk.ui.playback import PlayerModel, clock_dispatch
from kiosk.ui.theme import Theme, text_scale_for
from kiosk.ui.worker import Worker

if TYPE_CHECKING:
    from kiosk.config import Settings
    from kiosk.services import Services

log = logging.getLogger(__name__)

KEY_ESCAPE = 27
KEY_F1 = 282
KEY_F4 = 285
IDLE_TICK_SECONDS = 0.25


class _LogAndCarryOn(ExceptionHandler):
    """A bug in a screen must never show a traceback or drop a client to the desktop."""

    def handle_exception(self, inst: BaseException) -> Any:
        if isinstance(inst, KeyboardInterrupt | SystemExit):
            return ExceptionManager.RAISE
        log.error("error in the screen, carrying on", exc_info=inst)
        return ExceptionManager.PASS


class StationRoot(BoxLayout):
    """The therapist's strip (no height while locked) above the screens; whatever is shown
    over them (help, trouble, "Still there?") is a ModalView, so nothing here moves."""

    def __init__(self, **kwargs: Any):
        super().__init__(orientation="vertical", **kwargs)


class KioskApp(App):
    title = "kiosk"
    use_kivy_settings = False

    lang = StringProperty("en-GB")
    theme = ObjectProperty(theme.CALM)
    # Text size: 0 normal, 1 larger, 2 largest (theme.TEXT_STEPS); large_text is "not normal".
    text_step = NumericProperty(0)
    large_text = BooleanProperty(False)
    text_scale = NumericProperty(text_scale_for(0))
    # The controls every screen shares (top bar, keys) stop growing at "Larger": their words
    # are then 4.8 mm high already, and at 200% they would leave no room for the screen itself.
    chrome_scale = NumericProperty(text_scale_for(0))
    high_contrast = BooleanProperty(False)
    exercise = ObjectProperty(None, allownone=True)  # the exercise on screen, None between visitors
    # False when take-home is switched off or its server could not start: the button hides.
    take_home_available = BooleanProperty(True)
    # Therapist mode: unlocked by the hidden corner and the PIN, locked by "Lock" or by time.
    therapist_active = BooleanProperty(False)
    presentation = BooleanProperty(False)  # the player shows the script large
    # A property so that the kv rules reading it (the help button's words) follow a change
    # of config.toml while the station runs (kiosk.ui.config_watch).
    settings = ObjectProperty(None, rebind=True)  # rebind: kv binds through it to .help.title

    def __init__(self, services: Services, *, start_id: str | None = None,
                 take_home_id: str | None = None, lang: str | None = None,
                 backend: Backend | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.register_event_type("on_therapist_gesture")
        self.services = services
        self.settings = services.settings
        self.deep_link = (start_id, take_home_id, lang)
        self.backend: Backend = backend or StationBackend(self.settings, services)
        self.lang = self.settings.languages.default
        self.colors = theme.Palette()
        # Shown while the server is still starting (it almost always comes up); hidden if not.
        self.take_home_available = services.take_home_state in (
            TakeHomeState.NOT_STARTED, TakeHomeState.STARTING, TakeHomeState.RUNNING)
        self.idle = IdleWatch(self.settings.session.idle_timeout_seconds,
                              self.settings.session.still_there_seconds,
                              paused_seconds=self.settings.session.paused_timeout_seconds)
        self._exception_handler = _LogAndCarryOn()
        self.worker = Worker(self.backend.open_db)
        self.manager: ScreenManager
        self.banner: Any = None
        self.playback: PlayerModel
        self._help: Any = None
        self._display: Any = None
        self._still_there: Any = None
        self._beats: Any = None
        self.auto_lock = AutoLock(self.settings.therapist.auto_lock_minutes * 60)
        self._leave_dialog: Any = None
        self._config_watch: Any = None
        from kiosk.ui.talkback import TalkBack

        self.talk_back = TalkBack(self)

    # -- building ---------------------------------------------------------------------------
    def build(self) -> StationRoot:
        ExceptionManager.add_handler(self._exception_handler)
        self._size_for_the_panel()
        register_fonts()
        self.worker.start()
        # The engine was started by the services, its process coming up while this window does.
        player = self.services.player or UnavailablePlayer(call_now)
        self.playback = PlayerModel(player, self.settings.audio.volume_cap)
        self.playback.bind(on_trouble=lambda _p, key: self.show_banner(key),
                           on_recovered=lambda _p: self._sound_is_back(),
                           on_finished=lambda _p: self.idle.activity())
        Window.clearcolor = self.theme.background
        Window.bind(on_request_close=self._on_request_close, on_keyboard=self._on_keyboard,
                    on_touch_down=self.touched)
        # Widgets import their kv on import; that needs the app's fonts registered first.
        from kiosk.ui.screens import first_screen
        from kiosk.ui.widgets.dialogs import Banner

        root = StationRoot()
        self.banner = Banner()
        # No cross-fade: in software GL each of its frames renders both screens off-screen and
        # then blends them (the first frame took 100-300 ms under load), so the touch that
        # opened a screen waited that long to see anything. Without it the new screen is
        # whole in the first frame.
        self.manager = ScreenManager(transition=NoTransition())
        root.add_widget(self.manager)
        name, screen_class = first_screen()
        self.add_screen(screen_class(name=name))
        self.manager.current = "attract"
        self.talk_back.start()
        self.manager.bind(current=self._arrived)
        Clock.schedule_interval(self._idle_tick, IDLE_TICK_SECONDS)
        return root

    def _size_for_the_panel(self) -> None:
        """Makes a dp 1/160 inch on this panel, before any widget is made (the kv's sizes are
        worked out once, as each widget is built)."""
        from kivy.metrics import Metrics

        Metrics.density = theme.density_for(self.settings.display.diagonal_inches, *Window.size)

    @property
    def px_per_mm(self) -> float:
        from kivy.metrics import dp

        return float(dp(theme.KIVY_DPI / theme.MM_PER_INCH))

    def build_the_other_screens(self, *_args: Any) -> None:
        """Every screen but attract, built once: straight after the first frame, or sooner if
        something asks for one (a deep link)."""
        if self.manager.has_screen("browse"):
            return
        from kiosk.ui.screens import other_screens

        for name, screen_class in other_screens():
            self.add_screen(screen_class(name=name))

    def screen(self, name: str) -> Screen:
        self.build_the_other_screens()
        return self.manager.get_screen(name)

    def add_screen(self, screen: Screen) -> None:
        """Therapist mode adds its screens here; a screen with `forget()` is wiped on reset."""
        self.manager.add_widget(screen)

    def _arrived(self, _manager: Any, name: str) -> None:
        # The next frame: what arrival starts (Listen's Play) has happened by then.
        Clock.schedule_once(lambda _dt: self.talk_back.arrived(self.manager.get_screen(name))
                            if self.current_screen == name else None, 0)

    def on_start(self) -> None:
        Window.bind(on_draw=self._first_frame)
        self._arrived(self.manager, self.current_screen)
        watchdog = self.services.watchdog
        self._beats = Clock.schedule_interval(lambda _dt: watchdog.beat(), 1.0)
        start_id, take_home_id, lang = self.deep_link
        if start_id or take_home_id:
            self._open_deep_link(start_id, take_home_id, lang)
        from kiosk.ui.config_watch import ConfigWatch

        self._config_watch = ConfigWatch(self.settings.config_path, self.worker, self.apply_settings)
        self._config_watch.start()

    def apply_settings(self, new: Settings) -> None:
        """config.toml changed while the station runs: takes what is safe to change now
        (kiosk.config.LIVE_KEYS); the rest waits for a restart."""
        from dataclasses import replace

        old = self.settings
        live = replace(old, help=new.help, take_home=replace(
            old.take_home, link_days=new.take_home.link_days,
            downloads_per_file=new.take_home.downloads_per_file,
            wifi_ssid=new.take_home.wifi_ssid, wifi_password=new.take_home.wifi_password),
            session=replace(old.session, idle_timeout_seconds=new.session.idle_timeout_seconds))
        if live == old:
            return
        self.settings = live
        self.backend.settings = live
        self.idle.quiet_seconds = live.session.idle_timeout_seconds
        log.info("config.toml changed: the station now uses its new help words, take-home and "
                 "idle settings")

    def _first_frame(self, *_args: Any) -> None:
        Window.unbind(on_draw=self._first_frame)
        log.info("first frame drawn: the %s screen is on show", self.current_screen)
        self.services.watchdog.ready()
        Clock.schedule_once(self.build_the_other_screens, 0)
        self.services.start_take_home_soon(
            then=lambda state: clock_dispatch(lambda: self._take_home_settled(state)))

    def _take_home_settled(self, state: TakeHomeState) -> None:
        self.take_home_available = state is TakeHomeState.RUNNING

    def on_stop(self) -> None:
        self.services.watchdog.stopping()
        if self._config_watch is not None:
            self._config_watch.stop()
        Clock.unschedule(self._idle_tick)
        if self._beats is not None:
            self._beats.cancel()
        Window.unbind(on_request_close=self._on_request_close, on_keyboard=self._on_keyboard,
                      on_touch_down=self.touched, on_draw=self._first_frame)
        # Not the banner: its words would be worked out again here, and kv's `app` (which
        # forgets this app as on_stop begins) would take this stopped app up again for good.
        for view in (self._help, self._still_there, self._leave_dialog, self._display):
            if view is not None:
                view.dismiss(animation=False)
        playback = getattr(self, "playback", None)
        if playback is not None:
            playback.close()
        self.talk_back.stop()
        self.worker.stop()
        if self._exception_handler in ExceptionManager.handlers:
            ExceptionManager.remove_handler(self._exception_handler)

    # -- words and looks ----------------------------------------------------------------------
    def tr(self, key: str, lang: str | None = None, **values: Any) -> str:
        return strings.tr(key, lang or self.lang, **values)

    def set_language(self, lang: str) -> None:
        if lang in self.settings.languages.available:
            self.lang = lang

    def toggle_text_size(self) -> None:
        self.text_step = (self.text_step + 1) % len(theme.TEXT_STEPS)

    def on_text_step(self, _instance: Any, step: int) -> None:
        self.text_scale = text_scale_for(int(step))
        self.chrome_scale = min(self.text_scale, text_scale_for(1))
        self.large_text = step > 0

    def on_large_text(self, _instance: Any, large: bool) -> None:
        if large != (self.text_step > 0):
            self.text_step = 1 if large else 0

    def toggle_contrast(self) -> None:
        self.high_contrast = not self.high_contrast

    def on_high_contrast(self, _instance: Any, high: bool) -> None:
        self.theme = theme.HIGH_CONTRAST if high else theme.CALM

    def on_theme(self, _instance: Any, chosen: Theme) -> None:
        self.colors.apply(chosen)
        Window.clearcolor = chosen.background

    def show_display_choices(self) -> None:
        from kiosk.ui.widgets.dialogs import DisplayView

        if self._display is None:
            self._display = DisplayView()
        self._display.open(animation=False)

    def show_help(self) -> None:
        from kiosk.ui.widgets.dialogs import HelpView

        if self.playback.playing:
            self.playback.toggle()  # whoever needs help now is not listening
        if self._help is None:
            self._help = HelpView()
        self._help.open(animation=False)

    def _sound_is_back(self) -> None:
        log.info("the audio engine recovered")
        if self.banner is not None and self.banner.message_key == "banner.audio_unavailable":
            self.banner.withdraw()  # it no longer tells the truth; Play works again

    def show_banner(self, key: str) -> None:
        log.info("banner shown: %s", key)  # what the client saw, for whoever reads the log
        if self.banner is not None:
            self.banner.show(key)

    # -- the visitor's journey ------------------------------------------------------------------
    @property
    def locked_down(self) -> bool:
        return self.settings.display.lockdown

    @property
    def current_screen(self) -> str:
        return str(self.manager.current)

    def go(self, screen: str) -> None:
        self.build_the_other_screens()
        self.manager.current = screen

    def begin(self) -> None:
        self.go("browse")

    def open_exercise(self, exercise_id: str, then: str = "exercise") -> None:
        lang, backend = self.lang, self.backend
        self.worker.submit(lambda db: backend.exercise(db, exercise_id, lang),
                           lambda exercise: self.show_exercise(exercise, then),
                           lambda _exc: self.show_banner("banner.error"))

    def show_exercise(self, exercise: Any, then: str = "exercise") -> None:
        """`exercise` as the catalogue answered (None: it has gone), on the `then` screen."""
        if exercise is None:
            self.show_banner("exercise.missing")
            return
        self.exercise = exercise
        if then == "player":
            self._start_playing()
            return
        self.go(then)
        if then == "take_home":
            self.screen("take_home").agree()

    def listen(self) -> None:
        self._start_playing()

    def _start_playing(self) -> None:
        """Loads the exercise (if it is not loaded) and plays it on the player screen. A missing
        or damaged file comes back from the engine as a typed error event, and the banner
        says so (kiosk/ui/playback.py); only an engine that cannot be asked keeps the
        visitor where they are."""
        exercise = self.exercise
        if exercise is None:
            return
        variant = exercise.variant
        key = f"{exercise.id}/{variant.lang}"
        if self.playback.loaded != key:
            gain = track_gain(self.settings.audio.loudness_target, variant.loudness)
            if not self.playback.load(key, variant.playback_path, variant.duration_seconds, gain):
                return
            self.services.plays.track(exercise.id, variant.lang, variant.duration_seconds)
        self.go("player")
        if not self.playback.playing:
            self.playback.toggle()

    def leave_player(self) -> None:
        if self.playback.playing:
            self.playback.toggle()
        self.presentation = False
        self.go("therapist" if self.therapist_active else "exercise")

    def _open_deep_link(self, start_id: str | None, take_home_id: str | None, lang: str | None) -> None:
        if lang:
            self.set_language(lang)
        if start_id:
            self.open_exercise(start_id, then="player")
        elif take_home_id:
            self.open_exercise(take_home_id, then="take_home")

    # -- therapist mode's hook -----------------------------------------------------------------
    def therapist_gesture(self, screen: str) -> None:
        log.info("therapist gesture on the %s screen", screen)
        self.dispatch("on_therapist_gesture", screen)

    def on_therapist_gesture(self, screen: str) -> None:
        """The PIN pad, or a word that therapist mode is not set up on this station."""
        if self.therapist_active:
            return
        if not self.settings.therapist.pin_hash:
            self.show_banner("therapist.not_set_up")
            return
        self.screen("pin").came_from = screen
        self.go("pin")

    def unlock_therapist(self) -> None:
        log.info("therapist mode unlocked")
        self.therapist_active = True
        self.auto_lock.activity()
        from kiosk.ui.screens.therapist import TherapistStrip

        TherapistStrip.follow(self)  # "Therapist mode - Lock" above every other screen
        self.go("therapist")

    def lock_therapist(self, why: str = "on request") -> None:
        """Back to attract, with nothing of the session left: the panel needs the PIN again."""
        if not self.therapist_active:
            return
        log.info("therapist mode locked (%s)", why)
        self._end_therapist_mode()
        self.reset_session()

    def hand_to_client(self) -> None:
        """After Start: the panel locked and forgotten, the exercise left playing for the
        client, whose Back then leads to the exercise's own page, never to the panel."""
        if not self.therapist_active:
            return
        log.info("therapist mode locked: the exercise handed to the client")
        self._end_therapist_mode()
        self.screen("therapist").forget()
        self.idle.activity()

    def _end_therapist_mode(self) -> None:
        self.therapist_active = False
        self.presentation = False
        if self._leave_dialog is not None and self._leave_dialog.parent is not None:
            self._leave_dialog.dismiss(animation=False)

    def start_for_therapist(self, exercise_id: str, lang: str) -> None:
        """Opens the player at once in `lang` and plays (the therapist's "Start")."""
        backend = self.backend

        def done(exercise: Any) -> None:
            if exercise is None or not self.therapist_active:
                if exercise is None:
                    self.show_banner("exercise.missing")
                return
            self.exercise = exercise
            self._start_playing()

        self.worker.submit(lambda db: backend.exercise(db, exercise_id, lang), done,
                           lambda _exc: self.show_banner("banner.error"))

    def toggle_presentation(self) -> None:
        self.presentation = self.therapist_active and not self.presentation

    def ask_leave_station(self) -> None:
        from kiosk.ui.widgets.dialogs import LeaveStationView

        if not self.therapist_active:
            return
        if self._leave_dialog is None:
            self._leave_dialog = LeaveStationView()
        self._leave_dialog.open(animation=False)

    def leave_station(self) -> None:
        """The only way to the desktop while lockdown is on: from therapist mode, confirmed."""
        if not self.therapist_active:
            return
        log.info("the therapist is leaving the station for the desktop")
        if self._leave_dialog is not None:
            self._leave_dialog.dismiss(animation=False)
        self.stop()

    # -- idle reset --------------------------------------------------------------------------------
    def touched(self, *_args: Any) -> bool:
        """Any touch on the panel (talk-back, which keeps touches from the rest, calls it too)."""
        self.idle.activity()
        self.auto_lock.activity()
        return False

    def _idle_tick(self, _dt: float) -> None:
        if self.therapist_active:
            # In session the auto-lock governs: no "Still there?" in the middle of an
            # exercise the therapist is presenting. Locking clears the station as a reset does.
            if self.auto_lock.due():
                self.lock_therapist("no touch for a while")
            else:
                self.idle.activity()
            return
        playback = self.playback
        part_way = (playback.state == PlayerState.PAUSED
                    and 0 < playback.position < playback.duration)
        action = self.idle.tick(at_rest=self.current_screen == "attract",
                                # Words in the headphones: the visitor is listening, not gone
                                # (paused words are not: a visitor who left them is gone).
                                playing=playback.playing or playback.speech == SpeechState.SPEAKING,
                                paused_part_way=part_way)
        if action is IdleAction.ASK:
            self._ask_still_there()
        elif action is IdleAction.RESET:
            self.reset_session()
        elif self._still_there is not None and self._still_there.parent is not None:
            self._close_still_there()

    def _ask_still_there(self) -> None:
        from kiosk.ui.widgets.dialogs import StillThereView

        if self._still_there is None:
            self._still_there = StillThereView()
        self._still_there.total = self.idle.countdown_seconds
        self._still_there.seconds_left = self.idle.seconds_left()
        if self._still_there.parent is None:
            log.info("nobody has touched the screen for a while: asking if they are still there")
            self._still_there.open(animation=False)
            self._say_still_there()

    def _say_still_there(self) -> None:
        """The question in the headphones too, for a visitor resting with eyes closed."""
        prompt = still_there_prompt(self.lang)
        if prompt is None:
            log.warning("the spoken \"Still there?\" is not installed; asking on screen only")
            return
        self.play_in_headphones(*prompt)

    def play_in_headphones(self, path: Path, duration: float | None, *,
                           over_playing: bool = False) -> bool:
        """Words in the headphones, through the station's own engine and inside its cap.

        `over_playing` (talk-back's, which the visitor asked for): in the engine's speech
        voice (PlayerModel.speak), over whatever plays; an exercise goes on lowered and
        comes back up, its play counted as ever; the newest words replace the ones in
        progress. Otherwise (a prompt: "Still there?") the visit's track is set aside for
        it (PlayerModel.play_prompt), and from the play counter meanwhile."""
        if over_playing:
            return self.playback.speak(path)
        plays = self.services.plays
        saved = plays.set_aside()
        if not self.playback.play_prompt(path, duration, then=lambda: plays.put_back(saved)):
            plays.put_back(saved)
            return False
        return True

    def still_here(self) -> None:
        self.idle.activity()
        self._close_still_there()

    def _close_still_there(self) -> None:
        self.playback.end_prompt()  # the visit's exercise back where it was, still paused
        if self._still_there is not None and self._still_there.parent is not None:
            self._still_there.dismiss(animation=False)

    def reset_session(self) -> None:
        """Back to attract with nothing of the last visitor left on the station."""
        log.info("clearing the station for the next visitor")
        if self.therapist_active:  # e.g. "I'm finished": the next person never finds it open
            log.info("therapist mode locked (the station was cleared)")
            self._end_therapist_mode()
        self.worker.new_session()
        self.talk_back.forget()
        self.playback.forget()
        for view in (self._help, self._still_there, self._display):
            if view is not None and view.parent is not None:
                view.dismiss(animation=False)
        if self.banner is not None:
            self.banner.hide()
        self.exercise = None
        for screen in self.manager.screens:
            forget = getattr(screen, "forget", None)
            if forget is not None:
                forget()
        self.lang = self.settings.languages.default
        self.text_step = 0
        self.high_contrast = False
        self.idle.activity()
        self.go("attract")
        Clock.schedule_once(lambda _dt: give_back_freed_memory(), 1.0)  # after the redraw

    # -- lockdown -------------------------------------------------------------------------------------
    def open_settings(self, *args: Any) -> bool:
        # F1 opens Kivy's settings panel by default; a station has none.
        return False

    def _on_request_close(self, *args: Any, **kwargs: Any) -> bool:
        if self.locked_down:
            log.info("ignored a request to close the window (lockdown is on)")
            return True
        return False

    def _on_keyboard(self, window: Any, key: int, scancode: int = 0, codepoint: Any = None,
                     modifiers: Any = None, *args: Any) -> bool:
        if not self.locked_down:
            return False
        alt_f4 = key == KEY_F4 and "alt" in (modifiers or [])
        return key in (KEY_ESCAPE, KEY_F1) or alt_f4
