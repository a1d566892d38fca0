"""The first stages: gather the pack (a folder, or a zip extracted into staging), read its
pack.toml, and stage the files it names, so that every later check reads our own copies."""

from __future__ import annotations

import errno
import os
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kiosk.content.archive import check_zip, extract_zip, zip_root
from kiosk.content.faults import Fault, megabytes
from kiosk.content.importer.session import ImportSession
from kiosk.content.manifest import (
    MANIFEST,
    MAX_MANIFEST_BYTES,
    KeyLocator,
    PackSpec,
    normal_path,
    parse_manifest,
)

__all__ = ["Gathered", "Manifest", "StagedFiles", "gather", "read_manifest", "stage_files"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Gathered:
    root: Path  # the pack's top folder: the source itself, or inside the extracted zip
    from_zip: bool  # the files under root are ours (extracted), and may be moved


@dataclass(frozen=True)
class Manifest:
    data: bytes  # pack.toml as read, kept in the imported folder
    spec: PackSpec
    locator: KeyLocator  # the line of a key, for faults found by later stages


@dataclass
class StagedFiles:
    """The files pack.toml names. `kinds` has every one; `sizes` those usable so far;
    `paths` those copied into staging/pack (the later checks read only these)."""

    kinds: dict[str, str] = field(default_factory=dict)  # normalised path -> audio / cues / script_pdf
    sizes: dict[str, int] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)


def gather(session: ImportSession) -> Gathered:
    """Where the pack's files are: the folder itself, or the zip checked and extracted into
    staging/source. Refuses at once what is no pack at all, or a zip that must not be opened."""
    source, label = session.source, session.label
    if source.is_dir():
        return Gathered(source.resolve(), from_zip=False)
    if source.is_file() and (zipfile.is_zipfile(source) or source.suffix.lower() == ".zip"):
        try:
            zf = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError) as exc:
            raise session.refuse(Fault(label, f"is not a readable zip file: {exc}")) from None
        with zf:
            faults = check_zip(zf, label, session.settings)
            if faults:
                raise session.refuse(*faults)
            session.phases.copy_total = max(1, sum(i.file_size for i in zf.infolist()))
            faults = extract_zip(zf, label, session.staging / "source", session.settings,
                                 session.phases.copied_bytes)
            if faults:
                raise session.refuse(*faults)
        return Gathered(zip_root(session.staging / "source", source, label), from_zip=True)
    if source.is_file() and source.name == MANIFEST:
        return Gathered(source.parent.resolve(), from_zip=False)
    if not source.exists():
        raise session.refuse(Fault(label, "does not exist"))
    raise session.refuse(Fault(label, "is neither a folder nor a .zip file"))


def read_manifest(session: ImportSession, gathered: Gathered) -> Manifest:
    """pack.toml read (inside the pack, plain, not too large) and checked. Its faults are
    collected; only a file that cannot be read as TOML at all refuses the pack here."""
    root = gathered.root
    manifest = root / MANIFEST
    try:
        real = manifest.resolve(strict=True)
        if not real.is_relative_to(root):
            raise session.refuse(Fault(MANIFEST, "is a link leading outside the pack"))
        if not real.is_file():
            raise session.refuse(Fault(MANIFEST, "is not a regular file"))
        if real.stat().st_size > MAX_MANIFEST_BYTES:
            raise session.refuse(Fault(MANIFEST, f"is larger than {MAX_MANIFEST_BYTES // 1024} KB"))
        data = real.read_bytes()
    except FileNotFoundError:
        raise session.refuse(Fault(MANIFEST, "is missing: a pack needs a pack.toml at its top")) from None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symbolic link loop
        raise session.refuse(Fault(MANIFEST, f"cannot be read: {exc}")) from None
    spec, faults = parse_manifest(data)
    if spec is None:
        raise session.refuse(*faults)
    session.faults.extend(faults)
    return Manifest(data, spec, KeyLocator(data.decode("utf-8", "replace")))


def stage_files(session: ImportSession, gathered: Gathered, manifest: Manifest) -> StagedFiles:
    """The referenced files: inside the pack, plain, within the size limits; copied (or,
    from a zip, moved) into staging/pack, beside a copy of pack.toml."""
    limits = session.settings.content
    root, faults = gathered.root, session.faults
    files = StagedFiles()
    key_paths: dict[str, tuple[tuple[Any, ...], str]] = {}  # where pack.toml first names it
    for ex in manifest.spec.exercises:
        for v in ex.variants:
            for kind, rel in (("audio", v.audio), ("cues", v.cues), ("script_pdf", v.script_pdf)):
                if rel:
                    files.kinds.setdefault(normal_path(rel), kind)
                    key_paths.setdefault(normal_path(rel), (("exercises", ex.number - 1, "variants", v.lang, kind),
                                                            f"{v.where}: {kind}"))
    usable: dict[str, Path] = {}
    for rel in files.kinds:
        candidate = root.joinpath(*PurePosixPath(rel).parts)
        try:
            real = candidate.resolve(strict=True)
        except FileNotFoundError:
            key_path, named_by = key_paths[rel]
            faults.append(Fault(MANIFEST, f'{named_by} "{rel}" does not exist in the pack',
                                manifest.locator.line(key_path)))
            continue
        except (OSError, RuntimeError) as exc:
            faults.append(Fault(rel, f"cannot be read: {exc}"))
            continue
        if not real.is_relative_to(root):
            faults.append(Fault(rel, "is a link leading outside the pack"))
            continue
        if not real.is_file():
            faults.append(Fault(rel, "is not a regular file"))
            continue
        size = real.stat().st_size
        if size > session.max_file_bytes:
            faults.append(Fault(rel, f"is {megabytes(size)}; the limit per file is {limits.max_file_mb} MB (content.max_file_mb)"))
            continue
        files.sizes[rel] = size
        usable[rel] = real
    total = sum(files.sizes.values())
    if total > limits.max_pack_mb * 1024 * 1024:
        faults.append(Fault(MANIFEST, f"the pack's files add up to {megabytes(total)}; the limit is {limits.max_pack_mb} MB (content.max_pack_mb)"))
        usable.clear()
    if not gathered.from_zip:
        session.phases.copy_total = max(1, sum(files.sizes[r] for r in usable))
    pack_dir = session.staging / "pack"
    pack_dir.mkdir()
    (pack_dir / MANIFEST).write_bytes(manifest.data)
    for rel, real in usable.items():
        target = pack_dir.joinpath(*PurePosixPath(rel).parts)
        try:
            if gathered.from_zip:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.rename(real, target)
            else:
                _copy_capped(real, target, session.max_file_bytes, session.phases.copied_bytes)
        except _FileProblem as exc:
            faults.append(Fault(rel, str(exc)))
            continue
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise
            faults.append(Fault(rel, f"cannot be read: {exc.strerror or exc}"))
            continue
        files.paths[rel] = target
    return files


class _FileProblem(Exception):
    pass


def _copy_capped(src: Path, dst: Path, cap: int, progress: Callable[[int], None]) -> int:
    dst.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(src, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise _FileProblem("is not a regular file")
        if st.st_size > cap:
            raise _FileProblem(f"is {megabytes(st.st_size)}, over the limit")
        with open(dst, "xb") as out:
            while chunk := f.read(_CHUNK):
                written += len(chunk)
                if written > cap:
                    raise _FileProblem("grew while it was being copied")
                out.write(chunk)
                progress(len(chunk))
            out.flush()
            os.fsync(out.fileno())
    return written
