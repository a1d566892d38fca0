"""The one fake player keeps the real engine's rules and its API, so tests against it mean
something; every player is held to the Player protocol, signature by signature."""

from __future__ import annotations

import inspect
import itertools
import threading
import time
from pathlib import Path

import pytest

from kiosk.audio.api import (
    BaseListener,
    Player,
    PlayerError,
    PlayerErrorKind,
    PlayerListener,
    PlayerState,
)
from kiosk.audio.fake import FakePlayer
from kiosk.audio.player import PortAudioPlayer
from kiosk.audio.remote import RemotePlayer
from kiosk.audio.unavailable import UnavailablePlayer


class Log(BaseListener):
    def __init__(self) -> None:
        self.items: list[tuple[str, object]] = []

    def on_state(self, state: PlayerState) -> None:
        self.items.append(("on_state", state))

    def on_position(self, seconds: float) -> None:
        self.items.append(("on_position", seconds))

    def on_ended(self) -> None:
        self.items.append(("on_ended", None))

    def on_error(self, error: PlayerError) -> None:
        self.items.append(("on_error", error))

    def kinds(self) -> list[PlayerErrorKind]:
        return [v.kind for k, v in self.items if isinstance(v, PlayerError)]


@pytest.fixture
def track(tmp_path: Path) -> Path:
    path = tmp_path / "x.flac"
    path.write_bytes(b"fLaC stand-in")  # the fake only asks whether the file is there
    return path


def _methods(cls: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(member) for name, member in vars(cls).items()
            if not name.startswith("_") and callable(member)}


@pytest.mark.parametrize("impl", [FakePlayer, PortAudioPlayer, RemotePlayer, UnavailablePlayer])
def test_every_player_has_the_protocols_signatures(impl):
    """runtime_checkable only looks at names: a drifted parameter would pass isinstance."""
    wanted = _methods(Player)
    assert wanted, "found no methods on the protocol"
    for name, signature in wanted.items():
        got = inspect.signature(getattr(impl, name))
        assert got == signature, f"{impl.__name__}.{name}{got} is not Player.{name}{signature}"
    properties = {name for name, member in vars(Player).items() if isinstance(member, property)}
    assert {"state", "position", "duration", "volume", "volume_cap"} <= properties


def test_every_listener_has_the_protocols_signatures():
    from kiosk.ui.playback import _Listener  # noqa: PLC0415  (Kivy: only when asked)

    for name, signature in _methods(PlayerListener).items():
        for impl in (BaseListener, _Listener):
            assert inspect.signature(getattr(impl, name)) == signature, f"{impl.__name__}.{name}"


def test_a_drifted_signature_is_caught():
    class Drifted(FakePlayer):
        def seek(self, position: float) -> None:  # renamed parameter
            super().seek(position)

    assert isinstance(Drifted(speed=0), Player)  # what the runtime check alone would say
    assert inspect.signature(Drifted.seek) != inspect.signature(Player.seek)


def test_is_a_player(track):
    assert isinstance(FakePlayer(), Player)
    assert isinstance(UnavailablePlayer(), Player)


def test_play_advance_to_the_end(track):
    p = FakePlayer(speed=0)
    log = Log()
    p.add_listener(log)
    p.load(track, duration=1.0)
    assert p.state == PlayerState.IDLE
    p.play()
    p.advance(0.55)
    assert abs(p.position - 0.55) < 1e-9
    positions = [v for k, v in log.items if k == "on_position"]
    assert len(positions) >= 6  # 10 per second, as the engine
    p.advance(5)
    assert p.state == PlayerState.ENDED and ("on_ended", None) in log.items
    assert ("on_state", PlayerState.ENDED) in log.items
    p.play()
    assert p.state == PlayerState.PLAYING and p.position == 0.0


def test_its_own_clock_runs_on_its_own_thread(track):
    threads: list[str] = []

    class Where(Log):
        def on_position(self, seconds: float) -> None:
            threads.append(threading.current_thread().name)

    p = FakePlayer(speed=4.0, report_every=0.02)
    p.add_listener(Where())
    p.load(track, duration=1.0)
    p.play()
    deadline = time.monotonic() + 3.0
    while p.state != PlayerState.ENDED and time.monotonic() < deadline:
        time.sleep(0.02)
    p.close()
    assert p.state == PlayerState.ENDED and p.position == 1.0
    assert "fake-player" in threads



