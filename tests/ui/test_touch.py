"""Touch that forgives (issue 17 item 2), by real touches on the real window: a second
touch at the same place within half a second is one intent with the first."""

from __future__ import annotations

import pytest

from tests.ui.helpers import tile

pytestmark = pytest.mark.ui


def double_tap(s, widget) -> None:
    x, y = widget.to_window(*widget.center)
    s.tap_at(x, y)
    s.tap_at(x + 3, y - 2, hurried=True)  # a finger lands twice a few pixels apart


def test_a_double_tap_on_a_key_types_once(launch):
    s = launch()
    s.tap_at(640, 400)
    s.on("browse")
    s.tap(s.ids("browse").search_field)
    s.wait_for(lambda: s.get("browse").keyboard_open, what="the keyboard")
    keyboard = s.ids("browse").keyboard
    double_tap(s, keyboard.key_button("s"))
    assert s.get("browse").query == "s"
    s.tap(keyboard.key_button("s"))  # a deliberate second touch, after a pause, still types
    assert s.get("browse").query == "ss"


def test_a_double_tap_on_listen_does_not_touch_the_player(launch):
    s = launch()
    s.tap_at(640, 400)
    s.on("browse")
    s.wait_for(lambda: tile(s, "compassionate-other") is not None, what="the tile")
    s.tap(lambda: tile(s, "compassionate-other"))
    s.on("exercise")
    listen = s.ids("exercise").listen
    x, y = listen.to_window(*listen.center)
    s.tap_at(x, y)
    s.pump(0.1)
    # The player is in place now, under the finger that comes down again.
    assert s.screen == "player"
    under = [w for w in s.get("player").walk() if getattr(w, "state", None) == "normal"
             and hasattr(w, "on_release") and w.collide_point(*w.to_widget(x, y))]
    seen: list[object] = []
    for w in under:
        w.bind(on_press=lambda w: seen.append(w), on_release=lambda w: seen.append(w))
    s.tap_at(x + 3, y - 2, hurried=True)
    assert under, "nothing on the player lies under Listen: this test would prove nothing"
    assert seen == []
    s.wait_for(lambda: s.app.playback.playing, what="playback from the start")
    assert s.backend.player.position < 5.0


def test_a_double_tap_on_a_tile_does_not_touch_the_exercise_screen(launch):
    s = launch()
    s.tap_at(640, 400)
    s.on("browse")
    s.wait_for(lambda: tile(s, "compassionate-other") is not None, what="the tile")
    s.pump(0.3)
    chosen = tile(s, "compassionate-other")
    x, y = chosen.to_window(*chosen.center)
    s.tap_at(x, y)
    s.wait_for(lambda: s.screen == "exercise", what="the exercise screen")
    under = [w for w in s.get("exercise").walk() if hasattr(w, "on_release")
             and w.collide_point(*w.to_widget(x, y))]
    seen: list[object] = []
    for w in under:
        w.bind(on_press=lambda w: seen.append(w), on_release=lambda w: seen.append(w))
    s.tap_at(x + 3, y - 2, hurried=True)
    s.pump(0.4)  # a ScrollView hands a tap on when the finger lifts, and its release later
    assert seen == []
    assert s.screen == "exercise"


def test_a_finger_resting_on_a_passage_moves_nothing_until_it_lifts(launch):
    from kivy.tests.common import UnitTestTouch

    s = launch(start_id="compassionate-other")
    s.on("player")
    s.wait_for(lambda: s.app.playback.playing, what="playback to start")
    s.tap(s.ids("player").play_pause)
    s.wait_for(lambda: not s.app.playback.playing, what="paused")
    script = s.ids("player").script
    target = script.passages[2]
    script.scroll_to(target, animate=False)
    s.pump(0.2)
    player = s.backend.player
    before = player.position
    x, y = target.to_window(*target.center)
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    s.pump(1.0)  # well past the ScrollView's scroll_timeout, which hands the press down
    assert not s.app.playback.playing and player.position == before
    touch.touch_up()
    s.wait_for(lambda: s.app.playback.playing and abs(player.position - target.start) < 2.0,
               what="listening from the passage once the finger lifts")


def _the_bar(s):
    from tests.ui.helpers import player_control

    s.tap(s.ids("player").play_pause)
    s.wait_for(lambda: not s.app.playback.playing, what="paused")
    return player_control(s, "seek")


def test_a_brush_of_the_seek_bar_moves_nothing(launch):
    """One brush across the bar (a hand on its way elsewhere) never jumps: the knob follows
    how far a finger travels, and a short travel is no drag at all."""
    from kivy.tests.common import UnitTestTouch

    s = launch(start_id="compassionate-other")
    s.on("player")
    s.wait_for(lambda: s.app.playback.playing, what="playback to start")
    bar = _the_bar(s)
    player = s.backend.player
    before = player.position
    x, y = bar.to_window(bar.right - bar.padding - 4, bar.center_y)  # near the end
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    touch.touch_move(x + 6, y)  # less than a drag
    s.pump(0.05)
    touch.touch_up()
    s.pump(0.3)
    assert abs(player.position - before) < 0.5 and not s.app.playback.playing, "a brush moved the exercise"
    assert bar.pending > 0, "a tap marks the place, to be confirmed"
    assert "Go to" in s.ids("player").elapsed.text

    # A deliberate drag moves the knob by the finger's travel: a quarter of the track from
    # where it was, wherever the finger came down.
    s.pump(6.5)  # the mark is forgotten
    assert bar.pending < 0
    start = bar.value
    x0, y0 = bar.to_window(bar.center_x, bar.center_y)
    quarter = (bar.width - 2 * bar.padding) / 4
    touch = UnitTestTouch(x0, y0)
    touch.touch_down()
    s.pump(0.5)  # the finger set down on the bar; its scrolling column hands the touch on
    for step in range(1, 11):
        touch.touch_move(x0 + quarter * step / 10, y0)
        s.pump(0.02)
    touch.touch_up()
    wanted = start + (bar.max - bar.min) / 4
    s.wait_for(lambda: abs(player.position - wanted) < 3.0,
               what=lambda: f"the drag to {wanted:.1f} s (at {player.position:.1f} s)")


def test_a_tap_on_the_seek_bar_goes_there_once_confirmed(launch):
    from tests.ui.helpers import tap_across

    s = launch(start_id="compassionate-other")
    s.on("player")
    s.wait_for(lambda: s.app.playback.playing, what="playback to start")
    bar = _the_bar(s)
    player = s.backend.player
    before = player.position
    tap_across(s, bar, 0.5)
    s.pump(0.3)
    assert abs(player.position - before) < 0.5, "one tap alone seeks nothing"
    middle = (bar.min + bar.max) / 2
    assert abs(bar.pending - middle) < (bar.max - bar.min) / 20
    s.screenshot("player-seek-marked")
    tap_across(s, bar, 0.5)  # the second, deliberate tap at the mark
    s.wait_for(lambda: abs(player.position - middle) < (bar.max - bar.min) / 20,
               what="the seek to the marked place")
    assert bar.pending < 0
