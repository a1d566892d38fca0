"""The end of an exercise, as a client meets it: a card with what they can do next, and a
Play button that says it starts again."""

from __future__ import annotations

import pytest

from tests.ui import layout
from tests.ui.layout import window_rect
from tests.ui.test_still_there import shown, to_the_player_paused

pytestmark = pytest.mark.ui


def to_the_end(s, exercise_id: str = "safe-place", text_step: int = 0):
    to_the_player_paused(s, exercise_id)
    s.app.text_step = text_step  # chosen on the player (browse at 800x480 largest: issue 17 item 1)
    s.tap(s.ids("player").play_pause)
    s.wait_for(lambda: s.app.playback.playing, what="playing on")
    player = s.backend.player
    player.seek(player.duration - 0.3)
    s.wait_for(lambda: s.app.playback.ended, what="the end of the exercise")
    card = s.get("player").end_card
    s.wait_for(lambda: shown(card), what="the end card")
    s.pump(0.2)
    return card


@pytest.mark.parametrize("step", [0, 2], ids=["normal", "largest"])
@pytest.mark.parametrize("size", [(1280, 800), (800, 480)], ids=["1280x800", "800x480"])
def test_the_end_card_shows_every_choice_and_nothing_overlaps(launch, size, step):
    from kiosk.ui.theme import MIN_TARGET_MM

    s = launch(window_size=size)
    card = to_the_end(s, text_step=step)
    tag = f"{size[0]}x{size[1]}-{['normal', 'larger', 'largest'][step]}"
    s.screenshot(f"end-card-{tag}")
    ids = card.ids
    texts = [ids[name].text for name in ("take_home", "again", "another", "finished")]
    assert texts == [s.app.tr(k) for k in ("end.take_home", "end.again", "end.another", "end.finished")]
    wrong = layout.problems(s.window, min_target_px=s.app.px_per_mm * MIN_TARGET_MM)
    assert not wrong, "\n".join(wrong)
    for name in ("take_home", "again", "another", "finished"):
        assert layout.whole_on_screen(s.window, ids[name]), name
    here = window_rect(ids.help)
    there = window_rect(s.ids("player").top.ids.help_button)
    assert (here.x, here.y, here.w, here.h) == pytest.approx((there.x, there.y, there.w, there.h), abs=1)


def test_take_this_home_from_the_end(launch):
    s = launch()
    card = to_the_end(s)
    s.tap(card.ids.take_home)
    s.on("take_home")
    assert not shown(card)
    assert s.app.exercise.id == "safe-place" and s.get("take_home").stage == "consent"
    s.tap(s.ids("take_home").agree)
    s.wait_for(lambda: s.get("take_home").stage == "code", what="the code")
    s.screenshot("end-card-take-home-code")


def test_play_after_the_end_says_it_starts_again_and_listen_again_does(launch):
    s = launch()
    app = s.app
    card = to_the_end(s)
    assert s.ids("player").play_pause.text == app.tr("end.again")
    s.tap(card.ids.again)
    s.wait_for(lambda: app.playback.playing, what="playing again")
    assert not shown(card) and s.screen == "player"
    assert s.backend.player.position < 5
    assert s.ids("player").play_pause.text == app.tr("player.pause")


def test_choose_another_from_the_end(launch):
    s = launch()
    card = to_the_end(s)
    s.tap(card.ids.another)
    s.on("browse")
    assert not shown(card)
    s.wait_for(lambda: len(s.ids("browse").tiles.children) == 5, what="every exercise")


def test_im_finished_clears_the_visit(launch):
    s = launch()
    app = s.app
    card = to_the_end(s)
    s.tap(card.ids.finished)
    s.on("attract")
    s.pump(0.3)
    assert not shown(card)
    assert app.exercise is None and app.playback.loaded == ""
    assert s.get("player").ids.script.count == 0


def test_a_therapist_presenting_gets_no_end_card(launch, ui_settings):
    s = launch()
    app = s.app
    app.therapist_active = True  # as the PIN leaves it (tests/ui/test_therapist.py unlocks for real)
    app.open_exercise("safe-place", then="player")
    s.on("player")
    s.wait_for(lambda: app.playback.playing, what="playing")
    player = s.backend.player
    player.seek(player.duration - 0.3)
    s.wait_for(lambda: app.playback.ended, what="the end")
    s.pump(0.3)
    assert not shown(s.get("player").end_card)


def test_no_take_home_choice_when_take_home_is_off(launch):
    s = launch()
    s.app.take_home_available = False  # switched off, or its server could not start
    card = to_the_end(s)
    s.screenshot("end-card-no-take-home")
    assert card._take_home_button.get_root_window() is None
    rows = sorted({round(b.to_window(b.x, b.y)[1]) for b in card.ids.choices.children})
    assert len(card.ids.choices.children) == 3 and len(rows) == 2  # no empty cell
    assert not layout.problems(s.window, min_target_px=0)
    # take-home back (its server started late): the choice comes back with it
    card.dismiss(animation=False)
    s.app.take_home_available = True
    card.open(animation=False)
    s.pump(0.3)
    assert card._take_home_button.get_root_window() is not None
