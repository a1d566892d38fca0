"""Therapist-mode state kept in the database: the clinic's favourite exercises.

Favourites belong to the station, not to a person (there are no therapist accounts), and
are shown pinned at the top of the therapist panel. They hold exercise ids only, with no
link to the catalogue's tables: removing an exercise leaves its id here, and the panel shows
only favourites the catalogue still has; importing it again brings the favourite back.
"""

from __future__ import annotations

import datetime as dt

import sqlite_utils
from sqlite_utils.migrations import Migrations

from kiosk.store import write_transaction

migrations = Migrations("kiosk.therapist")


@migrations()
def m001_create_favourites(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE therapist_favourites (exercise_id TEXT PRIMARY KEY, added_at TEXT NOT NULL)"
    )


def favourites(db: sqlite_utils.Database) -> list[str]:
    """Favourite exercise ids, in the order they were added."""
    rows = db.execute("SELECT exercise_id FROM therapist_favourites ORDER BY added_at, exercise_id")
    return [r[0] for r in rows.fetchall()]


def is_favourite(db: sqlite_utils.Database, exercise_id: str) -> bool:
    row = db.execute("SELECT 1 FROM therapist_favourites WHERE exercise_id = ?", [exercise_id])
    return row.fetchone() is not None


def set_favourite(db: sqlite_utils.Database, exercise_id: str, favourite: bool) -> None:
    """Pins or unpins an exercise; doing it twice is harmless."""
    if not exercise_id:
        raise ValueError("an exercise id is needed")
    with write_transaction(db):
        if favourite:
            now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            db.execute(
                "INSERT OR IGNORE INTO therapist_favourites (exercise_id, added_at) VALUES (?, ?)",
                [exercise_id, now],
            )
        else:
            db.execute("DELETE FROM therapist_favourites WHERE exercise_id = ?", [exercise_id])
