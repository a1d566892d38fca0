"""The console in real headless Chromium, as the practice manager uses it from the office
PC: sign in by typing the password, read the health and the usage, download the usage as a
spreadsheet, add an exercise from a recording and its PDF script and correct a passage of its
read-along, stop a take-home link and see the phone page say so. Screenshots of every page
at a desktop size and a tablet size: tests/screenshots/console-*.png."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
from pathlib import Path

import pytest

from kiosk.config import ConsoleSettings, default_settings
from kiosk.console.server import ConsoleServer
from kiosk.content import import_pack
from kiosk.content.catalogue import Catalogue
from kiosk.resources import DEMO_PACK
from kiosk.store import open_db
from kiosk.takehome import links
from kiosk.takehome.server import TakeHomeServer
from kiosk.usage import daily_counts, daily_csv, record
from tests.packfactory import write_pack
from tests.takehome.test_takehome_chromium import SCREENSHOTS, _wait, browser  # noqa: F401
from tests.takehome.test_takehome_chromium import pytestmark as chromium_marks

pytestmark = chromium_marks
PASSWORD = "a quiet garden path"
SIZES = {"desktop": (1280, 800), "tablet": (768, 1024)}


@pytest.fixture
def station(tmp_path: Path):
    from kiosk.therapist.pin import hash_pin

    stored = hash_pin(PASSWORD)
    config = tmp_path / "config.toml"
    config.write_text(f'[console]\nport = 8081\npassword_hash = "{stored}"\n')  # served on port 0
    settings = default_settings(tmp_path / "data", console=ConsoleSettings(port=0, password_hash=stored))
    settings = dataclasses.replace(settings, config_path=config,
                                   take_home=dataclasses.replace(settings.take_home, port=0,
                                                                 bind="127.0.0.1",
                                                                 public_address="127.0.0.1"))
    settings.data_dir.mkdir(parents=True)
    db = open_db(settings.db_path)
    now = dt.datetime.now(dt.UTC)
    for days_ago, kind in ((0, "play_started"), (0, "play_completed"), (1, "play_started"),
                           (3, "play_started"), (3, "link_issued")):
        record(db, kind, "safe-place", "en-GB", settings.station_name,
               at=now - dt.timedelta(days=days_ago))
    issued = links.issue_link(db, [("safe-place", "en-GB")], 7, 3, station=settings.station_name)
    import_pack(settings, db, write_pack(tmp_path / "pack"))
    db.close()
    console, phones = ConsoleServer(settings), TakeHomeServer(settings)
    console.start()
    phones.start()
    yield settings, console, phones, issued
    phones.stop()
    console.stop()


def shoot(browser, name: str) -> None:  # noqa: F811
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for size, (width, height) in SIZES.items():
        browser.set_window_size(width, height)
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                {"width": width, "height": height, "deviceScaleFactor": 1,
                                 "mobile": False})
        browser.save_screenshot(str(SCREENSHOTS / f"console-{name}-{size}.png"))
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width, (
            f"the {name} page is wider than a {size} screen")


def save_field(browser, field_id: str, text: str, answer: str) -> None:  # noqa: F811
    """Types `text` into one field of the page's form, saves, and waits for the answer."""
    from selenium.webdriver.common.by import By

    field = browser.find_element(By.ID, field_id)
    field.clear()
    field.send_keys(text)
    browser.find_element(By.XPATH, "//button[text()='Save']").click()
    assert _wait(lambda: answer in browser.page_source), browser.page_source[:3000]


def sign_in(browser, base: str) -> None:  # noqa: F811
    """Types the password into the sign-in page on show; the console opens on Health."""
    from selenium.webdriver.common.by import By

    field = browser.find_element(By.NAME, "password")
    field.send_keys(PASSWORD)
    field.submit()
    _wait(lambda: browser.current_url == base + "/health")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Health"


