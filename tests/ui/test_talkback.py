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


def double_tap(s, x=None, y=None) -> None:
    """Two taps inside talk-back's double-tap time, anywhere (the middle of the panel)."""
    x = s.window.width / 2 if x is None else x
    y = s.window.height / 2 if y is None else y
    s.tap_at(x, y, hurried=True)
    s.tap_at(x, y, hurried=True)
    s.pump(0.1)


def swipe(s, dx: float = 0.0, dy: float = 0.0) -> None:
    """A flick from the middle of the panel, in a fifth of a second."""
    from kivy.tests.common import UnitTestTouch

    x, y = s.window.width / 2, s.window.height / 2
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    for step in (1, 2, 3):
        s.pump(0.05)
        touch.touch_move(x + dx * step / 3, y + dy * step / 3)
    touch.touch_up()
    s.pump(0.1)


def swipe_to(s, widget, words: str | None = None, most: int = 40) -> list[str]:
    """Swipes right until talk-back's focus is on `widget` (a function giving it); each step
    is heard before the next. Returns what was said on the way."""
    talk, heard = s.app.talk_back, []
    for _ in range(most):
        swipe(s, dx=s.window.width / 4)
        s.wait_for(lambda: talk.focus is not None and talk.said and talk.said[-1] == talk.focus.label,
                   what=lambda: f"the item in focus said: {talk.focus} {list(talk.said)[-3:]}")
        heard.append(talk.said[-1])
        if talk.focus.widget == widget():  # a kv id is a weak proxy: compared through it
            if words is not None:
                assert talk.said[-1] == words
            return heard
    raise AssertionError(f"never reached {widget()!r}; heard {heard}")


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

    double_tap(s)  # nothing in focus on the welcome: a double tap begins, as a touch does
    s.on("browse")
    s.wait_for(lambda: len(tile_ids(s)) == 5)
    said_last(s, "Choose an exercise. 5 exercises.")
    swipe_to(s, lambda: tile(s, "safe-place"))
    double_tap(s)
    s.on("exercise")
    exercise = app.exercise
    s.wait_for(lambda: app.talk_back.said[-1].startswith(f"Exercise: {exercise.title}. Length: about"),
               what="the exercise spoken")
    swipe_to(s, lambda: s.ids("exercise").listen, "Listen, button")
    double_tap(s)
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
    with caplog.at_level(logging.WARNING):
        s = launch(settings=talking)
        s.tap_at(s.window.width / 2, s.window.height / 2)
        s.on("browse")
        s.wait_for(lambda: len(tile_ids(s)) == 5)
        s.pump(1.0)
    assert not s.app.talk_back.said and not s.app.playback.prompting
    # Off, so that touches work as for anyone: kept by a talk-back that cannot speak, they
    # would leave the station dead to every visitor.
    assert not s.app.talk_back.on and not s.app.talk_back.available
    assert caplog.text.count("espeak-ng is not installed") == 1


def hold(s, seconds: float = 3.3) -> None:
    from kivy.tests.common import UnitTestTouch

    touch = UnitTestTouch(s.window.width / 2, s.window.height / 2)
    touch.touch_down()
    s.pump(seconds)
    touch.touch_up()
    s.pump(0.1)


def test_a_whole_visit_by_talk_back_gestures_alone(launch, ui_settings, monkeypatch):
    """Offered (the default): the welcome says how to turn it on; a hold does; then only
    swipes and double taps, from the welcome to the spoken address; then off, and silence."""
    from kiosk.ui.talkback import TalkBack

    monkeypatch.setattr(TalkBack, "offer_seconds", 1.5)
    s = launch()
    app, talk = s.app, s.app.talk_back
    said_last(s, "To hear what is on this screen, touch and hold anywhere on the screen for three seconds.")
    assert not talk.on
    hold(s)
    s.wait_for(lambda: talk.said and talk.said[-1].startswith("Talk-back is on. Touch the screen"),
               what=lambda: f"talk-back turned on: {list(talk.said)}")
    assert talk.said[-1].endswith("Welcome screen. Welcome. Take a moment for yourself. Touch the screen to begin.")
    assert app.current_screen == "attract"  # the hold began nothing

    double_tap(s)
    s.on("browse")
    said_last(s, "Choose an exercise. 5 exercises.")
    heard = swipe_to(s, lambda: tile(s, "safe-place"))
    assert heard[:3] == ["Choose an exercise", "Text and colours, button", "Need help now?, button"], heard
    assert heard[-1].endswith(", exercise") and "minutes" in heard[-1]
    double_tap(s)
    s.on("exercise")
    swipe_to(s, lambda: s.ids("exercise").listen, "Listen, button")
    double_tap(s)
    s.on("player")
    said_last(s, f"Player: {app.exercise.title}. Playing.")
    # The seek bar: a swipe up goes 15 s on, and says where it is now.
    seek = swipe_to(s, lambda: s.ids("player").seek)[-1]
    assert seek.startswith("Seek bar, "), seek
    before = app.playback.position
    swipe(s, dy=s.window.height / 4)
    s.wait_for(lambda: app.playback.position >= before + 14, what="15 s on")
    # Back to the exercise, and take it home without seeing the code.
    swipe_to(s, lambda: s.ids("player").top.ids.back,
             "Back, button")
    double_tap(s)
    s.on("exercise")
    swipe_to(s, lambda: s.ids("exercise").take_home, "Take home, button")
    double_tap(s)
    s.on("take_home")
    s.wait_for(lambda: talk.said[-1].startswith("Take this exercise home. This gives you a QR code"),
               what=lambda: f"the consent read in full: {list(talk.said)[-2:]}")
    swipe_to(s, lambda: s.ids("take_home").agree, "Show the code, button")
    double_tap(s)
    s.wait_for(lambda: "ask at reception" in talk.said[-1], timeout=30,
               what=lambda: f"the code spoken: {list(talk.said)[-2:]}")
    code = s.app.manager.current_screen.code
    assert code is not None
    spoken = talk.said[-1]
    host = code.short_address.split(":")[0]
    assert ", ".join(" ".join(part) for part in host.split(".")).replace(", ", ", dot, ") in spoken, spoken
    from kiosk.ui.talkback import spelled

    # Said twice, a character at a time, for whoever missed it the first time.
    assert spoken.count(spelled(code.short_address, "en-GB")) == 2, spoken

    # Talk-back's own controls come after the screen's last item; off, and quiet again.
    swipe(s, dx=-s.window.width / 4)  # backwards from the first: round to the last
    s.wait_for(lambda: talk.focus is not None and talk.said[-1] == "Turn talk-back off, button",
               what=lambda: f"the last item: {list(talk.said)[-2:]}")
    double_tap(s)
    said_last(s, "Talk-back is off.")
    assert not talk.on
    app.reset_session()
    s.on("attract")
    assert not talk.on and talk.focus is None


