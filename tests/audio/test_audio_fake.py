"""FakePlayer keeps the real engine's rules, so UI tests against it mean something."""

from __future__ import annotations

from pathlib import Path

from kiosk.audio.api import BaseListener, Player, PlayerState
from kiosk.audio.fake import FakePlayer


class Log(BaseListener):
    def __init__(self) -> None:
        self.items: list[tuple[str, object]] = []

    def on_state(self, state):
        self.items.append(("state", state))

    def on_position(self, seconds):
        self.items.append(("position", seconds))

    def on_ended(self):
        self.items.append(("ended", None))

    def on_error(self, message):
        self.items.append(("error", message))


def test_is_a_player():
    assert isinstance(FakePlayer(), Player)


def test_play_advance_to_the_end():
    p = FakePlayer()
    log = Log()
    p.add_listener(log)
    p.load(Path("x.flac"), duration=1.0)
    assert p.state == PlayerState.IDLE
    p.play()
    p.advance(0.55)
    assert abs(p.position - 0.55) < 1e-9
    positions = [v for k, v in log.items if k == "position"]
    assert len(positions) >= 6  # 10 per second, as the engine
    p.advance(5)
    assert p.state == PlayerState.ENDED and ("ended", None) in log.items
    p.play()
    assert p.state == PlayerState.PLAYING and p.position == 0.0


def test_volume_rules():
    p = FakePlayer(volume_cap=0.6, start_volume=0.3)
    p.load(Path("x"), duration=10)
    p.set_volume(2.0)
    assert p.volume == 0.6
    p.load(Path("y"), duration=10)
    assert p.volume == 0.3, "a new session starts at the start volume"
    p.set_volume(-1)
    assert p.volume == 0.0
    p.reset_volume()
    assert p.volume == 0.3


def test_failure_and_recovery():
    p = FakePlayer()
    log = Log()
    p.add_listener(log)
    p.load(Path("x"), duration=10)
    p.play()
    p.advance(1)
    p.fail()
    assert p.state == PlayerState.ERROR
    assert any(k == "error" for k, _ in log.items)
    p.play()
    assert p.state == PlayerState.ERROR
    p.recover()
    assert p.state == PlayerState.PAUSED
    p.resume()
    assert p.state == PlayerState.PLAYING


def test_dispatch_is_used():
    queued = []
    p = FakePlayer(dispatch=queued.append)
    log = Log()
    p.add_listener(log)
    p.load(Path("x"), duration=3)
    assert not log.items and queued
    for fn in queued:
        fn()
    assert log.items


def test_seek_and_skip_clamp():
    p = FakePlayer()
    p.load(Path("x"), duration=30)
    p.seek(40)
    assert p.position == 30
    p.skip(-45)
    assert p.position == 0
    p.skip(15)
    assert p.position == 15
