"""The whole journey of a client, by touches on a real window: attract, browse, filter,
search with the on-screen keys, language, exercise, play, seek, read-along, take home,
consent, QR.

The QR code is read back from a screenshot by zxing-cpp and zbarimg; its URL is fetched
from the station's real take-home server, and the audio file the phone page links to must
equal the exercise's audio. It runs on the in-memory catalogue (always) and on the real
catalogue with the demo pack imported.
"""

from __future__ import annotations

import re
import shutil
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kiosk.audio.loudness import track_gain
from kiosk.config import BUILTIN_DEMO_PACK
from kiosk.ui.backend import StationBackend
from tests.ui.helpers import (
    chip,
    decode_qr,
    decode_qr_zbar,
    player_control,
    tap_across,
    tile,
    tile_ids,
    type_on_screen,
)

pytestmark = pytest.mark.ui

EXERCISE = "compassionate-other"


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    """A data folder with the demo pack imported by the real importer, made once."""
    from kiosk import content as packs
    from kiosk.config import default_settings
    from kiosk.store import open_db

    data = tmp_path_factory.mktemp("demo") / "data"
    settings = default_settings(data)
    db = open_db(settings.db_path)
    try:
        packs.import_pack(settings, db, BUILTIN_DEMO_PACK)
    finally:
        db.close()
    return data


def real_backend(ui_settings, demo_data, tmp_path) -> tuple[Any, Any]:
    """(settings, backend factory): the real StationBackend on a copy of the demo data."""
    import dataclasses

    from kiosk.ui.backend import StationBackend

    data = tmp_path / "demo-data"
    shutil.copytree(demo_data, data)
    settings = dataclasses.replace(ui_settings, data_dir=data)
    return settings, lambda services: _Recorded(StationBackend(settings, services), services)


class _Recorded:
    """Wraps a backend to note which thread called what (and expose the player for asserts)."""

    def __init__(self, inner: Any, services: Any):
        self.inner, self.services, self.calls = inner, services, []

    @property
    def player(self) -> Any:
        return self.services.player

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, threading.current_thread().name))
            return attr(*args, **kwargs)

        return call


def expected_ids(backend: Any, lang: str, technique: str | None = None, query: str | None = None) -> list[str]:
    """What the catalogue itself answers, asked by the test (on its own connection, and not
    through the backend's call log, which must show only the station's own calls)."""
    inner = getattr(backend, "inner", backend)
    db = inner.open_db()
    try:
        return [c.id for c in StationBackend.cards(inner, db, lang, technique, query)]
    finally:
        db.close()