def add_an_exercise(browser, base: str, audio: Path, script: Path, title: str, summary: str,  # noqa: F811
                    shots: bool = False) -> None:
    """From the Add page, a recording and its script, until the review page that follows the
    import says the exercise is added; `shots`: the Add and working pages' screenshots too."""
    from selenium.webdriver.common.by import By

    browser.find_element(By.LINK_TEXT, "Add").click()
    _wait(lambda: browser.current_url == base + "/add")
    browser.find_element(By.ID, "audio").send_keys(str(audio))
    browser.find_element(By.ID, "script").send_keys(str(script))
    browser.find_element(By.ID, "title").send_keys(title)
    browser.find_element(By.ID, "summary").send_keys(summary)
    if shots:
        shoot(browser, "add")
    browser.find_element(By.XPATH, "//button[text()='Add the exercise']").click()
    if shots:
        # Aligning three minutes of speech takes seconds: the working page is seen meanwhile.
        assert _wait(lambda: "/add/" in browser.current_url
                     and re.search(r"[1-9]\d*%: timing the script", browser.page_source)), (
            browser.page_source[:3000])
        shoot(browser, "working")
    assert _wait(lambda: "/review" in browser.current_url, timeout=120), browser.page_source[:3000]
    assert f"“{title}” is added" in browser.page_source


def test_the_practice_managers_afternoon(browser, station, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    settings, console, phones, issued = station
    base = f"http://127.0.0.1:{console.port}"
    browser.get(base + "/")
    assert browser.current_url == base + "/login"
    shoot(browser, "sign-in")
    field = browser.find_element(By.NAME, "password")
    field.send_keys("wrong password")
    field.submit()
    assert _wait(lambda: "not right" in browser.page_source), browser.page_source[:3000]
    sign_in(browser, base)
    shoot(browser, "health")
    # HttpOnly: no script on the page can read the session.
    assert "kiosk_console" not in browser.execute_script("return document.cookie")

    browser.find_element(By.LINK_TEXT, "Usage").click()
    _wait(lambda: browser.current_url.startswith(base + "/usage"))
    browser.find_element(By.LINK_TEXT, "Last 7 days").click()
    _wait(lambda: "days=7" in browser.current_url)
    cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "tbody tr:first-child td")]
    assert cells == ["A safe place", "3", "1", "2", "0"]  # the link issued below counts too
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg rect")) == 7
    shoot(browser, "usage")

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow",
                                                         "downloadPath": str(downloads)})
    browser.find_element(By.PARTIAL_LINK_TEXT, "spreadsheet").click()
    got = _wait(lambda: [p for p in downloads.glob("*.csv")], timeout=20)
    assert got, "the CSV was not downloaded"
    time.sleep(0.3)
    db = open_db(settings.db_path)
    assert got[0].read_bytes().decode() == daily_csv(daily_counts(db, 7, dt.datetime.now(dt.UTC)))
    db.close()

    browser.find_element(By.LINK_TEXT, "Exercises").click()
    _wait(lambda: browser.current_url == base + "/exercises")
    shoot(browser, "exercises")
    row = browser.find_element(By.XPATH, "//tr[td[text()='Soothing rhythm breathing']]")
    assert "Offered to clients" in row.text
    row.find_element(By.XPATH, ".//button[text()='Hide']").click()
    _wait(lambda: "is hidden" in browser.page_source)
    row = browser.find_element(By.XPATH, "//tr[td[text()='Soothing rhythm breathing']]")
    assert "Hidden" in row.text
    shoot(browser, "exercises-hidden")
    db = open_db(settings.db_path)
    assert "soothing-breath" not in [c.exercise_id for c in Catalogue(db, settings.content_dir).cards("en-GB")]
    db.close()
    records = (settings.log_dir / "records.log")
    assert not records.exists() or "soothing-breath hidden" in records.read_text()

    row.find_element(By.LINK_TEXT, "Edit").click()
    _wait(lambda: browser.current_url == base + "/exercises/soothing-breath/edit")
    shoot(browser, "exercise-edit")
    save_field(browser, "en-GB.title", "Slow breathing", "is saved")
    assert browser.find_elements(By.XPATH, "//tr[td[text()='Slow breathing']]")

    add_an_exercise_and_correct_its_read_along(browser, base, settings)

    browser.find_element(By.LINK_TEXT, "Settings").click()
    _wait(lambda: browser.current_url == base + "/settings")
    shoot(browser, "settings")
    save_field(browser, "help.title", "Ask at the desk", "Saved")
    from kiosk.config import load_settings

    assert load_settings(settings.config_path).help.title == "Ask at the desk"

    browser.find_element(By.LINK_TEXT, "Take-home links").click()
    _wait(lambda: browser.current_url == base + "/links")
    assert issued.short_id in browser.page_source and issued.token not in browser.page_source
    shoot(browser, "links")
    browser.find_element(By.XPATH, "//button[text()='Stop this link']").click()
    _wait(lambda: "no longer works" in browser.page_source)
    shoot(browser, "links-revoked")

    browser.get(phones.url_for(issued.token))
    assert "no longer" in browser.page_source.lower() or "stopped" in browser.page_source.lower()

    browser.get(base + "/health")
    browser.find_element(By.XPATH, "//button[text()='Sign out']").click()
    _wait(lambda: "signed out" in browser.page_source)
    browser.get(base + "/usage")
    assert browser.current_url == base + "/login"


