"""Content packs: validate everything, then import atomically.

A pack is a folder or a .zip holding `pack.toml` and the files it names (see the README's
"Content packs" section). The import runs in this order, so that a refused pack or a crash
at any moment leaves the catalogue and the content folder as they were:

1. Everything is gathered into a private staging folder `content/.staging-<uuid>/`: a zip
   is checked entry by entry (names, links, sizes, compression ratios) and extracted with
   byte caps; a folder's referenced files are copied after their paths are proved to stay
   inside it. Later checks read only these private copies.
2. Every check runs and every fault is collected (file, line where there is one, what is
   wrong): TOML syntax and schema, paths, sizes, UTF-8, WebVTT cues, each MP3 walked frame
   by frame and decoded in full (which also writes the lossless playback copy), cues within
   the measured duration. Any fault: the staging folder is deleted and `PackRefused` lists
   them all.
3. Missing script PDFs are rendered from the cues; files are flushed to disk.
4. The staging folder is renamed to `content/<pack-id>-<import-id>/` and the catalogue rows
   switch in ONE SQLite transaction; the previous version's folder is deleted only after
   that commit is durable.

`cleanup_leftovers` (called at start) removes what a crash between those steps can leave:
staging folders, pack folders no row references, files a removal did not finish deleting.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import time
import tomllib
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import sqlite_utils

from kiosk.config import Settings, describe_value
from kiosk.content.catalogue import (
    Catalogue,
    content_lock_path,
    cues_to_json,
    delete_exercise_rows,
    search_meta,
)
from kiosk.content.cues import Cue, VttError, parse_vtt, script_text
from kiosk.content.mp3scan import Mp3Error, Mp3Info, scan_mp3
from kiosk.store import write_transaction

log = logging.getLogger(__name__)

__all__ = [
    "ContentBusy",
    "Fault",
    "ImportResult",
    "PackRefused",
    "Progress",
    "cleanup_leftovers",
    "content_lock",
    "import_demo_if_empty",
    "import_pack",
]

FORMAT_VERSION = 1
MANIFEST = "pack.toml"
MAX_MANIFEST_BYTES = 1 << 20
MAX_NESTING = 6  # tables and arrays inside each other; the schema itself needs 4
MAX_EXERCISES = 1000
MAX_VARIANTS = 20
MAX_TECHNIQUES = 20
MAX_REFERENCES = 50
CUE_TOLERANCE_SECONDS = 0.5
# Compression ratios are judged only on entries (and zips) at least this large: tiny text
# files legitimately compress a hundredfold, and cannot hurt anyone.
RATIO_MIN_BYTES = 1 << 20
_CHUNK = 1 << 20

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
LANG_TAG = re.compile(r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-(?:[A-Z]{2}|[0-9]{3}))?$")
VERSION = re.compile(r"^\d{1,6}(\.\d{1,6}){0,3}$")
_FOLDER = re.compile(r"^[a-z0-9][a-z0-9-]*-\d{14}-[0-9a-f]{8}$")
_STAGING_PREFIX = ".staging-"
CHECKSUMS = "CHECKSUMS"  # in every imported pack's folder (write_checksums)

TEXT_LIMITS = {"title": 200, "summary": 400, "introduction": 20_000, "guidance": 20_000, "publisher": 200}

Progress = Callable[[float, str], None]
"""progress(fraction done 0..1, what is happening now), called from the importing thread."""


@dataclass(frozen=True)
class Fault:
    """One reason a pack is refused. `file` is relative to the pack (or the zip's name)."""

    file: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class PackRefused(Exception):
    """The pack was not imported; `faults` lists every reason. Nothing was changed."""

    def __init__(self, source: Path, faults: list[Fault]):
        self.source = source
        self.faults = faults
        super().__init__(self.message())

    def message(self) -> str:
        n = len(self.faults)
        lines = [f"{self.source} was refused ({n} problem{'s' if n != 1 else ''}); nothing was changed:"]
        lines += [f"  - {f}" for f in self.faults]
        return "\n".join(lines)


class ContentBusy(Exception):
    """Another import or removal is changing the content folder right now."""


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


# ---- the lock -------------------------------------------------------------------------


@contextlib.contextmanager
def content_lock(content_dir: Path, *, wait: bool = False) -> Iterator[None]:
    """Holds the content folder's lock (an flock, released by the kernel if we die)."""
    path = content_lock_path(content_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise ContentBusy(
                "another import or removal is changing the content right now; "
                "try again when it has finished"
            ) from None
        yield
    finally:
        os.close(fd)


# ---- pack.toml: syntax, schema, and where each key is ----------------------------------


@dataclass
class VariantSpec:
    lang: str
    audio: str
    cues: str
    script_pdf: str | None
    title: str
    summary: str
    introduction: str
    where: str  # 'exercise 2 ("safe-place"), variant en-GB' for messages


@dataclass
class ExerciseSpec:
    id: str
    title: str
    summary: str
    introduction: str
    guidance: str
    references: list[str]
    techniques: list[str]
    visibility: str
    variants: list[VariantSpec] = field(default_factory=list)
    number: int = 0  # 1 for the first [[exercises]] in pack.toml


@dataclass
class PackSpec:
    id: str
    title: str
    version: str
    publisher: str
    exercises: list[ExerciseSpec]


class _Locator:
    """Finds the line of a key in pack.toml, best effort, for messages.

    tomllib keeps no positions, so this reads the table headers and `key =` lines itself:
    `[[exercises]]` number i, then `[exercises.variants.<lang>]` under it, then the key.
    Falls back to the enclosing header's line, or to no line at all.
    """

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")

    def __init__(self, text: str):
        self.lines = text.split("\n")
        self.headers: list[tuple[int, str, bool]] = []  # (line index, dotted name, is array)
        for i, line in enumerate(self.lines):
            m = self._HEADER.match(line)
            if m:
                name = re.sub(r"\s*\.\s*", ".", m.group(2)).replace('"', "").replace("'", "")
                self.headers.append((i, name, m.group(1) == "[["))

    def _key_line(self, key: str, start: int, stop: int) -> int | None:
        pattern = re.compile(rf"""^\s*["']?{re.escape(key)}["']?\s*=""")
        for i in range(start, stop):
            if pattern.match(self.lines[i]):
                return i + 1
        return None

    def _section(self, name: str, after: int = -1, before: int | None = None) -> tuple[int, int] | None:
        """(header line index, index of the next header) of the first [name] in range."""
        for n, (i, header, _) in enumerate(self.headers):
            if i <= after or (before is not None and i >= before):
                continue
            if header == name:
                nxt = self.headers[n + 1][0] if n + 1 < len(self.headers) else len(self.lines)
                return i, nxt
        return None

    def line(self, path: tuple[Any, ...]) -> int | None:
        top_end = self.headers[0][0] if self.headers else len(self.lines)
        if len(path) == 1:
            return self._key_line(str(path[0]), 0, top_end)
        if path[0] == "pack":
            section = self._section("pack")
            if section is None:
                return None
            return self._key_line(str(path[1]), section[0] + 1, section[1]) or section[0] + 1
        if path[0] != "exercises" or not isinstance(path[1], int):
            return None
        arrays = [i for i, name, is_array in self.headers if name == "exercises" and is_array]
        if path[1] >= len(arrays):
            return None
        start = arrays[path[1]]
        stop = arrays[path[1] + 1] if path[1] + 1 < len(arrays) else len(self.lines)
        if len(path) == 2:
            return start + 1
        if path[2] == "variants" and len(path) >= 4:
            section = self._section(f"exercises.variants.{path[3]}", after=start, before=stop)
            if section is None:
                return self._key_line("variants", start + 1, stop) or start + 1
            if len(path) == 4:
                return section[0] + 1
            return self._key_line(str(path[4]), section[0] + 1, section[1]) or section[0] + 1
        # A key of the exercise itself: in its own table, before any sub-table header.
        own_end = next((i for i, _, _ in self.headers if start < i < stop), stop)
        return self._key_line(str(path[2]), start + 1, own_end) or start + 1


def _depth(value: Any) -> int:
    """Nesting depth of tables and arrays, without recursion (the input may be hostile)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
    return deepest


class _Schema:
    """Checks the parsed pack.toml; collects faults with lines instead of stopping."""

    def __init__(self, locator: _Locator):
        self.locator = locator
        self.faults: list[Fault] = []

    def fault(self, path: tuple[Any, ...], label: str, message: str) -> None:
        self.faults.append(Fault(MANIFEST, f"{label}: {message}", self.locator.line(path)))

    def unknown_keys(self, table: dict[str, Any], known: list[str], path: tuple[Any, ...], label: str) -> None:
        for key in table:
            if key not in known:
                guess = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                hint = f'; did you mean "{guess[0]}"?' if guess else f" (known keys: {', '.join(known)})"
                self.fault(path + (key,), label, f'unknown key "{key}"{hint}')

    def text(self, table: dict[str, Any], key: str, path: tuple[Any, ...], label: str,
             required: bool, default: str = "") -> str:
        if key not in table:
            if required:
                self.fault(path, label, f'"{key}" is missing')
            return default
        value = table[key]
        if not isinstance(value, str):
            self.fault(path + (key,), label, f"{key}: expected text, found {describe_value(value)}")
            return default
        if required and not value.strip():
            self.fault(path + (key,), label, f"{key}: must not be empty")
            return default
        limit = TEXT_LIMITS.get(key)
        if limit and len(value) > limit:
            self.fault(path + (key,), label, f"{key}: at most {limit} characters, found {len(value)}")
        return value.strip()

    def slug(self, table: dict[str, Any], key: str, path: tuple[Any, ...], label: str) -> str:
        value = self.text(table, key, path, label, required=True)
        if value and not SLUG.match(value):
            self.fault(path + (key,), label,
                       f'{key}: "{value}" is not a valid id (lowercase letters, digits and "-", '
                       "starting with a letter or digit, at most 64 characters)")
            return ""
        return value

    def text_list(self, table: dict[str, Any], key: str, path: tuple[Any, ...], label: str,
                  limit: int, slugs: bool = False) -> list[str]:
        if key not in table:
            return []
        value = table[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fault(path + (key,), label, f"{key}: expected a list of text, found {describe_value(value)}")
            return []
        if len(value) > limit:
            self.fault(path + (key,), label, f"{key}: at most {limit} items, found {len(value)}")
        if slugs:
            bad = [v for v in value if not SLUG.match(v)]
            if bad:
                self.fault(path + (key,), label,
                           f'{key}: "{bad[0]}" is not a valid tag (lowercase letters, digits and "-")')
            if len(set(value)) != len(value):
                self.fault(path + (key,), label, f"{key}: lists the same tag twice")
        return [v.strip() for v in value]


_TOP_KEYS = ["format", "pack", "exercises"]
_PACK_KEYS = ["id", "title", "version", "publisher"]
_EXERCISE_KEYS = ["id", "title", "summary", "introduction", "guidance", "references",
                  "techniques", "visibility", "variants"]
_VARIANT_KEYS = ["audio", "cues", "script_pdf", "title", "summary", "introduction"]


def parse_manifest(data: bytes) -> tuple[PackSpec | None, list[Fault]]:
    """pack.toml bytes -> (the pack's description, every fault found in it).

    The description is None only when the file cannot be read as TOML at all; otherwise it
    holds the exercises that are fully well described (the faults name the others).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = data[: exc.start].count(b"\n") + 1
        return None, [Fault(MANIFEST, f"is not UTF-8 text (byte {exc.start})", bad_line)]
    text = text.removeprefix("\ufeff")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        line = int(m.group(1)) if m else None
        what = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg)
        col = f" (column {m.group(2)})" if m else ""
        return None, [Fault(MANIFEST, f"is not valid TOML: {what}{col}", line)]
    except RecursionError:
        return None, [Fault(MANIFEST, "is nested too deeply to read (brackets inside brackets)")]
    locator = _Locator(text.replace("\r\n", "\n"))
    schema = _Schema(locator)
    for key, value in raw.items():
        if isinstance(value, dict | list) and _depth(value) > MAX_NESTING:
            schema.fault((key,), key, f"nested too deeply (more than {MAX_NESTING} levels)")
            return None, schema.faults
    schema.unknown_keys(raw, _TOP_KEYS, (), "top level")

    fmt = raw.get("format")
    if fmt is None:
        schema.fault(("format",), "format", f"is missing (write format = {FORMAT_VERSION} at the top)")
    elif isinstance(fmt, bool) or not isinstance(fmt, int):
        schema.fault(("format",), "format", f"expected a whole number, found {describe_value(fmt)}")
    elif fmt != FORMAT_VERSION:
        schema.fault(("format",), "format",
                     f"this station reads pack format {FORMAT_VERSION}, the pack is format {fmt}")

    pack_raw = raw.get("pack")
    pack_id = title = version = publisher = ""
    if not isinstance(pack_raw, dict):
        schema.fault(("pack",), "[pack]", "is missing" if pack_raw is None
                     else f"expected a table, found {describe_value(pack_raw)}")
    else:
        schema.unknown_keys(pack_raw, _PACK_KEYS, ("pack",), "[pack]")
        pack_id = schema.slug(pack_raw, "id", ("pack",), "[pack]")
        title = schema.text(pack_raw, "title", ("pack",), "[pack]", required=True)
        version = schema.text(pack_raw, "version", ("pack",), "[pack]", required=True)
        if version and not VERSION.match(version):
            schema.fault(("pack", "version"), "[pack]",
                         f'version: "{version}" is not a version number like "1.2.0"')
            version = ""
        publisher = schema.text(pack_raw, "publisher", ("pack",), "[pack]", required=False)

    exercises_raw = raw.get("exercises")
    exercises: list[ExerciseSpec] = []
    if exercises_raw is None:
        schema.fault(("exercises",), "[[exercises]]", "the pack has no exercises")
    elif not isinstance(exercises_raw, list) or not all(isinstance(e, dict) for e in exercises_raw):
        schema.fault(("exercises",), "exercises", f"expected [[exercises]] tables, found {describe_value(exercises_raw)}")
    elif not exercises_raw:
        schema.fault(("exercises",), "[[exercises]]", "the pack has no exercises")
    elif len(exercises_raw) > MAX_EXERCISES:
        schema.fault(("exercises",), "[[exercises]]", f"at most {MAX_EXERCISES} exercises, found {len(exercises_raw)}")
    else:
        seen: dict[str, int] = {}
        for index, ex in enumerate(exercises_raw):
            spec = _parse_exercise(schema, index, ex)
            if spec is None:
                continue
            if spec.id in seen:
                schema.fault(("exercises", index, "id"), f"exercise {index + 1}",
                             f'id "{spec.id}" is already used by exercise {seen[spec.id] + 1}')
            else:
                seen[spec.id] = index
            exercises.append(spec)
    # Faults so far do not stop the caller: the exercises that are well described still have
    # their files checked, so that one run reports everything.
    return PackSpec(pack_id, title, version, publisher, exercises), schema.faults


def _parse_exercise(schema: _Schema, index: int, ex: dict[str, Any]) -> ExerciseSpec | None:
    path: tuple[Any, ...] = ("exercises", index)
    raw_id = ex.get("id")
    label = f'exercise {index + 1} ("{raw_id}")' if isinstance(raw_id, str) and raw_id else f"exercise {index + 1}"
    before = len(schema.faults)
    schema.unknown_keys(ex, _EXERCISE_KEYS, path, label)
    exercise_id = schema.slug(ex, "id", path, label)
    title = schema.text(ex, "title", path, label, required=True)
    summary = schema.text(ex, "summary", path, label, required=True)
    introduction = schema.text(ex, "introduction", path, label, required=False)
    guidance = schema.text(ex, "guidance", path, label, required=False)
    references = schema.text_list(ex, "references", path, label, MAX_REFERENCES)
    techniques = schema.text_list(ex, "techniques", path, label, MAX_TECHNIQUES, slugs=True)
    visibility = ex.get("visibility", "public")
    if visibility not in ("public", "therapist"):
        schema.fault(path + ("visibility",), label,
                     f'visibility: expected "public" or "therapist", found {describe_value(visibility)}')
    variants_raw = ex.get("variants")
    variants: list[VariantSpec] = []
    if variants_raw is None:
        schema.fault(path, label, 'has no language variants (add a table [exercises.variants.en-GB] with "audio" and "cues")')
    elif not isinstance(variants_raw, dict):
        schema.fault(path + ("variants",), label, f"variants: expected tables per language, found {describe_value(variants_raw)}")
    elif not variants_raw:
        schema.fault(path + ("variants",), label, "has no language variants")
    elif len(variants_raw) > MAX_VARIANTS:
        schema.fault(path + ("variants",), label, f"at most {MAX_VARIANTS} language variants, found {len(variants_raw)}")
    else:
        for lang, table in variants_raw.items():
            vpath = path + ("variants", lang)
            vlabel = f"{label}, variant {lang}"
            if not LANG_TAG.match(lang):
                schema.fault(vpath, vlabel, f'"{lang}" is not a language tag like "en-GB" or "en-US"')
                continue
            if not isinstance(table, dict):
                schema.fault(vpath, vlabel, f"expected a table, found {describe_value(table)}")
                continue
            schema.unknown_keys(table, _VARIANT_KEYS, vpath, vlabel)
            audio = schema.text(table, "audio", vpath, vlabel, required=True)
            cues = schema.text(table, "cues", vpath, vlabel, required=True)
            pdf = schema.text(table, "script_pdf", vpath, vlabel, required=False) or None
            for key, value, suffix in (("audio", audio, ".mp3"), ("cues", cues, ".vtt"), ("script_pdf", pdf, ".pdf")):
                if value:
                    problem = path_problem(value, suffix)
                    if problem:
                        schema.fault(vpath + (key,), vlabel, f'{key} "{value}": {problem}')
            v_title = schema.text(table, "title", vpath, vlabel, required=False) or title
            v_summary = schema.text(table, "summary", vpath, vlabel, required=False) or summary
            v_intro = schema.text(table, "introduction", vpath, vlabel, required=False) or introduction
            variants.append(VariantSpec(lang, audio, cues, pdf, v_title, v_summary, v_intro, vlabel))
    if len(schema.faults) > before:
        return None
    return ExerciseSpec(exercise_id, title, summary, introduction, guidance, references,
                        techniques, visibility, variants, index + 1)


def path_problem(rel: str, suffix: str) -> str | None:
    """Why a path written in pack.toml cannot be used, or None. Syntax only (no disk)."""
    if "\x00" in rel:
        return "contains a NUL character"
    if "\\" in rel:
        return 'use "/" between folder names, not "\\"'
    if rel.startswith("/") or re.match(r"^[A-Za-z]:", rel):
        return "must be relative to the pack folder, not an absolute path"
    parts = PurePosixPath(rel).parts
    if ".." in parts:
        return 'must not use ".." to leave the pack folder'
    if not parts or parts == (".",):
        return "is not a file name"
    if not rel.lower().endswith(suffix):
        return f"must be a {suffix} file"
    return None


def _normal(rel: str) -> str:
    return str(PurePosixPath(rel))


# ---- zips ------------------------------------------------------------------------------


def _zip_entry_problem(name: str) -> str | None:
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "has an absolute path"
    if "\\" in name:
        return 'has "\\" in its name (a Windows path, possibly escaping the pack)'
    if ".." in name.split("/"):
        return 'uses ".." to escape the pack folder'
    return None


def _check_zip(zf: zipfile.ZipFile, label: str, settings: Settings) -> list[Fault]:
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
            faults.append(Fault(label, f'entry "{name}" is {_mb(info.file_size)} uncompressed; the limit per file is {limits.max_file_mb} MB (content.max_file_mb)'))
        if info.file_size >= RATIO_MIN_BYTES and info.file_size > limits.max_zip_ratio * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            faults.append(Fault(label, f'entry "{name}" expands {ratio:.0f} times ({_mb(info.compress_size)} to {_mb(info.file_size)}); the limit is {limits.max_zip_ratio} (content.max_zip_ratio): a likely zip bomb'))
        total += info.file_size
        compressed += info.compress_size
    if total > limits.max_pack_mb * 1024 * 1024:
        faults.append(Fault(label, f"expands to {_mb(total)}; the limit is {limits.max_pack_mb} MB (content.max_pack_mb)"))
    if total >= RATIO_MIN_BYTES and total > limits.max_zip_ratio * max(compressed, 1):
        faults.append(Fault(label, f"expands {total / max(compressed, 1):.0f} times overall; the limit is {limits.max_zip_ratio} (content.max_zip_ratio): a likely zip bomb"))
    return faults


def _extract_zip(zf: zipfile.ZipFile, label: str, dest: Path, settings: Settings,
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


def _mb(n: int) -> str:
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


# ---- copying referenced files ----------------------------------------------------------


def _copy_capped(src: Path, dst: Path, cap: int, progress: Callable[[int], None]) -> int:
    dst.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(src, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise _FileProblem("is not a regular file")
        if st.st_size > cap:
            raise _FileProblem(f"is {_mb(st.st_size)}, over the limit")
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


class _FileProblem(Exception):
    pass


# ---- decoding --------------------------------------------------------------------------


def _make_playback_copy(mp3: Path, flac: Path, progress: Callable[[float], None], info: Mp3Info) -> int:
    """Decode the MP3 into the engine's lossless playback copy; return samples per channel.

    The audio engine's own copy (kiosk.audio.decode), so import and playback share one
    decoder: miniaudio streams VBR exactly (soundfile's chunked MP3 reads do not, see the
    stack notes) and it stops at the last whole frame, as the engine expects.
    """
    from kiosk.audio.decode import make_playback_copy

    def report(done_seconds: float, total_seconds: float) -> None:
        if total_seconds > 0:
            progress(min(done_seconds / total_seconds, 1.0))

    flac.parent.mkdir(parents=True, exist_ok=True)
    duration = make_playback_copy(mp3, flac, report, scan=info)  # walked once, by the checks
    _fsync_file(flac)
    return round(duration * info.sample_rate)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_checksums(folder: Path) -> None:
    """CHECKSUMS: the SHA-256 of every file in an imported pack's folder, in the format of
    `sha256sum`, so `kiosk doctor` (or an administrator: `cd FOLDER && sha256sum -c CHECKSUMS`)
    can tell a file damaged on disk from a whole one even when its size did not change."""
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != CHECKSUMS):
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        lines.append(f"{digest}  {path.relative_to(folder).as_posix()}\n")
    (folder / CHECKSUMS).write_text("".join(lines), encoding="utf-8")


def checksum_problems(folder: Path) -> list[tuple[Path, str]]:
    """(file, fault) for what in an imported pack's folder no longer matches its CHECKSUMS."""
    listing = folder / CHECKSUMS
    try:
        lines = listing.read_text(encoding="utf-8").splitlines()
    except OSError:
        return [(listing, "is missing, so the pack's files cannot be checked")]
    problems = []
    for line in lines:
        digest, _, rel = line.partition("  ")
        path = folder / rel
        try:
            with path.open("rb") as f:
                actual = hashlib.file_digest(f, "sha256").hexdigest()
        except FileNotFoundError:
            continue  # a file a variant needs is reported by its row; others may go (cleanup)
        except OSError as exc:
            problems.append((path, f"cannot be read ({exc.strerror or exc})"))
        else:
            if actual != digest:
                problems.append((path, "is damaged: its contents changed since import"))
    return problems


def _fsync_tree(root: Path) -> None:
    """Every file and folder under root on disk before the commit that will reference them."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            _fsync_file(Path(dirpath) / name)
        _fsync_file(Path(dirpath))


# ---- the import ------------------------------------------------------------------------


@dataclass
class _Staged:
    """What validation produced for one variant, ready for the rows."""

    exercise: ExerciseSpec
    variant: VariantSpec
    cues: tuple[Cue, ...] = ()
    duration: float = 0.0
    audio_bytes: int = 0
    playback: str = ""
    pdf: str | None = None
    pdf_bytes: int = 0
    pdf_rendered: bool = False


class _Phases:
    """Maps the steps' own progress onto one 0..1 bar: copying 10%, decoding 85%, the rest 5%."""

    def __init__(self, progress: Progress | None):
        self.progress = progress
        self.copy_total = 1
        self.copied = 0
        self.decode_total = 1
        self.decoded_before = 0

    def report(self, fraction: float, what: str) -> None:
        if self.progress is not None:
            self.progress(max(0.0, min(fraction, 1.0)), what)

    def copied_bytes(self, n: int) -> None:
        self.copied += n
        self.report(0.02 + 0.08 * self.copied / self.copy_total, "copying files")

    def decoding(self, size: int, name: str) -> Callable[[float], None]:
        base = self.decoded_before
        self.decoded_before += size

        def step(fraction: float) -> None:
            self.report(0.10 + 0.85 * (base + fraction * size) / self.decode_total, f"decoding {name}")

        return step


def import_pack(
    settings: Settings,
    db: sqlite_utils.Database,
    source: Path,
    progress: Progress | None = None,
    *,
    allow_downgrade: bool = False,
    check_only: bool = False,
) -> ImportResult:
    """Validate the pack at `source` (folder or .zip) and import it, or raise PackRefused.

    A newer (or the same) version of an installed pack replaces it; an older one is refused
    unless allow_downgrade. With check_only, everything is checked (MP3s decoded in full)
    and nothing is kept. Raises ContentBusy when another import holds the content lock.
    """
    started = time.monotonic()
    source = Path(source).expanduser().absolute()
    content_dir = settings.content_dir
    created_content_dir = not content_dir.exists()
    content_dir.mkdir(parents=True, exist_ok=True)
    phases = _Phases(progress)
    phases.report(0.0, "checking the pack")
    with content_lock(content_dir):
        staging = content_dir / f"{_STAGING_PREFIX}{uuid.uuid4().hex}"
        staging.mkdir()
        keep = False
        try:
            spec, staged = _prepare(settings, db, source, staging, phases, allow_downgrade)
            if check_only:
                phases.report(1.0, "checked")
                return ImportResult(spec.id, spec.title, spec.version, tuple(e.id for e in spec.exercises),
                                    None, _installed_version(db, spec.id), time.monotonic() - started,
                                    sum(s.duration for s in staged))
            phases.report(0.95, "writing script PDFs")
            _render_missing_pdfs(spec, staged, staging)
            shutil.rmtree(staging / "source", ignore_errors=True)
            write_checksums(staging)
            _fsync_tree(staging)
            folder_name = f"{spec.id}-{datetime.now(UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}"
            final = content_dir / folder_name
            phases.report(0.98, "switching the catalogue")
            os.rename(staging, final)
            keep = True
            _fsync_file(content_dir)
            try:
                old_folder, old_version = _commit(db, spec, staged, folder_name, source)
            except BaseException:
                shutil.rmtree(final, ignore_errors=True)
                raise
            if old_folder and old_folder != folder_name:
                shutil.rmtree(content_dir / old_folder, ignore_errors=True)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise PackRefused(source, [Fault(str(content_dir), "the disk is full; free some space and try again")]) from None
            raise
        finally:
            if not keep:
                shutil.rmtree(staging, ignore_errors=True)
                if created_content_dir:
                    with contextlib.suppress(OSError):
                        content_dir.rmdir()
    phases.report(1.0, "done")
    elapsed = time.monotonic() - started
    log.info("imported pack %s %s (%d exercises) from %s in %.1f s", spec.id, spec.version,
             len(spec.exercises), source, elapsed)
    return ImportResult(spec.id, spec.title, spec.version, tuple(e.id for e in spec.exercises),
                        final, old_version, elapsed, sum(s.duration for s in staged))


def _installed_version(db: sqlite_utils.Database, pack_id: str) -> str | None:
    row = db.execute("SELECT version FROM packs WHERE id = ?", [pack_id]).fetchone()
    return None if row is None else row[0]


def _version_key(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".")]
    return tuple(parts + [0] * (4 - len(parts)))


def _prepare(settings: Settings, db: sqlite_utils.Database, source: Path, staging: Path,
             phases: _Phases, allow_downgrade: bool) -> tuple[PackSpec, list[_Staged]]:
    """Gather the pack into staging and run every check; raise PackRefused with all faults."""
    limits = settings.content
    max_file = limits.max_file_mb * 1024 * 1024
    label = source.name
    # 1. Where the pack's files are: the folder itself, or the zip extracted into staging.
    if source.is_dir():
        root = source.resolve()
        from_zip = False
    elif source.is_file() and (zipfile.is_zipfile(source) or source.suffix.lower() == ".zip"):
        try:
            zf = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError) as exc:
            raise PackRefused(source, [Fault(label, f"is not a readable zip file: {exc}")]) from None
        with zf:
            faults = _check_zip(zf, label, settings)
            if faults:
                raise PackRefused(source, faults)
            phases.copy_total = max(1, sum(i.file_size for i in zf.infolist()))
            faults = _extract_zip(zf, label, staging / "source", settings, phases.copied_bytes)
            if faults:
                raise PackRefused(source, faults)
        root = _zip_root(staging / "source", source, label)
        from_zip = True
    elif source.is_file() and source.name == MANIFEST:
        root = source.parent.resolve()
        from_zip = False
    elif not source.exists():
        raise PackRefused(source, [Fault(label, "does not exist")])
    else:
        raise PackRefused(source, [Fault(label, "is neither a folder nor a .zip file")])

    # 2. pack.toml.
    manifest = root / MANIFEST
    try:
        real = manifest.resolve(strict=True)
        if not real.is_relative_to(root):
            raise PackRefused(source, [Fault(MANIFEST, "is a link leading outside the pack")])
        if not real.is_file():
            raise PackRefused(source, [Fault(MANIFEST, "is not a regular file")])
        if real.stat().st_size > MAX_MANIFEST_BYTES:
            raise PackRefused(source, [Fault(MANIFEST, f"is larger than {MAX_MANIFEST_BYTES // 1024} KB")])
        data = real.read_bytes()
    except FileNotFoundError:
        raise PackRefused(source, [Fault(MANIFEST, "is missing: a pack needs a pack.toml at its top")]) from None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symbolic link loop
        raise PackRefused(source, [Fault(MANIFEST, f"cannot be read: {exc}")]) from None
    spec, faults = parse_manifest(data)
    if spec is None:
        raise PackRefused(source, faults)

    # 3. The catalogue's point of view: ids owned by other packs, going back a version.
    locator = _Locator(data.decode("utf-8", "replace"))
    for ex in spec.exercises:
        row = db.execute("SELECT pack_id FROM exercises WHERE id = ?", [ex.id]).fetchone()
        if row is not None and spec.id and row[0] != spec.id:
            faults.append(Fault(MANIFEST, f'exercise {ex.number} ("{ex.id}"): the id already belongs to the installed pack "{row[0]}"; exercise ids are unique across the catalogue',
                                locator.line(("exercises", ex.number - 1, "id"))))
    installed = _installed_version(db, spec.id) if spec.id else None
    if installed and spec.version and not allow_downgrade and _version_key(spec.version) < _version_key(installed):
        faults.append(Fault(MANIFEST, f'[pack]: version: {spec.version} is older than the installed version {installed} of "{spec.id}" (import with --force to go back)',
                            locator.line(("pack", "version"))))

    # 4. Referenced files: inside the pack, plain, within the size limits; copied (or, from
    #    a zip, moved) into staging/pack so that every later check reads our own copy.
    referenced: dict[str, str] = {}  # normalised path -> kind (audio / cues / script_pdf)
    key_paths: dict[str, tuple[tuple[Any, ...], str]] = {}  # where pack.toml first names it
    for ex in spec.exercises:
        for v in ex.variants:
            for kind, rel in (("audio", v.audio), ("cues", v.cues), ("script_pdf", v.script_pdf)):
                if rel:
                    referenced.setdefault(_normal(rel), kind)
                    key_paths.setdefault(_normal(rel), (("exercises", ex.number - 1, "variants", v.lang, kind),
                                                        f"{v.where}: {kind}"))
    sizes: dict[str, int] = {}
    usable: dict[str, Path] = {}
    for rel in referenced:
        candidate = root.joinpath(*PurePosixPath(rel).parts)
        try:
            real = candidate.resolve(strict=True)
        except FileNotFoundError:
            key_path, named_by = key_paths[rel]
            faults.append(Fault(MANIFEST, f'{named_by} "{rel}" does not exist in the pack', locator.line(key_path)))
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
        if size > max_file:
            faults.append(Fault(rel, f"is {_mb(size)}; the limit per file is {limits.max_file_mb} MB (content.max_file_mb)"))
            continue
        sizes[rel] = size
        usable[rel] = real
    total = sum(sizes.values())
    if total > limits.max_pack_mb * 1024 * 1024:
        faults.append(Fault(MANIFEST, f"the pack's files add up to {_mb(total)}; the limit is {limits.max_pack_mb} MB (content.max_pack_mb)"))
        usable.clear()
    if not from_zip:
        phases.copy_total = max(1, sum(sizes[r] for r in usable))
    pack_dir = staging / "pack"
    pack_dir.mkdir()
    (pack_dir / MANIFEST).write_bytes(data)
    staged_files: dict[str, Path] = {}
    for rel, real in usable.items():
        target = pack_dir.joinpath(*PurePosixPath(rel).parts)
        try:
            if from_zip:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.rename(real, target)
            else:
                _copy_capped(real, target, max_file, phases.copied_bytes)
        except _FileProblem as exc:
            faults.append(Fault(rel, str(exc)))
            continue
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise
            faults.append(Fault(rel, f"cannot be read: {exc.strerror or exc}"))
            continue
        staged_files[rel] = target

    # 5. Contents: cues, PDFs, MP3s (walked, then decoded into the playback copies).
    cues_by_file: dict[str, tuple[Cue, ...]] = {}
    for rel, kind in referenced.items():
        path = staged_files.get(rel)
        if path is None:
            continue
        if kind == "cues":
            cues = _check_cues(rel, path, faults)
            if cues is not None:
                cues_by_file[rel] = cues
        elif kind == "script_pdf":
            with open(path, "rb") as f:
                head = f.read(5)
            if head != b"%PDF-":
                faults.append(Fault(rel, "is not a PDF document"))
    audio = {rel: path for rel, path in staged_files.items() if referenced[rel] == "audio"}
    infos: dict[str, Mp3Info] = {}
    for rel, path in audio.items():
        try:
            info = scan_mp3(path)
        except Mp3Error as exc:
            faults.append(Fault(rel, str(exc)))
            continue
        if info.duration > limits.max_audio_minutes * 60:
            whole = round(info.duration)
            faults.append(Fault(rel, f"lasts {whole // 60} min {whole % 60:02d} s; the limit is {limits.max_audio_minutes} minutes (content.max_audio_minutes)"))
            continue
        infos[rel] = info
    phases.decode_total = max(1, sum(sizes[r] for r in infos))
    durations: dict[str, float] = {}
    playback: dict[str, str] = {}
    for rel, info in infos.items():
        flac_rel = f"playback/{rel}.flac"
        try:
            samples = _make_playback_copy(audio[rel], staging / flac_rel,
                                          phases.decoding(sizes[rel], rel), info)
        except Exception as exc:  # the decoder's own errors have no common base class
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                raise
            faults.append(Fault(rel, f"cannot be decoded: {getattr(exc, 'fault', exc)}"))
            continue
        low = info.expected_samples - info.samples_per_frame - 4096 * (info.encoder_delay is None)
        if not low <= samples <= info.max_samples:
            faults.append(Fault(rel, f"decodes to {samples} samples where its frames hold {info.expected_samples}: the audio is damaged"))
            continue
        durations[rel] = samples / info.sample_rate
        playback[rel] = flac_rel

    # 6. Each variant: its cues fit its audio.
    staged: list[_Staged] = []
    for ex in spec.exercises:
        for v in ex.variants:
            item = _Staged(ex, v)
            audio_rel, cues_rel = _normal(v.audio), _normal(v.cues)
            cues = cues_by_file.get(cues_rel)
            duration = durations.get(audio_rel)
            if cues is not None and duration is not None and cues[-1].end > duration + CUE_TOLERANCE_SECONDS:
                late = next(i for i, c in enumerate(cues) if c.end > duration + CUE_TOLERANCE_SECONDS)
                faults.append(Fault(cues_rel, f"cue {late + 1} ends at {cues[late].end:.3f} s, after the end of {audio_rel} ({duration:.3f} s)"))
            if cues is None or duration is None:
                continue
            item.cues = cues
            item.duration = duration
            item.audio_bytes = sizes[audio_rel]
            item.playback = playback[audio_rel]
            if v.script_pdf:
                if _normal(v.script_pdf) not in staged_files:
                    continue  # its fault is already recorded
                item.pdf = f"pack/{_normal(v.script_pdf)}"
                item.pdf_bytes = sizes[_normal(v.script_pdf)]
            staged.append(item)
    if faults:
        raise PackRefused(source, faults)
    return spec, staged


def _zip_root(extracted: Path, source: Path, label: str) -> Path:
    if (extracted / MANIFEST).is_file():
        return extracted.resolve()
    tops = [p for p in extracted.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
    if len(tops) == 1 and (tops[0] / MANIFEST).is_file():
        return tops[0].resolve()
    raise PackRefused(source, [Fault(label, "has no pack.toml at its top (or inside one single top folder)")])


def _check_cues(rel: str, path: Path, faults: list[Fault]) -> tuple[Cue, ...] | None:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        faults.append(Fault(rel, f"is not UTF-8 text (byte {exc.start})", line))
        return None
    try:
        return parse_vtt(text)
    except VttError as exc:
        faults.extend(Fault(rel, f.message, f.line) for f in exc.faults)
        return None


def _render_missing_pdfs(spec: PackSpec, staged: list[_Staged], staging: Path) -> None:
    # Imported here: fpdf2 is only needed when a pack ships no PDF, not by every CLI command.
    from kiosk.content.scriptpdf import render_script_pdf

    for item in staged:
        if item.pdf:
            continue
        rel = f"scripts/{item.exercise.id}/{item.variant.lang}.pdf"
        out = staging / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        render_script_pdf(item.variant.title, [c.text for c in item.cues], item.variant.lang,
                          out, subtitle=spec.title)
        item.pdf = rel
        item.pdf_bytes = out.stat().st_size
        item.pdf_rendered = True


def _commit(db: sqlite_utils.Database, spec: PackSpec, staged: list[_Staged],
            folder: str, source: Path) -> tuple[str | None, str | None]:
    """Switch the catalogue to the new pack in one transaction; return the old (folder, version).

    FULL synchronous for this one commit: the old version's files are deleted right after,
    so the commit must be on disk first, or a power cut could leave rows pointing at them.
    """
    db.execute("PRAGMA synchronous=FULL")
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            old = db.execute("SELECT folder, version FROM packs WHERE id = ?", [spec.id]).fetchone()
            # Re-check under the write lock: another process may have imported meanwhile.
            for ex in spec.exercises:
                row = db.execute("SELECT pack_id FROM exercises WHERE id = ?", [ex.id]).fetchone()
                if row is not None and row[0] != spec.id:
                    raise PackRefused(source, [Fault(MANIFEST, f'exercise "{ex.id}": the id already belongs to the installed pack "{row[0]}"')])
            old_ids = [r[0] for r in db.execute("SELECT id FROM exercises WHERE pack_id = ?", [spec.id])]
            delete_exercise_rows(db, old_ids)
            db.execute("DELETE FROM packs WHERE id = ?", [spec.id])
            db.execute(
                "INSERT INTO packs (id, title, version, publisher, folder, source, imported_at) "
                "VALUES (?, ?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                [spec.id, spec.title, spec.version, spec.publisher, folder, str(source)],
            )
            by_exercise: dict[str, list[_Staged]] = {}
            for item in staged:
                by_exercise.setdefault(item.exercise.id, []).append(item)
            for position, ex in enumerate(spec.exercises):
                insert_exercise(db, spec.id, position, ex, [
                    VariantRow(
                        lang=i.variant.lang, title=i.variant.title, summary=i.variant.summary,
                        introduction=i.variant.introduction, cues=i.cues, duration=i.duration,
                        audio_path=f"{folder}/pack/{_normal(i.variant.audio)}", audio_bytes=i.audio_bytes,
                        playback_path=f"{folder}/{i.playback}",
                        cues_path=f"{folder}/pack/{_normal(i.variant.cues)}",
                        script_pdf_path=f"{folder}/{i.pdf}", script_pdf_bytes=i.pdf_bytes,
                        script_pdf_rendered=i.pdf_rendered)
                    for i in by_exercise[ex.id]])
        except BaseException:
            db.rollback()
            raise
        db.execute("COMMIT")
    finally:
        db.execute("PRAGMA synchronous=NORMAL")
    return (old[0], old[1]) if old else (None, None)


@dataclass(frozen=True)
class VariantRow:
    """One language variant as the catalogue stores it; paths relative to the content folder."""

    lang: str
    title: str
    summary: str
    introduction: str
    cues: tuple[Cue, ...]
    duration: float
    audio_path: str
    audio_bytes: int
    playback_path: str
    cues_path: str
    script_pdf_path: str
    script_pdf_bytes: int
    script_pdf_rendered: bool = False


def insert_exercise(db: sqlite_utils.Database, pack_id: str, position: int, ex: ExerciseSpec,
                    variants: list[VariantRow]) -> None:
    """The catalogue rows of one exercise (and its search text), inside the caller's
    transaction. The import's only writer of these rows; the UI tests' stand-in catalogue
    uses it too, so the two cannot disagree."""
    db.execute(
        "INSERT INTO exercises (id, pack_id, position, guidance, references_json, "
        "techniques_json, languages_json, visibility) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [ex.id, pack_id, position, ex.guidance, _json(ex.references), _json(ex.techniques),
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
               cues_json)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [ex.id, v.lang, v_position, v.title, v.summary, v.introduction, search_techniques,
             script_text(v.cues), search_meta(v.lang, ex.visibility, ex.techniques, hidden is not None),
             v.duration, v.audio_path, v.audio_bytes, v.playback_path, v.cues_path,
             v.script_pdf_path, v.script_pdf_bytes, int(v.script_pdf_rendered), cues_to_json(v.cues)],
        )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# ---- after a crash, and on first start -------------------------------------------------


def cleanup_leftovers(settings: Settings, db: sqlite_utils.Database) -> list[Path]:
    """Remove what an interrupted import or removal left behind; return what was removed.

    Staging folders, pack folders that no catalogue row references, and files inside a
    referenced pack folder that no row references (a removal cut short after its commit).
    Skips (and returns []) while another process holds the content lock. Also rebuilds the
    search indexes if they disagree with the rows (a damaged file; cheap for a clinic's
    catalogue, about a second for 10,000 exercises).
    """
    from kiosk.content.catalogue import rebuild_search_indexes, search_index_problems

    damaged = search_index_problems(db)
    if damaged:
        log.warning("search index damaged (%s): rebuilding it", "; ".join(damaged))
        rebuild_search_indexes(db)
    content_dir = settings.content_dir
    if not content_dir.is_dir():
        return []
    removed: list[Path] = []
    try:
        with content_lock(content_dir):
            folders = {row[0] for row in db.execute("SELECT folder FROM packs")}
            for entry in sorted(content_dir.iterdir()):
                if entry.name.startswith(_STAGING_PREFIX) or (
                    _FOLDER.match(entry.name) and entry.name not in folders
                ):
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)
                    removed.append(entry)
                elif entry.name not in folders:
                    log.warning("leaving %s alone: not something the importer made", entry)
            referenced: set[str] = set()
            for row in db.execute("SELECT audio_path, playback_path, cues_path, script_pdf_path FROM variants"):
                referenced.update(row)
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


