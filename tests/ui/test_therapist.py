"""Therapist mode by touches on a real window: the hidden corner, the PIN pad (wrong PIN,
lockout), the panel (every exercise with therapist-only marked, favourites, Start into the
player, presentation), a bundle of two behind one QR code read back from a screenshot and
fetched from the real take-home server, revoking it (410), usage, Lock, auto-lock and the
way out to the desktop."""

from __future__ import annotations

import dataclasses
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kiosk.config import TherapistSettings
from tests.ui.driver import StationDriver
from tests.ui.fakes import DEMO, FakeBackend, FakeExerciseSpec
from tests.ui.helpers import decode_qr

pytestmark = pytest.mark.ui

PIN = "470913"
HOLD = 0.4  # the corner's hold, shortened (the 3 s is used once, in test_unlock_and_start)

THERAPIST_ONLY = FakeExerciseSpec(
    "fear-ladder", {"en-GB": "Climbing the fear ladder", "en-US": "Climbing the Fear Ladder"},
    "A graded exposure script for use in session.",
    "For therapists: a graded exposure script to go through together.",
    ("grounding",), 360.0, visibility="therapist")


@pytest.fixture(scope="module")
def pin_hash() -> str:
    from kiosk.therapist.pin import hash_pin

    return hash_pin(PIN)  # slow (scrypt): once per module


@pytest.fixture
def therapist_settings(ui_settings, pin_hash):
    return dataclasses.replace(ui_settings, therapist=TherapistSettings(pin_hash=pin_hash, auto_lock_minutes=5))


@pytest.fixture
def station(launch, therapist_settings, tmp_path) -> StationDriver:
    def backend(services: Any) -> FakeBackend:
        return FakeBackend(therapist_settings, exercises=[*DEMO, THERAPIST_ONLY],
                           services=services)

    return launch(settings=therapist_settings, backend_factory=backend)


def hold_corner(s: StationDriver, screen: str, seconds: float | None = None) -> None:
    from kivy.tests.common import UnitTestTouch

    corner = s.ids(screen).corner
    if seconds is None:
        corner.hold_seconds = HOLD
    x, y = corner.to_window(*corner.center)
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    s.pump(corner.hold_seconds + 0.3)
    touch.touch_up()
    s.pump(0.1)


def type_pin(s: StationDriver, pin: str) -> None:
    pad = s.get("pin")
    for digit in pin:
        s.tap(pad.key_button(digit))
    s.tap(pad.key_button("ok"))


def unlock(s: StationDriver, screen: str = "attract") -> None:
    hold_corner(s, screen)
    s.on("pin")
    type_pin(s, PIN)
    s.on("therapist", timeout=10)
    panel = s.get("therapist")
    s.wait_for(lambda: len(panel.row_ids()) == len(DEMO) + 1, what="every exercise in the panel")


def test_gesture_without_a_pin_says_not_set_up(launch):
    s = launch()  # the default settings: no PIN set
    hold_corner(s, "attract")
    s.wait_for(lambda: s.app.banner.shown, what="the banner")
    assert "kiosk set-pin" in s.app.banner.ids.message.text
    assert s.screen == "attract" and not s.app.therapist_active


