"""The whole journey of a client, by touches on a real window: attract, browse, filter,
search with the on-screen keys, exercise, play, seek, read-along, take home, consent, QR.

The QR code is read back from a screenshot by zxing-cpp and zbarimg, and its URL fetched
from the server that issued it; the file served must equal the exercise's audio.
"""

from __future__ import annotations

import re
import threading
import urllib.parse
import urllib.request

import pytest

from tests.ui.helpers import (
    chip,
    decode_qr,
    decode_qr_zbar,
    tap_across,
    tile,
    tile_ids,
    type_on_screen,
)

pytestmark = pytest.mark.ui


def test_the_whole_journey(launch):
    s = launch()
    app, backend = s.app, s.backend
    assert s.screen == "attract"

    s.tap_at(640, 400)
    s.on("browse")
    s.wait_for(lambda: len(tile_ids(s)) == 5, what="every public exercise as a tile")

    # Filter by a technique, then back to all.
    s.tap(chip(s, "imagery"))
    s.wait_for(lambda: set(tile_ids(s)) == {"compassionate-other", "safe-place"}, what="imagery only")
    assert chip(s, "imagery").selected and not chip(s, "").selected
    s.tap(chip(s, ""))
    s.wait_for(lambda: len(tile_ids(s)) == 5, what="all again")

    # Search with the on-screen keyboard.
    s.tap(s.ids("browse").search_field)
    s.wait_for(lambda: s.get("browse").keyboard_open, what="the keyboard")
    type_on_screen(s, "breath")
    assert s.get("browse").query == "breath"
    s.wait_for(lambda: tile_ids(s) == ["soothing-breath"], what="the search result")
    s.tap(s.ids("browse").keyboard.key_button("done"))
    assert not s.get("browse").keyboard_open

    # The language switch changes the tiles' variant and the screen's words.
    s.tap(next(b for b in s.ids("browse").languages.children if b.code == "en-US"))
    s.wait_for(lambda: tile(s, "soothing-breath").title == "Soothing Rhythm Breathing", what="en-US titles")
    assert app.lang == "en-US"
    assert s.ids("browse").search_field.text.startswith("Search")
    s.tap(next(b for b in s.ids("browse").languages.children if b.code == "en-GB"))
    s.wait_for(lambda: tile(s, "soothing-breath").title == "Soothing rhythm breathing", what="en-GB titles")

    # Clear the search; open the exercise.
    s.tap(s.ids("browse").clear_search)
    s.wait_for(lambda: len(tile_ids(s)) == 5, what="all after clearing")
    s.tap(tile(s, "compassionate-other"))
    s.on("exercise")
    assert s.ids("exercise").title.text == "Your compassionate other"
    assert "10 minutes" in s.ids("exercise").length.text

    # Listen.
    s.tap(s.ids("exercise").listen)
    s.on("player")
    s.wait_for(lambda: app.playback.playing, what="playback to start")
    player = backend.player
    variant = app.exercise.variant
    assert player.path == variant.playback_path

    # Seek by touching the middle of the seek bar; the highlight follows.
    script = s.ids("player").script
    tap_across(s, s.ids("player").seek, 0.5)
    s.wait_for(lambda: abs(player.position - variant.duration_seconds / 2) < 15, what="seek to the middle")
    expected = next(i for i, c in enumerate(variant.cues) if c.start <= player.position < c.end + 0.5)
    s.wait_for(lambda: script.current == expected, what="the highlight at the new place")
    assert script.passages[expected].bold

    # Touch a passage: listening goes on from its start.
    target = script.passages[7]
    script.scroll_to(target, animate=False)
    s.pump(0.1)
    s.tap(target)
    s.wait_for(lambda: script.current == 7, what="the touched passage highlighted")
    assert variant.cues[7].start - 0.1 <= player.position < variant.cues[7].end

    # Back 15 s and forward 15 s.
    before = player.position
    s.tap(s.ids("player").back15)
    s.pump(0.05)
    assert before - 16 < player.position < before - 13

    # Pause, back, take home, consent, code.
    s.tap(s.ids("player").play_pause)
    s.wait_for(lambda: not app.playback.playing, what="paused")
    s.tap(s.ids("player").top.ids.back)
    s.on("exercise")
    s.tap(s.ids("exercise").take_home)
    s.on("take_home")
    consent = s.ids("take_home").consent_text.text
    assert "Nothing about you is kept" in consent and "Your compassionate other" in consent
    s.tap(s.ids("take_home").agree)
    s.wait_for(lambda: s.get("take_home").stage == "code", what="the code")
    shot = s.screenshot("journey-take-home-code")

    decoded = decode_qr(shot)
    assert decoded == [s.get("take_home").url]
    assert decode_qr_zbar(shot) == decoded
    url = decoded[0]
    assert url.startswith(f"http://127.0.0.1:{app.settings.take_home.port}/t/")
    # The phone's page, from the station's real take-home server, then the audio it links to.
    with urllib.request.urlopen(url, timeout=10) as response:
        page = response.read().decode()
    assert "Your compassionate other" in page
    audio_link = re.search(r'href="([^"]*/audio/1)"', page)
    assert audio_link, page[:2000]
    with urllib.request.urlopen(urllib.parse.urljoin(url, audio_link.group(1)), timeout=10) as response:
        body = response.read()
    assert body == variant.audio_path.read_bytes()

    # Nothing slow ran on the UI thread: every catalogue and link call came from the worker.
    threads = {thread for _what, thread in backend.calls}
    assert threads == {"ui-worker"}, backend.calls
    assert threading.current_thread().name == "MainThread"
