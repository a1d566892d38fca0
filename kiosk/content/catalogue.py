"""The catalogue: which exercises the station holds, in which languages, and finding them.

A small library API shared by the screen, the CLI and the take-home server (no Kivy, no
click here). Rows are written only by `kiosk.content.packs` (import) and by the admin functions
below; everything else reads. Paths are stored relative to the content folder, so a data
folder can be moved, and handed out absolute.

Search is SQLite FTS5 over each language variant's title, summary, techniques and script
text. Every word the person typed is quoted (so FTS syntax such as `"`, `*`, `NEAR` or
`-` is just text) and matched as a prefix (so "breat" finds "breathing" while typing).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from kiosk.content.cues import Cue
from kiosk.store import write_transaction

log = logging.getLogger(__name__)

__all__ = [
    "Card",
    "Catalogue",
    "Exercise",
    "ExerciseListing",
    "Variant",
    "content_lock_path",
    "fts_query",
    "migrations",
    "rebuild_search_indexes",
    "search_index_problems",
    "search_meta",
]

VISIBILITIES = ("public", "therapist")
_MAX_QUERY_WORDS = 12

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
    # Search ranks matches in tiers (see Catalogue._ranked_ids) because in a large
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


SEARCH_INDEXES = ("variants_fts", "variants_head_fts")


def search_index_problems(db: sqlite_utils.Database) -> list[str]:
    """What FTS5's integrity-check finds wrong with the search indexes ([] when healthy)."""
    problems = []
    for name in SEARCH_INDEXES:
        try:
            db.execute(f"INSERT INTO {name} ({name}, rank) VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError as exc:
            problems.append(f"{name}: {exc}")
    return problems


def rebuild_search_indexes(db: sqlite_utils.Database) -> None:
    """Rebuild both FTS indexes from the variants' rows (after damage found at start)."""
    with write_transaction(db):
        for name in SEARCH_INDEXES:
            db.execute(f"INSERT INTO {name} ({name}) VALUES ('rebuild')")


def _prefixed(row: str, columns: str) -> str:
    return ", ".join(f"{row}.{c.strip()}" for c in columns.split(","))


def _meta_token(kind: str, value: str) -> str:
    """A search_meta token: exact (the value in hex) and never a word someone types."""
    return f"k{kind}{value.encode().hex()}"


def search_meta(lang: str, visibility: str, techniques: Iterable[str], hidden: bool) -> str:
    """The filter tokens a variant carries in its search_meta column (see m001)."""
    tokens = [_meta_token("l", lang)] + [_meta_token("t", t) for t in techniques]
    if visibility == "public" and not hidden:
        tokens.append(_meta_token("b", lang))
    return " ".join(tokens)


def content_lock_path(content_dir: Path) -> Path:
    """The lock that imports, removals and leftover cleaning hold while they change files.

    Beside the content folder rather than in it, so that the folder holds only what rows
    reference (and a refused import leaves it byte for byte as it was).
    """
    return content_dir.with_name(content_dir.name + ".lock")


@dataclass(frozen=True)
class Card:
    id: str
    title: str
    summary: str
    duration_seconds: float
    techniques: tuple[str, ...]
    languages: tuple[str, ...]
    visibility: str
    hidden: bool


@dataclass(frozen=True)
class Variant:
    exercise_id: str
    lang: str
    title: str
    summary: str
    duration_seconds: float
    audio_path: Path
    audio_bytes: int
    playback_path: Path
    script_pdf_path: Path
    script_pdf_bytes: int
    cues: tuple[Cue, ...]


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    summary: str
    introduction: str
    guidance: str
    references: tuple[str, ...]
    techniques: tuple[str, ...]
    visibility: str
    hidden: bool
    languages: tuple[str, ...]
    variant: Variant


@dataclass(frozen=True)
class ExerciseListing:
    """One line of `kiosk list`: what an administrator needs to manage the exercise."""

    id: str
    title: str
    pack_id: str
    pack_version: str
    languages: tuple[str, ...]
    durations: dict[str, float]
    techniques: tuple[str, ...]
    visibility: str
    hidden: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "pack": self.pack_id,
            "pack_version": self.pack_version,
            "languages": list(self.languages),
            "durations": self.durations,
            "techniques": list(self.techniques),
            "visibility": self.visibility,
            "hidden": self.hidden,
        }


