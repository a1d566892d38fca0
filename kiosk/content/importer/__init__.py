"""The import of a content pack: validate everything, then switch atomically.

A pack is a folder or a .zip holding `pack.toml` and the files it names (see the README's
"Content packs" section). The stages run in this order, so that a refused pack or a crash
at any moment leaves the catalogue and the content folder as they were:

1. gather (gather.py): everything goes into a private staging folder
   `content/.staging-<uuid>/`: a zip is checked entry by entry (names, links, sizes,
   compression ratios) and extracted with byte caps (kiosk.content.archive); a folder's
   files are copied later, after their paths are proved to stay inside it.
2. read manifest (gather.py): pack.toml's syntax and schema (kiosk.content.manifest).
3. check against the catalogue (checks.py): ids owned by other packs, going back a version.
4. stage files (gather.py): the referenced files, within the limits, into staging/pack;
   later checks read only these private copies.
5. check contents (checks.py): UTF-8 and WebVTT cues, PDFs, each MP3 walked frame by frame.
6. decode (decode.py): each audio file decoded in full, which writes the lossless playback
   copy and measures its loudness (kiosk.audio.loudness) from the same blocks; from that
   copy, the M4A phones take home where they do not play the original (WAV, FLAC, Ogg:
   kiosk.content.phonecopy), into staging/phone.
7. match cues (checks.py): cues within the measured duration.
   Stages 2 to 7 collect every fault (file, line where there is one, what is wrong); any
   fault: the staging folder is deleted and `PackRefused` lists them all. Then missing
   script PDFs are rendered from the cues (decode.py).
8. commit (commit.py): files checksummed and flushed, the staging folder renamed to
   `content/<pack-id>-<import-id>/`, the catalogue rows switched in ONE durable SQLite
   transaction; the previous version's folder is deleted only after that commit.

`kiosk.content.integrity.cleanup_leftovers` (at start) removes what a crash between those
steps can leave.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from kiosk.config import Settings
from kiosk.content.catalogue import Catalogue
from kiosk.content.faults import Fault, PackRefused
from kiosk.content.importer.checks import check_against_catalogue, check_contents, match_cues
from kiosk.content.importer.commit import commit
from kiosk.content.importer.decode import decode, render_missing_pdfs
from kiosk.content.importer.gather import gather, read_manifest, stage_files
from kiosk.content.importer.session import ImportSession, Phases, Progress
from kiosk.content.integrity import new_staging_folder
from kiosk.content.lock import content_lock
from kiosk.content.models import Placement
from kiosk.content.phonecopy import PhoneCopy

log = logging.getLogger(__name__)

__all__ = ["ImportResult", "Progress", "import_pack"]


@dataclass(frozen=True)
class ImportResult:
    pack_id: str
    title: str
    version: str
    exercises: tuple[str, ...]
    folder: Path | None  # None after a check-only run
    replaced_version: str | None
    seconds: float
    audio_seconds: float
    # What phones take home of each variant, by (exercise id, language), in the pack's order.
    phone_copies: dict[tuple[str, str], PhoneCopy] = field(default_factory=dict)


def import_pack(
    settings: Settings,
    db: sqlite_utils.Database,
    source: Path,
    progress: Progress | None = None,
    *,
    allow_downgrade: bool = False,
    check_only: bool = False,
    placements: Mapping[tuple[str, str], tuple[Placement, ...]] | None = None,
) -> ImportResult:
    """Validate the pack at `source` (folder or .zip) and import it, or raise PackRefused.

    A newer (or the same) version of an installed pack replaces it; an older one is refused
    unless allow_downgrade. With check_only, everything is checked (MP3s decoded in full)
    and nothing is kept. Raises ContentBusy when another import holds the content lock.
    `placements`: how the passages of the variants (exercise id, language) whose cues were
    made on this station were placed (kiosk add, kiosk cues --set); the others' are the pack's.
    """
    started = time.monotonic()
    source = Path(source).expanduser().absolute()
    content_dir = settings.content_dir
    created_content_dir = not content_dir.exists()
    content_dir.mkdir(parents=True, exist_ok=True)
    phases = Phases(progress)
    phases.report(0.0, "checking the pack")
    catalogue = Catalogue(db, content_dir)
    with content_lock(content_dir):
        staging = new_staging_folder(content_dir)
        kept = False
        try:
            session = ImportSession(settings, catalogue, source, staging, phases, allow_downgrade)
            gathered = gather(session)
            manifest = read_manifest(session, gathered)
            check_against_catalogue(session, manifest)
            files = stage_files(session, gathered, manifest)
            contents = check_contents(session, files)
            decoded = decode(session, files, contents, manifest.spec.id)
            staged = match_cues(session, manifest, files, contents, decoded)
            session.refuse_if_faults()
            spec = manifest.spec
            phone_copies = {(s.exercise.id, s.variant.lang): s.phone for s in staged if s.phone is not None}
            if check_only:
                phases.report(1.0, "checked")
                return ImportResult(spec.id, spec.title, spec.version, tuple(e.id for e in spec.exercises),
                                    None, catalogue.installed_version(spec.id), time.monotonic() - started,
                                    sum(s.duration for s in staged), phone_copies)
            phases.report(0.95, "writing script PDFs")
            render_missing_pdfs(spec, staged, staging)
            final, old_version = commit(session, spec, staged, placements or {})
            kept = True
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise PackRefused(source, [Fault(str(content_dir), "the disk is full; free some space and try again")]) from None
            raise
        finally:
            if not kept:
                shutil.rmtree(staging, ignore_errors=True)
                if created_content_dir:
                    with contextlib.suppress(OSError):
                        content_dir.rmdir()
    phases.report(1.0, "done")
    elapsed = time.monotonic() - started
    log.info("imported pack %s %s (%d exercises) from %s in %.1f s", spec.id, spec.version,
             len(spec.exercises), source, elapsed)
    return ImportResult(spec.id, spec.title, spec.version, tuple(e.id for e in spec.exercises),
                        final, old_version, elapsed, sum(s.duration for s in staged), phone_copies)
