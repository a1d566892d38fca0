"""The clinic console and the station's screen, end to end: the real station (`kiosk run`, with
its console on, on its own X screen) while the practice manager, in headless Chromium, changes
the "Need help now?" words and adds an exercise from a recording and its PDF script. Nobody
restarts anything: the help button must show the new words, and browse, entered again, the
new exercise. The station's buttons and their words come from bench/soak_station.py's
read-only look, as in test_visit_every_panel; touches are xdotool's.
Against the same running station: a passage corrected on the review page is what `kiosk cues`
prints, the usage spreadsheet has `kiosk stats --csv`'s columns, and a take-home link issued
with `kiosk link` and stopped on the console tells the phone so.
Screenshots of the station's screen: tests/screenshots/e2e-console-*.png; of the console's
Exercises page: tests/screenshots/console/."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from bench.soak import IDLE_SECONDS, Station, free_port, has, on, start_xvfb
from kiosk.config import HelpSettings
from kiosk.content import parse_vtt
from kiosk.resources import DEMO_PACK
from kiosk.therapist.pin import hash_pin
from tests.audio_device import PulseFileDevice, tools_available
from tests.console.test_console_add import UNSPOKEN
from tests.console.test_console_chromium import (
    PASSWORD,
    SIZES,
    add_an_exercise,
    save_field,
    sign_in,
)
from tests.e2e.helpers import wait_for_log
from tests.e2e.test_visit_every_panel import EXERCISE, button, words
from tests.packfactory import write_pack
from tests.takehome.test_takehome_chromium import SCREENSHOTS, _wait, browser  # noqa: F401
from tests.takehome.test_takehome_chromium import pytestmark as chromium_marks

pytestmark = [*chromium_marks, pytest.mark.ui, pytest.mark.audio]

BEFORE, HELP = HelpSettings().title, "Ask us at the desk"  # the words shipped, the clinic's
ADDED = "Three breaths at the desk"


@pytest.fixture(scope="module")
def running(tmp_path_factory) -> Iterator[tuple[Station, str]]:
    """One station for the module's tests (starting one takes a while): `kiosk run` with its
    console on, over the test pack; and the console's address."""
    why = tools_available()
    if why:
        pytest.skip(why)
    tmp = tmp_path_factory.mktemp("console-station")
    device = PulseFileDevice(tmp / "device")
    device.start()
    xvfb, display = start_xvfb()
    station = Station(tmp, display, device.env())
    port = free_port()
    # The bench's idle reset (10 s) would clear the station while the console works; the
    # visitor here waits at the exercise screen meanwhile.
    text = station.config.read_text(encoding="utf-8")
    assert f"idle_timeout_seconds = {IDLE_SECONDS}\n" in text
    station.config.write_text(
        text.replace(f"idle_timeout_seconds = {IDLE_SECONDS}\n", "idle_timeout_seconds = 600\n")
        + f'[console]\nenabled = true\nbind = "127.0.0.1"\nport = {port}\n'
        f'password_hash = "{hash_pin(PASSWORD)}"\n', encoding="utf-8")
    errors = ""
    try:
        station.import_demo(write_pack(tmp / "pack"))
        station.start()
        assert station.proc is not None
        wait_for_log(station.settings.log_dir / "kiosk.log",
                     f"clinic console listening on 127.0.0.1:{port}", station.proc)
        yield station, f"http://127.0.0.1:{port}"
        station.check_alive()
    finally:
        errors = station.stop()
        xvfb.terminate()
        xvfb.wait(10)
        device.stop()
    assert "Traceback" not in errors


