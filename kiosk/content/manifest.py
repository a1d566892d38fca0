"""pack.toml: the pack format, read and checked, with the line of each key for messages.

`parse_manifest` collects every fault instead of stopping at the first, because a pack's
author should fix everything in one round. The format itself is described in the README's
"Content packs" section.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from kiosk.content.faults import Fault
from kiosk.content.models import VISIBILITIES
from kiosk.validation import did_you_mean, expected, is_text_list, is_whole_number, one_of

__all__ = [
    "AUDIO_SUFFIXES",
    "FORMAT_VERSION",
    "MANIFEST",
    "ExerciseSpec",
    "KeyLocator",
    "PackSpec",
    "VariantSpec",
    "normal_path",
    "parse_manifest",
    "path_problem",
]

FORMAT_VERSION = 1
MANIFEST = "pack.toml"
MAX_MANIFEST_BYTES = 1 << 20
MAX_NESTING = 6  # tables and arrays inside each other; the schema itself needs 4
MAX_EXERCISES = 1000
MAX_VARIANTS = 20
MAX_TECHNIQUES = 20
MAX_REFERENCES = 50

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
LANG_TAG = re.compile(r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-(?:[A-Z]{2}|[0-9]{3}))?$")
VERSION = re.compile(r"^\d{1,6}(\.\d{1,6}){0,3}$")

# MP3 is walked frame by frame (kiosk.audio.mp3scan); M4A/AAC is decoded by PyAV
# (kiosk.audio.aac); the others are read by libsndfile, which the playback copy is made with
# anyway (Ogg holds Vorbis or Opus).
AUDIO_SUFFIXES = (".mp3", ".m4a", ".aac", ".wav", ".flac", ".ogg", ".opus")

TEXT_LIMITS = {"title": 200, "summary": 400, "introduction": 20_000, "guidance": 20_000, "publisher": 200}


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
    timed: bool = True  # false: the cues only order the script's passages (kiosk add)


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


class KeyLocator:
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

    def __init__(self, locator: KeyLocator):
        self.locator = locator
        self.faults: list[Fault] = []

    def fault(self, path: tuple[Any, ...], label: str, message: str) -> None:
        self.faults.append(Fault(MANIFEST, f"{label}: {message}", self.locator.line(path)))

    def unknown_keys(self, table: dict[str, Any], known: list[str], path: tuple[Any, ...], label: str) -> None:
        for key in table:
            if key not in known:
                self.fault(path + (key,), label, f'unknown key "{key}"{did_you_mean(key, known)}')

    def text(self, table: dict[str, Any], key: str, path: tuple[Any, ...], label: str,
             required: bool, default: str = "") -> str:
        if key not in table:
            if required:
                self.fault(path, label, f'"{key}" is missing')
            return default
        value = table[key]
        if not isinstance(value, str):
            self.fault(path + (key,), label, f"{key}: {expected('text', value)}")
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
        if not is_text_list(value):
            self.fault(path + (key,), label, f"{key}: {expected('a list of text', value)}")
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
_VARIANT_KEYS = ["audio", "cues", "script_pdf", "title", "summary", "introduction", "timed"]


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
    locator = KeyLocator(text.replace("\r\n", "\n"))
    schema = _Schema(locator)
    for key, value in raw.items():
        if isinstance(value, dict | list) and _depth(value) > MAX_NESTING:
            schema.fault((key,), key, f"nested too deeply (more than {MAX_NESTING} levels)")
            return None, schema.faults
    schema.unknown_keys(raw, _TOP_KEYS, (), "top level")

    fmt = raw.get("format")
    if fmt is None:
        schema.fault(("format",), "format", f"is missing (write format = {FORMAT_VERSION} at the top)")
    elif not is_whole_number(fmt):
        schema.fault(("format",), "format", expected("a whole number", fmt))
    elif fmt != FORMAT_VERSION:
        schema.fault(("format",), "format",
                     f"this station reads pack format {FORMAT_VERSION}, the pack is format {fmt}")

    pack_raw = raw.get("pack")
    pack_id = title = version = publisher = ""
    if not isinstance(pack_raw, dict):
        schema.fault(("pack",), "[pack]", "is missing" if pack_raw is None
                     else expected("a table", pack_raw))
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
        schema.fault(("exercises",), "exercises", expected("[[exercises]] tables", exercises_raw))
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
    if visibility not in VISIBILITIES:
        schema.fault(path + ("visibility",), label,
                     f"visibility: {expected(one_of(VISIBILITIES), visibility)}")
    variants_raw = ex.get("variants")
    variants: list[VariantSpec] = []
    if variants_raw is None:
        schema.fault(path, label, 'has no language variants (add a table [exercises.variants.en-GB] with "audio" and "cues")')
    elif not isinstance(variants_raw, dict):
        schema.fault(path + ("variants",), label, f"variants: {expected('tables per language', variants_raw)}")
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
                schema.fault(vpath, vlabel, expected("a table", table))
                continue
            schema.unknown_keys(table, _VARIANT_KEYS, vpath, vlabel)
            audio = schema.text(table, "audio", vpath, vlabel, required=True)
            cues = schema.text(table, "cues", vpath, vlabel, required=True)
            pdf = schema.text(table, "script_pdf", vpath, vlabel, required=False) or None
            for key, value, suffix in (("audio", audio, AUDIO_SUFFIXES), ("cues", cues, ".vtt"),
                                       ("script_pdf", pdf, ".pdf")):
                if value:
                    problem = path_problem(value, suffix)
                    if problem:
                        schema.fault(vpath + (key,), vlabel, f'{key} "{value}": {problem}')
            v_title = schema.text(table, "title", vpath, vlabel, required=False) or title
            v_summary = schema.text(table, "summary", vpath, vlabel, required=False) or summary
            v_intro = schema.text(table, "introduction", vpath, vlabel, required=False) or introduction
            timed = table.get("timed", True)
            if not isinstance(timed, bool):
                schema.fault(vpath + ("timed",), vlabel, f"timed: {expected('true or false', timed)}")
                timed = True
            variants.append(VariantSpec(lang, audio, cues, pdf, v_title, v_summary, v_intro, vlabel,
                                        timed))
    if len(schema.faults) > before:
        return None
    return ExerciseSpec(exercise_id, title, summary, introduction, guidance, references,
                        techniques, visibility, variants, index + 1)


def path_problem(rel: str, suffix: str | tuple[str, ...]) -> str | None:
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
        return f"must be a {suffix} file" if isinstance(suffix, str) else f"must be a {' / '.join(suffix)} file"
    return None


def normal_path(rel: str) -> str:
    return str(PurePosixPath(rel))


def version_key(version: str) -> tuple[int, ...]:
    """A version number ("1.2") as a tuple that compares as versions do."""
    parts = [int(p) for p in version.split(".")]
    return tuple(parts + [0] * (4 - len(parts)))

