"""The clinic console and the station's screen, end to end: the real station (`kiosk run`, with
its console on, on its own X screen) while the practice manager, in headless Chromium, changes
the "Need help now?" words and adds an exercise from a recording and its PDF script. Nobody
restarts anything: the help button must show the new words, and browse, entered again, the
new exercise. The station's buttons and their words come from bench/soak_station.py's
read-only look, as in test_visit_every_panel; touches are xdotool's.
Screenshots of the station's screen: tests/screenshots/e2e-console-*.png."""

from __future__ import annotations

import time

import pytest

from bench.soak import IDLE_SECONDS, Station, free_port, has, on, start_xvfb
from kiosk.config import HelpSettings
from kiosk.resources import DEMO_PACK
from kiosk.therapist.pin import hash_pin
from tests.audio_device import PulseFileDevice
from tests.console.test_console_chromium import PASSWORD, add_an_exercise, save_field, sign_in
from tests.e2e.helpers import wait_for_log
from tests.e2e.test_visit_every_panel import EXERCISE, button, words
from tests.packfactory import write_pack
from tests.takehome.test_takehome_chromium import _wait, browser  # noqa: F401
from tests.takehome.test_takehome_chromium import pytestmark as chromium_marks

pytestmark = [*chromium_marks, pytest.mark.ui, pytest.mark.audio]

BEFORE, HELP = HelpSettings().title, "Ask us at the desk"  # the words shipped, the clinic's
ADDED = "Three breaths at the desk"


def test_what_the_console_changes_shows_on_the_station(tmp_path, screenshot_dir, browser,  # noqa: F811
                                                       sound_device: PulseFileDevice):
    from selenium.webdriver.common.by import By

    xvfb, display = start_xvfb()
    station = Station(tmp_path, display, sound_device.env())
    port = free_port()
    # The bench's idle reset (10 s) would clear the station while the console works; the
    # visitor here waits at the exercise screen meanwhile.
    text = station.config.read_text(encoding="utf-8")
    assert f"idle_timeout_seconds = {IDLE_SECONDS}\n" in text
    station.config.write_text(
        text.replace(f"idle_timeout_seconds = {IDLE_SECONDS}\n", "idle_timeout_seconds = 600\n")
        + f'[console]\nenabled = true\nbind = "127.0.0.1"\nport = {port}\n'
        f'password_hash = "{hash_pin(PASSWORD)}"\n', encoding="utf-8")
    log = station.settings.log_dir / "kiosk.log"

    def shot(name: str) -> None:
        time.sleep(0.3)  # the frame after the change
        station.screenshot(screenshot_dir / f"e2e-console-{name}.png")

    try:
        station.import_demo(write_pack(tmp_path / "pack"))
        station.start()
        assert station.proc is not None
        wait_for_log(log, f"clinic console listening on 127.0.0.1:{port}", station.proc)
        state = station.wait(lambda s: s["screen"] == "attract" and not s["dialogs"], "the welcome screen")
        assert button(state, BEFORE)  # the words from before, the station's own
        station.tap_at(station.width // 2, station.height // 2)
        state = station.wait(on("browse", EXERCISE), "the exercise in browse")
        assert not has(ADDED)(state)
        shot("1-browse-before")
        station.tap(state, EXERCISE)  # away from browse, to come back to it
        station.wait(on("exercise", words("exercise.listen")), "the exercise screen")

        base = f"http://127.0.0.1:{port}"
        browser.get(base + "/")
        sign_in(browser, base)
        browser.find_element(By.LINK_TEXT, "Settings").click()
        _wait(lambda: browser.current_url == base + "/settings")
        save_field(browser, "help.title", HELP, "Saved")
        three = DEMO_PACK / "three-breaths-check-in"
        add_an_exercise(browser, base, three / "en-GB.mp3", three / "en-GB.pdf", ADDED,
                        "A short check-in, added from the console.")

        # config.toml is looked at every few seconds; the help button changes where it stands.
        wait_for_log(log, "config.toml changed: the station now uses its new help words",
                     station.proc, seconds=20)
        state = station.wait(on("exercise", HELP), "the new help words on the exercise screen")
        assert not has(BEFORE)(state)
        shot("2-exercise-new-help")
        station.tap(state, words("top.back"))
        state = station.wait(on("browse", EXERCISE, ADDED, HELP), "the added exercise in browse")
        shot("3-browse-after")
        station.tap(state, HELP)
        station.wait(lambda s: bool(s["dialogs"]), "the help dialog")
        shot("4-help-dialog")
        station.check_alive()
    finally:
        errors = station.stop()
        xvfb.terminate()
        xvfb.wait(10)
    assert "Traceback" not in errors