def test_the_end_card_reads_itself_and_its_choices_are_reached_by_swipes(launch, talking):
    from tests.ui.test_end_card import to_the_end

    s = launch(settings=talking)
    talk = s.app.talk_back
    talk.on = False  # reached by taps, as a sighted helper would
    card = to_the_end(s)
    talk.on = True
    talk._overlays_changed(s.window, s.window.children)  # as if it had opened just now
    take_home = "Take this home, button"
    s.wait_for(lambda: talk.said and take_home in talk.said[-1],
               what=lambda: f"the card read: {list(talk.said)[-2:]}")
    swipe_to(s, lambda: card.ids.take_home, take_home)
    double_tap(s)
    s.on("take_home")


def test_searching_by_talk_back_the_keys_say_their_letters(launch, talking):
    s = launch(settings=talking)
    double_tap(s)
    s.on("browse")
    s.wait_for(lambda: len(tile_ids(s)) == 5)
    swipe_to(s, lambda: s.ids("browse").search_field, "Touch here to search, button")
    double_tap(s)
    keyboard = s.ids("browse").keyboard
    s.wait_for(lambda: keyboard.shown and keyboard.parent is not None, what="the keyboard")
    s.pump(0.3)
    for letter in "saf":
        key = keyboard.key_button(letter)
        x, y = key.to_window(*key.center)
        s.tap_at(x, y, hurried=True)  # a touch says what is under it...
        s.pump(0.5)  # ...once the time for a second tap has gone
        said_last(s, key.text)  # the letter on the key, as screen readers say a key
        double_tap(s)  # ...and a double tap anywhere types it, said again as it is typed
        s.wait_for(lambda letter=letter: keyboard.text.endswith(letter), what=f"{letter} typed")
    assert keyboard.text == "saf"


def test_the_hold_that_turns_talk_back_on_presses_nothing_under_it(launch):
    """Offered, a client who began by touching the welcome holds a tile in browse: talk-back
    goes on, and the tile is not opened when the finger lifts."""
    from kivy.tests.common import UnitTestTouch

    s = launch()
    talk = s.app.talk_back
    s.tap_at(s.window.width / 2, s.window.height / 2)
    s.on("browse")
    s.wait_for(lambda: len(tile_ids(s)) == 5)
    s.pump(0.3)
    chosen = tile(s, "safe-place")
    x, y = chosen.to_window(*chosen.center)
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    s.pump(3.4)
    assert talk.on
    touch.touch_up()
    s.pump(0.6)
    assert s.app.current_screen == "browse" and chosen.state == "normal"
    s.wait_for(lambda: talk.said and talk.said[-1].startswith("Talk-back is on.")
               and talk.said[-1].endswith("Choose an exercise. 5 exercises."),
               what=lambda: f"talk-back on, and browse said: {list(talk.said)}")


def test_with_talk_back_on_the_therapists_corner_still_opens(launch, talking):
    """Talk-back keeps every touch from the screen; the therapist's three-second hold on the
    hidden corner is passed on, so a station set to `talk_back = true` keeps therapist mode."""
    from kivy.tests.common import UnitTestTouch

    s = launch(settings=talking)
    said_last(s, "Welcome screen. Welcome. Take a moment for yourself. Touch the screen to begin.")
    held: list[str] = []
    s.app.bind(on_therapist_gesture=lambda _app, screen: held.append(screen))
    corner = s.ids("attract").corner
    touch = UnitTestTouch(*corner.to_window(*corner.center))
    touch.touch_down()
    s.pump(3.4)
    touch.touch_up()
    s.pump(0.2)
    assert held == ["attract"]
