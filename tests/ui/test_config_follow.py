"""The screen follows config.toml while the station runs (kiosk.ui.config_watch): new help
words, as the clinic console's Settings page writes them, show on the attract screen and on
browse without a restart; a file that no longer loads changes nothing."""

from __future__ import annotations

import pytest

from kiosk.config import update_config
from tests.ui.driver import StationDriver

pytestmark = pytest.mark.ui


def test_new_help_words_show_without_a_restart(launch, ui_settings):
    path = ui_settings.config_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('# the clinic\'s own words\n[help]\ntitle = "Need help now?"\n'
                    "[session]\nidle_timeout_seconds = 90\n")
    s: StationDriver = launch()
    help_button = s.ids("attract").help
    assert help_button.text == "Need help now?"
    update_config(path, {"help": {"title": "Ask at the desk"},
                         "session": {"idle_timeout_seconds": 45}})
    s.wait_for(lambda: help_button.text == "Ask at the desk", timeout=15, what="the new words")
    assert s.app.idle.quiet_seconds == 45
    s.screenshot("config-follow-attract")
    s.tap_at(640, 400)
    s.on("browse")
    assert s.ids("browse").top.ids.help_button.text == "Ask at the desk"

    # A broken file: logged, and the station goes on with what it has.
    path.write_text(path.read_text() + "\n[session]\nidle_timeout_seconds = 1\n")
    s.pump(5.0)
    assert help_button.text == "Ask at the desk" and s.app.idle.quiet_seconds == 45
