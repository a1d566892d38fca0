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
