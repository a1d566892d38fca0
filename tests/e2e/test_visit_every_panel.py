"""A whole visit on every panel clinics mount, from outside: `kiosk run` on its own X screen
of the panel's size, touched by xdotool where a person would read the words (the station's
buttons on show, their words and boxes, come from bench/soak_station.py's read-only look).

The visitor touches the welcome screen, sets the text size (or leaves it), picks the short
exercise, listens to its very end, takes it home from the end card (the QR code read from a
screenshot and opened as a phone would, its audio downloaded), and walks away; the station
must clear itself back to the welcome screen. Every control touched must be wholly on the
panel. Screenshots of each step: tests/screenshots/visit/<panel>-<text>-<step>.png.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from bench.soak import (
    IDLE_SECONDS,
    STILL_THERE_SECONDS,
    Station,
    StepFailed,
    on,
    phone,
    read_qr,
    start_xvfb,
)
from kiosk.ui.strings import tr
from tests.audio_device import PulseFileDevice
from tests.packfactory import write_pack

pytestmark = [pytest.mark.ui, pytest.mark.audio, pytest.mark.slow]

LANG = "en-GB"
PANELS = {  # (width, height, diagonal in inches), as tests/ui/test_layouts.py
    "800x480": (800, 480, 7.0),
    "1024x600": (1024, 600, 7.0),
    "1280x800": (1280, 800, 10.1),
    "1920x1080": (1920, 1080, 21.5),
    "1080x1920": (1080, 1920, 21.5),
}
TEXT = {"normal": "display.text_0", "larger": "display.text_1", "largest": "display.text_2"}
CASES = [(panel, text) for panel in PANELS for text in ("normal", "larger")] + [("800x480", "largest")]
PUSH_PX = 80
EXERCISE = "Soothing rhythm breathing"  # tests/packfactory's public exercise: 10 s


def words(key: str) -> str:
    return tr(key, LANG)


def button(state: dict[str, Any], text: str) -> dict[str, Any]:
    for b in state["buttons"]:
        if b["text"] == text:
            return b
    raise StepFailed(f"no {text!r} on the {state['screen']} screen: {[b['text'] for b in state['buttons']]}")


class Visit:
    def __init__(self, station: Station, shots: Path, tag: str):
        self.station, self.shots, self.tag, self.step = station, shots, tag, 0

    def shot(self, name: str) -> Path:
        self.step += 1
        path = self.shots / f"{self.tag}-{self.step:02d}-{name}.png"
        time.sleep(0.3)  # the frame after the change
        self.station.screenshot(path)
        return path

    def touch(self, state: dict[str, Any], text: str) -> None:
        """Touches the control a person reads as `text`, which must be wholly on the panel.
        One that shows only its top above the panel's lower edge (a list that scrolls) is
        first pushed up into view, as a person does."""
        s = self.station
        fresh = s.look()  # what shows now: an overlay lays itself out in the frames after it opens
        if fresh["screen"] == state["screen"]:
            state = fresh
        b = button(state, text)
        left, top, right, bottom = b["box"]
        pushes = 0
        while top < s.height < bottom and pushes < 3:  # again, if a push fell short
            # A push of less than a ScrollView's scroll distance is a tap (it would open the
            # tile); a person's push is longer than the few pixels a tile may lack.
            s.swipe_up(b["x"], (top + s.height) // 2, max(PUSH_PX, bottom - s.height + 16))
            pushes += 1
            time.sleep(1.0)  # the list glides on a little after the finger lifts
            state = s.look()
            b = button(state, text)
            left, top, right, bottom = b["box"]
        if pushes:
            self.shot(f"scrolled-to-{text[:12].lower().replace(' ', '-')}")
        assert min(left, top) >= 0 and right <= s.width and bottom <= s.height, (
            f"{text!r} on the {state['screen']} screen is not wholly on the "
            f"{s.width}x{s.height} panel: {b['box']}")
        s.tap_at(b["x"], b["y"])


@pytest.mark.parametrize(("panel", "text"), CASES, ids=[f"{p}-{t}" for p, t in CASES])
def test_a_whole_visit(tmp_path, screenshot_dir, sound_device: PulseFileDevice, panel, text):
    width, height, inches = PANELS[panel]
    shots = screenshot_dir / "visit"
    shots.mkdir(exist_ok=True)
    xvfb, display = start_xvfb(width, height)
    station = Station(tmp_path, display, sound_device.env(), width, height, inches)
    try:
        station.import_demo(write_pack(tmp_path / "pack"))
        station.start()
        v = Visit(station, shots, f"{panel}-{text}")
        state = station.wait(lambda s: s["screen"] == "attract" and not s["dialogs"], "the welcome screen")
        v.shot("welcome")
        station.tap_at(width // 2, height // 2)
        state = station.wait(on("browse", EXERCISE), "the exercise in browse")
        if text != "normal":
            v.touch(state, words("top.display"))
            state = station.wait(lambda s: s["dialogs"] and button(s, words(TEXT[text])), "text sizes")
            v.touch(state, words(TEXT[text]))
            v.shot("text-size")
            v.touch(station.look(), words("top.help_close"))
            state = station.wait(lambda s: s["screen"] == "browse" and not s["dialogs"], "browse again")
            state = station.wait(on("browse", EXERCISE), "the exercise in larger text")
        v.shot("browse")
        v.touch(state, EXERCISE)
        state = station.wait(on("exercise", words("exercise.listen")), "the exercise screen")
        v.shot("exercise")
        v.touch(state, words("exercise.listen"))
        station.wait(on("player", words("player.pause")), "the player playing")
        v.shot("player")
        # The whole exercise (10 s), untouched: the end card offers what comes next.
        state = station.wait(on("player", words("end.take_home")), "the end card", timeout=30)
        v.shot("end-card")
        v.touch(state, words("end.take_home"))
        state = station.wait(on("take_home", words("takehome.agree")), "the take-home consent")
        v.shot("consent")
        v.touch(state, words("takehome.agree"))
        station.wait(on("take_home", words("takehome.done")), "the take-home code")
        got = phone(read_qr(station, v.shot("code")))
        assert got > 10_000, "the phone downloaded the exercise"
        # Walk away: nobody touches anything until the station clears itself.
        station.wait(lambda s: s["screen"] == "attract" and not s["dialogs"], "the idle reset",
                     timeout=IDLE_SECONDS + STILL_THERE_SECONDS + 20, every=0.5)
        v.shot("welcome-again")
        station.check_alive()
    finally:
        errors = station.stop()
        xvfb.terminate()
        xvfb.wait(10)
    assert "Traceback" not in errors