@pytest.mark.parametrize("catalogue", ["in-memory", "real"])
def test_the_whole_journey(launch, ui_settings, tmp_path, request, catalogue):
    if catalogue == "real":
        settings, factory = real_backend(ui_settings, request.getfixturevalue("demo_data"), tmp_path)
        s = launch(settings=settings, backend_factory=factory)
    else:
        s = launch()
    app, backend = s.app, s.backend
    assert s.screen == "attract"

    s.tap_at(640, 400)
    s.on("browse")
    every = expected_ids(backend, "en-GB")
    assert EXERCISE in every
    s.wait_for(lambda: tile_ids(s) == every, what="every public exercise as a tile")

    # Filter by the technique that narrows the list most, then back to all.
    s.wait_for(lambda: len(s.get("browse").techniques) > 1, what="the technique chips")
    narrowest = min(s.get("browse").techniques, key=lambda t: len(expected_ids(backend, "en-GB", t)))
    filtered = expected_ids(backend, "en-GB", technique=narrowest)
    assert 0 < len(filtered) < len(every)
    s.tap(chip(s, narrowest))
    s.wait_for(lambda: tile_ids(s) == filtered, what=f"{narrowest} only")
    assert chip(s, narrowest).selected and not chip(s, "").selected
    s.tap(chip(s, ""))
    s.wait_for(lambda: tile_ids(s) == every, what="all again")

    # Search with the on-screen keyboard.
    word = next(w for w in ("safe", "rhythm", "breath", "kind")
                if 0 < len(expected_ids(backend, "en-GB", query=w)) < len(every))
    found = expected_ids(backend, "en-GB", query=word)
    s.tap(s.ids("browse").search_field)
    s.wait_for(lambda: s.get("browse").keyboard_open, what="the keyboard")
    type_on_screen(s, word)
    assert s.get("browse").query == word
    s.wait_for(lambda: tile_ids(s) == found, what="the search result")
    s.tap(s.ids("browse").keyboard.key_button("done"))
    assert not s.get("browse").keyboard_open

    # The language switch changes the tiles' variant and the screen's words.
    s.tap(next(b for b in s.ids("browse").languages.children if b.code == "en-US"))
    s.wait_for(lambda: app.lang == "en-US" and s.ids("browse").top.title == "Choose an exercise")
    assert s.ids("browse").top.ids.text_size_button.text == "Text and colors"
    s.tap(s.ids("browse").clear_search)
    s.wait_for(lambda: tile_ids(s) == expected_ids(backend, "en-US"), what="all, in en-US")
    s.tap(next(b for b in s.ids("browse").languages.children if b.code == "en-GB"))
    s.wait_for(lambda: app.lang == "en-GB")
    s.wait_for(lambda: tile_ids(s) == every, what="all, in en-GB")

    # Open the exercise.
    s.pump(0.3)  # both languages' answers are in
    s.tap(lambda: tile(s, EXERCISE))
    s.on("exercise")
    assert s.ids("exercise").title.text == tile(s, EXERCISE).title
    minutes = round(app.exercise.variant.duration_seconds / 60)
    assert f"{minutes} minute" in s.ids("exercise").length.text

    # Listen.
    s.tap(s.ids("exercise").listen)
    s.on("player")
    s.wait_for(lambda: app.playback.playing, what="playback to start")
    player = backend.player
    variant = app.exercise.variant
    assert Path(player.path) == Path(variant.playback_path)
    # At the gain for the loudness target: from the import's measure on the real catalogue.
    assert variant.loudness is not None
    assert player.gain == pytest.approx(track_gain(app.settings.audio.loudness_target, variant.loudness))
    assert catalogue == "in-memory" or player.gain != 1.0

    # Seek by touching the middle of the seek bar, and again to confirm; the highlight follows.
    script = s.ids("player").script
    cues = list(variant.cues)
    assert script.count == len(cues) and script.timed
    tap_across(s, player_control(s, "seek"), 0.5)
    tap_across(s, player_control(s, "seek"), 0.5)
    s.wait_for(lambda: abs(player.position - variant.duration_seconds / 2) < variant.duration_seconds / 20,
               what="seek to the middle")

    def heard() -> int:
        return max(i for i, c in enumerate(cues) if c.start <= player.position)

    s.wait_for(lambda: script.current == heard(), what="the highlight at the new place")
    assert script.passages[script.current].bold

    # Touch a passage: listening goes on from its start. (Paused first, so the view holds
    # still: while playing it keeps the passage being heard in view.)
    s.tap(s.ids("player").play_pause)
    s.wait_for(lambda: not app.playback.playing, what="paused")
    index = len(cues) - 3
    target = script.passages[index]
    script.scroll_to(target, animate=False)

    def in_view() -> bool:
        x, y = target.to_window(*target.center)
        sx, sy = script.to_window(script.x, script.y)
        shown = sx < x < sx + script.width and sy < y < sy + script.height
        if not shown:  # a scroll asked before the layout settled (a loaded machine) is redone
            script.scroll_to(target, animate=False)
        return bool(shown)

    s.wait_for(in_view, what="the passage scrolled into view")
    s.tap(target)
    s.wait_for(lambda: app.playback.playing, what="playing again from the passage")
    s.wait_for(lambda: script.current == index, what="the touched passage highlighted")
    assert cues[index].start - 0.1 <= player.position < cues[index].end + 0.5

    # Back 15 s.
    before = player.position
    s.tap(player_control(s, "back15"))
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
    assert "Nothing about you is kept" in consent and app.exercise.title in consent
    s.tap(s.ids("take_home").agree)
    s.wait_for(lambda: s.get("take_home").stage == "code", what="the code")
    shot = s.screenshot(f"journey-take-home-code-{catalogue}")

    decoded = decode_qr(shot)
    assert decoded == [s.get("take_home").url]
    assert decode_qr_zbar(shot) == decoded
    url = decoded[0]
    assert url.startswith(f"http://127.0.0.1:{app.settings.take_home.port}/t/")
    # The phone's page, from the station's real take-home server, then the audio it links to.
    with urllib.request.urlopen(url, timeout=10) as response:
        page = response.read().decode()
    assert app.exercise.title in page
    audio_link = re.search(r'href="([^"]*/audio/1)"', page)
    assert audio_link, page[:2000]
    with urllib.request.urlopen(urllib.parse.urljoin(url, audio_link.group(1)), timeout=10) as response:
        body = response.read()
    assert body == Path(variant.audio_path).read_bytes()
    # The address to type, as the screen shows it, opens the same page (a short code, not
    # the 26-character token).
    typed = s.ids("take_home").address.text
    assert typed.startswith(f"127.0.0.1:{app.settings.take_home.port}/t/") and len(typed.rsplit("/", 1)[1]) == 8
    with urllib.request.urlopen(f"http://{typed}", timeout=10) as response:
        assert app.exercise.title in response.read().decode()

    # Nothing slow ran on the UI thread: every catalogue and link call came from the worker.
    threads = {thread for what, thread in backend.calls if what != "open_db"}
    assert threads == {"ui-worker"}, backend.calls
