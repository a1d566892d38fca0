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


def test_a_paused_visit_waits_longer_than_a_quiet_screen(launch, quick):
    s = launch(settings=quick)
    app = s.app
    to_the_player_paused(s)
    app.idle.quiet_seconds, app.idle.paused_seconds = 0.5, 4.0
    s.pump(2.5)  # five times the quiet time: a resting visitor is not asked yet
    assert not shown(app._still_there)
    s.wait_for(lambda: shown(app._still_there), timeout=10, what='"Still there?" after the paused time')


def test_still_there_is_heard_in_the_headphones_and_the_paused_exercise_comes_back(launch, quick):
    from kiosk.resources import PROMPTS_DIR
    from kiosk.usage import PLAY_COMPLETED, PLAY_STARTED

    s = launch(settings=quick)
    app = s.app
    player = s.backend.player
    recorded: list[tuple[str, str, str]] = []
    app.services.plays._record = lambda *event: recorded.append(event)
    to_the_player_paused(s)
    s.tap(s.ids("player").quieter)  # the visitor's own volume, for the prompt as well
    exercise_path, paused_at, volume = player.path, player.position, player.volume
    assert 0 < paused_at < player.duration and volume < player.start_volume
    # The exercise at its loudness gain (tests/ui/fakes.py), the prompt as it was recorded.
    assert player.gain == pytest.approx(10 ** (6 / 20))
    assert [e[0] for e in recorded] == [PLAY_STARTED]

    app.idle.quiet_seconds = app.idle.paused_seconds = 0.5
    s.wait_for(lambda: shown(app._still_there), what='"Still there?"')
    s.wait_for(lambda: player.path == PROMPTS_DIR / "still-there.en-GB.flac"
               and player.state.value == "playing", what="the prompt playing")
    assert player.volume == pytest.approx(volume) and player.gain == 1.0
    assert app._still_there.total >= 20  # the time to answer, as configured (60 here)
    s.screenshot("still-there-heard")
    # Nothing on screen moves for it: the visit still shows paused where it was.
    assert s.ids("player").play_pause.text == app.tr("player.play")
    assert app.playback.state.value == "paused" and app.playback.position == pytest.approx(paused_at)

    # Heard to its end (a chime and the words, about 7 s): the exercise is back, paused there.
    s.wait_for(lambda: player.path == exercise_path, timeout=15, what="the exercise loaded back")
    s.pump(0.3)
    assert player.position == pytest.approx(paused_at) and player.volume == pytest.approx(volume)
    assert player.gain == pytest.approx(10 ** (6 / 20))
    assert shown(app._still_there), "the question stays up after the prompt"
    assert app.playback.state.value == "paused" and app.playback.position == pytest.approx(paused_at)

    s.tap(app._still_there.ids.here)
    s.wait_for(lambda: not shown(app._still_there))
    s.tap(s.ids("player").play_pause)
    s.wait_for(lambda: player.state.value == "playing" and app.playback.playing, what="playing on")
    s.pump(0.5)
    assert player.position >= paused_at
    assert player.path == exercise_path
    # The same play goes on: one start counted, the prompt heard as none of it, and the
    # rest of the exercise completes it.
    assert [e[0] for e in recorded] == [PLAY_STARTED]
    player.advance(player.duration)
    s.wait_for(lambda: app.playback.ended, what="the end")
    assert [e[0] for e in recorded] == [PLAY_STARTED, PLAY_COMPLETED]


def test_i_am_here_cuts_the_prompt_short(launch, quick):
    s = launch(settings=quick)
    app = s.app
    player = s.backend.player
    to_the_player_paused(s)
    exercise_path, paused_at = player.path, player.position
    app.idle.quiet_seconds = app.idle.paused_seconds = 0.5
    s.wait_for(lambda: shown(app._still_there), what='"Still there?"')
    s.wait_for(lambda: player.path != exercise_path and player.state.value == "playing",
               what="the prompt playing")
    s.tap(app._still_there.ids.here)
    s.pump(0.3)
    assert player.path == exercise_path and player.state.value != "playing"
    assert player.position == pytest.approx(paused_at)
    assert not app.playback.prompting and s.screen == "player"


def test_the_reset_takes_the_prompt_with_it(launch, quick):
    s = launch(settings=quick)
    app = s.app
    player = s.backend.player
    s.tap_at(s.window.width / 2, s.window.height / 2)
    s.on("browse")
    app.idle.quiet_seconds, app.idle.countdown_seconds = 0.5, 2.0  # shorter than the prompt
    s.wait_for(lambda: shown(app._still_there), what='"Still there?" while browsing')
    s.wait_for(lambda: player.state.value == "playing", what="the prompt playing")
    s.wait_for(lambda: s.screen == "attract", timeout=10, what="the reset")
    s.pump(0.3)
    assert player.state.value != "playing" and not app.playback.prompting
    assert app.playback.loaded == ""


def test_the_answer_time_is_never_under_20_seconds(tmp_path):
    from kiosk.config import ConfigError, default_settings, load_settings

    assert default_settings(tmp_path).session.still_there_seconds >= 20
    config = tmp_path / "config.toml"
    config.write_text("[session]\nstill_there_seconds = 15\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    assert any("still_there_seconds" in line for line in raised.value.problems)