def test_unlock_and_start(station):
    s, app = station, station.app
    # The real hold, once: three seconds on the browse screen's corner.
    s.tap_at(640, 400)
    s.on("browse")
    hold_corner(s, "browse", seconds=3.0)
    s.on("pin")
    pad = s.get("pin")
    for digit in "1234":
        s.tap(pad.key_button(digit))
    assert pad.entered == "1234"
    s.tap(pad.key_button("delete"))
    assert pad.entered == "123"
    s.screenshot("therapist-pin-pad")
    s.tap(pad.key_button("ok"))
    assert pad.status == "checking" and pad.entered == ""
    s.wait_for(lambda: pad.status == "wrong", timeout=10, what="the wrong-PIN message")
    assert "not right" in pad.ids.message.text
    assert not app.therapist_active

    type_pin(s, PIN)
    s.on("therapist", timeout=10)
    assert app.therapist_active
    panel = s.get("therapist")
    s.wait_for(lambda: len(panel.row_ids()) == len(DEMO) + 1, what="every exercise, therapist-only too")
    row = panel.row(THERAPIST_ONLY.id)
    assert row.therapist_only and "Therapist only" in row.ids.marker.text
    assert not panel.row("soothing-breath").therapist_only

    # Search with the on-screen keys finds the therapist-only exercise too.
    s.tap(panel.ids.search_field)
    for char in "fear":
        s.tap(panel.ids.keyboard.key_button(char))
    s.wait_for(lambda: panel.row_ids() == [THERAPIST_ONLY.id], what="the search result")
    s.tap(panel.ids.keyboard.key_button("done"))
    s.tap(panel.ids.clear_search)
    s.wait_for(lambda: len(panel.row_ids()) == len(DEMO) + 1, what="every exercise again")

    # A star pins an exercise to the top, the next time the list is made: at the touch
    # nothing moves under the finger.
    order = panel.row_ids()
    assert order[0] != "soothing-breath"
    s.tap(panel.row("soothing-breath").ids.star)
    s.wait_for(lambda: panel.row("soothing-breath").favourite, what="the star filled")
    s.pump(0.3)
    assert panel.row_ids() == order, "the list re-sorted under the finger"
    panel.refresh()  # as on coming back to the list, or a new search
    s.wait_for(lambda: panel.row_ids()[0] == "soothing-breath", what="the favourite at the top")
    assert panel.row("soothing-breath").favourite
    s.screenshot("therapist-panel")

    # Start in en-US: the player at once, playing that language's variant.
    s.tap(panel.language_button("en-US"))
    s.wait_for(lambda: panel.row("compassionate-other").title == "Your Compassionate Other", what="en-US titles")
    s.tap(lambda: panel.row("compassionate-other").ids.start)
    s.on("player")
    s.wait_for(lambda: app.playback.playing, what="playback")
    assert app.exercise.variant.lang == "en-US"
    assert Path(s.backend.player.path) == Path(app.exercise.variant.playback_path)

    # Presentation: the script large, the controls still at hand.
    player = s.ids("player")
    assert not player.presentation.hidden
    before = player.script.passages[0].font_size
    s.tap(player.presentation)
    s.wait_for(lambda: app.presentation and player.script.passages[0].font_size > before * 1.5,
               what="the big script")
    s.pump(0.5)
    s.screenshot("therapist-presentation")
    s.tap(player.play_pause)
    s.wait_for(lambda: not app.playback.playing, what="paused from the presentation view")
    s.tap(player.top.ids.back)
    s.on("therapist")
    assert not app.presentation


