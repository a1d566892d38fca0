"""The UI's pure parts, without a window: words, dates, idle timing, read-along lookup,
QR pixels."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from kiosk.ui import strings
from kiosk.ui.idle import IdleAction, IdleWatch

UI_DIR = Path(__file__).resolve().parents[2] / "kiosk" / "ui"


def test_every_language_has_every_key():
    assert strings.missing_keys() == {}
    assert set(strings.TABLES) >= {"en-GB", "en-US"}


def test_every_key_the_screens_ask_for_exists():
    used = set()
    for path in list(UI_DIR.rglob("*.kv")) + list(UI_DIR.rglob("*.py")):
        used |= set(re.findall(r'tr\("([a-z_]+\.[a-z0-9_\-]+)"', path.read_text()))
        used |= set(re.findall(r'"((?:banner|player|top|browse|takehome|exercise)\.[a-z0-9_]+)"', path.read_text()))
    used = {k for k in used if not k.endswith((".kv", ".py"))}
    assert len(used) > 30, "found too few keys: the pattern is wrong"
    for lang, table in strings.TABLES.items():
        assert sorted(used - set(table)) == [], lang


def test_the_words_differ_where_the_languages_do():
    assert strings.tr("top.calm_colours", "en-GB") == "Calm colours"
    assert strings.tr("top.calm_colours", "en-US") == "Calm colors"
    assert strings.format_date(date(2026, 12, 2), "en-GB") == "2 December 2026"
    assert strings.format_date(date(2026, 12, 2), "en-US") == "December 2, 2026"
    assert strings.tr("language.name", "xx-XX") == "English (UK)"  # unknown language: fallback
    assert strings.tr("technique.box-breathing", "en-GB") == "Box breathing"  # unknown technique


def test_clock_and_minutes():
    assert strings.format_clock(0) == "0:00"
    assert strings.format_clock(65.4) == "1:05"
    assert strings.format_clock(3725) == "1:02:05"
    assert strings.format_minutes(30, "en-GB") == "Under 1 min"
    assert strings.format_minutes(610, "en-GB") == "10 min"


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_idle_asks_then_resets():
    clock = FakeClock()
    watch = IdleWatch(90, 15, now=clock)
    clock.t = 89
    assert watch.tick(at_rest=False, playing=False) is IdleAction.NOTHING
    clock.t = 90
    assert watch.tick(at_rest=False, playing=False) is IdleAction.ASK
    clock.t = 100
    assert watch.tick(at_rest=False, playing=False) is IdleAction.ASK
    assert watch.seconds_left() == pytest.approx(5)
    clock.t = 105
    assert watch.tick(at_rest=False, playing=False) is IdleAction.RESET


def test_a_touch_or_playing_holds_the_station():
    clock = FakeClock()
    watch = IdleWatch(10, 5, now=clock)
    clock.t = 12
    assert watch.tick(at_rest=False, playing=False) is IdleAction.ASK
    watch.activity()  # "I'm here"
    assert watch.tick(at_rest=False, playing=False) is IdleAction.NOTHING
    for t in [*range(13, 599, 7), 599]:  # a long exercise playing
        clock.t = t
        assert watch.tick(at_rest=False, playing=True) is IdleAction.NOTHING
    clock.t = 605  # it ended (or was paused) at 599: the quiet time counts from there
    assert watch.tick(at_rest=False, playing=False) is IdleAction.NOTHING
    clock.t = 610
    assert watch.tick(at_rest=False, playing=False) is IdleAction.ASK


def test_a_visit_paused_part_way_waits_the_longer_time():
    clock = FakeClock()
    watch = IdleWatch(90, 30, now=clock, paused_seconds=600)
    clock.t = 599
    assert watch.tick(at_rest=False, playing=False, paused_part_way=True) is IdleAction.NOTHING
    clock.t = 600
    assert watch.tick(at_rest=False, playing=False, paused_part_way=True) is IdleAction.ASK
    assert watch.seconds_left() == pytest.approx(30)
    clock.t = 629
    assert watch.tick(at_rest=False, playing=False, paused_part_way=True) is IdleAction.ASK
    clock.t = 630
    assert watch.tick(at_rest=False, playing=False, paused_part_way=True) is IdleAction.RESET
    # Never shorter than the quiet time, whatever the paused time is set to.
    short = IdleWatch(90, 30, now=clock, paused_seconds=10)
    clock.t += 89
    assert short.tick(at_rest=False, playing=False, paused_part_way=True) is IdleAction.NOTHING


def test_the_attract_screen_never_asks():
    clock = FakeClock()
    watch = IdleWatch(10, 5, now=clock)
    clock.t = 1000
    assert watch.tick(at_rest=True, playing=False) is IdleAction.NOTHING


def test_cue_index():
    from kiosk.ui.widgets.script_view import cue_index

    starts, ends = [0.0, 5.0, 10.0], [4.5, 9.5, 15.0]
    assert cue_index(starts, ends, 0.0) == 0
    assert cue_index(starts, ends, 4.7) == -1
    assert cue_index(starts, ends, 5.0) == 1
    assert cue_index(starts, ends, 14.99) == 2
    assert cue_index(starts, ends, 15.0) == -1


def test_the_attract_circle_breathes_six_times_a_minute():
    from kiosk.ui.screens.attract import LARGEST, SMALLEST, breath_scale

    assert breath_scale(0.0) == pytest.approx(SMALLEST)
    assert breath_scale(5.0) == pytest.approx(LARGEST)
    assert breath_scale(10.0) == pytest.approx(SMALLEST)
    assert breath_scale(2.5) == pytest.approx((SMALLEST + LARGEST) / 2)
    assert breath_scale(62.5) == pytest.approx(breath_scale(2.5))


def test_the_seek_knob_moves_only_by_whole_pixels():
    from types import SimpleNamespace

    from kiosk.ui.screens.player import SeekBar

    # The bar's figures without a window (its kv rule needs a running app): 400 px of track.
    bar = SimpleNamespace(min=0, max=600, value=100, width=448, padding=24)
    assert not SeekBar.moves_by_a_pixel(bar, 100.5)  # a third of a pixel
    assert SeekBar.moves_by_a_pixel(bar, 101.5)  # one pixel
    assert SeekBar.moves_by_a_pixel(bar, 20.0)


def test_qr_pixels_have_a_quiet_zone_and_dark_modules_black():
    from kiosk.ui.widgets.qr_code import QUIET_ZONE, matrix_to_rgb

    side, data = matrix_to_rgb([[True, False], [False, True]])
    assert side == 2 + 2 * QUIET_ZONE and len(data) == side * side * 3
    rows = [data[i * side * 3:(i + 1) * side * 3] for i in range(side)]
    # GL rows run bottom-up: the matrix's top-left module is in row side-1-QUIET_ZONE.
    top = rows[side - 1 - QUIET_ZONE]
    assert top[QUIET_ZONE * 3:QUIET_ZONE * 3 + 3] == b"\x00\x00\x00"
    assert top[(QUIET_ZONE + 1) * 3:(QUIET_ZONE + 2) * 3] == b"\xff\xff\xff"
    assert rows[0] == b"\xff" * side * 3
