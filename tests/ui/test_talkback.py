"""Talk-back on (issue 15): arriving at each client screen speaks it through the station's
player, in its speech voice over the track: a playing exercise plays on, lowered, and comes
back up; the newest words replace the rest; the words can be hushed, paused and repeated.
The words are really made by espeak-ng; the player is the UI tests' fake."""

from __future__ import annotations

import dataclasses

import pytest

from kiosk.audio.api import PlayerState, SpeechState
from kiosk.audio.stage import DUCK_GAIN
from tests.ui.helpers import tile, tile_ids

pytestmark = pytest.mark.ui


@pytest.fixture
def talking(ui_settings):
    return dataclasses.replace(ui_settings, accessibility=dataclasses.replace(
        ui_settings.accessibility, talk_back=True))


def said_last(s, text: str) -> None:
    s.wait_for(lambda: s.app.talk_back.said and s.app.talk_back.said[-1] == text,
               what=f"talk-back saying {text!r}, said: {list(s.app.talk_back.said)}")


def test_each_screen_is_spoken_on_arrival_and_the_exercise_plays_on_lowered(launch, talking):
    from kiosk.usage import PLAY_STARTED

    s = launch(settings=talking)
    app, player = s.app, s.backend.player
    recorded: list[tuple[str, ...]] = []
    app.services.plays._record = lambda *event: recorded.append(event)
    said_last(s, "Welcome screen. Welcome. Take a moment for yourself. Touch the screen to begin.")
    # In the engine's speech voice, at the visitor's volume (the engine's, inside the cap);
    # nothing is loaded as a track for it.
    assert player.spoken[-1].parent == talking.speech_cache_dir and player.spoken[-1].suffix == ".wav"
    assert player.path is None and "load" not in player.commands
    assert player.volume == pytest.approx(app.playback.volume)

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
    # Heard over the exercise, which keeps playing, lowered, and comes back up after.
    s.wait_for(lambda: app.playback.speech == SpeechState.SPEAKING and app.playback.speaking,
               what="the player screen's words in progress")
    at = player.position
    assert player.path == exercise.variant.playback_path and player.state == PlayerState.PLAYING
    assert player.track_level == DUCK_GAIN and app.playback.playing
    commands = len(player.commands)
    s.wait_for(lambda: player.speech_state == SpeechState.IDLE, timeout=30, what="the words to end")
    s.wait_for(lambda: app.playback.speech == SpeechState.IDLE and not app.playback.speaking,
               what="the screen to hear the words ended")
    assert player.track_level == 1.0 and player.state == PlayerState.PLAYING
    assert player.position > at, "the exercise went on under the words"
    assert not {"load", "stop", "pause", "seek"} & set(player.commands[commands:]), player.commands
    assert app.playback.playing and not app.playback.prompting
    # One play, counted as ever: the words over it are none of it and do not interrupt it.
    assert [e[0] for e in recorded] == [PLAY_STARTED]


def test_the_newest_words_replace_the_ones_asked_before(launch, talking):
    s = launch(settings=talking)
    talk = s.app.talk_back
    said_last(s, "Welcome screen. Welcome. Take a moment for yourself. Touch the screen to begin.")
    talk.say("First words, never heard.")
    talk.say("Second words.")
    said_last(s, "Second words.")
    s.pump(0.5)
    assert "First words, never heard." not in talk.said
    # Each new utterance goes straight to the engine, which replaces the one in progress.
    player = s.backend.player
    assert player.speech_state == SpeechState.SPEAKING
    assert player.commands.count("speak") == len(player.spoken) >= 2


def test_the_words_can_be_hushed_paused_and_repeated(launch, talking):
    s = launch(settings=talking)
    app, player, talk = s.app, s.backend.player, s.app.talk_back
    welcome = "Welcome screen. Welcome. Take a moment for yourself. Touch the screen to begin."
    said_last(s, welcome)
    s.wait_for(lambda: app.playback.speech == SpeechState.SPEAKING, what="the welcome in progress")
    talk.pause_or_resume()
    assert player.speech_state == SpeechState.PAUSED
    s.wait_for(lambda: app.playback.speech == SpeechState.PAUSED and app.playback.speaking,
               what="paused on screen")
    held = player.speech_position
    s.pump(0.5)
    assert player.speech_position == held, "paused words stay where they were"
    talk.pause_or_resume()
    assert player.speech_state == SpeechState.SPEAKING
    talk.hush()
    assert player.speech_state == SpeechState.IDLE
    s.wait_for(lambda: not app.playback.speaking, what="hushed on screen")
    spoken = len(player.spoken)
    talk.repeat()
    s.wait_for(lambda: len(player.spoken) == spoken + 1, what="the welcome said again")
    assert player.spoken[-1] == player.spoken[-2]  # the same words, from the cache
    assert talk.said[-1] == welcome
    # A hush also drops words still being made: the newest asked for is never said.
    spoken = len(player.spoken)
    talk.say("Words that are hushed before they are made.")
    talk.hush()
    s.pump(1.0)
    assert len(player.spoken) == spoken and player.speech_state == SpeechState.IDLE


def test_talk_back_offered_says_nothing_yet(launch, ui_settings):
    assert ui_settings.accessibility.talk_back == "offer"
    s = launch()
    s.pump(1.0)
    assert not s.app.talk_back.said and not s.app.playback.prompting
    assert not s.backend.player.spoken


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
