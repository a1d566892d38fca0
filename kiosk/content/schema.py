"""The catalogue's tables, created and evolved by migrations (kiosk.store applies them).

Only `kiosk.content.catalogue` reads and writes these rows; `kiosk.content.search` queries
the two FTS5 indexes defined here.
"""

from __future__ import annotations

import json

import sqlite_utils
from sqlite_utils.migrations import Migrations

__all__ = ["migrations"]

# The set keeps the name it had before the module moved: stations' databases record it.
migrations = Migrations("kiosk.catalogue")


@migrations()
def m001_create_catalogue(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE packs (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            version TEXT NOT NULL,
            publisher TEXT NOT NULL DEFAULT '',
            folder TEXT NOT NULL UNIQUE,      -- relative to the content folder
            source TEXT NOT NULL,             -- the folder or zip it was imported from
            imported_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE exercises (
            id TEXT PRIMARY KEY,
            pack_id TEXT NOT NULL REFERENCES packs(id),
            position INTEGER NOT NULL,
            guidance TEXT NOT NULL DEFAULT '',
            references_json TEXT NOT NULL DEFAULT '[]',
            techniques_json TEXT NOT NULL DEFAULT '[]',
            languages_json TEXT NOT NULL DEFAULT '[]',
            visibility TEXT NOT NULL CHECK (visibility IN ('public', 'therapist'))
        )"""
    )
    db.execute("CREATE INDEX exercises_pack ON exercises(pack_id)")
    db.execute(
        """
        CREATE TABLE exercise_techniques (
            exercise_id TEXT NOT NULL REFERENCES exercises(id),
            technique TEXT NOT NULL,
            position INTEGER NOT NULL,
            PRIMARY KEY (exercise_id, technique)
        )"""
    )
    db.execute("CREATE INDEX exercise_techniques_technique ON exercise_techniques(technique)")
    # An INTEGER PRIMARY KEY keeps rowids stable through VACUUM, which the external-content
    # FTS index below relies on.
    db.execute(
        """
        CREATE TABLE variants (
            id INTEGER PRIMARY KEY,
            exercise_id TEXT NOT NULL REFERENCES exercises(id),
            lang TEXT NOT NULL,
            position INTEGER NOT NULL,
            title TEXT NOT NULL,
            summary TEXT NOT NULL,
            introduction TEXT NOT NULL DEFAULT '',
            techniques TEXT NOT NULL DEFAULT '',   -- words for search
            script TEXT NOT NULL DEFAULT '',       -- the cues' text, for search
            search_meta TEXT NOT NULL DEFAULT '',  -- filter tokens for search (search_meta())
            duration_seconds REAL NOT NULL,
            audio_path TEXT NOT NULL,
            audio_bytes INTEGER NOT NULL,
            playback_path TEXT NOT NULL,
            cues_path TEXT NOT NULL,
            script_pdf_path TEXT NOT NULL,
            script_pdf_bytes INTEGER NOT NULL,
            script_pdf_rendered INTEGER NOT NULL DEFAULT 0,
            cues_json TEXT NOT NULL,
            UNIQUE (exercise_id, lang)
        )"""
    )
    db.execute("CREATE INDEX variants_lang ON variants(lang, exercise_id)")
    # Hidden by the administrator: kept apart from the pack's own rows so that the choice
    # survives importing a newer version of the pack.
    db.execute(
        """
        CREATE TABLE hidden_exercises (
            exercise_id TEXT PRIMARY KEY,
            hidden_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE TABLE catalogue_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("CREATE INDEX variants_lang_title ON variants(lang, title COLLATE NOCASE, exercise_id)")
    # Two external-content FTS5 indexes over the variants, kept in step by triggers:
    # - variants_fts: title, summary, techniques and script: every word anywhere;
    # - variants_head_fts: title, summary and techniques only, whose doclists stay short.
    # Search ranks matches in tiers (see kiosk.content.search.ranked_variant_ids) because in a large
    # catalogue a common word or a two-letter prefix matches most scripts, and ranking
    # thousands of long rows costs more than a type-ahead keystroke may (bench/content.py).
    # `search_meta` holds tokens for the filters (language, browse visibility,
    # techniques), so the FTS engine narrows the rows itself instead of each match being
    # joined to the tables. Prefix indexes: type-ahead sends 2-4 letter prefixes, which
    # without them merge the doclists of every word that begins that way.
    indexes = {
        "variants_fts": "title, summary, techniques, script, search_meta",
        "variants_head_fts": "title, summary, techniques, search_meta",
    }
    for name, columns in indexes.items():
        db.execute(
            f"""
            CREATE VIRTUAL TABLE {name} USING fts5(
                {columns},
                content="variants", content_rowid=id,
                tokenize='unicode61 remove_diacritics 2', prefix='2 3 4'
            )"""
        )
    inserts = "".join(
        f"INSERT INTO {name} (rowid, {cols}) VALUES (new.id, {_prefixed('new', cols)});\n"
        for name, cols in indexes.items()
    )
    deletes = "".join(
        f"INSERT INTO {name} ({name}, rowid, {cols}) VALUES ('delete', old.id, {_prefixed('old', cols)});\n"
        for name, cols in indexes.items()
    )
    db.execute(f"CREATE TRIGGER variants_ai AFTER INSERT ON variants BEGIN\n{inserts}END")
    db.execute(f"CREATE TRIGGER variants_ad AFTER DELETE ON variants BEGIN\n{deletes}END")
    db.execute(f"CREATE TRIGGER variants_au AFTER UPDATE ON variants BEGIN\n{deletes}{inserts}END")


@migrations()
def m002_untimed_scripts(db: sqlite_utils.Database) -> None:
    # A script added with its audio that could not be timed (kiosk add) is shown without a
    # highlight: its cues' times are only an even spread, in reading order.
    db.execute("ALTER TABLE variants ADD COLUMN timed INTEGER NOT NULL DEFAULT 1")


@migrations()
def m003_loudness(db: sqlite_utils.Database) -> None:
    # Measured at import (kiosk.audio.loudness). Variants imported before this have NULL:
    # unknown, played at unity gain, as they always were, until their pack is imported again.
    db.execute("ALTER TABLE variants ADD COLUMN loudness_lufs REAL")
    db.execute("ALTER TABLE variants ADD COLUMN peak REAL")


@migrations()
def m004_phone_copies(db: sqlite_utils.Database) -> None:
    # The M4A made at import for phones where they do not play the original (WAV, FLAC,
    # Ogg: kiosk.content.phonecopy). NULL: phones get the original, as every variant imported
    # before this did, until its pack is imported again.
    db.execute("ALTER TABLE variants ADD COLUMN phone_path TEXT")
    db.execute("ALTER TABLE variants ADD COLUMN phone_bytes INTEGER")


@migrations()
def m005_passage_placements(db: sqlite_utils.Database) -> None:
    # How each passage's start was found, one [state, confidence] per cue (kiosk.content.models
    # .Placement), written with the cues. Rows from before: an untimed script is in order
    # only; the station's own exercises (the "local" pack, kiosk add's) were timed by the
    # aligner, whose confidence was not kept; a publisher's pack gave its own times. (A passage
    # corrected before this cannot be told apart.)
    db.execute("ALTER TABLE variants ADD COLUMN placements_json TEXT NOT NULL DEFAULT '[]'")
    rows = db.execute(
        "SELECT v.id, v.cues_json, v.timed, e.pack_id FROM variants v "
        "JOIN exercises e ON e.id = v.exercise_id").fetchall()
    for variant_id, cues_json, timed, pack_id in rows:
        state = "aligned" if pack_id == "local" else "given"
        placement = [state if timed else "untimed", None]
        db.execute("UPDATE variants SET placements_json = ? WHERE id = ?",
                   [json.dumps([placement] * len(json.loads(cues_json))), variant_id])


def _prefixed(row: str, columns: str) -> str:
    return ", ".join(f"{row}.{c.strip()}" for c in columns.split(","))
