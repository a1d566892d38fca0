import pytest

pytestmark = pytest.mark.ui

KEY_ESCAPE, KEY_F1 = 27, 282


def test_attract_screen_leads_to_browse_on_a_touch(station):
    assert station.screen == "attract"
    shot = station.screenshot("attract")
    assert shot.stat().st_size > 1000
    station.tap_at(100, 100)
    station.wait_for(lambda: station.screen == "browse", what="the browse screen")


def test_tiles_side_by_side_line_up(station):
    """A tile with a two-line summary beside a one-line one: both as tall, tops level."""
    from tests.ui.helpers import tile_ids

    station.tap_at(100, 100)
    station.wait_for(lambda: station.screen == "browse" and len(tile_ids(station)) > 2,
                     what="the tiles")
    tiles = list(reversed(station.ids("browse").tiles.children))
    rows = [tiles[i:i + 2] for i in range(0, len(tiles) - 1, 2)]
    assert any(a.minimum_height != b.minimum_height for a, b in rows), \
        "the test needs a row whose tiles hold different amounts of text"
    station.wait_for(lambda: all(a.top == b.top and a.height == b.height for a, b in rows),
                     what="tiles in a row of the same height, tops level")


def test_escape_f1_and_close_do_nothing_when_locked_down(station):
    station.key(KEY_ESCAPE)
    station.key(KEY_F1)
    assert station.window.dispatch("on_request_close") is True
    station.pump(0.2)
    assert station.app.root is not None and station.app.root.parent is station.window
    assert station.app._app_settings is None  # Kivy's settings panel was never built


def test_a_bug_in_a_screen_is_logged_and_the_station_carries_on(station, caplog):
    from kivy.clock import Clock

    def broken(dt):
        raise RuntimeError("simulated screen bug")

    Clock.schedule_once(broken, 0)
    station.pump(0.2)
    assert "simulated screen bug" in caplog.text
    assert station.app.root.parent is station.window
    station.tap_at(100, 100)
    station.wait_for(lambda: station.screen == "browse", what="the browse screen after the error")


def test_alt_f4_does_nothing_when_locked_down(station):
    station.key(285, modifiers=["alt"])
    station.pump(0.1)
    assert station.app.root.parent is station.window


def test_deep_link_start_opens_the_player_and_plays(launch):
    s = launch(start_id="safe-place", lang="en-US")
    s.on("player")
    s.wait_for(lambda: s.app.playback.playing, what="playing from the deep link")
    assert s.app.lang == "en-US"
    assert s.app.exercise.variant.lang == "en-US"
    script = s.ids("player").script
    # This exercise has no timed cues: the script shows, nothing is highlighted.
    assert script.count == 10 and not script.timed
    s.pump(0.5)
    assert script.current == -1
    assert "does not follow" in s.ids("player").script_hint.text
    s.screenshot("deep-link-start-untimed-script")


def test_deep_link_take_home_shows_the_code(launch):
    from tests.ui.helpers import decode_qr

    s = launch(take_home_id="compassionate-other")
    s.on("take_home")
    s.wait_for(lambda: s.get("take_home").stage == "code", what="the code")
    shot = s.screenshot("deep-link-take-home")
    assert decode_qr(shot) == [s.get("take_home").url]


def test_a_missing_audio_file_shows_a_gentle_banner(launch):
    from tests.ui.helpers import tile, tile_ids

    s = launch()
    s.backend.variants[("soothing-breath", "en-GB")].playback_path.unlink()
    s.tap_at(640, 400)
    s.on("browse")
    s.wait_for(lambda: len(tile_ids(s)) == 5)
    s.tap(tile(s, "soothing-breath"))
    s.on("exercise")
    s.tap(s.ids("exercise").listen)
    s.wait_for(lambda: s.app.banner.shown, what="the banner")
    assert "missing" in s.app.banner.ids.message.text
    s.screenshot("banner-file-missing")
    # The engine reports a missing file from its own thread, after the player screen is up
    # (as on a station). The banner lies over the player and moves nothing: "Need help now?"
    # is where it always is, and after Close, Back and take home work.
    assert s.screen == "player"
    top_help = s.ids("player").top.ids.help_button
    over = s.app.banner.ids.help
    s.wait_for(lambda: over.to_window(*over.pos) == top_help.to_window(*top_help.pos),
               what='"Need help now?" in its place over the player')
    s.pump(11)  # it does not go by itself, under a finger on its way to Close
    assert s.app.banner.shown
    s.tap(s.app.banner.ids.close)
    assert not s.app.banner.shown
    s.tap(s.ids("player").top.ids.back)
    s.on("exercise")
    s.tap(s.ids("exercise").take_home)
    s.on("take_home")


def test_help_is_one_touch_away_on_every_client_screen(launch):
    from tests.ui.helpers import tile, tile_ids

    s = launch()
    s.tap_at(640, 400)
    s.on("browse")
    s.wait_for(lambda: len(tile_ids(s)) == 5)
    s.tap(tile(s, "safe-place"))
    s.on("exercise")
    for screen in ("browse", "exercise", "player", "take_home"):
        s.app.go(screen)
        s.on(screen)
        s.tap(s.ids(screen).top.ids.help_button)
        s.wait_for(lambda: s.app._help is not None and s.app._help.parent is not None, what="help")
        assert s.app._help.ids.help_text.text == s.app.settings.help.text
        s.tap(s.app._help.ids.close)
        s.wait_for(lambda: s.app._help.parent is None, what="help closed")