def test_bundle_revoke_usage_and_lock(station):
    s, app = station, station.app
    unlock(s)
    panel = s.get("therapist")
    first, second = "compassionate-other", THERAPIST_ONLY.id
    s.tap(panel.row(first).ids.select)
    s.tap(panel.row(second).ids.select)
    assert list(panel.chosen) == [first, second]
    s.tap(panel.ids.tab_bundle)
    s.tap(panel.expiry_button(7))
    assert panel.expiry_days == 7
    s.tap(panel.ids.show_qr)
    s.wait_for(lambda: panel.bundle_stage == "code", what="the bundle's code")
    shot = s.screenshot("therapist-bundle-qr")
    decoded = decode_qr(shot)
    assert decoded == [panel.code.url]
    url = decoded[0]
    assert url.startswith(f"http://127.0.0.1:{app.settings.take_home.port}/t/")
    assert "Works until" in panel.ids.valid_until.text
    with urllib.request.urlopen(url, timeout=10) as response:
        page = response.read().decode()
    assert "Your compassionate other" in page and "Climbing the fear ladder" in page

    # Live links: the bundle is there with both titles; revoke it and the link is gone.
    s.tap(panel.ids.tab_links)
    s.wait_for(lambda: len(panel.links) == 1, what="the live link")
    link = panel.links[0]
    row = panel.link_row(link.short_id)
    assert "Your compassionate other" in row.titles and "Climbing the fear ladder" in row.titles
    assert row.issued.startswith("Issued today at ") and row.issued in row.ids.words.text
    s.screenshot("therapist-live-links")
    # Revoke waits for an Undo: the link still works until it is taken back or the time is up.
    panel.undo_seconds = 1.5
    s.tap(row.ids.revoke)
    s.wait_for(lambda: row.revoking_in > 0, what="the undo countdown")
    assert "Stops working in" in row.ids.words.text and row.ids.revoke.text == "Undo"
    s.screenshot("therapist-revoke-undo")
    s.tap(row.ids.revoke)
    assert row.revoking_in == 0 and row.ids.revoke.text == "Revoke"
    s.pump(2.0)
    assert len(panel.links) == 1
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
    s.tap(row.ids.revoke)
    s.wait_for(lambda: not panel.links, what="the link revoked")
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(url, timeout=10)
    assert gone.value.code == 410

    # Usage: the bundle counted one link for each of its exercises.
    s.tap(panel.ids.tab_usage)
    s.wait_for(lambda: panel.usage_numbers(first) != [], what="the usage counts")
    assert panel.usage_numbers(first)[2] == 1 and panel.usage_numbers(first)[6] == 1
    assert panel.usage_numbers(second)[2] == 1
    s.screenshot("therapist-usage")

    # Lock: attract, nothing of the session kept, and the panel needs the PIN again.
    s.tap(panel.ids.lock)
    s.on("attract")
    assert not app.therapist_active
    assert not panel.chosen and panel.code is None and not panel.cards
    hold_corner(s, "attract")
    s.on("pin")
    assert s.get("pin").entered == ""
    s.tap(s.get("pin").ids.cancel)
    s.on("attract")
    assert not app.therapist_active


def test_auto_lock_governs_in_session(station):
    s, app = station, station.app
    unlock(s)
    # The client's idle reset would ask "Still there?" within a second; in therapist mode it
    # does not, and the auto-lock (shortened here) locks the panel instead.
    app.idle.quiet_seconds, app.idle.countdown_seconds = 0.3, 0.3
    s.pump(1.2)
    assert s.screen == "therapist" and app.therapist_active
    assert app._still_there is None or app._still_there.parent is None
    app.auto_lock.seconds = 0.5
    s.on("attract", timeout=5)
    assert not app.therapist_active


def test_locked_pad_counts_down_and_refuses_digits(station):
    s = station
    hold_corner(s, "attract")
    s.on("pin")
    pad = s.get("pin")
    for _ in range(5):
        type_pin(s, "111111")
        s.wait_for(lambda: pad.status in ("wrong", "locked"), timeout=10, what="the answer")
    assert pad.status == "locked"
    words = pad.ids.message.text
    assert "Too many wrong PINs" in words and ("1:00" in words or "0:5" in words), words
    s.screenshot("therapist-pin-locked")
    first = pad.seconds_left
    s.pump(1.2)
    assert pad.seconds_left < first
    pad.press("1")
    assert pad.entered == ""


def test_leave_the_station_asks_first(station, monkeypatch):
    s, app = station, station.app
    stopped: list[bool] = []
    monkeypatch.setattr(app, "stop", lambda *a: stopped.append(True))
    unlock(s)
    s.tap(s.get("therapist").ids.leave)
    s.wait_for(lambda: app._leave_dialog is not None and app._leave_dialog.parent is not None, what="the question")
    s.tap(app._leave_dialog.ids.cancel)
    assert not stopped and s.screen == "therapist"
    # The question fades out; a touch during the fade belongs to it, not to the panel.
    s.wait_for(lambda: app._leave_dialog is None or app._leave_dialog.parent is None, what="the question gone")
    s.tap(s.get("therapist").ids.leave)
    s.wait_for(lambda: app._leave_dialog.parent is not None, what="the question again")
    s.tap(app._leave_dialog.ids.confirm)
    assert stopped == [True]


def start_from_panel(s: StationDriver, exercise_id: str = "compassionate-other") -> Any:
    panel = s.get("therapist")
    s.tap(lambda: panel.row(exercise_id).ids.start)
    s.on("player")
    s.wait_for(lambda: s.app.playback.playing, what="playback")
    strip = s.app._therapist_strip
    s.wait_for(lambda: strip.get_root_window() is not None and strip.ids.hand_over.width > 0,
               what="the therapist strip over the player")
    return strip