def import_demo_if_empty(settings: Settings, db: sqlite_utils.Database,
                         progress: Progress | None = None) -> ImportResult | None:
    """Import the configured demo pack on first start, when the catalogue is empty.

    Once imported it is not brought back by itself: a clinic that removes the demo
    exercises keeps them removed. A refused or missing demo pack is logged, not raised, so
    the station still starts.
    """
    path = settings.demo_pack_path
    if path is None:
        return None
    catalogue = Catalogue(db, settings.content_dir)
    done = db.execute("SELECT value FROM catalogue_meta WHERE key = 'demo_imported'").fetchone()
    if done is not None or not catalogue.is_empty():
        return None
    if not path.exists():
        log.warning("the demo pack %s does not exist; starting with an empty catalogue", path)
        return None
    try:
        result = import_pack(settings, db, path, progress)
    except (PackRefused, ContentBusy) as exc:
        log.error("the demo pack was not imported: %s", exc)
        return None
    with write_transaction(db):
        db.execute(
            "INSERT OR REPLACE INTO catalogue_meta (key, value) VALUES ('demo_imported', ?)",
            [f"{result.pack_id} {result.version}"],
        )
    return result


def content_problems(settings: Settings, db: sqlite_utils.Database) -> tuple[int, list[str]]:
    """(exercises in the catalogue, what is wrong with the content), for `kiosk doctor`.

    Every file a variant row names must exist with the size recorded at import, every file
    of every pack must match its CHECKSUMS, and the search indexes must agree with the rows.
    """
    from kiosk.content.catalogue import search_index_problems

    problems: list[str] = []
    content = settings.content_dir
    count = db.execute("SELECT count(*) FROM exercises").fetchone()[0]
    owners: dict[Path, str] = {}  # file -> the variant that uses it, to name it
    reported: set[Path] = set()
    for exercise_id, lang, audio, audio_bytes, playback, cues, pdf, pdf_bytes in db.execute(
        "SELECT exercise_id, lang, audio_path, audio_bytes, playback_path, cues_path, "
        "script_pdf_path, script_pdf_bytes FROM variants ORDER BY exercise_id, position"
    ):
        owner = f"{exercise_id} ({lang})"
        for rel, size in ((audio, audio_bytes), (playback, None), (cues, None), (pdf, pdf_bytes)):
            path = content / rel
            owners[path] = owner
            try:
                actual = path.stat().st_size
            except OSError:
                problems.append(f"{owner}: {path} is missing; import its pack again")
                reported.add(path)
                continue
            if size is not None and actual != size:
                problems.append(f"{owner}: {path} has changed size since import; import its pack again")
                reported.add(path)
    for (folder,) in db.execute("SELECT folder FROM packs ORDER BY id").fetchall():
        for path, fault in checksum_problems(content / folder):
            if path not in reported:
                named = f"{owners[path]}: " if path in owners else ""
                problems.append(f"{named}{path} {fault}; import its pack again")
    problems += [f"search index damaged ({p}); the station rebuilds it at its next start"
                 for p in search_index_problems(db)]
    return count, problems
