"""A whole visit with eyes closed (issue 15): `kiosk run` on a 7-inch panel's X screen, the
real engine on the paced test sound device, talk-back as clinics get it ("offer"), and
nothing but talk-back's gestures made by xdotool: a three-second hold, swipes and double
taps, never a touch aimed at a button. At each step the test waits for what talk-back says
(the station's look, bench/soak_station.py), as a listener waits to hear it; at the end the
spoken address is opened as a phone would, and the capture of the headphones is recognised
offline to check the words were really heard."""

from __future__ import annotations

import re
import subprocess
import time
from typing import Any

import pytest
import soundfile

from bench.soak import Station, StepFailed, phone, start_xvfb
from kiosk.content.align import heard_words, load_pcm, script_words
from kiosk.ui import strings
from tests.audio_device import PulseFileDevice
from tests.packfactory import write_pack

pytestmark = [pytest.mark.ui, pytest.mark.audio, pytest.mark.slow]

WIDTH, HEIGHT, INCHES = 1024, 600, 7.0
EXERCISE = "Soothing rhythm breathing"  # tests/packfactory's public exercise: 10 s
LANG = "en-GB"


class EyesClosed:
    """Gestures anywhere on the panel (its middle), and what talk-back said after each."""

    def __init__(self, station: Station):
        self.s = station
        self.x, self.y = station.width // 2, station.height // 2
        self.heard: list[str] = []  # every utterance, in order, for the note

    def xdo(self, *args: str) -> None:
        subprocess.run(["xdotool", "mousemove", str(self.x), str(self.y), *args], check=True,
                       timeout=20, env=self.s.env)

    def hold(self) -> None:
        self.xdo("mousedown", "1", "sleep", "3.4", "mouseup", "1")

    def double_tap(self) -> None:
        self.xdo("mousedown", "1", "sleep", "0.06", "mouseup", "1", "sleep", "0.12",
                 "mousedown", "1", "sleep", "0.06", "mouseup", "1")

    def swipe(self, dx: int) -> None:
        moves: list[str] = []
        for n in (1, 2, 3, 4):
            moves += ["sleep", "0.03", "mousemove", str(self.x + dx * n // 4), str(self.y)]
        self.xdo("mousedown", "1", *moves, "mouseup", "1")

    def talk(self, state: dict[str, Any]) -> dict[str, Any]:
        return dict(state.get("talk_back") or {"on": False, "said": [], "focus": None})

    def hear(self, predicate: Any, what: str, timeout: float = 30.0) -> dict[str, Any]:
        """Waits for talk-back's newest words to satisfy `predicate`."""
        def said(state: dict[str, Any]) -> bool:
            words = self.talk(state)["said"]
            return bool(words) and predicate(words[-1], state)

        state = self.s.wait(said, what, timeout=timeout)
        last = self.talk(state)["said"][-1]
        if not self.heard or self.heard[-1] != last:
            self.heard.append(last)
        return state

    def swipe_to(self, wanted: Any, what: str, most: int = 30) -> dict[str, Any]:
        """Swipes right until the item in focus is `wanted` (a test of its words); each
        item's words are heard before the next swipe."""
        for _ in range(most):
            before = self.talk(self.s.look()).get("count", 0)
            self.swipe(self.s.width // 4)
            state = self.hear(lambda last, st, before=before: self.talk(st).get("count", 0) > before
                              and last == self.talk(st)["focus"], "the next item said")
            if wanted(self.talk(state)["focus"]):
                return state
        raise StepFailed(f"never reached {what}; heard {self.heard[-most:]}")


def test_a_whole_visit_with_eyes_closed(tmp_path, screenshot_dir, sound_device: PulseFileDevice):
    def tr(key: str, **values: Any) -> str:
        return " ".join(strings.tr(key, LANG, **values).split())

    shots = screenshot_dir / "talk-back"
    shots.mkdir(exist_ok=True)
    xvfb, display = start_xvfb(WIDTH, HEIGHT)
    station = Station(tmp_path, display, sound_device.env(), WIDTH, HEIGHT, INCHES)
    try:
        station.import_demo(write_pack(tmp_path / "pack"))
        station.start()
        e = EyesClosed(station)
        # The welcome says, every half minute, how to turn talk-back on.
        e.hear(lambda last, st: last == tr("talk.offer"), "the offer", timeout=50)
        e.hold()
        state = e.hear(lambda last, st: last.startswith(tr("talk.on")), "talk-back turned on")
        assert state["screen"] == "attract"  # the hold began nothing
        station.screenshot(shots / "01-on.png")

        e.double_tap()
        e.hear(lambda last, st: st["screen"] == "browse" and last.startswith("Choose an exercise."),
               "the browse screen said")
        e.swipe_to(lambda focus: focus.startswith(f"{EXERCISE}, "), "the exercise's tile")
        station.screenshot(shots / "02-browse-focus.png")
        e.double_tap()
        e.hear(lambda last, st: st["screen"] == "exercise" and last.startswith(f"Exercise: {EXERCISE}."),
               "the exercise said")
        e.swipe_to(lambda focus: focus == "Listen, button", "Listen")
        e.double_tap()
        e.hear(lambda last, st: st["screen"] == "player" and last.startswith(f"Player: {EXERCISE}."),
               "the player said")
        # Ten seconds later the exercise ends; the end card reads itself.
        take_home = tr("talk.button", label=tr("end.take_home"))
        e.hear(lambda last, st: take_home in last, "the end card read", timeout=40)
        station.screenshot(shots / "03-end-card.png")
        e.swipe_to(lambda focus: focus == take_home, "the end card's take home")
        e.double_tap()
        e.hear(lambda last, st: st["screen"] == "take_home" and tr("takehome.title") in last
               and "Nothing about you is kept" in last, "the consent read in full")
        e.swipe_to(lambda focus: focus == tr("talk.button", label=tr("takehome.agree")), "Show the code")
        e.double_tap()
        state = e.hear(lambda last, st: "ask at reception" in last, "the code's address spoken")
        station.screenshot(shots / "04-code.png")
        spoken = station.look()["talk_back"]["said"][-1]

        # The address as a listener types it from what was said: characters one by one.
        said_address = re.search(r"browser, on the clinic's guest Wi-Fi: (.*?)\. Again:", spoken)
        assert said_address, spoken
        typed = said_address.group(1).replace(", dot, ", ".").replace(", colon, ", ":") \
            .replace(", slash, ", "/").replace(" ", "")
        got = phone(f"http://{typed}")
        assert got > 10_000, f"the spoken address {typed!r} did not bring the exercise"

        # Off again, from talk-back's own controls (the last thing on every screen).
        e.swipe_to(lambda focus: focus == tr("talk.turn_off"), "turn talk-back off")
        e.double_tap()
        e.hear(lambda last, st: last == tr("talk.off"), "talk-back off")
        assert not station.look()["talk_back"]["on"]
        time.sleep(3)  # the last words out of the headphones
        played, rate = sound_device.read_played()
        station.check_alive()
    finally:
        errors = station.stop()
        xvfb.terminate()
        xvfb.wait(10)
    assert "Traceback" not in errors
    print("talk-back said, in order:\n  " + "\n  ".join(e.heard))

    # Listened to: what the headphones were fed, recognised offline against every word the
    # station's screens may say. espeak-ng's voice is far from the model's speakers, so only
    # some words come through; the offer's and the code's must be among them.
    heard_at = tmp_path / "heard.wav"
    soundfile.write(str(heard_at), played, rate, subtype="PCM_16")
    every = [text for text in strings.EN_GB.values() if "{" not in text] + e.heard
    heard = heard_words(load_pcm(heard_at), every, LANG)
    print("pocketsphinx heard:", " ".join(heard))
    said = {w for text in e.heard for w in script_words(text)}
    ours = sum(w in said for w in heard)
    assert ours >= 20 and ours >= 2 * (len(heard) - ours), heard
    assert len(set(heard) & {"anywhere", "three", "screen", "code", "phone's", "soothing",
                             "breathing", "rhythm", "passage", "reception"}) >= 4, heard
