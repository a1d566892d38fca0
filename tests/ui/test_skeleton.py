import pytest

pytestmark = pytest.mark.ui

KEY_ESCAPE, KEY_F1 = 27, 282


def test_attract_screen_leads_to_home_on_a_touch(station):
    assert station.screen == "attract"
    shot = station.screenshot("attract")
    assert shot.stat().st_size > 1000
    station.tap_at(100, 100)
    station.wait_for(lambda: station.screen == "home", what="the home screen")


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
    station.wait_for(lambda: station.screen == "home", what="the home screen after the error")
