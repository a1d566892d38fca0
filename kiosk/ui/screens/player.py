"""Player: the controls on the left, the script on the right with read-along."""

from __future__ import annotations

import logging
import os
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.lang import Builder
from kivy.metrics import dp
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.screenmanager import Screen
from kivy.uix.slider import Slider

import kiosk.ui.widgets.common  # noqa: F401  (KLabel, KButton, TopBar used by the kv)
import kiosk.ui.widgets.script_view  # noqa: F401  (ScriptView used by the kv)
from kiosk.ui.widgets.dialogs import OverlayWithHelp

log = logging.getLogger(__name__)

Builder.load_file(os.path.join(os.path.dirname(__file__), "player.kv"))

SKIP_SECONDS = 15.0
VOLUME_STEPS = 10
DRAG_START_DP = 12  # a finger that travels less than this along the bar has not dragged it
CONFIRM_RADIUS_DP = 32  # the second tap that confirms a place lands this near its mark
CONFIRM_SECONDS = 6.0  # a marked place waits this long for its second tap


class SeekBar(Slider):
    """A seek bar that a brush of the hand cannot move (issue 17): the knob is dragged by how
    far the finger travels, not to where it lands, and only once it has travelled
    DRAG_START_DP; a tap marks the place touched and says its time ("Go to 3:05?"), and a
    second tap there goes to it. While dragged it answers the finger, not the engine."""

    spoken = StringProperty("")  # talk-back's words for it (kiosk/ui/talkback.py)
    dragging = BooleanProperty(False)
    pending = NumericProperty(-1.0)  # the time a tap marked, waiting for its second tap; -1: none

    def moves_by_a_pixel(self, value: float) -> bool:
        span = (self.max - self.min) or 1.0
        return abs(value - self.value) * SeekBar._track(self) / span >= 1.0

    def _track(self) -> float:
        return float(max(1.0, self.width - 2 * self.padding))

    def time_at(self, x: float) -> float:
        fraction = (x - self.x - self.padding) / self._track()
        return float(self.min + min(1.0, max(0.0, fraction)) * (self.max - self.min))

    def x_of(self, seconds: float) -> float:
        span = (self.max - self.min) or 1.0
        return float(self.x + self.padding + (seconds - self.min) / span * self._track())

    def on_touch_down(self, touch: Any) -> bool:
        if self.disabled or not self.collide_point(*touch.pos):
            return False
        touch.grab(self)
        touch.ud[self] = (touch.x, self.value)
        return True

    def on_touch_move(self, touch: Any) -> bool:
        if touch.grab_current is not self:
            return False
        start_x, start_value = touch.ud[self]
        travelled = touch.x - start_x
        if not self.dragging and abs(travelled) >= dp(DRAG_START_DP):
            self.dragging = True
            self.pending = -1.0
        if self.dragging:
            span = self.max - self.min
            self.value = min(self.max, max(self.min, start_value + travelled * span / self._track()))
        return True

    def on_touch_up(self, touch: Any) -> bool:
        if touch.grab_current is not self:
            return False
        touch.ungrab(self)
        player = App.get_running_app().playback
        if self.dragging:
            self.dragging = False
            player.seek(self.value)
        elif self.pending >= 0 and abs(touch.x - self.x_of(self.pending)) <= dp(CONFIRM_RADIUS_DP):
            seconds, self.pending = self.pending, -1.0
            player.seek(seconds)
        else:
            self.pending = self.time_at(touch.x)
            Clock.unschedule(self._forget_pending)
            Clock.schedule_once(self._forget_pending, CONFIRM_SECONDS)
        return True

    def _forget_pending(self, _dt: float) -> None:
        self.pending = -1.0

    def talk_adjust(self, direction: int) -> None:
        """Talk-back's swipe up or down on the bar: 15 s on or back, as the buttons go."""
        App.get_running_app().playback.skip(SKIP_SECONDS * direction)


class EndCard(OverlayWithHelp):
    """What a visitor can do once the exercise has been heard to its end: take it home, hear
    it again, choose another, or finish (which clears the visit)."""

    def on_kv_post(self, base_widget: Any) -> None:
        super().on_kv_post(base_widget)
        # A strong reference: ids are weak, and the button is out of the tree while
        # take-home is unavailable, so it would be collected and could never come back.
        self._take_home_button = self.ids.take_home.__self__

    def on_pre_open(self) -> None:
        super().on_pre_open()
        # Without take-home (switched off, or its server down) its cell goes too: no hole.
        choices, button = self.ids.choices, self._take_home_button
        available = App.get_running_app().take_home_available
        if available and button.parent is None:
            choices.add_widget(button, index=len(choices.children))  # first, as in the kv
        elif not available and button.parent is not None:
            choices.remove_widget(button)

    def take_home(self) -> None:
        self.dismiss(animation=False)
        App.get_running_app().go("take_home")

    def again(self) -> None:
        self.dismiss(animation=False)
        App.get_running_app().playback.toggle()  # after the end: from the start

    def another(self) -> None:
        self.dismiss(animation=False)
        App.get_running_app().go("browse")

    def finished(self) -> None:
        self.dismiss(animation=False)
        App.get_running_app().reset_session()


