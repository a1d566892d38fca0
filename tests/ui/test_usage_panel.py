"""After a visit, the therapist panel's usage tab shows what the visitor really did: a play
heard to the end (started and completed), a play skipped to its end (started only) and a
take-home code (a link), counted by the station's own play counter and written by its
usage writer into the real database, not by the test."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ui.driver import StationDriver
from tests.ui.fakes import DEMO, FakeBackend, FakeExerciseSpec
from tests.ui.helpers import tile
from tests.ui.test_therapist import pin_hash, therapist_settings, unlock  # noqa: F401 (fixtures)

pytestmark = pytest.mark.ui

SHORT = FakeExerciseSpec(
    "short-pause", {"en-GB": "A short pause", "en-US": "A Short Pause"},
    "Twelve seconds to stop and breathe.", "A very short exercise.", ("breathing",), 12.0)


@pytest.fixture
def station(launch, therapist_settings) -> StationDriver:  # noqa: F811
    def backend(services: Any) -> FakeBackend:
        # DEMO plus one, as test_therapist.unlock expects.
        return FakeBackend(therapist_settings, exercises=[SHORT, *DEMO], services=services)

    return launch(settings=therapist_settings, backend_factory=backend)


def listen(s: StationDriver, exercise_id: str) -> None:
    s.tap(tile(s, exercise_id))
    s.on("exercise")
    s.tap(s.ids("exercise").listen)
    s.on("player")
    s.wait_for(lambda: s.app.playback.playing, what="playback")


def test_the_panel_shows_the_plays_and_the_link_of_a_visit(station):
    s, app = station, station.app
    player = s.backend.player
    # Time passes twice as fast: 0.2 s of track between reports. (A clock thread starved by
    # a busy screen catches up in report-sized steps, as the engine's reports do.)
    player.speed = 2.0
    s.tap_at(640, 400)
    s.on("browse")

    listen(s, SHORT.id)
    s.wait_for(lambda: app.playback.state == "ended", timeout=20, what="the end of the track")
    end_card = s.get("player").end_card
    s.wait_for(lambda: end_card.parent is not None, what="the end card")
    s.tap(end_card.ids.take_home)  # "Take this home", straight from the end
    s.on("take_home")
    s.tap(s.ids("take_home").agree)
    s.wait_for(lambda: s.get("take_home").stage == "code", what="the code")

    s.tap(s.ids("take_home").top.ids.back)
    s.wait_for(lambda: s.screen != "take_home", what="back from take-home")
    if s.screen == "exercise":
        s.tap(s.ids("exercise").top.ids.back)
    s.on("browse")
    listen(s, "soothing-breath")
    app.playback.seek(app.playback.duration - 1.0)  # the seek bar dragged to the end
    s.wait_for(lambda: app.playback.state == "ended", timeout=20, what="the end after the seek")

    app.reset_session()  # the visitor walks away
    s.on("attract")
    unlock(s)
    panel = s.get("therapist")
    s.tap(panel.ids.tab_usage)
    s.wait_for(lambda: panel.usage_numbers(SHORT.id) != [], what="the usage counts")
    # [7 days: started, completed, links, downloads, then the same for 30 days]
    assert panel.usage_numbers(SHORT.id)[:3] == [1, 1, 1]
    assert panel.usage_numbers("soothing-breath")[:3] == [1, 0, 0]
    s.screenshot("therapist-usage-after-a-visit")
