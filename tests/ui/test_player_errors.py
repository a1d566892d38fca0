"""The banner a client sees for a player error is chosen by the error's kind, in a real
window: the screen never reads the engine's message, nor looks at the disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.audio.api import PlayerErrorKind, PlayerState
from kiosk.ui.playback import BANNERS
from kiosk.ui.strings import table, tr
from tests.ui.helpers import tile, tile_ids

pytestmark = pytest.mark.ui


def _listen(s, exercise_id: str) -> None:
    if s.screen != "browse":
        s.app.go("browse")
    s.on("browse")
    s.wait_for(lambda: exercise_id in tile_ids(s))
    s.tap(tile(s, exercise_id))
    s.on("exercise")
    s.tap(s.ids("exercise").listen)
    s.on("player")


def _banner_shows(s, key: str) -> bool:
    banner = s.app.banner
    return banner.shown and banner.message_key == key and banner.ids.message.text == tr(key, "en-GB")


def test_every_kind_has_its_banner_and_the_strings_have_them():
    assert set(BANNERS) == set(PlayerErrorKind)
    for key in BANNERS.values():
        assert key in table("en-GB") and key in table("en-US")


def test_the_banner_is_chosen_by_the_errors_kind(launch):
    s = launch()
    app = s.app
    s.tap_at(640, 400)
    _listen(s, "soothing-breath")
    s.wait_for(lambda: app.playback.playing, what="playing")
    player = s.backend.player

    # The device kinds: sound unavailable, and the banner goes when the sound comes back; a
    # finger on its way to Close, landing there at once, touches nothing on the player.
    for kind in (PlayerErrorKind.DEVICE_LOST, PlayerErrorKind.ENGINE_RESTARTING,
                 PlayerErrorKind.DEVICE_UNAVAILABLE):
        # A detail that names the file must not sway the choice: only the kind does.
        player.fail(kind, detail=f"{player.path}: this text is for the log only")
        s.wait_for(lambda: _banner_shows(s, "banner.audio_unavailable"), what=f"the banner for {kind}")
        assert app.playback.state == PlayerState.ERROR and not app.playback.playing
        s.screenshot(f"player-error-{kind.value}")
        close = app.banner.ids.close
        x, y = close.to_window(*close.center)
        player.recover()
        s.wait_for(lambda: not app.banner.shown and app.playback.state == PlayerState.PAUSED,
                   what=f"recovered from {kind}")
        s.tap_at(x, y, hurried=True)
        s.pump(0.3)
        assert s.screen == "player" and app.playback.state == PlayerState.PAUSED, "the touch for Close reached the player"
        s.pump(0.6)  # past the guard, a touch is a touch again

    player.fail(PlayerErrorKind.FILE_DAMAGED, detail="read failed (lost sync)")
    s.wait_for(lambda: _banner_shows(s, "banner.file_damaged"), what="the damaged-file banner")
    s.screenshot("player-error-file_damaged")

    # A file gone from the disk: the player reports it when loading, as the engine does.
    app.banner.hide()
    s.tap(s.ids("player").top.ids.back)
    s.on("exercise")
    s.tap(s.ids("exercise").top.ids.back)
    _gone = s.backend.variants[("grounding-senses", "en-GB")].playback_path
    Path(_gone).unlink()
    _listen(s, "grounding-senses")
    s.wait_for(lambda: _banner_shows(s, "banner.file_missing"), what="the missing-file banner")
    assert app.playback.state == PlayerState.ERROR
    s.screenshot("player-error-file_missing")
