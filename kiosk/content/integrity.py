"""What the importer leaves on disk, and whether it is still whole.

An imported pack is a folder `content/<pack id>-<time>-<random>/` with a CHECKSUMS file;
an import in progress is a `content/.staging-<uuid>/` folder. `cleanup_leftovers` (at
start) removes what a crash or a cut-short removal can leave behind; `content_problems`
(for `kiosk doctor`) finds files that are missing or changed since import.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from kiosk.config import Settings
from kiosk.content.catalogue import Catalogue
from kiosk.content.lock import ContentBusy, content_lock
from kiosk.content.manifest import MANIFEST
from kiosk.content.search import rebuild_search_indexes, search_index_problems

log = logging.getLogger(__name__)

__all__ = [
    "CHECKSUMS",
    "checksum_problems",
    "cleanup_leftovers",
    "content_problems",
    "fsync_file",
    "fsync_tree",
    "new_pack_folder_name",
    "new_staging_folder",
    "read_checksums",
    "sha256_of",
    "write_checksums",
]

CHECKSUMS = "CHECKSUMS"  # in every imported pack's folder (write_checksums)
_PACK_FOLDER = re.compile(r"^[a-z0-9][a-z0-9-]*-\d{14}-[0-9a-f]{8}$")
_STAGING_PREFIX = ".staging-"


def new_staging_folder(content_dir: Path) -> Path:
    """A fresh, private staging folder inside the content folder (on the same file system,
    so that the finished import is one rename)."""
    staging = content_dir / f"{_STAGING_PREFIX}{uuid.uuid4().hex}"
    staging.mkdir()
    return staging


def new_pack_folder_name(pack_id: str) -> str:
    return f"{pack_id}-{datetime.now(UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}"


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Every file and folder under root on disk before the commit that will reference them."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            fsync_file(Path(dirpath) / name)
        fsync_file(Path(dirpath))


def write_checksums(folder: Path) -> None:
    """CHECKSUMS: the SHA-256 of every file in an imported pack's folder, in the format of
    `sha256sum`, so `kiosk doctor` (or an administrator: `cd FOLDER && sha256sum -c CHECKSUMS`)
    can tell a file damaged on disk from a whole one even when its size did not change."""
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != CHECKSUMS):
        lines.append(f"{sha256_of(path)}  {path.relative_to(folder).as_posix()}\n")
    (folder / CHECKSUMS).write_text("".join(lines), encoding="utf-8")


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def read_checksums(folder: Path) -> dict[str, str]:
    """An imported pack's CHECKSUMS: path relative to the folder -> SHA-256. Raises OSError."""
    entries = {}
    for line in (folder / CHECKSUMS).read_text(encoding="utf-8").splitlines():
        digest, _, rel = line.partition("  ")
        entries[rel] = digest
    return entries


def checksum_problems(folder: Path) -> list[tuple[Path, str]]:
    """(file, fault) for what in an imported pack's folder no longer matches its CHECKSUMS."""
    try:
        listed = read_checksums(folder)
    except OSError:
        return [(folder / CHECKSUMS, "is missing, so the pack's files cannot be checked")]
    problems = []
    for rel, digest in listed.items():
        path = folder / rel
        try:
            actual = sha256_of(path)
        except FileNotFoundError:
            continue  # a file a variant needs is reported by its row; others may go (cleanup)
        except OSError as exc:
            problems.append((path, f"cannot be read ({exc.strerror or exc})"))
        else:
            if actual != digest:
                problems.append((path, "is damaged: its contents changed since import"))
    return problems


def cleanup_leftovers(settings: Settings, db: sqlite_utils.Database) -> list[Path]:
    """Remove what an interrupted import or removal left behind; return what was removed.

    Staging folders, pack folders that no catalogue row references, and files inside a
    referenced pack folder that no row references (a removal cut short after its commit).
    Skips (and returns []) while another process holds the content lock. Also rebuilds the
    search indexes if they disagree with the rows (a damaged file; cheap for a clinic's
    catalogue, about a second for 10,000 exercises).
    """
    damaged = search_index_problems(db)
    if damaged:
        log.warning("search index damaged (%s): rebuilding it", "; ".join(damaged))
        rebuild_search_indexes(db)
    content_dir = settings.content_dir
    if not content_dir.is_dir():
        return []
    catalogue = Catalogue(db, content_dir)
    removed: list[Path] = []
    try:
        with content_lock(content_dir):
            folders = set(catalogue.pack_folders())
            for entry in sorted(content_dir.iterdir()):
                if entry.name.startswith(_STAGING_PREFIX) or (
                    _PACK_FOLDER.match(entry.name) and entry.name not in folders
                ):
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)
                    removed.append(entry)
                elif entry.name not in folders:
                    log.warning("leaving %s alone: not something the importer made", entry)
            referenced = catalogue.referenced_files()
            for folder in folders:
                base = content_dir / folder
                if not base.is_dir():
                    log.error("pack folder %s is missing: its exercises cannot play; re-import the pack", base)
                    continue
                for dirpath, _dirnames, filenames in os.walk(base, topdown=False):
                    for name in filenames:
                        path = Path(dirpath) / name
                        rel = path.relative_to(content_dir).as_posix()
                        if rel not in referenced and rel not in (f"{folder}/pack/{MANIFEST}", f"{folder}/{CHECKSUMS}"):
                            path.unlink(missing_ok=True)
                            removed.append(path)
                    if Path(dirpath) != base:
                        with contextlib.suppress(OSError):
                            os.rmdir(dirpath)  # only succeeds when empty
    except ContentBusy:
        log.info("an import is running: leftovers are left for the next start")
        return []
    for path in removed:
        log.info("removed leftover %s", path)
    return removed


def content_problems(settings: Settings, db: sqlite_utils.Database) -> tuple[int, list[str]]:
    """(exercises in the catalogue, what is wrong with the content), for `kiosk doctor`.

    Every file a variant row names must exist with the size recorded at import, every file
    of every pack must match its CHECKSUMS, and the search indexes must agree with the rows.
    """
    catalogue = Catalogue(db, settings.content_dir)
    problems: list[str] = []
    content = settings.content_dir
    count = catalogue.exercise_count()
    owners: dict[Path, str] = {}  # file -> the variant that uses it, to name it
    reported: set[Path] = set()
    for stored in catalogue.stored_files():
        path = content / stored.path
        owners[path] = stored.owner
        try:
            actual = path.stat().st_size
        except OSError:
            problems.append(f"{stored.owner}: {path} is missing; import its pack again")
            reported.add(path)
            continue
        if stored.size is not None and actual != stored.size:
            problems.append(f"{stored.owner}: {path} has changed size since import; import its pack again")
            reported.add(path)
    for folder in catalogue.pack_folders():
        for path, fault in checksum_problems(content / folder):
            if path not in reported:
                named = f"{owners[path]}: " if path in owners else ""
                problems.append(f"{named}{path} {fault}; import its pack again")
    problems += [f"search index damaged ({p}); the station rebuilds it at its next start"
                 for p in search_index_problems(db)]
    return count, problems
