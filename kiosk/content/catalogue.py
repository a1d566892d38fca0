"""The catalogue: which exercises the station holds, in which languages, and finding them.

A small library API shared by the screen, the CLI and the take-home server (no Kivy, no
click here). It owns every read and every write of the catalogue's tables (created in
kiosk.content.schema): the importer hands it rows to write (`replace_pack`), the
administrator's changes are its methods. Paths are stored relative to the content folder,
so a data folder can be moved, and handed out absolute.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import sqlite_utils

from kiosk.audio.loudness import Loudness
from kiosk.content.cues import Cue, script_text
from kiosk.content.lock import content_lock
from kiosk.content.models import (
    Card,
    Exercise,
    ExerciseFields,
    ExerciseListing,
    PackRow,
    PassageState,
    Placement,
    Variant,
    VariantRow,
    default_placements,
)
from kiosk.content.search import filter_token, fts_query, ranked_variant_ids, search_meta
from kiosk.store import write_transaction

log = logging.getLogger(__name__)

__all__ = [
    "Catalogue",
    "ExerciseIdTaken",
    "StoredFile",
    "cues_to_json",
    "delete_exercise_rows",
    "insert_exercise",
]


class ExerciseIdTaken(Exception):
    """An exercise id already belongs to another installed pack."""

    def __init__(self, exercise_id: str, owner: str):
        self.exercise_id = exercise_id
        self.owner = owner
        super().__init__(f'exercise "{exercise_id}" belongs to the installed pack "{owner}"')


@dataclass(frozen=True)
class StoredFile:
    """A file a variant row names, for the integrity check."""

    owner: str  # "exercise-id (en-GB)", to name it in messages
    path: str  # relative to the content folder
    size: int | None  # recorded at import, where it is


def _cues_from_json(raw: str) -> tuple[Cue, ...]:
    return tuple(Cue(float(s), float(e), t) for s, e, t in json.loads(raw))


def cues_to_json(cues: Iterable[Cue]) -> str:
    return json.dumps([[c.start, c.end, c.text] for c in cues], ensure_ascii=False)


def placements_to_json(placements: Iterable[Placement]) -> str:
    return json.dumps([[p.state.value, p.confidence] for p in placements])


def _placements_from_json(raw: str, cues: tuple[Cue, ...], timed: bool) -> tuple[Placement, ...]:
    placements = tuple(Placement(PassageState(s), c) for s, c in json.loads(raw))
    # One for each cue is what is written; anything else is not about these cues.
    return placements if len(placements) == len(cues) else default_placements(cues, timed)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


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
    playback_path, script_pdf_path, script_pdf_bytes, cues_json, introduction, timed,
    loudness_lufs, peak, phone_path, phone_bytes, placements_json
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
        filters = [f'{{search_meta}}: "{filter_token("l" if include_hidden else "b", lang)}"']
        if technique:
            filters.append(f'{{search_meta}}: "{filter_token("t", technique)}"')
        ids = ranked_variant_ids(self.db, " AND ".join(filters) + " AND ", match, limit)
        cards = self._cards_by_id(ids)
        if not include_hidden:  # the index already filtered; this only guards against drift
            cards = [c for c in cards if c.visibility == "public" and not c.hidden]
        return cards

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
        timed: dict[str, dict[str, bool]] = {}
        loudness: dict[str, dict[str, float | None]] = {}
        for exercise_id, lang, seconds, is_timed, lufs in self.db.execute(
            "SELECT exercise_id, lang, duration_seconds, timed, loudness_lufs FROM variants "
            "ORDER BY exercise_id, position"
        ):
            durations.setdefault(exercise_id, {})[lang] = round(seconds, 3)
            timed.setdefault(exercise_id, {})[lang] = bool(is_timed)
            loudness.setdefault(exercise_id, {})[lang] = lufs
        return [
            ExerciseListing(
                id=r[0],
                title=r[7] or "",
                pack_id=r[1],
                pack_version=r[2],
                languages=tuple(json.loads(r[3])),
                durations=durations.get(r[0], {}),
                timed=timed.get(r[0], {}),
                loudness=loudness.get(r[0], {}),
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
        ids = ranked_variant_ids(self.db, "", match, None)
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
        `kiosk.content.integrity.cleanup_leftovers` at the next start.
        """
        with content_lock(self.content_dir):
            row = self.db.execute(
                "SELECT e.pack_id, p.folder FROM exercises e JOIN packs p ON p.id = e.pack_id WHERE e.id = ?",
                [exercise_id],
            ).fetchone()
            if row is None:
                return False
            pack_id, folder = row
            files = self._variant_files("WHERE exercise_id = ?", [exercise_id])
            with write_transaction(self.db):
                delete_exercise_rows(self.db, [exercise_id])
                self.db.execute("DELETE FROM hidden_exercises WHERE exercise_id = ?", [exercise_id])
                remaining = self.db.execute(
                    "SELECT count(*) FROM exercises WHERE pack_id = ?", [pack_id]
                ).fetchone()[0]
                if remaining == 0:
                    self.db.execute("DELETE FROM packs WHERE id = ?", [pack_id])
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


    def replace_pack(self, pack: PackRow, exercises: Sequence[tuple[ExerciseFields, Sequence[VariantRow]]],
                     ) -> tuple[str | None, str | None]:
        """Switch the catalogue to this version of a pack in one durable transaction: its
        previous rows go, these come. Returns the previous version's (folder, version).

        Durable (synchronous=FULL): the caller deletes the old version's files right after,
        so the commit must be on disk first, or a power cut could leave rows pointing at
        them. Raises ExerciseIdTaken, changing nothing, when another pack owns one of the
        ids: checked again here, under the write lock, as another process may have imported
        since the caller looked.
        """
        with write_transaction(self.db, durable=True):
            old = self.db.execute("SELECT folder, version FROM packs WHERE id = ?", [pack.id]).fetchone()
            for ex, _ in exercises:
                owner = self.exercise_owner(ex.id)
                if owner is not None and owner != pack.id:
                    raise ExerciseIdTaken(ex.id, owner)
            old_ids = [r[0] for r in self.db.execute("SELECT id FROM exercises WHERE pack_id = ?", [pack.id])]
            exercises = self._placed(pack.id, exercises)
            delete_exercise_rows(self.db, old_ids)
            self.db.execute("DELETE FROM packs WHERE id = ?", [pack.id])
            self.db.execute(
                "INSERT INTO packs (id, title, version, publisher, folder, source, imported_at) "
                "VALUES (?, ?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                [pack.id, pack.title, pack.version, pack.publisher, pack.folder, pack.source],
            )
            for position, (ex, variants) in enumerate(exercises):
                insert_exercise(self.db, pack.id, position, ex, variants)
        return (old[0], old[1]) if old else (None, None)

    def _placed(self, pack_id: str, exercises: Sequence[tuple[ExerciseFields, Sequence[VariantRow]]],
                ) -> list[tuple[ExerciseFields, list[VariantRow]]]:
        """The rows with each passage's placement: as the import said (kiosk add, kiosk cues
        --set), else as the catalogue held it where the cues are the same as before (a pack
        rebuilt for another exercise's change keeps what its aligner found), else the
        pack's own."""
        before = {(e, lang): (cues, bool(timed), placed) for e, lang, cues, timed, placed in self.db.execute(
            "SELECT v.exercise_id, v.lang, v.cues_json, v.timed, v.placements_json FROM variants v "
            "JOIN exercises e ON e.id = v.exercise_id WHERE e.pack_id = ?", [pack_id])}
        out = []
        for ex, variants in exercises:
            rows = []
            for v in variants:
                if v.placements is None:
                    cues, timed, placed = before.get((ex.id, v.lang), ("", v.timed, "[]"))
                    same = cues == cues_to_json(v.cues) and timed == v.timed
                    v = replace(v, placements=_placements_from_json(placed, v.cues, v.timed) if same
                                else default_placements(v.cues, v.timed))
                rows.append(v)
            out.append((ex, rows))
        return out

    def mark_demo_imported(self, what: str) -> None:
        """Remember that the demo pack was imported once (`what`: "<pack id> <version>")."""
        with write_transaction(self.db):
            self.db.execute(
                "INSERT OR REPLACE INTO catalogue_meta (key, value) VALUES ('demo_imported', ?)", [what]
            )

    # ---- for the importer and the integrity checks -----------------------------------

    def demo_imported(self) -> bool:
        return self.db.execute(
            "SELECT 1 FROM catalogue_meta WHERE key = 'demo_imported'"
        ).fetchone() is not None

    def installed_version(self, pack_id: str) -> str | None:
        row = self.db.execute("SELECT version FROM packs WHERE id = ?", [pack_id]).fetchone()
        return None if row is None else str(row[0])

    def exercise_owner(self, exercise_id: str) -> str | None:
        """The id of the installed pack that holds this exercise, or None."""
        row = self.db.execute("SELECT pack_id FROM exercises WHERE id = ?", [exercise_id]).fetchone()
        return None if row is None else str(row[0])

    def pack_folder(self, pack_id: str) -> str | None:
        """The installed pack's folder, relative to the content folder, or None."""
        row = self.db.execute("SELECT folder FROM packs WHERE id = ?", [pack_id]).fetchone()
        return None if row is None else str(row[0])

    def pack_variants(self, pack_id: str) -> dict[str, list[str]]:
        """Exercise id -> its languages, of what the catalogue still holds of a pack (an
        exercise removed since the import is not there, though its pack.toml names it)."""
        held: dict[str, list[str]] = {}
        for exercise_id, lang in self.db.execute(
            "SELECT v.exercise_id, v.lang FROM variants v JOIN exercises e ON e.id = v.exercise_id "
            "WHERE e.pack_id = ? ORDER BY e.position, v.position", [pack_id]
        ):
            held.setdefault(exercise_id, []).append(lang)
        return held

    def exercise_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM exercises").fetchone()[0])

    def pack_folders(self) -> list[str]:
        """Every installed pack's folder (relative to the content folder), by pack id."""
        return [row[0] for row in self.db.execute("SELECT folder FROM packs ORDER BY id")]

    def referenced_files(self) -> set[str]:
        """Every file a variant row names, relative to the content folder."""
        return self._variant_files("", [])

    def stored_files(self) -> list[StoredFile]:
        """Each variant's files with the sizes recorded at import (audio, phone copy and PDF;
        the playback copy and cues have none)."""
        files = []
        for exercise_id, lang, audio, audio_bytes, playback, cues, pdf, pdf_bytes, phone, phone_bytes in self.db.execute(
            "SELECT exercise_id, lang, audio_path, audio_bytes, playback_path, cues_path, "
            "script_pdf_path, script_pdf_bytes, phone_path, phone_bytes FROM variants "
            "ORDER BY exercise_id, position"
        ):
            owner = f"{exercise_id} ({lang})"
            for rel, size in ((audio, audio_bytes), (playback, None), (cues, None), (pdf, pdf_bytes),
                              (phone, phone_bytes)):
                if rel:
                    files.append(StoredFile(owner, rel, size))
        return files

    # ---- helpers -----------------------------------------------------------------------

    def _variant_files(self, where: str, params: list[Any]) -> set[str]:
        files: set[str] = set()
        for row in self.db.execute(
            f"SELECT audio_path, playback_path, cues_path, script_pdf_path, phone_path FROM variants {where}",
            params
        ):
            files.update(p for p in row if p)
        return files

    def _variant(self, row: tuple[Any, ...]) -> Variant:
        cues = _cues_from_json(row[10])
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
            cues=cues,
            timed=bool(row[12]),
            # A peak is stored with every measure, even one too quiet to gate (lufs NULL).
            loudness=None if row[14] is None else Loudness(row[13], row[14]),
            phone_copy_path=None if row[15] is None else self.content_dir / row[15],
            phone_copy_bytes=row[16],
            placements=_placements_from_json(row[17], cues, bool(row[12])),
        )



