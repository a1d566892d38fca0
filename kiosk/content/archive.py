"""Zip archives: what may be extracted at all, and extracting it with byte caps.

A pack's zip is judged twice: by its declared directory before anything comes out (names,
links, sizes, compression ratios), then by what actually comes out, since headers can lie.
"""

from __future__ import annotations

import errno
import re
import stat
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from kiosk.config import Settings
from kiosk.content.faults import Fault, PackRefused, megabytes
from kiosk.content.manifest import MANIFEST

__all__ = ["check_zip", "extract_zip", "zip_root"]

# Compression ratios are judged only on entries (and zips) at least this large: tiny text
# files legitimately compress a hundredfold, and cannot hurt anyone.
RATIO_MIN_BYTES = 1 << 20
_CHUNK = 1 << 20


def _zip_entry_problem(name: str) -> str | None:
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "has an absolute path"
    if "\\" in name:
        return 'has "\\" in its name (a Windows path, possibly escaping the pack)'
    if ".." in name.split("/"):
        return 'uses ".." to escape the pack folder'
    return None


def check_zip(zf: zipfile.ZipFile, label: str, settings: Settings) -> list[Fault]:
    """Refuse what must not be extracted at all, judging the zip's declared directory."""
    limits = settings.content
    infos = zf.infolist()
    faults: list[Fault] = []
    if len(infos) > limits.max_zip_entries:
        faults.append(Fault(label, f"has {len(infos)} entries; the limit is {limits.max_zip_entries} (content.max_zip_entries)"))
        return faults
    seen: set[str] = set()
    total = compressed = 0
    max_file = limits.max_file_mb * 1024 * 1024
    for info in infos:
        name = info.filename
        problem = _zip_entry_problem(name)
        if problem:
            faults.append(Fault(label, f'entry "{name}" {problem}'))
            continue
        if name in seen:
            faults.append(Fault(label, f'entry "{name}" appears twice'))
        seen.add(name)
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if info.create_system == 3 and kind == stat.S_IFLNK:
            faults.append(Fault(label, f'entry "{name}" is a symbolic link; packs must hold plain files'))
            continue
        if info.create_system == 3 and kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            faults.append(Fault(label, f'entry "{name}" is not a plain file or folder'))
            continue
        if info.flag_bits & 0x1:
            faults.append(Fault(label, f'entry "{name}" is encrypted'))
            continue
        if info.is_dir():
            continue
        if info.file_size > max_file:
            faults.append(Fault(label, f'entry "{name}" is {megabytes(info.file_size)} uncompressed; the limit per file is {limits.max_file_mb} MB (content.max_file_mb)'))
        if info.file_size >= RATIO_MIN_BYTES and info.file_size > limits.max_zip_ratio * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            faults.append(Fault(label, f'entry "{name}" expands {ratio:.0f} times ({megabytes(info.compress_size)} to {megabytes(info.file_size)}); the limit is {limits.max_zip_ratio} (content.max_zip_ratio): a likely zip bomb'))
        total += info.file_size
        compressed += info.compress_size
    if total > limits.max_pack_mb * 1024 * 1024:
        faults.append(Fault(label, f"expands to {megabytes(total)}; the limit is {limits.max_pack_mb} MB (content.max_pack_mb)"))
    if total >= RATIO_MIN_BYTES and total > limits.max_zip_ratio * max(compressed, 1):
        faults.append(Fault(label, f"expands {total / max(compressed, 1):.0f} times overall; the limit is {limits.max_zip_ratio} (content.max_zip_ratio): a likely zip bomb"))
    return faults


def extract_zip(zf: zipfile.ZipFile, label: str, dest: Path, settings: Settings,
                 progress: Callable[[int], None]) -> list[Fault]:
    """Extract with byte caps enforced on what actually comes out, since headers can lie."""
    limits = settings.content
    max_file = limits.max_file_mb * 1024 * 1024
    budget = limits.max_pack_mb * 1024 * 1024
    written_total = 0
    dest.mkdir(parents=True, exist_ok=True)
    for info in zf.infolist():
        target = dest.joinpath(*PurePosixPath(info.filename).parts)
        cap = min(info.file_size, max_file, budget - written_total)
        ratio_cap = limits.max_zip_ratio * max(info.compress_size, 1)
        written = 0
        crc = 0
        try:
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "xb") as out:
                while chunk := src.read(_CHUNK):
                    written += len(chunk)
                    crc = zlib.crc32(chunk, crc)
                    if written > cap:
                        return [Fault(label, f'entry "{info.filename}" expands beyond its declared size or the size limits: the zip is damaged or hostile')]
                    if written >= RATIO_MIN_BYTES and written > ratio_cap:
                        return [Fault(label, f'entry "{info.filename}" expands more than {limits.max_zip_ratio} times: a likely zip bomb')]
                    out.write(chunk)
                    progress(len(chunk))
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                raise
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return [Fault(label, f'entry "{info.filename}" cannot be extracted, the zip is damaged: {detail}')]
        # zipfile stops at the declared size, and may then skip its own checksum test: a
        # header that understates the size would pass unnoticed without this one.
        if written != info.file_size or crc != info.CRC:
            return [Fault(label, f'entry "{info.filename}" does not match its header (size or checksum): the zip is damaged or hostile')]
        written_total += written
    return []


def zip_root(extracted: Path, source: Path, label: str) -> Path:
    if (extracted / MANIFEST).is_file():
        return extracted.resolve()
    tops = [p for p in extracted.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
    if len(tops) == 1 and (tops[0] / MANIFEST).is_file():
        return tops[0].resolve()
    raise PackRefused(source, [Fault(label, "has no pack.toml at its top (or inside one single top folder)")])
