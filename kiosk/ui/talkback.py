"""Talk-back on the screen's side: what each screen and control says, when it is said, and
the gestures that drive the station for a visitor who cannot see it.

The words come from the screens (each client screen's `spoken_summary()`) and from the
controls (`spoken_label()`), in the screen's language; kiosk/speech.py turns them into
sound on a thread of talk-back's own (a first utterance takes espeak-ng a tenth of a
second or more, and a catalogue question must never wait behind it), and the station's
own engine plays them in its speech voice (KioskApp.play_in_headphones), over a playing
exercise, which is lowered meanwhile: the newest replaces the one in progress.

`[accessibility] talk_back`: true, on for every visitor; "offer", the attract screen says
every half minute how to turn it on (touch and hold anywhere for three seconds); false,
never. While it is on, every touch comes here first and nothing below sees it: the
gestures (kiosk/ui/talkback_gestures.py) move a focus over the screen's items
(kiosk/ui/talkback_items.py) and a double tap uses the one in focus, as VoiceOver does.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import soundfile
from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.metrics import dp
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.modalview import ModalView
from kivy.uix.scrollview import ScrollView

from kiosk.speech import RATE_RANGE, Speech, SpeechError, SpeechErrorKind, espeak_path
from kiosk.ui import strings
from kiosk.ui.talkback_gestures import HOLD_SECONDS, STILL_MM, Gesture, GestureReader, Read
from kiosk.ui.talkback_items import Item, activate, adjust, bring_into_view, item_at, items_on_show
from kiosk.ui.worker import Worker

log = logging.getLogger(__name__)

THREAD_NAME = "talk-back"
OFFER_SECONDS = 30.0  # "every half minute or so" (issue 15)
RATE_STEP = 20  # words a minute, per touch of "Speak faster" / "Speak slower"
NEXT_FRAME = 0.02  # s: a Clock event this late runs in a later frame, never the same one
NOT_PEEKING = object()
SAME_ITEM_AGAIN = 1.0  # s: a finger resting on one thing says it once, a new touch again


def spoken_label(widget: Any, lang: str | None = None) -> str:
    """What touching `widget` says ("Listen, button"), or "" if it says nothing: a control's
    own `spoken` words (the seek bar, the volume, a tile), else its visible words."""
    from kiosk.ui.widgets.keyboard import KeyButton
    from kiosk.ui.widgets.script_view import Passage
    from kiosk.ui.widgets.toggles import ToggleMark

    lang = lang or App.get_running_app().lang
    explicit = str(getattr(widget, "spoken", "") or "").strip()
    text = str(getattr(widget, "text", "") or "").strip()
    if isinstance(widget, ToggleMark) and (explicit or text):
        # A star has no words of its own: its `spoken` names it; on or off is said either way.
        return strings.tr("talk.toggle_on" if widget.active else "talk.toggle_off", lang,
                          label=explicit or text)
    if isinstance(widget, Passage) and text:
        return strings.tr("talk.passage_now" if widget.current else "talk.passage", lang, text=text)
    if explicit:
        return explicit
    if not text:
        return ""
    if isinstance(widget, KeyButton):
        return strings.tr("talk.key", lang, label=text)  # a key is its letter, as screen readers say
    if isinstance(widget, ButtonBehavior):
        label = strings.tr("talk.button", lang, label=text)
        return strings.tr("talk.dimmed", lang, label=label) if widget.disabled else label
    return ""


class TalkBack:
    offer_seconds = OFFER_SECONDS  # a test may shorten it

    def __init__(self, app: Any):
        settings = app.settings
        self.app = app
        self.setting = settings.accessibility.talk_back  # True, False or "offer"
        self.on = self.setting is True
        self.rate = settings.accessibility.speech_rate
        self.speech = Speech(settings.speech_cache_dir)
        self._voice = Worker(lambda: None, name=THREAD_NAME)
        self._asked = 0
        self._waiting: Any = None  # a screen still loading what it will speak of
        self.said: deque[str] = deque(maxlen=20)  # what went to the headphones, newest last
        self.said_count = 0  # utterances so far (said keeps only the last few)
        self.focus: Item | None = None
        self._focus_said_at = 0.0
        self._reader: GestureReader | None = None
        self._finger: Any = None  # the uid of the one finger read; others are ignored
        self._finger_touch: Any = None
        self._deadline: Any = None
        self._offering: Any = None
        self._ring: Any = None
        self._peeked_from: Any = NOT_PEEKING  # the focus before a finger's peek, until it is kept

    @property
    def available(self) -> bool:
        return self.setting is not False

    def start(self) -> None:
        if self.available and espeak_path() is None:
            self._cannot_speak()
        if not self.available:
            return
        self._voice.start()
        self._reader = GestureReader(self.app.px_per_mm)
        # Bound after the app's own touch handler, so this one runs first and can keep a
        # touch from everything else.
        Window.bind(on_touch_down=self._down, on_touch_move=self._move, on_touch_up=self._up,
                    children=self._overlays_changed)
        if self.setting == "offer":
            self._offering = Clock.schedule_interval(self._offer, self.offer_seconds)

    def stop(self) -> None:
        if not self.available:
            return
        Window.unbind(on_touch_down=self._down, on_touch_move=self._move, on_touch_up=self._up,
                      children=self._overlays_changed)
        for event in (self._offering, self._deadline):
            if event is not None:
                event.cancel()
        self._voice.stop()

    def _cannot_speak(self) -> None:
        """No voice: talk-back would keep every touch and say nothing, so it goes, and the
        station works as for a sighted visitor (kiosk doctor tells the administrator)."""
        log.warning("talk-back is off: it cannot speak (espeak-ng is not installed)")
        self.setting, self.on = False, False
        self._lose_focus()

    # -- on and off -------------------------------------------------------------------------
    def turn_on(self) -> None:
        self.on = True
        self._lose_focus()
        screen = self.app.manager.current_screen
        summary = getattr(screen, "spoken_summary", None)
        log.info("talk-back turned on by touch and hold")
        self.say(self.app.tr("talk.on") + " " + (summary() if summary else ""))

    def turn_off(self) -> None:
        log.info("talk-back turned off")
        self.say(self.app.tr("talk.off"), force=True)
        self.on = False
        self._lose_focus()

    def _offer(self, _dt: float) -> None:
        playback = self.app.playback
        if (not self.on and self.app.current_screen == "attract" and not playback.playing
                and not playback.prompting):
            self.say(self.app.tr("talk.offer"), force=True)

    def forget(self) -> None:
        """A new visitor: nothing asked for the last one is said, and talk-back is as the
        clinic set it."""
        self._asked += 1
        self._voice.new_session()
        self._stop_waiting()
        self.on = self.setting is True
        self.rate = self.app.settings.accessibility.speech_rate
        self._lose_focus()

    # -- screens ------------------------------------------------------------------------------
    def arrived(self, screen: Any) -> None:
        """`screen` is now on show: its name and what is on it, in brief."""
        if not self.on:
            return
        self._lose_focus()
        self._stop_waiting()
        summary = getattr(screen, "spoken_summary", None)
        if summary is None:
            return
        if getattr(screen, "loading", False):
            # Its list is on its way (browse): speak of it once it has come.
            self._waiting = screen
            screen.bind(loading=self._loaded)
            return
        self.say(summary())

    def _loaded(self, screen: Any, loading: bool) -> None:
        if not loading:
            self._stop_waiting()
            # The next frame: `loading` goes false just before the answer is set.
            Clock.schedule_once(lambda _dt: self.say(screen.spoken_summary())
                                if self.app.current_screen == screen.name else None, 0)

    def _stop_waiting(self) -> None:
        if self._waiting is not None:
            self._waiting.unbind(loading=self._loaded)
            self._waiting = None

    def _overlays_changed(self, window: Any, children: list[Any]) -> None:
        """An overlay that opens (the end card, trouble told) is read out, as a screen
        reader reads an alert; "Still there?" speaks for itself."""
        from kiosk.ui.widgets.dialogs import StillThereView

        top = children[0] if children else None
        if not self.on or not isinstance(top, ModalView) or isinstance(top, StillThereView):
            return
        self._lose_focus()

        def read(_dt: float) -> None:  # once it has laid itself out
            if self.on and window.children and window.children[0] is top:
                self.say(in_sentences(i.label for i in items_on_show(Window, spoken_label)))

        Clock.schedule_once(read, 0.15)

    # -- touches --------------------------------------------------------------------------------
    def _down(self, _window: Any, touch: Any) -> bool:
        if touch.is_mouse_scrolling:
            return False
        if self.on:
            self.app.touched()
            touch.ud["talk_back"] = True
            if self._finger is None:
                self._finger, self._finger_touch = touch.uid, touch
                self._read(self._reader_do("down", touch))
            return True
        if self.setting == "offer":
            touch.ud["talk_back.hold"] = Clock.schedule_once(lambda _dt: self._held(touch), HOLD_SECONDS)
        return False

    def _move(self, _window: Any, touch: Any) -> bool:
        if touch.ud.get("talk_back"):
            if touch.uid == self._finger:
                self._read(self._reader_do("move", touch))
            return True
        hold = touch.ud.get("talk_back.hold")
        if hold is not None and ((touch.x - touch.ox) ** 2 + (touch.y - touch.oy) ** 2) ** 0.5 \
                >= STILL_MM * self.app.px_per_mm:
            hold.cancel()
            touch.ud.pop("talk_back.hold", None)
        return bool(touch.ud.get("talk_back.taken"))

    def _up(self, _window: Any, touch: Any) -> bool:
        if touch.ud.get("talk_back"):
            if touch.uid == self._finger:
                self._finger = self._finger_touch = None
                self._read(self._reader_do("up", touch))
            return True
        hold = touch.ud.pop("talk_back.hold", None)
        if hold is not None:
            hold.cancel()
        return bool(touch.ud.get("talk_back.taken"))

    def _reader_do(self, what: str, touch: Any) -> list[Read]:
        assert self._reader is not None
        return list(getattr(self._reader, what)(time.monotonic(), touch.x, touch.y))

    def _held(self, touch: Any) -> None:
        """Offered, and a finger has rested three seconds: talk-back goes on, and the touch
        does nothing else (the button under it is not pressed on lifting)."""
        from kiosk.ui.widgets.common import HiddenCorner

        touch.ud.pop("talk_back.hold", None)
        if self.on or touch.ud.get("therapist_gesture") or any(isinstance(k, HiddenCorner) for k in touch.ud):
            return  # the therapist's corner is held the same three seconds: theirs wins
        for ref in list(touch.grab_list):
            widget = ref() if callable(ref) else ref
            if widget is None or isinstance(widget, ScrollView):
                continue  # a list's own touch, long since given to what is under it
            touch.ungrab(widget)
            if isinstance(widget, ButtonBehavior):
                widget.state = "normal"
        touch.ud["talk_back.taken"] = True
        self.turn_on()

    def _read(self, reads: list[Read]) -> None:
        for read in reads:
            self._gesture(read)
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        deadline = self._reader.next_deadline() if self._reader is not None else None
        if deadline is not None and self.on:
            self._deadline = Clock.schedule_once(self._time_passed, max(0.0, deadline - time.monotonic()))

    def _time_passed(self, _dt: float) -> None:
        # Decided a frame later: a frame runs its clock before the touches that came in
        # meanwhile, and on a busy panel a swipe's moves and lift may be waiting there; read
        # first, they keep the swipe from being taken for a finger resting.
        self._deadline = Clock.schedule_once(
            lambda _dt: self._read(self._reader.due(time.monotonic()) if self._reader else []),
            NEXT_FRAME)

    def _gesture(self, read: Read) -> None:
        if not self.on:
            return
        g = read.gesture
        if g is Gesture.PEEK:
            item = item_at(self.items(), read.x, read.y)
            if item is not None and not self._same(item, self.focus):
                if self._peeked_from is NOT_PEEKING:
                    self._peeked_from = self.focus
                self._set_focus(item)
            return
        if g in (Gesture.DOUBLE_TAP, Gesture.SWIPE_LEFT, Gesture.SWIPE_RIGHT, Gesture.SWIPE_UP,
                 Gesture.SWIPE_DOWN) and self._peeked_from is not NOT_PEEKING:
            self.focus = self._peeked_from  # these act on the focus from before the touch
        self._peeked_from = NOT_PEEKING
        if g is Gesture.EXPLORE:
            item = item_at(self.items(), read.x, read.y)
            if item is not None and (not self._same(item, self.focus)
                                     or time.monotonic() - self._focus_said_at > SAME_ITEM_AGAIN):
                self._set_focus(item)
        elif g is Gesture.DOUBLE_TAP:
            self._use_focus()
        elif g in (Gesture.SWIPE_RIGHT, Gesture.SWIPE_LEFT):
            self.move(1 if g is Gesture.SWIPE_RIGHT else -1)
        elif g in (Gesture.SWIPE_UP, Gesture.SWIPE_DOWN):
            direction = 1 if g is Gesture.SWIPE_UP else -1
            if self.focus is not None and adjust(self.focus, direction):
                Clock.schedule_once(lambda _dt: self._say_focus_again(), 0.1)
            elif direction > 0:
                self.repeat()
            else:
                self.pause_or_resume()
        elif g is Gesture.HOLD:
            self._therapist_corner(read)

    def _therapist_corner(self, read: Read) -> None:
        """Talk-back keeps every touch, so the therapist's held corner is passed on here."""
        from kiosk.ui.widgets.common import HiddenCorner

        def corners(widget: Any) -> list[Any]:
            found = [widget] if isinstance(widget, HiddenCorner) else []
            for child in widget.children:
                found += corners(child)
            return found

        for corner in corners(self.app.manager.current_screen):
            if corner.collide_point(*corner.to_widget(read.x, read.y)) and self._finger_touch is not None:
                corner._fire(self._finger_touch)
                return

    # -- the focus ----------------------------------------------------------------------------
    def items(self) -> list[Item]:
        """The screen's items in reading order, then talk-back's own controls."""
        tr = self.app.tr
        found = items_on_show(Window, spoken_label)
        return found + [
            Item(tr("talk.slower"), action=lambda: self.set_rate(-RATE_STEP)),
            Item(tr("talk.faster"), action=lambda: self.set_rate(RATE_STEP)),
            Item(tr("talk.turn_off"), action=self.turn_off),
        ]

    @staticmethod
    def _same(a: Item | None, b: Item | None) -> bool:
        if a is None or b is None:
            return False
        return a.widget is b.widget if a.widget is not None else a.label == b.label

    def move(self, step: int) -> None:
        """To the next (1) or previous (-1) item, round to the first after the last."""
        items = self.items()
        at = next((n for n, item in enumerate(items) if self._same(item, self.focus)), None)
        if at is None:
            at = -1 if step > 0 else len(items)
        self._set_focus(items[(at + step) % len(items)])

    def _set_focus(self, item: Item) -> None:
        self.focus = item
        self._focus_said_at = time.monotonic()
        bring_into_view(item)
        self.say(item.label)
        Clock.schedule_once(lambda _dt: self._draw_ring(), 0)  # after the scroll has moved it

    def _lose_focus(self) -> None:
        self.focus = None
        self._peeked_from = NOT_PEEKING
        if self._reader is not None:
            self._reader.reset()
        self._finger = self._finger_touch = None
        self._draw_ring()

    def _use_focus(self) -> None:
        item = self.focus
        screen = self.app.manager.current_screen
        if item is None or not item.actionable:
            begin = getattr(screen, "talk_activate", None)  # the welcome: a touch anywhere begins
            if begin is not None:
                begin()
            elif item is None:
                summary = getattr(screen, "spoken_summary", None)
                self.say(self.app.tr("talk.nothing", summary=summary() if summary else ""))
            return
        before = (self.app.current_screen, Window.children[0] if Window.children else None)
        if activate(item):
            log.info("talk-back used %s", type(item.widget).__name__ if item.widget else item.label)
            Clock.schedule_once(lambda _dt: self._after_use(item, before), 0.05)

    def _after_use(self, item: Item, before: tuple[str, Any]) -> None:
        """Says what using it changed, as a screen reader does: a new screen speaks itself
        (arrived), an overlay that opened reads itself (_overlays_changed), one that closed
        gives the screen's summary, else the control's new words."""
        if not self.on or self.app.current_screen != before[0]:
            return
        top = Window.children[0] if Window.children else None
        if top is not before[1]:
            if not isinstance(top, ModalView):  # an overlay closed; one that opened is read
                self._lose_focus()
                summary = getattr(self.app.manager.current_screen, "spoken_summary", None)
                if summary is not None:
                    self.say(summary())
            return
        if item.widget is not None:
            self._say_focus_again(always=False)

    def _say_focus_again(self, always: bool = True) -> None:
        from kiosk.ui.widgets.keyboard import KeyButton

        item = self.focus
        if item is None or item.widget is None:
            return
        words = " ".join(spoken_label(item.widget).split())
        if words and (always or words != item.label or isinstance(item.widget, KeyButton)):
            item.label = words
            self.say(words)

    def _draw_ring(self) -> None:
        """A bright outline round the item in focus: for whoever sits beside the visitor."""
        from kivy.graphics import Color, InstructionGroup, Line

        if self._ring is None:
            self._ring = InstructionGroup()
            Window.canvas.after.add(self._ring)
        self._ring.clear()
        box = self.focus.shown_box() if (self.on and self.focus is not None) else None
        if box is None:
            return
        x, y, w, h = box
        pad = dp(3)
        self._ring.add(Color(*self.app.theme.focus_outline))
        self._ring.add(Line(rectangle=(x - pad, y - pad, w + 2 * pad, h + 2 * pad), width=dp(2.5)))

    # -- speech -----------------------------------------------------------------------------------
    def set_rate(self, delta: int) -> None:
        self.rate = max(RATE_RANGE[0], min(self.rate + delta, RATE_RANGE[1]))
        self.say(self.app.tr("talk.rate_now", n=self.rate))

    def say(self, text: str, force: bool = False) -> None:
        text = " ".join(text.split())
        if not (self.on or force) or not text:
            return
        self._asked += 1
        asked, lang, rate, speech = self._asked, self.app.lang, self.rate, self.speech

        def job(_db: Any) -> tuple[Path, float] | SpeechErrorKind | None:
            try:
                path = speech.utterance(text, lang, rate)
            except SpeechError as exc:
                if exc.kind is SpeechErrorKind.NO_ENGINE:
                    return exc.kind  # taken away while the station runs
                log.warning("talk-back could not speak (%s): %s", exc.kind.value, exc.detail)
                return None
            return path, float(soundfile.info(str(path)).duration)

        def done(made: tuple[Path, float] | SpeechErrorKind | None) -> None:
            if made is SpeechErrorKind.NO_ENGINE:
                if self.available:
                    self._cannot_speak()
                return
            if not isinstance(made, tuple) or asked != self._asked:
                return  # nothing to say, or something newer was asked for
            if self.app.play_in_headphones(*made, over_playing=True):
                self.said.append(text)
                self.said_count += 1
                log.info("talk-back is speaking (%d words)", len(text.split()))

        self._voice.submit(job, done)

    def hush(self) -> None:
        """Stop speaking now; words still being made are never said."""
        if not self.on:
            return
        self._asked += 1
        self.app.playback.stop_speaking()

    def pause_or_resume(self) -> None:
        """Hold the words where they are, or go on from there."""
        if not self.on:
            return
        self.app.playback.pause_or_resume_speaking()

    def repeat(self) -> None:
        """Say the last thing said again, from its start (from the cache: no new synthesis)."""
        if self.on and self.said:
            self.say(self.said[-1])

def in_sentences(parts: Iterable[str]) -> str:
    """Items read one after another, each its own sentence (none ending "ready:.")."""
    return " ".join(p if p[-1:] in ".:!?" else p + "." for p in parts if p)


def spelled(address: str, lang: str) -> str:
    """An address said slowly, a character at a time: "1 0, dot, 0, ..., slash, k 7 x ...".

    Commas make espeak-ng pause; digits and letters are said one by one, so that a listener
    can type them."""
    names = {".": strings.tr("talk.dot", lang), ":": strings.tr("talk.colon", lang),
             "/": strings.tr("talk.slash", lang)}
    parts: list[str] = []
    run: list[str] = []
    for ch in address:
        if ch in names:
            if run:
                parts.append(" ".join(run))
                run = []
            parts.append(names[ch])
        else:
            run.append(ch)
    if run:
        parts.append(" ".join(run))
    return ", ".join(parts)
