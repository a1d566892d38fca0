"""Anonymous usage events and the counts a clinic sees (therapist panel, `kiosk stats`).

An event says what happened to which exercise variant, on which station, and when; never
anything about the person. Times are stored in UTC (ISO 8601, fixed width so that text
order is time order); days are counted in the station's local time zone, since "Tuesday"
means the clinic's Tuesday.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import io
import logging
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from kiosk.store import write_transaction

log = logging.getLogger(__name__)

PLAY_STARTED = "play_started"
PLAY_COMPLETED = "play_completed"  # at least 90% of the track heard (kiosk.plays counts it)
LINK_ISSUED = "link_issued"  # one per exercise variant in the link (a bundle counts each)
FILE_DOWNLOADED = "file_downloaded"  # one complete download of an MP3 or a PDF
KINDS = (PLAY_STARTED, PLAY_COMPLETED, LINK_ISSUED, FILE_DOWNLOADED)

migrations = Migrations("kiosk.usage")


@migrations()
def m001_create_events(db: sqlite_utils.Database) -> None:
    kinds = ", ".join(f"'{k}'" for k in KINDS)
    db.execute(
        f"""
        CREATE TABLE usage_events (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ({kinds})),
            exercise_id TEXT NOT NULL,
            lang TEXT NOT NULL,
            station TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX usage_events_at ON usage_events (at)")