def test_hand_to_client_locks_and_keeps_playing(station):
    s, app = station, station.app
    unlock(s)
    strip = app._therapist_strip
    assert strip.get_root_window() is None  # the panel says "Therapist mode" in its own bar
    start_from_panel(s)
    player = s.ids("player")
    top = player.top
    # The strip has its own room: nothing of the player is under it.
    assert top.to_window(top.x, top.top)[1] <= strip.to_window(strip.x, strip.y)[1] + 1
    assert "Therapist mode" in strip.ids.lock_chip.text
    s.screenshot("therapist-strip-player")

    s.tap(strip.ids.hand_over)
    s.wait_for(lambda: strip.get_root_window() is None, what="the strip gone")
    assert not app.therapist_active and s.screen == "player"
    assert app.playback.playing, "the client's exercise carries on"
    assert player.presentation.hidden
    panel = s.get("therapist")
    assert not panel.cards and panel.lang == ""  # the panel forgot the session
    s.screenshot("therapist-handed-over")

    # The client's Back: the exercise's own page, then the public list; never the panel.
    s.tap(player.top.ids.back)
    s.on("exercise")
    assert not app.therapist_active
    s.tap(s.ids("exercise").top.ids.back)
    s.on("browse")
    browse = s.get("browse")
    s.wait_for(lambda: bool(browse.cards), what="the public list")
    assert THERAPIST_ONLY.id not in [c.id for c in browse.cards]


def test_chip_locks_from_the_player(station):
    s, app = station, station.app
    unlock(s)
    strip = start_from_panel(s)
    s.tap(strip.ids.lock_chip)
    s.on("attract")
    assert not app.therapist_active and not app.playback.playing
    assert strip.get_root_window() is None and app.exercise is None


def test_strip_on_the_7_inch_panel(launch, therapist_settings):
    s = launch(settings=therapist_settings, window_size=(800, 480),
               backend_factory=lambda services: FakeBackend(
                   therapist_settings, exercises=[*DEMO, THERAPIST_ONLY], services=services))
    unlock(s)
    strip = start_from_panel(s)
    s.pump(0.3)
    s.screenshot("therapist-strip-800x480")
    chip, hand_over, back = strip.ids.lock_chip, strip.ids.hand_over, s.ids("player").top.ids.back
    assert chip.right < hand_over.x and hand_over.right <= strip.width
    assert hand_over.x > back.right  # above the title's words, not above Back
    player_play = s.ids("player").play_pause
    assert player_play.to_window(*player_play.pos)[1] >= 0


def test_link_issue_time_words(station):
    from datetime import UTC, datetime, timedelta

    from kiosk.ui.screens.therapist import issued_words

    now = datetime.now(UTC)
    assert issued_words(now, "en-GB").startswith("Issued today at ")
    old = (now - timedelta(days=3)).astimezone()
    words = issued_words(old, "en-US")
    assert words.startswith("Issued ") and str(old.year) in words and ("AM" in words or "PM" in words)


def test_lock_revokes_at_once_what_waits_for_undo(station):
    s = station
    unlock(s)
    panel = s.get("therapist")
    s.tap(panel.row("compassionate-other").ids.select)
    s.tap(panel.ids.tab_bundle)
    s.tap(panel.ids.show_qr)
    s.wait_for(lambda: panel.bundle_stage == "code", what="the bundle's code")
    url = panel.code.url
    s.tap(panel.ids.tab_links)
    s.wait_for(lambda: len(panel.links) == 1, what="the live link")
    panel.undo_seconds = 60.0
    s.tap(lambda: panel.link_row(panel.links[0].short_id).ids.revoke)
    s.tap(panel.ids.lock)
    s.on("attract")

    def gone() -> bool:
        try:
            urllib.request.urlopen(url, timeout=10).close()
        except urllib.error.HTTPError as error:
            return error.code == 410
        return False

    s.wait_for(gone, timeout=10, what="the link revoked by the Lock")
