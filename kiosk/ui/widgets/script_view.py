"""The script beside the player: one passage per cue, the one being heard highlighted and
kept in view; touching a passage asks to listen from there.

The highlight is a background, bold text and a bar at the passage's edge, so it does not
rest on colour alone. Without timed cues the passages are shown plainly and touching them
does nothing.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Sequence
from typing import Any

from kivy.animation import Animation
from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty
from kivy.uix.scrollview import ScrollView

from kiosk.ui.widgets.common import Forgiving, KLabel


class Passage(Forgiving, KLabel):
    index = NumericProperty(0)
    start = NumericProperty(0.0)
    current = BooleanProperty(False)
    timed = BooleanProperty(True)


def cue_index(starts: Sequence[float], ends: Sequence[float], position: float) -> int:
    """The passage being heard at `position`, or -1 between or outside passages.

    (kiosk.content.cues.cue_at does the same for the catalogue's Cue type; this one works on
    plain lists so the view can bisect without building objects per frame.)
    """
    i = bisect.bisect_right(starts, position) - 1
    if i >= 0 and position < ends[i]:
        return i
    return -1


PASSAGE_SIZE = 22
BIG_PASSAGE_SIZE = 40  # presentation: read from across the room


class ScriptView(ScrollView):
    current = NumericProperty(-1)
    big = BooleanProperty(False)
    timed = BooleanProperty(False)
    count = NumericProperty(0)

    __events__ = ("on_seek_request",)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._starts: list[float] = []
        self._ends: list[float] = []
        self._passages: list[Passage] = []
        self._scroll_anim: Animation | None = None
        self._next_change: Any = None

    @property
    def passages(self) -> list[Passage]:
        return list(self._passages)

    def set_script(self, cues: Sequence[Any], timed: bool) -> None:
        """`cues`: objects with start, end, text. `timed`: whether their times mean anything."""
        box = self.ids.box
        box.clear_widgets()
        self._passages = []
        self.timed = timed
        self._starts = [float(c.start) for c in cues]
        self._ends = [float(c.end) for c in cues]
        for i, cue in enumerate(cues):
            passage = Passage(text=str(cue.text).strip(), index=i, start=float(cue.start), timed=timed,
                              base_size=BIG_PASSAGE_SIZE if self.big else PASSAGE_SIZE)
            # On release, never on press: a finger resting in a ScrollView longer than its
            # scroll_timeout is handed down as a press while still down (WCAG 2.5.2).
            passage.bind(on_release=self._touched)
            box.add_widget(passage)
            self._passages.append(passage)
        self.count = len(self._passages)
        self.current = -1
        self.scroll_y = 1

    def clear(self) -> None:
        self.follow(0.0)  # cancels a timed change
        self.set_script([], timed=False)

    def follow(self, position: float, live: Callable[[], float] | None = None,
               not_before: float = 0.0) -> None:
        """Highlights the passage heard at `position`. With `live` (while playing: a function
        giving the position as heard now), the position is taken from it and the next change
        is timed to the moment it is due, rather than waiting for the next position update;
        each call (every position update, seek, pause) times it afresh."""
        if self._next_change is not None:
            self._next_change.cancel()
            self._next_change = None
        if not self.timed or not self._starts:
            return
        if live is not None:
            # A timed change may fire a hair early: it is for `not_before` all the same.
            position = max(live(), not_before)
        self._highlight(position)
        if live is not None:
            due = self._next_start(position)
            if due is not None:
                self._next_change = Clock.schedule_once(
                    lambda _dt: self.follow(due, live, not_before=due), max(0.0, due - position))

    def _next_start(self, position: float) -> float | None:
        """The next passage's start; only starts change the highlight (between passages the
        last one stays lit)."""
        i = bisect.bisect_right(self._starts, position)
        return self._starts[i] if i < len(self._starts) else None

    def _highlight(self, position: float) -> None:
        index = cue_index(self._starts, self._ends, position)
        if index == -1:
            # Between passages keep the last one lit: the reader's eye stays where it was.
            index = max(0, bisect.bisect_right(self._starts, position) - 1) if position >= self._starts[0] else -1
        if index != self.current:
            self.current = index

    def on_big(self, _instance: Any, big: bool) -> None:
        for passage in self._passages:
            passage.base_size = BIG_PASSAGE_SIZE if big else PASSAGE_SIZE
        # Once the passages have their new heights, bring the one being heard back into view.
        Clock.schedule_once(lambda _dt: self.on_current(self, self.current), 0.05)

    def on_current(self, _instance: Any, index: int) -> None:
        for passage in self._passages:
            passage.current = passage.index == index
        if 0 <= index < len(self._passages):
            self._keep_in_view(self._passages[index])

    def _keep_in_view(self, passage: Passage) -> None:
        box = self.ids.box
        overflow = box.height - self.height
        if overflow <= 0:
            return
        # Put the passage about a third of the way down, so the next lines show below it.
        top_of_passage = passage.top - box.y
        wanted_top_in_view = self.height * 0.7
        target = (top_of_passage - wanted_top_in_view) / overflow
        target = min(1.0, max(0.0, target))
        if self._scroll_anim is not None:
            self._scroll_anim.cancel(self)
        self._scroll_anim = Animation(scroll_y=target, duration=0.35, t="out_quad")
        self._scroll_anim.start(self)

    def _touched(self, passage: Passage) -> None:
        if self.timed:
            self.dispatch("on_seek_request", passage.start)

    def on_seek_request(self, seconds: float) -> None:
        pass


Builder.load_file(os.path.join(os.path.dirname(__file__), "script_view.kv"))
