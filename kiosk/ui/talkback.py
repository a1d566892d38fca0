"""Talk-back on the screen's side: what each screen and control says, and when it is said.

The words come from the screens (each client screen's `spoken_summary()`) and from the
controls (`spoken_label()`), in the screen's language; kiosk/speech.py turns them into
sound on a thread of talk-back's own (a first utterance takes espeak-ng a tenth of a
second or more, and a catalogue question must never wait behind it), and the station's
own engine plays them (KioskApp.play_in_headphones): the newest replaces the one in
progress, and an exercise that is playing is set aside and plays on after.

This slice: with `[accessibility] talk_back = true`, arriving at a screen speaks it.
"""

from __future__ import annotations

import logging
from collections import deque
from pathlib import Path
from typing import Any

import soundfile
from kivy.app import App
from kivy.clock import Clock
from kivy.uix.behaviors import ButtonBehavior

from kiosk.speech import Speech, SpeechError, SpeechErrorKind
from kiosk.ui import strings
from kiosk.ui.worker import Worker

log = logging.getLogger(__name__)

THREAD_NAME = "talk-back"


def spoken_label(widget: Any, lang: str | None = None) -> str:
    """What touching `widget` says ("Listen, button"), or "" if it says nothing: a control's
    own `spoken` words (the seek bar, the volume, a tile), else its visible words."""
    from kiosk.ui.widgets.toggles import ToggleMark

    lang = lang or App.get_running_app().lang
    explicit = str(getattr(widget, "spoken", "") or "").strip()
    text = str(getattr(widget, "text", "") or "").strip()
    if isinstance(widget, ToggleMark) and (explicit or text):
        # A star has no words of its own: its `spoken` names it; on or off is said either way.
        return strings.tr("talk.toggle_on" if widget.active else "talk.toggle_off", lang,
                          label=explicit or text)
    if explicit:
        return explicit
    if not text:
        return ""
    if isinstance(widget, ButtonBehavior):
        return strings.tr("talk.button", lang, label=text)
    return ""


class TalkBack:
    def __init__(self, app: Any):
        settings = app.settings
        self.app = app
        self.on = settings.accessibility.talk_back is True  # "offer" does not announce yet
        self.rate = settings.accessibility.speech_rate
        self.speech = Speech(settings.speech_cache_dir)
        self._voice = Worker(lambda: None, name=THREAD_NAME)
        self._asked = 0
        self._waiting: Any = None  # a screen still loading what it will speak of
        self.said: deque[str] = deque(maxlen=20)  # what went to the headphones, newest last

    def start(self) -> None:
        if self.on:
            self._voice.start()

    def stop(self) -> None:
        if self.on:
            self._voice.stop()

    def forget(self) -> None:
        """A new visitor: nothing asked for the last one is said."""
        self._asked += 1
        self._voice.new_session()
        self._stop_waiting()

    def arrived(self, screen: Any) -> None:
        """`screen` is now on show: its name and what is on it, in brief."""
        if not self.on:
            return
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

    def say(self, text: str) -> None:
        text = " ".join(text.split())
        if not self.on or not text:
            return
        self._asked += 1
        asked, lang, rate, speech = self._asked, self.app.lang, self.rate, self.speech

        def job(_db: Any) -> tuple[Path, float] | None:
            try:
                path = speech.utterance(text, lang, rate)
            except SpeechError as exc:
                if exc.kind is not SpeechErrorKind.NO_ENGINE:  # that one is logged once
                    log.warning("talk-back could not speak (%s): %s", exc.kind.value, exc.detail)
                return None
            return path, float(soundfile.info(str(path)).duration)

        def done(made: tuple[Path, float] | None) -> None:
            if made is None or asked != self._asked:
                return  # nothing to say, or something newer was asked for
            if self.app.play_in_headphones(*made, over_playing=True):
                self.said.append(text)
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