class PlayerScreen(Screen):
    portrait = BooleanProperty(False)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._shown_key = ""
        self.end_card: EndCard | None = None

    def on_kv_post(self, base_widget: Any) -> None:
        self.ids.script.bind(on_seek_request=lambda _w, s: self.seek(s))
        self.bind(size=self.arrange)
        self.arrange()

    def arrange(self, *_args: Any) -> None:
        """Portrait: the script first (on top), the controls under it; landscape: the
        controls first (on the left)."""
        self.portrait = self.height > self.width
        body, controls, script = self.ids.body, self.ids.controls, self.ids.script_side
        wanted = [controls, script] if self.portrait else [script, controls]  # children run last-first
        if list(body.children) != wanted:
            body.clear_widgets()
            for child in reversed(wanted):
                body.add_widget(child)

    def on_pre_enter(self, *args: Any) -> None:
        app = App.get_running_app()
        playback = app.playback
        playback.unbind(position=self._on_position, playing=self._on_playing, ended=self._on_ended)
        playback.bind(position=self._on_position, playing=self._on_playing, ended=self._on_ended)
        exercise = app.exercise
        if exercise is None:
            return
        variant = exercise.variant
        key = f"{exercise.id}/{variant.lang}"
        if key != self._shown_key:
            self._shown_key = key
            cues = list(variant.cues)
            self.ids.script.set_script(cues, timed=getattr(variant, "timed", True) and _has_times(cues))
        self._on_position(playback, playback.position)

    def on_leave(self, *args: Any) -> None:
        playback = App.get_running_app().playback
        playback.unbind(position=self._on_position, playing=self._on_playing, ended=self._on_ended)
        self.ids.script.follow(playback.position)  # no timed change while away
        self._close_end_card()

    def _on_ended(self, _playback: Any, ended: bool) -> None:
        """Heard to the end: the end card, for a client (a therapist presenting carries on
        with the session instead)."""
        app = App.get_running_app()
        if not ended:
            self._close_end_card()
            return
        if app.therapist_active or app.current_screen != "player":
            return
        if self.end_card is None:
            self.end_card = EndCard()
        if self.end_card.parent is None:
            log.info("the exercise was heard to its end: showing the end card")
            self.end_card.open(animation=False)

    def _close_end_card(self) -> None:
        if self.end_card is not None and self.end_card.parent is not None:
            self.end_card.dismiss(animation=False)

    def _on_playing(self, playback: Any, _playing: bool) -> None:
        self._on_position(playback, playback.live_position())

    def _on_position(self, playback: Any, position: float) -> None:
        seek = self.ids.seek
        # The position changes 20 times a second, and every change of the bar redraws the whole
        # window (30 ms and more in software GL) while a touch that arrives meanwhile waits for
        # that frame. So the knob moves only when it would move by a pixel and, while playing
        # on, only as the elapsed seconds change: those labels redraw the window then anyway.
        jumped = abs(position - seek.value) >= 1.0
        if (not seek.dragging and seek.moves_by_a_pixel(position)
                and (jumped or int(position) != int(seek.value))):
            seek.value = position
        self.ids.script.follow(position, playback.live_position if playback.playing else None)

    # -- controls ----------------------------------------------------------------------------
    def spoken_summary(self) -> str:
        app = App.get_running_app()
        if app.exercise is None:
            return ""
        playback = app.playback
        state = "talk.playing" if playback.playing else "talk.ended" if playback.ended else "talk.paused"
        script = self.ids.script
        if script.timed and script.current >= 0:
            # Which passage is being read: the visitor who cannot see the highlight hears it.
            return str(app.tr("talk.player_passage", title=app.exercise.title, state=app.tr(state),
                              n=script.current + 1, of=script.count))
        return str(app.tr("talk.player", title=app.exercise.title, state=app.tr(state)))

    def toggle(self) -> None:
        App.get_running_app().playback.toggle()

    def skip(self, delta: float) -> None:
        App.get_running_app().playback.skip(delta)

    def seek(self, seconds: float) -> None:
        playback = App.get_running_app().playback
        playback.seek(seconds)
        if not playback.playing:
            playback.toggle()

    def volume_step(self, direction: int) -> None:
        playback = App.get_running_app().playback
        step = playback.volume_cap / VOLUME_STEPS
        playback.set_volume(round((playback.volume + direction * step) / step) * step)

    def forget(self) -> None:
        self._shown_key = ""
        self.ids.script.clear()
        self._close_end_card()


def _has_times(cues: list[Any]) -> bool:
    """Cues made up from an untimed script (all at zero) cannot drive a highlight."""
    return any(float(c.end) > 0 for c in cues)