def kiosk(station: Station, *args: str) -> str:
    """A `kiosk` command against the running station's config and data folder."""
    done = subprocess.run([*station.kiosk, *args], env=station.env, cwd=station.tmp,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_what_the_console_changes_shows_on_the_station(running, screenshot_dir, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    station, base = running
    assert station.proc is not None
    log = station.settings.log_dir / "kiosk.log"

    def shot(name: str) -> None:
        time.sleep(0.3)  # the frame after the change
        station.screenshot(screenshot_dir / f"e2e-console-{name}.png")

    state = station.wait(lambda s: s["screen"] == "attract" and not s["dialogs"], "the welcome screen")
    assert button(state, BEFORE)  # the words from before, the station's own
    station.tap_at(station.width // 2, station.height // 2)
    state = station.wait(on("browse", EXERCISE), "the exercise in browse")
    assert not has(ADDED)(state)
    shot("1-browse-before")
    station.tap(state, EXERCISE)  # away from browse, to come back to it
    station.wait(on("exercise", words("exercise.listen")), "the exercise screen")

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


def test_a_start_corrected_on_the_review_page_is_what_kiosk_cues_prints(running, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    station, base = running
    before = kiosk(station, "cues", "soothing-breath", "--lang", "en-GB")
    assert "00:00:03.500 -->" in before  # the test pack's second passage, as shipped
    browser.get(base + "/")
    sign_in(browser, base)
    browser.get(base + "/exercises/soothing-breath/review?lang=en-GB")
    row = browser.find_element(By.ID, "p2")
    assert "as the pack gives it" in row.text
    row.find_element(By.TAG_NAME, "summary").click()
    field = row.find_element(By.NAME, "start")
    field.clear()
    field.send_keys("0:04.2")
    row.find_element(By.XPATH, ".//button[text()='Save this passage']").click()
    assert _wait(lambda: "Passage 2 is saved" in browser.page_source), browser.page_source[:3000]
    assert "corrected by hand" in browser.find_element(By.ID, "p2").text
    assert "as the pack gives it" in browser.find_element(By.ID, "p3").text
    printed = kiosk(station, "cues", "soothing-breath", "--lang", "en-GB")
    assert "00:00:04.200 -->" in printed and "00:00:03.500" not in printed, printed
    # The passage before ends where the corrected one starts no later than it.
    assert "00:00:00.000 --> 00:00:03.000" in printed


def test_the_usage_spreadsheet_has_kiosk_stats_columns(running, browser):  # noqa: F811
    station, base = running
    browser.get(base + "/")
    sign_in(browser, base)
    cookie = browser.get_cookie("kiosk_console")
    assert cookie is not None
    request = urllib.request.Request(base + "/usage.csv?days=7",
                                     headers={"Cookie": f"kiosk_console={cookie['value']}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.headers["Content-Type"].startswith("text/csv")
        assert "attachment" in answer.headers["Content-Disposition"]
        sheet = answer.read().decode("utf-8")
    stats = kiosk(station, "stats", "--days", "7", "--csv")
    assert sheet.splitlines()[0] == stats.splitlines()[0], (sheet[:300], stats[:300])
    assert sheet.splitlines() == stats.splitlines()  # nothing was played between the two


def test_a_link_stopped_on_the_console_tells_the_phone(running, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    station, base = running
    printed = kiosk(station, "link", "safe-place", "--lang", "en-GB")
    url = printed.strip().splitlines()[-1]
    short_id = printed.split()[2]  # "Take-home link <short id> (en-GB), ..."
    assert url.startswith(f"http://127.0.0.1:{station.port}/t/"), printed
    with urllib.request.urlopen(url, timeout=30) as answer:
        assert answer.status == 200 and "A safe place" in answer.read().decode("utf-8")

    browser.get(base + "/")
    sign_in(browser, base)
    browser.find_element(By.LINK_TEXT, "Take-home links").click()
    _wait(lambda: browser.current_url == base + "/links")
    row = browser.find_element(By.XPATH, f"//tr[td[text()='{short_id}']]")
    row.find_element(By.XPATH, ".//button[text()='Stop this link']").click()
    assert _wait(lambda: f"Link {short_id} no longer works" in browser.page_source), browser.page_source[:3000]
    assert not browser.find_elements(By.XPATH, f"//tr[td[text()='{short_id}']]")

    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            status, page = answer.status, answer.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        status, page = exc.code, exc.read().decode("utf-8")
    assert status == 410, status
    assert "This link is no longer active" in page and "A safe place" not in page


def test_the_exercises_page_at_a_desk_and_on_a_tablet(running, browser, tmp_path):  # noqa: F811
    """What the practice manager reads of each exercise, with one of each kind of read-along
    added by `kiosk add`: one passage the narrator skipped, a language the station cannot
    time, no script at all. The screenshots are looked at."""
    from selenium.webdriver.common.by import By

    station, base = running
    three = DEMO_PACK / "three-breaths-check-in"
    texts = [c.text for c in parse_vtt((three / "en-GB.vtt").read_text(encoding="utf-8"))]
    skipped = tmp_path / "skipped.txt"
    skipped.write_text("\n\n".join([*texts[:5], UNSPOKEN, *texts[5:]]), encoding="utf-8")
    plain = tmp_path / "plain.txt"
    plain.write_text("\n\n".join(texts), encoding="utf-8")
    for title, more in (("One line skipped", ["--script", str(skipped)]),
                        ("Not timed", ["--script", str(plain), "--lang", "cy-GB"]),
                        ("No script", [])):
        kiosk(station, "add", str(three / "en-GB.mp3"), "--title", title, "--summary", "Added here.", *more)
    browser.get(base + "/")
    sign_in(browser, base)
    browser.find_element(By.LINK_TEXT, "Exercises").click()
    _wait(lambda: browser.current_url == base + "/exercises")

    def told(title: str) -> str:
        return browser.find_element(By.XPATH, f"//tr[td[text()='{title}']]").text

    assert "English (UK): 1 min, loudness " in told("Soothing rhythm breathing")
    assert "Read-along: timed Review" in told("Soothing rhythm breathing")
    assert re.search(r"Read-along: timed, \d+ passages? uncertain", told("One line skipped"))
    assert "Read-along: none (script not timed)" in told("Not timed")
    assert "3 min, loudness -" in told("No script") and "Read-along: none (no script)" in told("No script")
    assert "Review" not in told("No script")
    folder = SCREENSHOTS / "console"
    folder.mkdir(parents=True, exist_ok=True)
    for width, height in SIZES.values():
        browser.set_window_size(width, height)
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                {"width": width, "height": height, "deviceScaleFactor": 1,
                                 "mobile": False})
        browser.save_screenshot(str(folder / f"exercises-{width}x{height}.png"))
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width
