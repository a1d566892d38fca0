"""Talk-back on (issue 15, first slice): arriving at each client screen speaks it through the
station's player, a playing exercise plays on after, and the newest words replace the rest.
The words are really made by espeak-ng; the player is the UI tests' fake."""

from __future__ import annotations

import dataclasses

import pytest

from kiosk.audio.api import PlayerState
from tests.ui.helpers import tile, tile_ids

pytestmark = pytest.mark.ui


@pytest.fixture
def talking(ui_settings):
    return dataclasses.replace(ui_settings, accessibility=dataclasses.replace(
        ui_settings.accessibility, talk_back=True))


def said_last(s, text: str) -> None:
    s.wait_for(lambda: s.app.talk_back.said and s.app.talk_back.said[-1] == text,
               what=f"talk-back saying {text!r}, said: {list(s.app.talk_back.said)}")


def test_each_screen_is_spoken_on_arrival_and_the_exercise_plays_on(launch, talking):
    s = launch(settings=talking)
    app, player = s.app, s.backend.player
    said_last(s, "Welcome screen. Welcome. Take a moment for yourself. Touch the screen to begin.")
    assert player.path.parent == talking.speech_cache_dir and player.path.suffix == ".wav"
    assert player.volume == pytest.approx(app.playback.volume)  # the visitor's volume, inside the cap

    s.tap_at(s.window.width / 2, s.window.height / 2)
    s.on("browse")
    s.wait_for(lambda: len(tile_ids(s)) == 5)
    said_last(s, "Choose an exercise. 5 exercises.")
    s.tap(tile(s, "safe-place"))
    s.on("exercise")
    exercise = app.exercise
    s.wait_for(lambda: app.talk_back.said[-1].startswith(f"Exercise: {exercise.title}. Length: about"),
               what="the exercise spoken")
    s.tap(s.ids("exercise").listen)
    s.on("player")
    said_last(s, f"Player: {exercise.title}. Playing.")
    # Heard over the exercise, which was set aside and plays on once the words are done.
    s.wait_for(lambda: not app.playback.prompting, timeout=30, what="the words to end")
    s.wait_for(lambda: player.path == exercise.variant.playback_path
               and player.state == PlayerState.PLAYING,
               what=lambda: f"the exercise playing on: {player.path} {player.state} {app.playback.state} {player.commands[-12:]}")
    assert app.playback.playing


def test_the_newest_words_replace_the_ones_asked_before(launch, talking):
    s = launch(settings=talking)
    talk = s.app.talk_back
    said_last(s, "Welcome screen. Welcome. Take a moment for yourself. Touch the screen to begin.")
    talk.say("First words, never heard.")
    talk.say("Second words.")
    said_last(s, "Second words.")
    s.pump(0.5)
    assert "First words, never heard." not in talk.said


def test_talk_back_offered_says_nothing_yet(launch, ui_settings):
    assert ui_settings.accessibility.talk_back == "offer"
    s = launch()
    s.pump(1.0)
    assert not s.app.talk_back.said and not s.app.playback.prompting


def test_without_espeak_ng_the_station_carries_on_silent_and_says_so_once(launch, talking,
                                                                          monkeypatch, caplog):
    import logging

    monkeypatch.setenv("PATH", "/nonexistent")
    with caplog.at_level(logging.WARNING, logger="kiosk.speech"):
        s = launch(settings=talking)
        s.tap_at(s.window.width / 2, s.window.height / 2)
        s.on("browse")
        s.wait_for(lambda: len(tile_ids(s)) == 5)
        s.pump(1.0)
    assert not s.app.talk_back.said and not s.app.playback.prompting
    assert caplog.text.count("espeak-ng is not installed") == 1
