"""The last stage: the staged folder becomes the pack's folder and the catalogue switches to
it in one durable transaction; the previous version's folder goes only after that."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from kiosk.content.catalogue import ExerciseIdTaken
from kiosk.content.faults import Fault
from kiosk.content.importer.session import ImportSession, StagedVariant
from kiosk.content.integrity import fsync_file, fsync_tree, new_pack_folder_name, write_checksums
from kiosk.content.manifest import MANIFEST, ExerciseSpec, PackSpec, normal_path
from kiosk.content.models import PackRow, Placement, VariantRow
from kiosk.content.phonecopy import PhoneDecision

__all__ = ["commit"]


def commit(session: ImportSession, spec: PackSpec, staged: list[StagedVariant],
           placements: Mapping[tuple[str, str], tuple[Placement, ...]]) -> tuple[Path, str | None]:
    """Return (the pack's new folder, the version it replaced or None).

    The files are on disk (checksummed, fsynced, renamed into place) before the rows that
    name them are committed; a crash before the commit leaves a folder no row references,
    which cleanup_leftovers removes.
    """
    staging = session.staging
    content_dir = session.settings.content_dir
    shutil.rmtree(staging / "source", ignore_errors=True)
    write_checksums(staging)
    fsync_tree(staging)
    folder_name = new_pack_folder_name(spec.id)
    final = content_dir / folder_name
    session.phases.report(0.98, "switching the catalogue")
    os.rename(staging, final)
    fsync_file(content_dir)
    try:
        old_folder, old_version = session.catalogue.replace_pack(
            PackRow(spec.id, spec.title, spec.version, spec.publisher, folder_name, str(session.source)),
            _rows(spec, staged, folder_name, placements))
    except ExerciseIdTaken as exc:
        shutil.rmtree(final, ignore_errors=True)
        raise session.refuse(Fault(MANIFEST, f'exercise "{exc.exercise_id}": the id already belongs to the installed pack "{exc.owner}"')) from None
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        raise
    if old_folder and old_folder != folder_name:
        shutil.rmtree(content_dir / old_folder, ignore_errors=True)
    return final, old_version


def _rows(spec: PackSpec, staged: list[StagedVariant], folder: str,
          placements: Mapping[tuple[str, str], tuple[Placement, ...]]) -> list[tuple[ExerciseSpec, list[VariantRow]]]:
    by_exercise: dict[str, list[StagedVariant]] = {}
    for item in staged:
        by_exercise.setdefault(item.exercise.id, []).append(item)
    return [(ex, [_row(i, folder, placements.get((ex.id, i.variant.lang))) for i in by_exercise[ex.id]])
            for ex in spec.exercises]


def _row(i: StagedVariant, folder: str, placements: tuple[Placement, ...] | None) -> VariantRow:
    # A kept original has no phone copy of its own: phones get audio_path.
    made = i.phone if i.phone is not None and i.phone.decision is PhoneDecision.MADE else None
    return VariantRow(
        lang=i.variant.lang, title=i.variant.title, summary=i.variant.summary,
        introduction=i.variant.introduction, cues=i.cues, duration=i.duration,
        audio_path=f"{folder}/pack/{normal_path(i.variant.audio)}", audio_bytes=i.audio_bytes,
        playback_path=f"{folder}/{i.playback}",
        cues_path=f"{folder}/pack/{normal_path(i.variant.cues)}",
        script_pdf_path=f"{folder}/{i.pdf}", script_pdf_bytes=i.pdf_bytes,
        script_pdf_rendered=i.pdf_rendered, timed=i.variant.timed, loudness=i.loudness,
        phone_path=f"{folder}/{made.path}" if made else None, phone_bytes=made.size if made else None,
        placements=placements)
