"""What counts as a play started and a play completed (kiosk.plays), fed the events a player
sends; and that the counts reach the database through the usage writer's own thread."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from kiosk.audio.api import PlayerState
from kiosk.plays import PlayCounter
from kiosk.store import open_db
from kiosk.usage import PLAY_COMPLETED, PLAY_STARTED, UsageWriter, counts


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []
        self.counter = PlayCounter(lambda *event: self.seen.append(event))

    def load(self, exercise_id: str = "breath", lang: str = "en-GB", duration: float = 100.0) -> None:
        self.counter.on_state(PlayerState.IDLE)
        self.counter.track(exercise_id, lang, duration)

    def play_through(self, start: float, end: float, step: float = 0.08) -> None:
        """Position reports from `start` to `end` while playing, as the engine sends them."""
        position = start
        while position < end:
            position = min(end, position + step)
            self.counter.on_position(position)

    def kinds(self) -> list[str]:
        return [kind for kind, _e, _l in self.seen]


@pytest.fixture
def ev() -> Events:
    return Events()


def test_nothing_is_counted_until_sound_is_heard(ev):
    ev.load()
    ev.counter.on_state(PlayerState.PLAYING)
    assert ev.seen == []  # play pressed, not a sound yet
    ev.counter.on_position(0.08)
    assert ev.seen == [(PLAY_STARTED, "breath", "en-GB")]


def test_a_play_heard_to_the_end_is_completed_once(ev):
    ev.load()
    ev.counter.on_state(PlayerState.PLAYING)
    ev.play_through(0.0, 99.95)
    ev.counter.on_ended()
    assert ev.kinds() == [PLAY_STARTED, PLAY_COMPLETED]


def test_completed_at_ninety_percent_heard_not_before(ev):
    ev.load(duration=100.0)
    ev.counter.on_state(PlayerState.PLAYING)
    ev.play_through(0.0, 89.5)
    assert ev.kinds() == [PLAY_STARTED]
    ev.play_through(89.5, 90.1)
    assert ev.kinds() == [PLAY_STARTED, PLAY_COMPLETED]


def test_a_seek_to_the_end_does_not_complete_a_play(ev):
    ev.load()
    ev.counter.on_state(PlayerState.PLAYING)
    ev.play_through(0.0, 5.0)
    ev.counter.on_position(95.0)  # the seek bar dragged to near the end
    ev.play_through(95.0, 99.95)
    ev.counter.on_ended()
    assert ev.kinds() == [PLAY_STARTED]


def test_hearing_the_same_part_twice_counts_it_once(ev):
    ev.load()
    ev.counter.on_state(PlayerState.PLAYING)
    for _ in range(3):
        ev.play_through(0.0, 50.0)
        ev.counter.on_position(0.0)  # back to the start
    assert ev.kinds() == [PLAY_STARTED]
    ev.play_through(0.0, 91.0)
    assert ev.kinds() == [PLAY_STARTED, PLAY_COMPLETED]


def test_a_pause_keeps_the_play_a_stop_ends_it(ev):
    ev.load()
    ev.counter.on_state(PlayerState.PLAYING)
    ev.play_through(0.0, 50.0)
    ev.counter.on_state(PlayerState.PAUSED)
    ev.counter.on_state(PlayerState.PLAYING)
    ev.play_through(50.0, 95.0)
    assert ev.kinds() == [PLAY_STARTED, PLAY_COMPLETED]
    ev.counter.on_state(PlayerState.IDLE)  # stopped: the next play is a new one
    ev.counter.on_state(PlayerState.PLAYING)
    ev.play_through(0.0, 1.0)
    assert ev.kinds() == [PLAY_STARTED, PLAY_COMPLETED, PLAY_STARTED]


def test_play_again_after_the_end_is_a_new_play(ev):
    ev.load(duration=10.0)
    ev.counter.on_state(PlayerState.PLAYING)
    ev.play_through(0.0, 9.96)
    ev.counter.on_ended()
    ev.counter.on_state(PlayerState.PLAYING)
    ev.play_through(0.0, 9.96)
    ev.counter.on_ended()
    assert ev.kinds() == [PLAY_STARTED, PLAY_COMPLETED] * 2


def test_each_track_is_counted_as_itself(ev):
    ev.load("breath", "en-US", 10.0)
    ev.counter.on_state(PlayerState.PLAYING)
    ev.play_through(0.0, 2.0)
    ev.load("safe-place", "en-GB", 10.0)
    ev.counter.on_state(PlayerState.PLAYING)
    ev.play_through(0.0, 9.5)
    assert ev.seen == [(PLAY_STARTED, "breath", "en-US"), (PLAY_STARTED, "safe-place", "en-GB"),
                       (PLAY_COMPLETED, "safe-place", "en-GB")]


def test_the_writer_records_on_its_own_thread_and_drains_at_stop(tmp_path: Path):
    db_path = tmp_path / "kiosk.sqlite3"
    open_db(db_path).close()  # the station's start migrates first
    threads: list[str] = []

    def opener():
        threads.append(threading.current_thread().name)
        return open_db(db_path)

    writer = UsageWriter(opener, "station-7")
    writer.start()
    counter = PlayCounter(writer.record)
    counter.track("breath", "en-GB", 10.0)
    counter.on_state(PlayerState.PLAYING)
    position = 0.0
    while position < 9.96:
        position += 0.08
        counter.on_position(position)
    counter.on_ended()
    writer.stop()
    assert threads == [UsageWriter.THREAD_NAME]
    db = open_db(db_path)
    try:
        rows = counts(db, 1)
        station = db.execute("SELECT DISTINCT station FROM usage_events").fetchall()
    finally:
        db.close()
    assert [(r.exercise_id, r.plays_started, r.plays_completed) for r in rows] == [("breath", 1, 1)]
    assert station == [("station-7",)]


def test_a_failing_writer_never_stops_a_play(tmp_path: Path, caplog):
    def broken():
        raise OSError("disk gone")

    writer = UsageWriter(broken, "s")
    writer.start()
    writer.record(PLAY_STARTED, "breath", "en-GB")
    writer.stop()
    assert "recording the usage event play_started failed" in caplog.text


def test_a_prompt_played_in_between_is_no_part_of_the_play(ev):
    """ "Still there?" is heard while the exercise is paused: the events of the prompt (and of
    loading the exercise back) count for nothing, and the play goes on after it as one."""
    ev.load(duration=100.0)
    ev.counter.on_state(PlayerState.PLAYING)
    ev.play_through(0.0, 50.0)
    ev.counter.on_state(PlayerState.PAUSED)
    saved = ev.counter.set_aside()
    ev.counter.on_state(PlayerState.IDLE)  # the prompt loaded
    ev.counter.on_state(PlayerState.PLAYING)
    ev.play_through(0.0, 7.0)
    ev.counter.on_ended()
    ev.counter.on_state(PlayerState.IDLE)  # the exercise loaded back, at 50 s
    ev.counter.on_position(0.0)
    ev.counter.on_position(50.0)
    ev.counter.put_back(saved)
    assert ev.kinds() == [PLAY_STARTED]
    ev.counter.on_state(PlayerState.PLAYING)
    ev.play_through(50.0, 85.0)
    assert ev.kinds() == [PLAY_STARTED]  # 85 s heard: not yet 90%
    ev.play_through(85.0, 99.95)
    ev.counter.on_ended()
    assert ev.kinds() == [PLAY_STARTED, PLAY_COMPLETED]