def fts_query(text: str) -> str | None:
    """The FTS5 MATCH expression for what a person typed, or None when it holds no word.

    Each word becomes a quoted string with a prefix star: quoting makes every character
    literal (no column filters, operators or syntax errors), the star lets a half-typed
    word match. Words are ANDed. Words are cut where the tokenizer cuts them (underscores
    too), so that each quoted string is exactly one token.
    """
    words = re.findall(r"[^\W_]+", text)[:_MAX_QUERY_WORDS]
    if not words:
        return None
    return " ".join('"' + w + '"*' for w in words)


def _cues_from_json(raw: str) -> tuple[Cue, ...]:
    return tuple(Cue(float(s), float(e), t) for s, e, t in json.loads(raw))


def cues_to_json(cues: Iterable[Cue]) -> str:
    return json.dumps([[c.start, c.end, c.text] for c in cues], ensure_ascii=False)


def _card(row: tuple[Any, ...]) -> Card:
    return Card(
        id=row[0],
        title=row[1],
        summary=row[2],
        duration_seconds=row[3],
        techniques=tuple(json.loads(row[4])),
        languages=tuple(json.loads(row[5])),
        visibility=row[6],
        hidden=bool(row[7]),
    )


_VARIANT_COLUMNS = """
    exercise_id, lang, title, summary, duration_seconds, audio_path, audio_bytes,
    playback_path, script_pdf_path, script_pdf_bytes, cues_json, introduction
"""

_CARD_COLUMNS = """
    e.id, v.title, v.summary, v.duration_seconds, e.techniques_json, e.languages_json,
    e.visibility, (h.exercise_id IS NOT NULL) AS hidden
"""


