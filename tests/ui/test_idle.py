"""Idle reset: "Still there?", then back to attract with nothing of the last visitor left;
an exercise that is playing is never cut off."""

from __future__ import annotations

import pytest

from tests.ui.conftest import with_session
from tests.ui.helpers import chip, player_control, tile, tile_ids, type_on_screen

pytestmark = pytest.mark.ui


@pytest.fixture
def quick(ui_settings):
    return with_session(ui_settings, idle_timeout_seconds=60, still_there_seconds=60)


def go_quiet(s, quiet: float = 1.0, countdown: float = 2.0) -> None:
    """From now on, a short quiet time and countdown (set only once the test's own touches
    are done, so a slow, busy machine cannot bring "Still there?" up in the middle of them)."""
    s.app.idle.quiet_seconds, s.app.idle.countdown_seconds = quiet, countdown
    s.app.idle.paused_seconds = quiet  # a paused visit waits longer: tests/ui/test_still_there.py


def _still_there_shown(s) -> bool:
    view = s.app._still_there
    return view is not None and view.parent is not None


def test_idle_reset_forgets_everything(launch, quick):
    s = launch(settings=quick)
    app = s.app
    s.tap_at(640, 400)
    s.on("browse")
    s.wait_for(lambda: len(tile_ids(s)) == 5)
    s.tap(chip(s, "self-compassion"))
    s.tap(s.ids("browse").search_field)
    type_on_screen(s, "kind")
    s.wait_for(lambda: tile_ids(s) == ["compassionate-other", "compassionate-self"],
               what=lambda: f"search + filter: {tile_ids(s)} {s.get('browse').query!r} {s.get('browse').technique!r}")
    s.tap(s.ids("browse").keyboard.key_button("done"))
    s.tap(next(b for b in s.ids("browse").languages.children if b.code == "en-US"))
    s.tap(s.ids("browse").top.ids.text_size_button)
    s.tap(s.app._display.ids.t1)
    s.tap(s.app._display.ids.close)
    s.tap(tile(s, "compassionate-other"))
    s.on("exercise")
    s.tap(s.ids("exercise").listen)
    s.on("player")
    s.wait_for(lambda: app.playback.playing)
    s.tap(player_control(s, "louder"))
    s.tap(player_control(s, "louder"))
    player = s.backend.player
    assert player.volume > player.start_volume
    s.tap(s.ids("player").play_pause)  # paused counts as not playing
    s.wait_for(lambda: not app.playback.playing)
    s.tap(s.ids("player").top.ids.back)
    s.on("exercise")
    s.tap(s.ids("exercise").take_home)
    s.on("take_home")
    s.tap(s.ids("take_home").agree)
    s.wait_for(lambda: s.get("take_home").stage == "code", what="the code")

    go_quiet(s)
    s.wait_for(lambda: _still_there_shown(s), timeout=20, what='"Still there?"')
    s.screenshot("idle-still-there")
    s.wait_for(lambda: s.screen == "attract", timeout=20, what="the reset")
    s.pump(0.3)

    browse, take_home = s.get("browse"), s.get("take_home")
    assert app.exercise is None
    assert take_home.code is None and take_home.url == ""
    assert s.ids("take_home").qr.matrix is None and s.ids("take_home").qr.texture is None
    assert browse.query == "" and browse.technique == "" and s.ids("browse").keyboard.text == ""
    assert not browse.keyboard_open
    assert app.playback.loaded == "" and "stop" in player.commands
    assert player.volume == pytest.approx(player.start_volume)
    assert app.lang == "en-GB" and not app.large_text and not app.high_contrast
    assert not _still_there_shown(s)
    assert s.get("player").ids.script.count == 0

    # The next visitor starts afresh.
    s.tap_at(640, 400)
    s.on("browse")
    s.wait_for(lambda: len(tile_ids(s)) == 5, what="every exercise for the next visitor")
    assert all(c.selected == (c.technique == "") for c in s.ids("browse").chips.children)


def test_im_here_keeps_the_visit(launch, quick):
    s = launch(settings=quick)
    s.tap_at(640, 400)
    s.on("browse")
    s.wait_for(lambda: len(tile_ids(s)) == 5)
    s.tap(tile(s, "safe-place"))
    s.on("exercise")
    go_quiet(s)
    s.wait_for(lambda: _still_there_shown(s), timeout=20, what='"Still there?"')
    s.tap(s.app._still_there.ids.here)
    s.pump(0.2)
    assert not _still_there_shown(s)
    assert s.screen == "exercise" and s.app.exercise.id == "safe-place"


def test_a_playing_exercise_is_not_interrupted(launch, quick):
    s = launch(settings=quick)
    app = s.app
    s.tap_at(640, 400)
    s.on("browse")
    s.wait_for(lambda: len(tile_ids(s)) == 5)
    s.tap(tile(s, "grounding-senses"))
    s.on("exercise")
    s.tap(s.ids("exercise").listen)
    s.on("player")
    s.wait_for(lambda: app.playback.playing)

    go_quiet(s)
    s.pump(3.5)  # well past the quiet time plus the countdown
    assert s.screen == "player" and app.playback.playing and not _still_there_shown(s)

    # When it ends, the quiet time starts counting.
    s.backend.player.seek(app.playback.duration - 0.3)
    s.wait_for(lambda: app.playback.ended, what="the end of the exercise")
    s.wait_for(lambda: _still_there_shown(s), timeout=20, what='"Still there?" after the end')
    s.wait_for(lambda: s.screen == "attract", timeout=20, what="the reset after the end")
