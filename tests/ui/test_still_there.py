""" "Still there?" as a resting visitor meets it: "Need help now?" where it always is."""

from __future__ import annotations

import pytest

from tests.ui.conftest import with_session
from tests.ui.helpers import tile, tile_ids
from tests.ui.layout import window_rect

pytestmark = pytest.mark.ui


@pytest.fixture
def quick(ui_settings):
    return with_session(ui_settings, idle_timeout_seconds=60, still_there_seconds=60)


def shown(view) -> bool:
    return view is not None and view.parent is not None


def to_the_player_paused(s, exercise_id: str = "safe-place") -> None:
    s.tap_at(s.window.width / 2, s.window.height / 2)
    s.on("browse")
    s.wait_for(lambda: len(tile_ids(s)) == 5)
    s.tap(tile(s, exercise_id))
    s.on("exercise")
    s.tap(s.ids("exercise").listen)
    s.on("player")
    s.wait_for(lambda: s.app.playback.playing, what="playing")
    s.pump(0.5)
    s.tap(s.ids("player").play_pause)
    s.wait_for(lambda: not s.app.playback.playing, what="paused")


@pytest.mark.parametrize("size", [(1280, 800), (800, 480)], ids=["1280x800", "800x480"])
def test_need_help_now_on_still_there_in_the_same_place(launch, quick, size):
    s = launch(settings=quick, window_size=size)
    app = s.app
    to_the_player_paused(s)
    app.show_banner("banner.audio_unavailable")  # the top bar, and its help button, move down
    s.pump(0.2)
    below = s.ids("player").top.ids.help_button

    app.idle.quiet_seconds = app.idle.paused_seconds = 0.5
    s.wait_for(lambda: shown(app._still_there), what='"Still there?"')
    s.pump(0.2)
    view = app._still_there
    tag = f"{size[0]}x{size[1]}"
    s.screenshot(f"still-there-help-{tag}")
    button = view.ids.help
    assert button.text == app.settings.help.title
    here, there = window_rect(button), window_rect(below)
    assert (here.x, here.y, here.w, here.h) == pytest.approx((there.x, there.y, there.w, there.h), abs=1)
    assert window_rect(view.ids.box).intersect(here) is None, "the question covers the button"

    s.tap(button)
    s.wait_for(lambda: shown(app._help), what="the help")
    s.wait_for(lambda: not shown(app._still_there), what='"Still there?" to give way')
    s.screenshot(f"still-there-help-opened-{tag}")
    assert s.screen == "player" and app.exercise.id == "safe-place"
    assert app.playback.loaded.startswith("safe-place/")
