"""Opens the station's SQLite database: WAL, explicit durability, every migration applied.

One connection per thread: each thread calls `open_db` itself (sqlite3 connections are bound
to the thread that opened them).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

log = logging.getLogger(__name__)

# Modules that own tables, each with a `migrations = Migrations("kiosk.<name>")` set.
# Sets are independent, so each part of the product evolves its own tables.
MIGRATION_MODULES: list[str] = ["kiosk.usage", "kiosk.therapist", "kiosk.takehome.links", "kiosk.content.schema"]


class StoreError(Exception):
    """The database cannot be opened or is damaged; the message names the file."""


def _migration_sets() -> list[Migrations]:
    return [importlib.import_module(name).migrations for name in MIGRATION_MODULES]


def open_db(path: Path, *, migrate: bool = True) -> sqlite_utils.Database:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=5.0)
        db = sqlite_utils.Database(conn)
        # WAL keeps readers (screen, server) from blocking the writer. NORMAL is durable
        # against a crash of the process and keeps the file consistent on power loss (the
        # last transaction may be lost, never half of it), at a fraction of FULL's fsyncs.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=5000")
        if migrate:
            for migrations in _migration_sets():
                migrations.apply(db)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"the database {path} cannot be used: {exc}") from exc
    return db


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database, *, durable: bool = False) -> Iterator[sqlite_utils.Database]:
    """The one way to write: a transaction that holds the write lock from its first statement.

    sqlite-utils' `atomic()` begins a deferred transaction: one that reads before it writes
    fails at once with "database is locked" when another thread wrote in between (WAL cannot
    upgrade a stale read snapshot; the busy timeout does not help). BEGIN IMMEDIATE waits
    for the lock instead. Nested use becomes a savepoint of the outer transaction.

    durable=True makes this commit synchronous=FULL (the WAL is fsynced before COMMIT
    returns), for a commit that something irreversible follows, such as deleting the files
    the old rows named; the connection's NORMAL (see open_db) is restored after. It cannot
    be nested: a savepoint is only as durable as the outer commit.
    """
    if db.conn.in_transaction:
        if durable:
            raise RuntimeError("a durable write transaction cannot be nested in another transaction")
        with db.atomic():
            yield db
        return
    if durable:
        db.conn.execute("PRAGMA synchronous=FULL")
    try:
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            raise
        else:
            db.conn.execute("COMMIT")
    finally:
        if durable:
            db.conn.execute("PRAGMA synchronous=NORMAL")


def integrity_problems(db: sqlite_utils.Database) -> list[str]:
    """`PRAGMA integrity_check` lines other than "ok" (an empty list means healthy)."""
    rows = [r[0] for r in db.execute("PRAGMA integrity_check").fetchall()]
    return [] if rows == ["ok"] else rows