class Catalogue:
    """Read access for the screen, CLI and server, and the administrator's changes.

    Holds one SQLite connection: create one Catalogue per thread (see kiosk.store).
    """

    def __init__(self, db: sqlite_utils.Database, content_dir: Path):
        self.db = db
        self.content_dir = Path(content_dir)

    # ---- reading -------------------------------------------------------------------

    def cards(
        self,
        lang: str,
        technique: str | None = None,
        query: str | None = None,
        include_hidden: bool = False,
        *,
        limit: int | None = None,
    ) -> list[Card]:
        """Exercises that have a variant in `lang`, as tiles in that language.

        Without a query, ordered by title; with one, best match first, matching that
        language's title, summary, techniques and script. Therapist-only and
        administrator-hidden exercises appear only with include_hidden=True. `limit` caps
        the number of cards (a screenful): with a large catalogue it keeps type-ahead fast.
        """
        match = fts_query(query) if query else None
        if match is None:
            return self._browse(lang, technique, include_hidden, limit)
        # One token for language and visibility together: each filter token costs a doclist.
        filters = [f'{{search_meta}}: "{_meta_token("l" if include_hidden else "b", lang)}"']
        if technique:
            filters.append(f'{{search_meta}}: "{_meta_token("t", technique)}"')
        ids = self._ranked_ids(" AND ".join(filters) + " AND ", match, limit)
        cards = self._cards_by_id(ids)
        if not include_hidden:  # the index already filtered; this only guards against drift
            cards = [c for c in cards if c.visibility == "public" and not c.hidden]
        return cards

    def _ranked_ids(self, filters: str, match: str, limit: int | None) -> list[int]:
        """Variant rowids in three tiers, each word of the query matching:
        1. in the title, best first (bm25);
        2. in the title, summary and techniques together, in catalogue order;
        3. anywhere, the script included, in catalogue order.

        Ranking every match would cost time in proportion to the matches, which in a large
        catalogue is most of it for a common word; titles are short and few match, and the
        later tiers go in rowid order, so that with a limit they stop once the screen is full.
        """
        cap = -1 if limit is None else limit
        tiers = [
            ("variants_head_fts", "{title}", "ORDER BY bm25(variants_head_fts)"),
            ("variants_head_fts", "{title summary techniques}", ""),
            ("variants_fts", "{title summary techniques script}", ""),
        ]
        ids: list[int] = []
        seen: set[int] = set()
        for table, columns, order in tiers:
            # Up to `limit` rows: enough even when every earlier match is among them.
            rows = self.db.execute(
                f"SELECT rowid FROM {table} WHERE {table} MATCH ? {order} LIMIT ?",
                [f"{filters}{columns}: ({match})", cap],
            )
            for (rowid,) in rows:
                if rowid not in seen:
                    seen.add(rowid)
                    ids.append(rowid)
            if limit is not None and len(ids) >= limit:
                return ids[:limit]
        return ids

    def _cards_by_id(self, ids: list[int]) -> list[Card]:
        if not ids:
            return []
        rows = self.db.execute(
            f"""
            SELECT v.id, {_CARD_COLUMNS}
            FROM variants v
            JOIN exercises e ON e.id = v.exercise_id
            LEFT JOIN hidden_exercises h ON h.exercise_id = e.id
            WHERE v.id IN (SELECT value FROM json_each(?))
            """,
            [json.dumps(ids)],
        ).fetchall()
        by_id = {row[0]: _card(row[1:]) for row in rows}
        return [by_id[i] for i in ids if i in by_id]

    def _browse(self, lang: str, technique: str | None, include_hidden: bool, limit: int | None) -> list[Card]:
        params: dict[str, Any] = {"lang": lang, "limit": -1 if limit is None else limit}
        where = ["v.lang = :lang"]
        if not include_hidden:
            where.append("e.visibility = 'public' AND h.exercise_id IS NULL")
        if technique:
            where.append(
                "EXISTS (SELECT 1 FROM exercise_techniques t "
                "WHERE t.exercise_id = e.id AND t.technique = :technique)"
            )
            params["technique"] = technique
        sql = f"""
            SELECT {_CARD_COLUMNS}
            FROM variants v
            JOIN exercises e ON e.id = v.exercise_id
            LEFT JOIN hidden_exercises h ON h.exercise_id = e.id
            WHERE {" AND ".join(where)}
            ORDER BY v.title COLLATE NOCASE, v.exercise_id
            LIMIT :limit
        """
        return [_card(row) for row in self.db.execute(sql, params).fetchall()]

    def techniques(self, include_hidden: bool = False) -> list[str]:
        """Technique slugs used by the exercises one may browse, alphabetically."""
        sql = """
            SELECT DISTINCT t.technique
            FROM exercise_techniques t
            JOIN exercises e ON e.id = t.exercise_id
            LEFT JOIN hidden_exercises h ON h.exercise_id = e.id
        """
        if not include_hidden:
            sql += " WHERE e.visibility = 'public' AND h.exercise_id IS NULL"
        sql += " ORDER BY t.technique"
        return [row[0] for row in self.db.execute(sql).fetchall()]

    def variant(self, exercise_id: str, lang: str) -> Variant | None:
        """The exercise's variant in exactly this language, or None."""
        row = self.db.execute(
            f"SELECT {_VARIANT_COLUMNS} FROM variants WHERE exercise_id = ? AND lang = ?",
            [exercise_id, lang],
        ).fetchone()
        return None if row is None else self._variant(row)

    def exercise(self, exercise_id: str, lang: str) -> Exercise | None:
        """The exercise in `lang`, or in its first language when it has no such variant.

        Hidden exercises are returned too (a therapist may open them, a take-home link
        outlives a hide); callers that browse use `cards`.
        """
        e = self.db.execute(
            """
            SELECT e.id, e.guidance, e.references_json, e.techniques_json, e.languages_json,
                   e.visibility, (h.exercise_id IS NOT NULL)
            FROM exercises e LEFT JOIN hidden_exercises h ON h.exercise_id = e.id
            WHERE e.id = ?""",
            [exercise_id],
        ).fetchone()
        if e is None:
            return None
        row = self.db.execute(
            f"SELECT {_VARIANT_COLUMNS} FROM variants WHERE exercise_id = ? "
            "ORDER BY lang = ? DESC, position LIMIT 1",
            [exercise_id, lang],
        ).fetchone()
        if row is None:  # an exercise always has a variant; guard against a damaged row set
            return None
        variant = self._variant(row)
        introduction = row[11]
        return Exercise(
            id=e[0],
            title=variant.title,
            summary=variant.summary,
            introduction=introduction,
            guidance=e[1],
            references=tuple(json.loads(e[2])),
            techniques=tuple(json.loads(e[3])),
            visibility=e[5],
            hidden=bool(e[6]),
            languages=tuple(json.loads(e[4])),
            variant=variant,
        )

    def exercise_ids(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT id FROM exercises ORDER BY id")]

    def is_empty(self) -> bool:
        return self.db.execute("SELECT NOT EXISTS (SELECT 1 FROM exercises)").fetchone()[0] == 1

    def list_exercises(self) -> list[ExerciseListing]:
        """Every exercise, hidden or not, for the administrator (`kiosk list`)."""
        rows = self.db.execute(
            """
            SELECT e.id, e.pack_id, p.version, e.languages_json, e.techniques_json,
                   e.visibility, (h.exercise_id IS NOT NULL),
                   (SELECT title FROM variants v WHERE v.exercise_id = e.id ORDER BY position LIMIT 1)
            FROM exercises e
            JOIN packs p ON p.id = e.pack_id
            LEFT JOIN hidden_exercises h ON h.exercise_id = e.id
            ORDER BY e.pack_id, e.position
            """
        ).fetchall()
        durations: dict[str, dict[str, float]] = {}
        for exercise_id, lang, seconds in self.db.execute(
            "SELECT exercise_id, lang, duration_seconds FROM variants ORDER BY exercise_id, position"
        ):
            durations.setdefault(exercise_id, {})[lang] = round(seconds, 3)
        return [
            ExerciseListing(
                id=r[0],
                title=r[7] or "",
                pack_id=r[1],
                pack_version=r[2],
                languages=tuple(json.loads(r[3])),
                durations=durations.get(r[0], {}),
                techniques=tuple(json.loads(r[4])),
                visibility=r[5],
                hidden=bool(r[6]),
            )
            for r in rows
        ]

    def search_listing(self, text: str) -> list[ExerciseListing]:
        """Every exercise matching `text` in any language, hidden or not (`kiosk search`)."""
        match = fts_query(text)
        if match is None:
            return []
        ids = self._ranked_ids("", match, None)
        owners = dict(
            self.db.execute(
                "SELECT id, exercise_id FROM variants WHERE id IN (SELECT value FROM json_each(?))",
                [json.dumps(ids)],
            ).fetchall()
        )
        ranked = list(dict.fromkeys(owners[i] for i in ids if i in owners))
        by_id = {item.id: item for item in self.list_exercises()}
        return [by_id[i] for i in ranked if i in by_id]

    # ---- administration -------------------------------------------------------------

    def set_hidden(self, exercise_id: str, hidden: bool) -> bool:
        """Hide an exercise from the public browse (or show it again). False if unknown."""
        with write_transaction(self.db):
            if self.db.execute("SELECT 1 FROM exercises WHERE id = ?", [exercise_id]).fetchone() is None:
                return False
            if hidden:
                self.db.execute(
                    "INSERT OR IGNORE INTO hidden_exercises (exercise_id, hidden_at) "
                    "VALUES (?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                    [exercise_id],
                )
            else:
                self.db.execute("DELETE FROM hidden_exercises WHERE exercise_id = ?", [exercise_id])
            visibility, techniques = self.db.execute(
                "SELECT visibility, techniques_json FROM exercises WHERE id = ?", [exercise_id]
            ).fetchone()
            for variant_id, lang in self.db.execute(
                "SELECT id, lang FROM variants WHERE exercise_id = ?", [exercise_id]
            ).fetchall():
                self.db.execute(
                    "UPDATE variants SET search_meta = ? WHERE id = ?",
                    [search_meta(lang, visibility, json.loads(techniques), hidden), variant_id],
                )
        return True

    def remove(self, exercise_id: str) -> bool:
        """Remove an exercise and, once that is committed, its files. False if unknown.

        When it was the last exercise of its pack, the pack and its folder go too. Files
        left behind by a crash between the commit and the deletion are removed by
        `kiosk.content.packs.cleanup_leftovers` at the next start.
        """
        from kiosk.content.packs import content_lock  # the importer owns the lock's protocol

        with content_lock(self.content_dir):
            row = self.db.execute(
                "SELECT e.pack_id, p.folder FROM exercises e JOIN packs p ON p.id = e.pack_id WHERE e.id = ?",
                [exercise_id],
            ).fetchone()
            if row is None:
                return False
            pack_id, folder = row
            files = self._variant_files("WHERE exercise_id = ?", [exercise_id])
            self.db.execute("BEGIN IMMEDIATE")
            try:
                delete_exercise_rows(self.db, [exercise_id])
                self.db.execute("DELETE FROM hidden_exercises WHERE exercise_id = ?", [exercise_id])
                remaining = self.db.execute(
                    "SELECT count(*) FROM exercises WHERE pack_id = ?", [pack_id]
                ).fetchone()[0]
                if remaining == 0:
                    self.db.execute("DELETE FROM packs WHERE id = ?", [pack_id])
            except BaseException:
                self.db.rollback()
                raise
            self.db.execute("COMMIT")
            if remaining == 0:
                shutil.rmtree(self.content_dir / folder, ignore_errors=True)
            else:
                still_used = self._variant_files(
                    "WHERE exercise_id IN (SELECT id FROM exercises WHERE pack_id = ?)", [pack_id]
                )
                for rel in files - still_used:
                    try:
                        (self.content_dir / rel).unlink()
                    except FileNotFoundError:
                        pass
                    except OSError as exc:
                        log.warning("could not delete %s after removing %s: %s", rel, exercise_id, exc)
        log.info("removed exercise %s (pack %s)", exercise_id, pack_id)
        return True

    # ---- helpers -----------------------------------------------------------------------

    def _variant_files(self, where: str, params: list[Any]) -> set[str]:
        files: set[str] = set()
        for row in self.db.execute(
            f"SELECT audio_path, playback_path, cues_path, script_pdf_path FROM variants {where}", params
        ):
            files.update(p for p in row if p)
        return files

    def _variant(self, row: tuple[Any, ...]) -> Variant:
        return Variant(
            exercise_id=row[0],
            lang=row[1],
            title=row[2],
            summary=row[3],
            duration_seconds=row[4],
            audio_path=self.content_dir / row[5],
            audio_bytes=row[6],
            playback_path=self.content_dir / row[7],
            script_pdf_path=self.content_dir / row[8],
            script_pdf_bytes=row[9],
            cues=_cues_from_json(row[10]),
        )


def delete_exercise_rows(db: sqlite_utils.Database, exercise_ids: list[str]) -> None:
    """Delete exercises' rows, children first (inside the caller's transaction)."""
    for exercise_id in exercise_ids:
        db.execute("DELETE FROM variants WHERE exercise_id = ?", [exercise_id])
        db.execute("DELETE FROM exercise_techniques WHERE exercise_id = ?", [exercise_id])
        db.execute("DELETE FROM exercises WHERE id = ?", [exercise_id])
