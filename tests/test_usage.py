"""Usage events: recording, counts per exercise, per local day, and the CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest

from kiosk import usage
from kiosk.store import open_db
from kiosk.therapist.favourites import favourites, is_favourite, set_favourite
from kiosk.usage import DailyUsageRow, UsageRow, counts, daily_counts, daily_csv, record

LONDON = ZoneInfo("Europe/London")
UTC = dt.UTC


@pytest.fixture
def db(tmp_path):
    database = open_db(tmp_path / "kiosk.sqlite3")
    yield database
    database.close()


def at(text: str, tz: dt.tzinfo = LONDON) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=tz)


# A Tuesday afternoon in June (BST, UTC+1).
NOW = at("2026-06-16 15:00")


def scripted(db) -> None:
    """A week at one station: what the counts below must show."""
    events = [
        # today
        ("2026-06-16 09:00", "play_started", "breathing", "en-GB"),
        ("2026-06-16 09:12", "play_completed", "breathing", "en-GB"),
        ("2026-06-16 10:00", "play_started", "breathing", "en-US"),
        ("2026-06-16 10:05", "link_issued", "breathing", "en-US"),
        ("2026-06-16 10:05", "link_issued", "safe-place", "en-GB"),
        ("2026-06-16 11:00", "file_downloaded", "breathing", "en-US"),
        ("2026-06-16 11:00", "file_downloaded", "breathing", "en-US"),
        # just after local midnight: stored as 23:30 UTC the day before, counted today
        ("2026-06-16 00:30", "play_started", "safe-place", "en-GB"),
        # yesterday, just before local midnight
        ("2026-06-15 23:59", "play_started", "safe-place", "en-GB"),
        # six days ago: the first day of a 7-day window (Wednesday 10th)
        ("2026-06-10 00:00", "play_started", "compassionate-other", "en-GB"),
        # seven days ago, one minute before that window opens
        ("2026-06-09 23:59", "play_started", "compassionate-other", "en-GB"),
        # 40 days ago
        ("2026-05-07 12:00", "play_started", "breathing", "en-GB"),
    ]
    for when, kind, exercise, lang in events:
        record(db, kind, exercise, lang, "station-1", at=at(when))


def test_record_stores_utc_and_nothing_else(db) -> None:
    record(db, "play_started", "breathing", "en-GB", "station-1", at=at("2026-06-16 00:30"))
    rows = list(db["usage_events"].rows)
    assert len(rows) == 1
    row = rows[0]
    assert row["at"] == "2026-06-15T23:30:00.000000Z"
    assert set(row) == {"id", "at", "kind", "exercise_id", "lang", "station"}


def test_record_defaults_to_now(db) -> None:
    before = dt.datetime.now(UTC)
    record(db, "link_issued", "breathing", "en-GB", "station-1")
    stored = usage._parse_utc(next(iter(db["usage_events"].rows))["at"])
    assert before <= stored <= dt.datetime.now(UTC)


@pytest.mark.parametrize("kind", ["played", "PLAY_STARTED", "", "play_started "])
def test_unknown_kind_refused(db, kind: str) -> None:
    with pytest.raises(ValueError, match="unknown usage event kind"):
        record(db, kind, "breathing", "en-GB", "station-1")
    assert db["usage_events"].count == 0


def test_naive_time_and_missing_fields_refused(db) -> None:
    with pytest.raises(ValueError, match="time zone"):
        record(db, "play_started", "breathing", "en-GB", "s", at=dt.datetime(2026, 6, 16))
    with pytest.raises(ValueError):
        record(db, "play_started", "", "en-GB", "s")


def test_table_refuses_unknown_kinds_too(db) -> None:
    import sqlite3

    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO usage_events (at, kind, exercise_id, lang, station) "
                   "VALUES ('2026-01-01T00:00:00.000000Z', 'viewed', 'x', 'en-GB', 's')")


def test_counts_per_exercise_over_seven_days(db) -> None:
    scripted(db)
    assert counts(db, 7, now=NOW, tz=LONDON) == [
        UsageRow("breathing", plays_started=2, plays_completed=1, links_issued=1, downloads=2),
        UsageRow("safe-place", plays_started=2, links_issued=1),
        UsageRow("compassionate-other", plays_started=1),
    ]


def test_counts_today_only_and_longer_windows(db) -> None:
    scripted(db)
    today = {r.exercise_id: r.plays_started for r in counts(db, 1, now=NOW, tz=LONDON)}
    assert today == {"breathing": 2, "safe-place": 1}
    two_days = {r.exercise_id: r.plays_started for r in counts(db, 2, now=NOW, tz=LONDON)}
    assert two_days == {"breathing": 2, "safe-place": 2}
    eight = {r.exercise_id: r.plays_started for r in counts(db, 8, now=NOW, tz=LONDON)}
    assert eight["compassionate-other"] == 2
    thirty = {r.exercise_id: r.plays_started for r in counts(db, 30, now=NOW, tz=LONDON)}
    assert thirty["breathing"] == 2
    assert {r.exercise_id: r.plays_started for r in counts(db, 41, now=NOW, tz=LONDON)}["breathing"] == 3


def test_events_after_now_are_not_counted(db) -> None:
    record(db, "play_started", "breathing", "en-GB", "s", at=at("2026-06-16 16:00"))
    assert counts(db, 7, now=NOW, tz=LONDON) == []


def test_daily_rows_use_local_days(db) -> None:
    scripted(db)
    rows = daily_counts(db, 7, now=NOW, tz=LONDON)
    assert rows == [
        DailyUsageRow("2026-06-10", "station-1", "compassionate-other", "en-GB", plays_started=1),
        DailyUsageRow("2026-06-15", "station-1", "safe-place", "en-GB", plays_started=1),
        DailyUsageRow("2026-06-16", "station-1", "breathing", "en-GB", plays_started=1,
                      plays_completed=1),
        DailyUsageRow("2026-06-16", "station-1", "breathing", "en-US", plays_started=1,
                      links_issued=1, downloads=2),
        DailyUsageRow("2026-06-16", "station-1", "safe-place", "en-GB", plays_started=1,
                      links_issued=1),
    ]


def test_day_boundary_across_the_clocks_going_back(db) -> None:
    # 25 October 2026: BST ends at 02:00 local (01:00 UTC); that Sunday has 25 hours.
    record(db, "play_started", "a", "en-GB", "s", at=dt.datetime(2026, 10, 24, 23, 30, tzinfo=UTC))
    record(db, "play_started", "b", "en-GB", "s", at=dt.datetime(2026, 10, 25, 23, 30, tzinfo=UTC))
    now = dt.datetime(2026, 10, 26, 12, 0, tzinfo=UTC)
    days = [(r.date, r.exercise_id) for r in daily_counts(db, 3, now=now, tz=LONDON)]
    # 23:30 UTC is 00:30 BST on the 25th, but 23:30 GMT (still the 25th) a day later.
    assert days == [("2026-10-25", "a"), ("2026-10-25", "b")]
    # A 2-day window opens at midnight on the 25th, which was still BST (UTC+1).
    start, _ = usage.window(2, now, LONDON)
    assert start == dt.datetime(2026, 10, 24, 23, 0, tzinfo=UTC)


def test_csv_has_a_header_and_one_line_per_row(db) -> None:
    scripted(db)
    text = daily_csv(daily_counts(db, 7, now=NOW, tz=LONDON))
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["date", "station", "exercise_id", "lang", "plays_started",
                        "plays_completed", "links_issued", "downloads"]
    assert lines[1] == ["2026-06-10", "station-1", "compassionate-other", "en-GB", "1", "0", "0", "0"]
    assert len(lines) == 6
    assert text.endswith("\r\n")


def test_csv_with_no_rows_is_just_the_header() -> None:
    assert daily_csv([]).splitlines() == [",".join(usage.CSV_COLUMNS)]


def test_window_needs_a_day_and_an_aware_now() -> None:
    with pytest.raises(ValueError):
        usage.window(0, NOW)
    with pytest.raises(ValueError):
        usage.window(1, dt.datetime(2026, 6, 16))


def test_prune_removes_only_old_events(db) -> None:
    scripted(db)
    assert usage.prune(db, keep_days=30, now=NOW) == 1
    assert db["usage_events"].count == 11


def test_favourites(db) -> None:
    assert favourites(db) == []
    set_favourite(db, "safe-place", True)
    set_favourite(db, "breathing", True)
    set_favourite(db, "safe-place", True)  # twice is harmless, and keeps its place
    assert favourites(db) == ["safe-place", "breathing"]
    assert is_favourite(db, "breathing")
    set_favourite(db, "safe-place", False)
    set_favourite(db, "never-was", False)
    assert favourites(db) == ["breathing"]
    assert not is_favourite(db, "safe-place")
    with pytest.raises(ValueError):
        set_favourite(db, "", True)


def test_each_thread_writes_through_its_own_connection(tmp_path) -> None:
    import threading

    path = tmp_path / "kiosk.sqlite3"
    open_db(path).close()

    def writer(n: int) -> None:
        own = open_db(path)
        try:
            for _ in range(20):
                record(own, "play_started", f"ex-{n}", "en-GB", "s")
        finally:
            own.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check = open_db(path)
    try:
        assert sum(r.plays_started for r in counts(check, 1)) == 80
    finally:
        check.close()