def test_a_clock_woken_late_catches_up_in_report_sized_steps(track):
    """As the engine's reports do: a stall of the clock's thread (here a listener that takes
    half a second once) is followed by every report it missed, not by one jump that the
    play counter would take for a seek."""
    positions: list[float] = []

    class Slow(Log):
        def on_position(self, seconds: float) -> None:
            positions.append(seconds)
            if len(positions) == 5:
                time.sleep(0.5)

    p = FakePlayer(speed=1.0, report_every=0.02)
    p.add_listener(Slow())
    p.load(track, duration=10.0)
    p.play()
    time.sleep(1.0)
    p.close()
    steps = [b - a for a, b in itertools.pairwise(positions)]
    assert positions[-1] > 0.8, "the clock went on after the stall"
    assert max(steps) <= 0.02 + 1e-9, f"a step of {max(steps):.3f} s after the stall"

def test_volume_rules(track):
    p = FakePlayer(volume_cap=0.6, start_volume=0.3)
    p.load(track, duration=10)
    p.set_volume(2.0)
    assert p.volume == 0.6
    p.load(track, duration=10)
    assert p.volume == 0.3, "a new session starts at the start volume"
    p.set_volume(-1)
    assert p.volume == 0.0
    p.reset_volume()
    assert p.volume == 0.3


def test_failure_and_recovery(track):
    p = FakePlayer(speed=0)
    log = Log()
    p.add_listener(log)
    p.load(track, duration=10)
    p.play()
    p.advance(1)
    p.fail(PlayerErrorKind.DEVICE_LOST)
    assert p.state == PlayerState.ERROR
    assert log.kinds() == [PlayerErrorKind.DEVICE_LOST]
    p.play()
    assert p.state == PlayerState.ERROR and len(log.kinds()) == 2
    p.recover()
    assert p.state == PlayerState.PAUSED
    p.resume()
    assert p.state == PlayerState.PLAYING


def test_a_missing_file_is_an_error_of_its_kind(tmp_path):
    p = FakePlayer(speed=0)
    log = Log()
    p.add_listener(log)
    gone = tmp_path / "gone.flac"
    p.load(gone, duration=10)
    assert p.state == PlayerState.ERROR
    errors = [v for _, v in log.items if isinstance(v, PlayerError)]
    assert [(e.kind, e.path) for e in errors] == [(PlayerErrorKind.FILE_MISSING, gone)]


def test_the_unavailable_player_says_so_through_dispatch():
    queued: list = []
    p = UnavailablePlayer(queued.append)
    log = Log()
    p.add_listener(log)
    p.load(Path("anything.flac"), 30.0)
    p.play()
    assert not log.items
    for fn in queued:
        fn()
    assert p.state == PlayerState.ERROR and log.kinds() == [PlayerErrorKind.DEVICE_UNAVAILABLE]


def test_dispatch_is_used(track):
    queued: list = []
    p = FakePlayer(dispatch=queued.append)
    log = Log()
    p.add_listener(log)
    p.load(track, duration=3)
    assert not log.items and queued
    for fn in queued:
        fn()
    assert log.items


def test_seek_and_skip_clamp(track):
    p = FakePlayer()
    p.load(track, duration=30)
    p.seek(40)
    assert p.position == 30
    p.skip(-45)
    assert p.position == 0
    p.skip(15)
    assert p.position == 15


def test_the_fakes_speech_runs_on_its_clock_over_a_playing_track(track, tmp_path):
    import numpy as np
    import soundfile

    from kiosk.audio.api import SpeechState
    from kiosk.audio.stage import DUCK_GAIN

    words = tmp_path / "words.wav"
    soundfile.write(str(words), np.zeros(22050, np.float32), 22050)  # 1.0 s
    p = FakePlayer(speed=0)
    heard: list[SpeechState] = []

    class Speech(BaseListener):
        def on_speech(self, state: SpeechState) -> None:
            heard.append(state)

    p.add_listener(Speech())
    p.load(track, duration=30)
    p.play()
    p.speak(words)
    assert p.speech_state == SpeechState.SPEAKING and p.track_level == DUCK_GAIN
    p.advance(0.5)
    p.pause_speaking()
    assert p.track_level == 1.0
    p.advance(5.0)  # paused words stay paused
    p.resume_speaking()
    p.advance(0.6)
    assert p.speech_state == SpeechState.IDLE and p.track_level == 1.0
    assert p.state == PlayerState.PLAYING and p.position == pytest.approx(6.1)
    p.speak(words)
    p.stop_speaking()
    p.speak(tmp_path / "gone.wav")  # unreadable: nothing said
    assert heard == [SpeechState.SPEAKING, SpeechState.PAUSED, SpeechState.SPEAKING, SpeechState.IDLE,
                     SpeechState.SPEAKING, SpeechState.IDLE]
    assert p.spoken == [words, words]
