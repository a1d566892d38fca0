"""A screenshot of every client screen, in both languages and both text sizes, saved to
tests/screenshots/ for people to look at (see the report in the issue)."""

from __future__ import annotations

import dataclasses

import pytest

pytestmark = pytest.mark.ui


@pytest.mark.parametrize("large", [False, True], ids=["normal", "large"])
@pytest.mark.parametrize("lang", ["en-GB", "en-US"])
def test_every_screen(launch, ui_settings, lang, large):
    settings = dataclasses.replace(
        ui_settings, take_home=dataclasses.replace(ui_settings.take_home, wifi_ssid="Clinic-Guest",
                                                   wifi_password="calm-waters-42"))
    s = launch(settings=settings)
    app = s.app
    tag = f"{lang}-{'large' if large else 'normal'}"
    app.set_language(lang)
    app.large_text = large
    s.pump(0.3)
    s.screenshot(f"attract-{tag}")

    s.tap_at(640, 300)
    s.on("browse")
    browse = s.get("browse")
    s.wait_for(lambda: len(browse.ids.tiles.children) == 5, what="the tiles")
    s.screenshot(f"browse-{tag}")

    s.tap(browse.ids.search_field)
    s.wait_for(lambda: browse.keyboard_open)
    for key in "calm":
        s.tap(browse.ids.keyboard.key_button(key))
    s.wait_for(lambda: len(browse.ids.tiles.children) == 1, what="search results")
    s.screenshot(f"browse-search-{tag}")
    s.tap(browse.ids.keyboard.key_button("done"))
    s.tap(browse.ids.clear_search)
    s.wait_for(lambda: len(browse.ids.tiles.children) == 5, what="all tiles again")

    tile = next(t for t in browse.ids.tiles.children if t.exercise_id == "compassionate-other")
    s.tap(tile)
    s.on("exercise")
    s.screenshot(f"exercise-{tag}")

    s.tap(s.ids("exercise").listen)
    s.on("player")
    s.wait_for(lambda: app.playback.playing, what="playing")
    s.get("player").seek(185.0)
    s.wait_for(lambda: s.ids("player").script.current == 3, what="the highlighted passage")
    s.pump(0.5)
    s.screenshot(f"player-{tag}")

    s.tap(s.ids("player").play_pause)
    s.wait_for(lambda: not app.playback.playing)
    app.show_help()
    s.pump(0.2)
    s.screenshot(f"help-{tag}")
    app._help.dismiss(animation=False)

    app.go("take_home")
    s.on("take_home")
    s.screenshot(f"take-home-consent-{tag}")
    s.tap(s.ids("take_home").agree)
    s.wait_for(lambda: s.get("take_home").stage == "code", what="the code")
    s.screenshot(f"take-home-code-{tag}")

    app.show_banner("banner.audio_unavailable")
    s.pump(0.2)
    s.screenshot(f"banner-{tag}")

    app._ask_still_there()
    s.pump(0.2)
    s.screenshot(f"still-there-{tag}")