def insert_exercise(db: sqlite_utils.Database, pack_id: str, position: int, ex: ExerciseFields,
                    variants: Sequence[VariantRow]) -> None:
    """The catalogue rows of one exercise (and its search text), inside the caller's
    transaction. The only writer of these rows (replace_pack uses it); the UI tests' stand-in
    catalogue uses it too, so the two cannot disagree."""
    db.execute(
        "INSERT INTO exercises (id, pack_id, position, guidance, references_json, "
        "techniques_json, languages_json, visibility) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [ex.id, pack_id, position, ex.guidance, _json(list(ex.references)), _json(list(ex.techniques)),
         _json([v.lang for v in variants]), ex.visibility],
    )
    for t_position, technique in enumerate(ex.techniques):
        db.execute(
            "INSERT INTO exercise_techniques (exercise_id, technique, position) VALUES (?, ?, ?)",
            [ex.id, technique, t_position],
        )
    search_techniques = " ".join(t.replace("-", " ") for t in ex.techniques)
    hidden = db.execute("SELECT 1 FROM hidden_exercises WHERE exercise_id = ?", [ex.id]).fetchone()
    for v_position, v in enumerate(variants):
        db.execute(
            """INSERT INTO variants (exercise_id, lang, position, title, summary, introduction,
               techniques, script, search_meta, duration_seconds, audio_path, audio_bytes,
               playback_path, cues_path, script_pdf_path, script_pdf_bytes, script_pdf_rendered,
               cues_json, timed, loudness_lufs, peak, phone_path, phone_bytes, placements_json)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [ex.id, v.lang, v_position, v.title, v.summary, v.introduction, search_techniques,
             script_text(v.cues), search_meta(v.lang, ex.visibility, ex.techniques, hidden is not None),
             v.duration, v.audio_path, v.audio_bytes, v.playback_path, v.cues_path,
             v.script_pdf_path, v.script_pdf_bytes, int(v.script_pdf_rendered), cues_to_json(v.cues), int(v.timed),
             v.loudness.lufs if v.loudness else None, v.loudness.peak if v.loudness else None,
             v.phone_path, v.phone_bytes,
             placements_to_json(default_placements(v.cues, v.timed) if v.placements is None
                                else v.placements)],
        )


def delete_exercise_rows(db: sqlite_utils.Database, exercise_ids: list[str]) -> None:
    """Delete exercises' rows, children first (inside the caller's transaction)."""
    for exercise_id in exercise_ids:
        db.execute("DELETE FROM variants WHERE exercise_id = ?", [exercise_id])
        db.execute("DELETE FROM exercise_techniques WHERE exercise_id = ?", [exercise_id])
        db.execute("DELETE FROM exercises WHERE id = ?", [exercise_id])
