"""Every screen at every panel size clinics mount and at every text size, read from the real
widget tree: nothing drawn over anything else, nothing cut, no word broken across lines, no
target under 9 mm, the screen's primary control wholly on screen. A screenshot of each is
saved in tests/screenshots/layouts/ for people to look at."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.ui import layout
from tests.ui.driver import StationDriver

pytestmark = pytest.mark.ui

# (width, height, diagonal in inches): the panels clinics mount.
PANELS = {
    "800x480": (800, 480, 7.0),       # the official Raspberry Pi touch display
    "1024x600": (1024, 600, 7.0),     # the common 7-inch panels: the densest here
    "1280x800": (1280, 800, 10.1),
    "1920x1080": (1920, 1080, 21.5),
    "1080x1920": (1080, 1920, 21.5),  # the same panel on its side
}

# Kivy's Clock says this when the layouts it runs keep asking for another pass within one
# frame: some size is set both by its layout and by a rule, and each undoes the other.
NEVER_SETTLES = "too much iteration"


class Collector:
    def __init__(self, s: StationDriver, tag: str):
        self.s, self.tag, self.found = s, tag, {}

    def check(self, name: str, primary: Any = None) -> None:
        s = self.s
        s.pump(0.15)
        s.screenshot_dir.joinpath("layouts").mkdir(exist_ok=True)
        s.screenshot(f"layouts/{name}-{self.tag}")
        from kiosk.ui.theme import MIN_TARGET_MM

        wrong = layout.problems(s.window, min_target_px=s.app.px_per_mm * MIN_TARGET_MM)
        if primary is not None and not layout.whole_on_screen(s.window, primary):
            wrong.append(f"the primary control is not wholly on screen: {layout.describe(primary)}")
        if wrong:
            self.found[name] = wrong

    def exit_not_under(self, name: str, where: layout.Rect, exits: list[Any]) -> None:
        """The screen that a primary button opened has its way out somewhere else: a second
        tap of a hurried finger never leaves at once (issue 17)."""
        for w in exits:
            if layout.window_rect(w).intersect(where) is not None:
                self.found.setdefault(name, []).append(
                    f"its way out lies where the last screen's primary button was: {layout.describe(w)}")

    def report(self) -> str:
        return "\n".join(f"{screen}:\n    " + "\n    ".join(lines) for screen, lines in self.found.items())


def visit_every_screen(s: StationDriver, c: Collector) -> None:
    app = s.app
    c.check("attract")
    app.begin()
    s.on("browse")
    browse = s.get("browse")
    s.wait_for(lambda: len(browse.ids.tiles.children) == 5, what="the tiles")
    c.check("browse")
    browse.open_keyboard()
    s.wait_for(lambda: browse.keyboard_open)
    browse.ids.keyboard.text = "calm"
    s.wait_for(lambda: len(browse.ids.tiles.children) == 1, what="search results")
    c.check("browse-search")
    # The keys may cover the results on a short panel: the field says how many there are.
    if "(1 found)" not in browse.ids.search_field.text:
        c.found.setdefault("browse-search", []).append(f"no count of results: {browse.ids.search_field.text!r}")
    browse.close_keyboard()
    browse.clear_search()
    app.open_exercise("compassionate-other")
    s.on("exercise")
    c.check("exercise", s.ids("exercise").listen)
    listen = layout.window_rect(s.ids("exercise").listen)
    app.listen()
    s.on("player")
    s.wait_for(lambda: app.playback.playing, what="playing")
    s.pump(0.15)
    c.exit_not_under("player", listen, [s.ids("player").top.ids.back])
    s.get("player").seek(185.0)
    s.wait_for(lambda: s.ids("player").script.current == 3, what="the highlighted passage")
    c.check("player", s.ids("player").play_pause)
    for pair in (("back15", "forward15"), ("quieter", "louder")):
        heights = {round(s.ids("player")[name].height) for name in pair}
        if len(heights) > 1:
            c.found.setdefault("player", []).append(f"{pair} side by side differ in height: {heights}")
    app.show_banner("banner.audio_unavailable")
    c.check("player-banner", app.banner.ids.close)  # over the player, moving nothing
    app.banner.hide()
    app.playback.seek(app.playback.duration - 0.3)  # playing on to the end: the end card
    s.wait_for(lambda: app.playback.ended, what="the end of the exercise")
    player = s.get("player")
    s.wait_for(lambda: player.end_card is not None and player.end_card.parent is not None,
               what="the end card")
    c.check("end-card", player.end_card.ids.finished)
    player.end_card.dismiss(animation=False)
    app.show_help()
    c.check("help")
    app._help.dismiss(animation=False)
    app.go("take_home")
    s.on("take_home")
    c.check("take-home-consent", s.ids("take_home").agree)
    agree = layout.window_rect(s.ids("take_home").agree)
    s.get("take_home").agree()
    s.wait_for(lambda: s.get("take_home").stage == "code", what="the code")
    c.check("take-home-code")
    c.exit_not_under("take-home-code", agree, [s.ids("take_home").done, s.ids("take_home").top.ids.back])
    if app.playback.playing:
        app.playback.toggle()
    app.idle.quiet_seconds = app.idle.paused_seconds = 0.1  # paused part-way waits longer
    app.idle.countdown_seconds = 60
    app.go("exercise")
    s.wait_for(lambda: app._still_there is not None and app._still_there.parent is not None,
               what='"Still there?"')
    c.check("still-there")
    app.still_here()
    app.idle.quiet_seconds = 3600
    app.go("pin")
    c.check("pin")
    app.unlock_therapist()
    s.on("therapist")
    therapist = s.get("therapist")
    s.wait_for(lambda: len(therapist.cards) > 0, what="the therapist's list")
    c.check("therapist")


@pytest.mark.parametrize("step", [0, 1, 2], ids=["normal", "larger", "largest"])
@pytest.mark.parametrize("panel", list(PANELS))
def test_every_screen_fits(launch, ui_settings, panel, step, caplog):
    width, height, inches = PANELS[panel]
    check_panel(launch, ui_settings, width, height, inches, step, "en-GB", caplog)


@pytest.mark.parametrize("step", [0, 2], ids=["normal", "largest"])
def test_every_screen_fits_in_us_english(launch, ui_settings, step, caplog):
    check_panel(launch, ui_settings, 800, 480, 7.0, step, "en-US", caplog)


def check_panel(launch, ui_settings, width: int, height: int, inches: float, step: int, lang: str,
                caplog: Any) -> None:
    from kivy.core.window import Window

    settings = dataclasses.replace(
        ui_settings,
        display=dataclasses.replace(ui_settings.display, width=width, height=height, diagonal_inches=inches),
        take_home=dataclasses.replace(ui_settings.take_home, wifi_ssid="Clinic-Guest",
                                      wifi_password="calm-waters-42"))
    s = launch(settings=settings, window_size=(width, height))
    s.wait_for(lambda: tuple(Window.size) == (width, height), what="the window's new size")
    s.app.set_language(lang)
    s.app.text_step = step
    s.pump(0.1)
    from kivy.metrics import sp

    label = s.ids("exercise").length  # the kv of this app's widgets follows this app's text size
    assert abs(label.font_size - sp(label.base_size) * s.app.text_scale) < 0.5, "the text size did not apply"
    c = Collector(s, f"{width}x{height}-{lang}-{['normal', 'larger', 'largest'][step]}")
    visit_every_screen(s, c)
    if NEVER_SETTLES in caplog.text:
        c.found["every screen"] = ["a layout ran on without end (Clock: too much iteration)"]
    assert not c.found, c.report()


@pytest.mark.parametrize("panel", ["800x480", "1080x1920"])
def test_the_take_home_code_is_laid_out_once_and_stays(launch, ui_settings, panel, caplog):
    """The code's stage (its QR square beside or above the words) comes to rest: the clock
    never reports layouts running on without end while it is shown (issue 17)."""
    from kivy.core.window import Window

    width, height, inches = PANELS[panel]
    settings = dataclasses.replace(
        ui_settings,
        display=dataclasses.replace(ui_settings.display, width=width, height=height, diagonal_inches=inches))
    s = launch(settings=settings, window_size=(width, height))
    s.wait_for(lambda: tuple(Window.size) == (width, height), what="the window's new size")
    app = s.app
    app.begin()
    app.open_exercise("compassionate-other")
    s.on("exercise")
    app.go("take_home")
    s.on("take_home")
    take_home = s.get("take_home")
    caplog.clear()
    take_home.agree()
    s.wait_for(lambda: take_home.stage == "code", what="the code")
    s.pump(0.5)  # many frames: a stage that never settles is reported in each of them
    assert NEVER_SETTLES not in caplog.text
    qr = s.ids("take_home").qr
    assert qr.width > 0 and qr.height > 0 and qr.square[2] > 0, "the QR code has no room"