def test_text_size_and_contrast_are_one_touch_away(station):
    from kiosk.ui import theme

    station.tap_at(640, 400)
    station.on("browse")
    top = station.ids("browse").top
    station.tap(top.ids.text_size_button)
    choices = station.app._display
    station.wait_for(lambda: choices.parent is not None, what="the text and colour choices")
    assert choices.ids.t0.selected and choices.ids.calm.selected  # each names its state
    station.tap(choices.ids.t1)
    assert station.app.text_scale == theme.text_scale_for(1) and choices.ids.t1.selected
    station.tap(choices.ids.contrast)
    assert station.app.theme is theme.HIGH_CONTRAST and choices.ids.contrast.selected
    station.pump(0.2)
    station.screenshot("display-choices-high-contrast")
    station.tap(choices.ids.close)
    assert choices.parent is None
    station.pump(0.2)
    station.screenshot("browse-high-contrast")


def test_the_therapist_corner_is_a_hook_not_a_button(station):
    from kivy.tests.common import UnitTestTouch

    seen = []
    station.app.bind(on_therapist_gesture=lambda _app, screen: seen.append(screen))
    # A short touch in the corner is an ordinary touch: the visitor begins.
    station.tap_at(20, station.window.height - 20)
    station.on("browse")
    assert seen == []
    # A long hold there is the therapist's gesture.
    corner = station.get("browse").ids.corner
    corner.hold_seconds = 0.3
    x, y = corner.to_window(*corner.center)
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    station.pump(0.5)
    touch.touch_up()
    station.pump(0.05)
    assert seen == ["browse"]


def test_take_home_hides_when_its_server_is_not_running(launch, ui_settings):
    import dataclasses

    from tests.ui.helpers import tile, tile_ids

    settings = dataclasses.replace(
        ui_settings, take_home=dataclasses.replace(ui_settings.take_home, enabled=False))
    s = launch(settings=settings)
    s.tap_at(640, 400)
    s.on("browse")
    s.wait_for(lambda: len(tile_ids(s)) == 5)
    s.tap(tile(s, "safe-place"))
    s.on("exercise")
    assert not s.app.take_home_available
    assert s.ids("exercise").take_home.height == 0 and s.ids("exercise").take_home.opacity == 0


def test_every_tile_opens_its_exercise_wherever_it_is_on_screen(station):
    """The folded on-screen keyboard once lay under the lower tiles and swallowed their touches."""
    from tests.ui.helpers import tile, tile_ids

    s = station
    s.tap_at(640, 400)
    s.on("browse")
    s.wait_for(lambda: len(tile_ids(s)) == 5)
    for exercise_id in tile_ids(s):
        s.tap(tile(s, exercise_id))
        s.on("exercise")
        assert s.app.exercise.id == exercise_id
        s.tap(s.ids("exercise").top.ids.back)
        s.on("browse")


def test_browse_shows_a_catalogue_change_when_entered_again(launch):
    """An exercise hidden while the station runs (`kiosk hide`) is gone from browse the next
    time browse is entered, without waiting for the idle reset."""
    from kiosk.content import Catalogue
    from kiosk.store import open_db
    from tests.ui.helpers import tile, tile_ids

    s = launch()
    s.tap_at(640, 400)
    s.on("browse")
    s.wait_for(lambda: "safe-place" in tile_ids(s), what="every tile")
    db = open_db(s.app.settings.db_path)
    try:
        assert Catalogue(db, s.app.settings.content_dir).set_hidden("safe-place", True)
    finally:
        db.close()
    s.tap(tile(s, "soothing-breath"))
    s.on("exercise")
    s.tap(s.ids("exercise").top.ids.back)
    s.on("browse")
    s.wait_for(lambda: "safe-place" not in tile_ids(s) and "soothing-breath" in tile_ids(s),
               what="the hidden exercise gone, the others still there")


def test_the_seek_knob_is_drawn_in_the_themes_colours(launch):
    """Kivy's own slider knob is blue in any theme; ours is the accent, in both themes."""
    from PIL import Image

    s = launch(start_id="compassionate-other")
    s.on("player")
    seek = s.ids("player").seek
    for high_contrast in (False, True):
        s.app.high_contrast = high_contrast  # the colours change at once; the shot draws them
        shot = Image.open(s.screenshot(f"seek-knob-{'high-contrast' if high_contrast else 'calm'}"))
        x, y = seek.to_window(seek.value_pos[0], seek.center_y)  # the knob's centre
        pixel = shot.getpixel((int(x), int(s.window.height - y)))
        accent = tuple(round(c * 255) for c in s.app.colors.accent[:3])
        assert all(abs(a - b) <= 2 for a, b in zip(pixel, accent, strict=True)), (pixel, accent)


def test_a_long_title_shows_whole_on_two_lines(launch, ui_settings):
    """Larger text once cut long titles short with an ellipsis; now they wrap and shrink."""
    from kivy.metrics import sp

    from tests.ui.fakes import DEMO, FakeBackend, FakeExerciseSpec

    title = "Your compassionate other: a longer guided imagery practice"
    long_one = FakeExerciseSpec("long-title", {"en-GB": title, "en-US": title}, "One line.",
                                "An introduction.", ("breathing",), 300.0)
    s = launch(backend_factory=lambda services: FakeBackend(ui_settings, exercises=[*DEMO, long_one],
                                                            services=services),
               start_id="long-title")
    s.on("player")
    s.app.large_text = True
    top = s.ids("player").top
    label = top.ids.title_label
    s.wait_for(lambda: top.title_fit < 1.0 and label.font_size == sp(top.title_size * top.title_fit) * s.app.text_scale,
               what="the title fitted to the larger text")
    s.screenshot("player-long-title-large")
    assert label.text == title and not label.shorten
    # Two lines of text at this size are under 3 font heights (three would be over), and the
    # bar holds them.
    assert label.texture_size[1] < 3 * label.font_size, (label.texture_size, label.font_size)
    assert label.texture_size[1] <= label.height
