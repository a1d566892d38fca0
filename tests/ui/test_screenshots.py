"""A screenshot of every client screen, in both languages and both text sizes, saved to
tests/screenshots/ for people to look at (see the report in the issue)."""

from __future__ import annotations

import dataclasses

import pytest

from tests.ui.helpers import tile

pytestmark = pytest.mark.ui


def small_targets(s) -> list[str]:
    """Every touchable thing on the screen smaller than 48 dp either way."""
    from kivy.metrics import dp
    from kivy.uix.behaviors import ButtonBehavior
    from kivy.uix.slider import Slider

    found = []

    def visit(widget, visible):
        visible = visible and widget.opacity > 0 and widget.width > 0 and widget.height > 0
        if not visible:
            return
        if isinstance(widget, ButtonBehavior | Slider) and not widget.disabled:
            x, y = widget.to_window(widget.x, widget.y)
            on_window = x < s.window.width and y < s.window.height and x + widget.width > 0 and y + widget.height > 0
            if on_window and min(widget.width, widget.height) < dp(48) - 0.5:
                found.append(f"{type(widget).__name__} {getattr(widget, 'text', '')!r} {widget.size}")
        for child in widget.children:
            visit(child, visible)

    visit(s.window, True)
    return found


def shot(s, name: str) -> None:
    s.screenshot(name)
    assert small_targets(s) == [], name


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
    shot(s, f"attract-{tag}")

    s.tap_at(640, 300)
    s.on("browse")
    browse = s.get("browse")
    s.wait_for(lambda: len(browse.ids.tiles.children) == 5, what="the tiles")
    shot(s, f"browse-{tag}")

    s.tap(browse.ids.search_field)
    s.wait_for(lambda: browse.keyboard_open)
    for key in "calm":
        s.tap(browse.ids.keyboard.key_button(key))
    s.wait_for(lambda: len(browse.ids.tiles.children) == 1, what="search results")
    shot(s, f"browse-search-{tag}")
    s.tap(browse.ids.keyboard.key_button("done"))
    s.tap(browse.ids.clear_search)
    s.wait_for(lambda: len(browse.ids.tiles.children) == 5, what="all tiles again")

    s.tap(tile(s, "compassionate-other"))
    s.on("exercise")
    shot(s, f"exercise-{tag}")

    s.tap(s.ids("exercise").listen)
    s.on("player")
    s.wait_for(lambda: app.playback.playing, what="playing")
    s.get("player").seek(185.0)
    s.wait_for(lambda: s.ids("player").script.current == 3, what="the highlighted passage")
    s.pump(0.5)
    shot(s, f"player-{tag}")

    s.tap(s.ids("player").play_pause)
    s.wait_for(lambda: not app.playback.playing)
    app.show_help()
    s.pump(0.2)
    shot(s, f"help-{tag}")
    app._help.dismiss(animation=False)

    app.go("take_home")
    s.on("take_home")
    shot(s, f"take-home-consent-{tag}")
    s.tap(s.ids("take_home").agree)
    s.wait_for(lambda: s.get("take_home").stage == "code", what="the code")
    shot(s, f"take-home-code-{tag}")

    app.show_banner("banner.audio_unavailable")
    s.pump(0.2)
    shot(s, f"banner-{tag}")
    app.banner.hide()
    app.high_contrast = True
    s.pump(0.2)
    shot(s, f"take-home-code-high-contrast-{tag}")
    app.go("player")
    s.on("player")
    shot(s, f"player-high-contrast-{tag}")
    app.high_contrast = False

    app.idle.quiet_seconds = app.idle.paused_seconds = 0.1  # paused part-way waits longer
    app.idle.countdown_seconds = 60
    s.wait_for(lambda: app._still_there is not None and app._still_there.parent is not None,
               what='"Still there?"')
    s.pump(0.2)
    shot(s, f"still-there-{tag}")