def _utc_text(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("usage times must carry a time zone (use datetime.now(UTC))")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_utc(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def record(db: sqlite_utils.Database, kind: str, exercise_id: str, lang: str, station: str,
           at: dt.datetime | None = None) -> None:
    """Adds one event. `at` defaults to now; it must be timezone-aware."""
    if kind not in KINDS:
        raise ValueError(f"unknown usage event kind {kind!r}; expected one of {', '.join(KINDS)}")
    if not exercise_id or not lang or not station:
        raise ValueError("a usage event needs an exercise id, a language and a station name")
    when = _utc_text(at or dt.datetime.now(dt.UTC))
    with write_transaction(db):
        db.execute(
            "INSERT INTO usage_events (at, kind, exercise_id, lang, station) VALUES (?, ?, ?, ?, ?)",
            [when, kind, exercise_id, lang, station],
        )


@dataclass(frozen=True)
class UsageRow:
    """Counts for one exercise (all its languages) over the chosen days."""

    exercise_id: str
    plays_started: int = 0
    plays_completed: int = 0
    links_issued: int = 0
    downloads: int = 0


@dataclass(frozen=True)
class DailyUsageRow:
    """Counts for one exercise variant on one station on one local day (a CSV line)."""

    date: str  # YYYY-MM-DD, the station's local date
    station: str
    exercise_id: str
    lang: str
    plays_started: int = 0
    plays_completed: int = 0
    links_issued: int = 0
    downloads: int = 0


_COLUMN = {
    PLAY_STARTED: "plays_started",
    PLAY_COMPLETED: "plays_completed",
    LINK_ISSUED: "links_issued",
    FILE_DOWNLOADED: "downloads",
}


def window(days: int, now: dt.datetime | None = None,
           tz: dt.tzinfo | None = None) -> tuple[dt.datetime, dt.datetime]:
    """The last `days` local calendar days, today included: (start of the first day, now).

    `days=7` on a Tuesday afternoon covers last Wednesday 00:00 to now, local time.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    first_day = now.astimezone(tz).date() - dt.timedelta(days=days - 1)
    return _local_midnight(first_day, tz), now


def _events(db: sqlite_utils.Database, start: dt.datetime, end: dt.datetime,
            group: str) -> Iterable[Any]:
    sql = (f"SELECT {group}, kind, count(*) FROM usage_events "
           f"WHERE at >= ? AND at <= ? GROUP BY {group}, kind")
    return db.execute(sql, [_utc_text(start), _utc_text(end)]).fetchall()


def counts(db: sqlite_utils.Database, days: int, now: dt.datetime | None = None,
           tz: dt.tzinfo | None = None) -> list[UsageRow]:
    """Per exercise, the last `days` local days (see `window`); busiest first."""
    start, end = window(days, now, tz)
    totals: dict[str, dict[str, int]] = {}
    for exercise_id, kind, n in _events(db, start, end, "exercise_id"):
        if kind in _COLUMN:
            totals.setdefault(exercise_id, {})[_COLUMN[kind]] = n
    rows = [UsageRow(exercise_id=eid, **values) for eid, values in totals.items()]
    rows.sort(key=lambda r: (-r.plays_started, -r.links_issued, -r.downloads, r.exercise_id))
    return rows


def _local_midnight(day: dt.date, tz: dt.tzinfo | None) -> dt.datetime:
    if tz is None:
        # A naive midnight read as the station's local time gets that day's offset (DST).
        return dt.datetime.combine(day, dt.time(0)).astimezone()
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz)


def daily_counts(db: sqlite_utils.Database, days: int, now: dt.datetime | None = None,
                 tz: dt.tzinfo | None = None) -> list[DailyUsageRow]:
    """Per local day, station, exercise and language over the last `days` days; oldest first.

    Each local midnight is turned into UTC text here, and each event finds its day by
    comparing its stored text with those (SQLite's 'localtime' follows the process's zone,
    with no way to pass another). A day of 23 or 25 hours is counted as the clinic lived it.
    """
    start, end = window(days, now, tz)
    first = start.astimezone(tz).date()
    dates = [(first + dt.timedelta(days=i)).isoformat() for i in range(days)]
    starts = [_utc_text(_local_midnight(first + dt.timedelta(days=i), tz)) for i in range(days)]
    grouped: dict[tuple[str, str, str, str], dict[str, int]] = {}
    sql = ("SELECT at, station, exercise_id, lang, kind FROM usage_events "
           "WHERE at >= ? AND at <= ?")
    for at, station, exercise_id, lang, kind in db.execute(sql, [_utc_text(start), _utc_text(end)]):
        column = _COLUMN.get(kind)
        if column is None:
            continue
        day = dates[bisect.bisect_right(starts, at) - 1]
        values = grouped.setdefault((day, station, exercise_id, lang), {})
        values[column] = values.get(column, 0) + 1
    return [
        DailyUsageRow(date=d, station=s, exercise_id=e, lang=lang, **values)
        for (d, s, e, lang), values in sorted(grouped.items())
    ]


CSV_COLUMNS = tuple(f.name for f in fields(DailyUsageRow))


def daily_csv(rows: Iterable[DailyUsageRow]) -> str:
    """CSV text with a header line, for a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([getattr(row, name) for name in CSV_COLUMNS])
    return out.getvalue()


def prune(db: sqlite_utils.Database, keep_days: int, now: dt.datetime | None = None) -> int:
    """Deletes events older than `keep_days` days; returns how many went."""
    now = now or dt.datetime.now(dt.UTC)
    cutoff = _utc_text(now - dt.timedelta(days=keep_days))
    with write_transaction(db):
        cursor = db.execute("DELETE FROM usage_events WHERE at < ?", [cutoff])
    removed = cursor.rowcount
    if removed:
        log.info("removed %d usage events older than %d days", removed, keep_days)
    return removed


class UsageWriter:
    """Records events from threads that must not wait for the database (the player's), on
    a named thread of its own with its own connection. A failure to record is logged and
    forgotten: a usage count never stops a play."""

    THREAD_NAME = "usage-writer"

    def __init__(self, open_db: Callable[[], sqlite_utils.Database], station: str):
        self._open_db = open_db
        self._station = station
        self._queue: queue.Queue[tuple[str, str, str, dt.datetime] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=self.THREAD_NAME, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def record(self, kind: str, exercise_id: str, lang: str) -> None:
        """Queues the event, dated now; returns at once."""
        self._queue.put((kind, exercise_id, lang, dt.datetime.now(dt.UTC)))

    def stop(self, timeout: float = 5.0) -> None:
        """Writes what is queued, then ends the thread."""
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        db: sqlite_utils.Database | None = None
        while (item := self._queue.get()) is not None:
            kind, exercise_id, lang, at = item
            try:
                # Opened at the first event, not at start: the station's start-up migrates
                # the database meanwhile, and nothing is played before it is done.
                db = db or self._open_db()
                record(db, kind, exercise_id, lang, self._station, at=at)
            except Exception:
                log.exception("recording the usage event %s failed", kind)
        if db is not None:
            db.close()
