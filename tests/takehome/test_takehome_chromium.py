"""The phone page in real headless Chromium (Debian's), driven by chromedriver through Selenium."""

from __future__ import annotations

import base64
import os
import shutil
import time
from pathlib import Path

import pytest

from kiosk.takehome.delivery import byte_budget

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (Path(CHROMIUM).exists() and shutil.which(CHROMEDRIVER)),
                       reason="chromium and chromium-driver (apt) are not installed"),
]


@pytest.fixture
def browser(tmp_path: Path):
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium must never fetch a driver or browser
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required",
                 f"--user-data-dir={tmp_path / 'profile'}", "--window-size=390,844"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _wait(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_phone_page_in_chromium(browser, harness, content, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    issued = harness.issue([("soothing-rhythm", "en-GB"), ("safe-place", "en-GB")])
    url = harness.server.url_for(issued.token)
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    browser.get(url)
    assert browser.title == "Your take-home exercises"

    # the inline style was allowed by the CSP hash (else the background would be white)
    background = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(245, 243, 238)"
    # readable at phone width: nothing wider than the screen
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "takehome-phone-390x844.png"))
    height = browser.execute_script("return document.documentElement.scrollHeight")
    full = browser.execute_cdp_cmd("Page.captureScreenshot", {
        "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": 390, "height": height, "scale": 1},
    })
    (SCREENSHOTS / "takehome-phone-full.png").write_bytes(base64.b64decode(full["data"]))

    audios = browser.find_elements(By.TAG_NAME, "audio")
    assert len(audios) == 2 and all(a.get_attribute("controls") is not None for a in audios)
    # the player reads the file's metadata through the inline (not counted) route
    duration = _wait(lambda: browser.execute_script("return arguments[0].duration", audios[0]) or None)
    expected = content.variant("soothing-rhythm", "en-GB").duration_seconds
    assert duration and abs(duration - expected) < 2

    # the download button fetches the MP3
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior",
                            {"behavior": "allow", "downloadPath": str(downloads)})
    link = browser.find_element(By.PARTIAL_LINK_TEXT, "Download audio")
    assert link.get_attribute("href").endswith(f"/t/{issued.token}/audio/1")
    link.click()
    target = downloads / "soothing-rhythm-en-GB.mp3"
    assert _wait(lambda: target.exists() and not list(downloads.glob("*.crdownload")), 20)
    assert target.read_bytes() == content.variant("soothing-rhythm", "en-GB").audio_path.read_bytes()

    # the script's own words, on the page (issue 17: a client at home without the PDF)
    first = content.variant("soothing-rhythm", "en-GB").cues[0].text
    script = browser.find_elements(By.CSS_SELECTOR, "details.script")[0]
    assert not script.find_element(By.TAG_NAME, "p").is_displayed()  # closed until asked
    script.find_element(By.TAG_NAME, "summary").click()
    assert _wait(lambda: script.find_element(By.TAG_NAME, "p").is_displayed())
    assert script.find_element(By.TAG_NAME, "p").text == first
    browser.save_screenshot(str(SCREENSHOTS / "takehome-phone-script-open.png"))

    problems = [e["message"] for e in browser.get_log("browser")
                if e["level"] in ("SEVERE", "WARNING") and "favicon" not in e["message"]]
    assert problems == []


def test_narrow_320_and_gone_page(browser, harness) -> None:
    issued = harness.issue([("safe-place", "en-GB")])
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 320, "height": 640, "deviceScaleFactor": 1, "mobile": True})
    browser.get(harness.server.url_for(issued.token))
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 320
    harness.clock.advance(days=30)
    browser.get(harness.server.url_for(issued.token))
    assert browser.find_element("tag name", "h1").text == "This link has expired"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "takehome-expired-320.png"))


def test_play_then_download_fits_a_one_download_link(browser, harness, content, tmp_path: Path) -> None:
    """Issue 16: the allowance covers how a real browser plays audio. On a link allowing one
    download, Chromium plays the file on the page (seeking about, as a listener does) and the
    download that follows still arrives whole; a second download is then refused."""
    issued = harness.issue([("safe-place", "en-GB")], downloads=1)
    size = content.variant("safe-place", "en-GB").audio_path.stat().st_size
    browser.get(harness.server.url_for(issued.token))
    audio = browser.find_element("tag name", "audio")
    browser.execute_script("arguments[0].muted = true; arguments[0].playbackRate = 4;"
                           " arguments[0].play();", audio)
    assert _wait(lambda: browser.execute_script("return arguments[0].currentTime", audio) > 1)
    # jump ahead and back, as a listener finding their place does (each a range request)
    for fraction in (0.6, 0.2, 0.9):
        browser.execute_script("const a = arguments[0]; a.currentTime = a.duration * arguments[1];",
                               audio, fraction)
        time.sleep(0.5)
    assert _wait(lambda: browser.execute_script("return arguments[0].ended", audio), 30)

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior",
                            {"behavior": "allow", "downloadPath": str(downloads)})
    browser.find_element("partial link text", "Download audio").click()
    target = downloads / "safe-place-en-GB.mp3"
    assert _wait(lambda: target.exists() and not list(downloads.glob("*.crdownload")), 20)
    assert target.read_bytes() == content.variant("safe-place", "en-GB").audio_path.read_bytes()

    # (read from the table: a used-up link no longer resolves to a live view)
    completed, delivered = harness.db.execute(
        "SELECT completed, delivered_bytes FROM link_downloads WHERE kind = 'audio'").fetchone()
    assert completed == 1
    # played and downloaded: within the allowance of (1 + 2) copies
    assert size <= delivered <= byte_budget(1, size)
    status, _, _ = harness.request(harness.path(issued.token, "/audio/1"))
    assert status == 410