def add_an_exercise_and_correct_its_read_along(browser, base: str, settings) -> None:  # noqa: F811
    """From the Add page: the recording and its PDF script, the page that follows the import,
    then the review: play from a passage, correct one passage's start and words."""
    from selenium.webdriver.common.by import By

    three = DEMO_PACK / "three-breaths-check-in"
    add_an_exercise(browser, base, three / "en-GB.mp3", three / "en-GB.pdf", "Three breaths",
                    "A short check-in.", shots=True)
    rows = browser.find_elements(By.CSS_SELECTOR, "table.passages tbody tr")
    assert len(rows) == 11
    shoot(browser, "review")

    # "Play from here": the page's player jumps to the passage (the audio is served in ranges).
    link = rows[5].find_element(By.CSS_SELECTOR, "a.play")
    start = float(link.get_attribute("data-start"))
    link.click()
    assert _wait(lambda: abs(browser.execute_script(
        "return document.getElementById('player').currentTime") - start) < 1.0), start

    row = rows[3]
    row.find_element(By.TAG_NAME, "summary").click()
    field = row.find_element(By.NAME, "start")
    old = field.get_attribute("value")
    field.clear()
    field.send_keys("9:00.0")  # past the end: refused, with the reason
    row.find_element(By.XPATH, ".//button[text()='Save this passage']").click()
    assert _wait(lambda: "after the end of the recording" in browser.page_source), browser.page_source[:3000]
    in_view = ("var r = arguments[0].getBoundingClientRect();"
               "return r.top >= 0 && r.bottom <= window.innerHeight;")
    said = browser.find_element(By.CSS_SELECTOR, "#p4 .problems")
    assert browser.execute_script(in_view, said), "the reason is where the page landed"
    shoot(browser, "review-refused")
    row = browser.find_element(By.ID, "p4")
    field = row.find_element(By.NAME, "start")
    assert row.find_element(By.TAG_NAME, "details").get_attribute("open") is not None
    field.clear()
    field.send_keys(old)
    words = row.find_element(By.NAME, "text")
    words.clear()
    words.send_keys("Breathe in slowly, and let it go.")
    row.find_element(By.XPATH, ".//button[text()='Save this passage']").click()
    assert _wait(lambda: "Passage 4 is saved" in browser.page_source), browser.page_source[:3000]
    assert "Breathe in slowly, and let it go." in browser.find_element(By.ID, "p4").text
    assert browser.execute_script(in_view, browser.find_element(By.CSS_SELECTOR, "#p4 .notice"))
    shoot(browser, "review-saved")
    db = open_db(settings.db_path)
    variant = Catalogue(db, settings.content_dir).variant("three-breaths", "en-GB")
    db.close()
    assert variant is not None and variant.cues[3].text == "Breathe in slowly, and let it go."

    browser.find_element(By.LINK_TEXT, "Exercises").click()
    _wait(lambda: browser.current_url == base + "/exercises")
    assert browser.find_elements(By.XPATH, "//tr[td[text()='Three breaths']]")
