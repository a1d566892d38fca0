"""Content packs: a corpus of broken packs (each refused, naming the file and the fault, with
the catalogue and the content folder untouched), imports and replacements, crashes at any
moment (SIGKILL), leftovers, and exact decoding of CBR and VBR files."""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import miniaudio
import numpy as np
import pytest
import soundfile as sf

from kiosk.audio.mp3scan import Mp3Error, scan_mp3
from kiosk.config import ContentSettings, Settings, default_settings
from kiosk.content import (
    Catalogue,
    ContentBusy,
    PackRefused,
    cleanup_leftovers,
    content_lock,
    import_demo_if_empty,
    import_pack,
)
from kiosk.content.manifest import AUDIO_SUFFIXES
from kiosk.content.search import search_index_problems
from kiosk.store import integrity_problems, open_db
from tests.packfactory import (
    DATA,
    MINIMAL_PDF,
    db_dump,
    edited,
    tree_digest,
    vtt,
    write_pack,
)

REPO = Path(__file__).resolve().parents[2]


# ---- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """A data folder with the valid test pack (1.0.0) imported, built once per module."""
    data = tmp_path_factory.mktemp("baseline") / "data"
    settings = default_settings(data)
    db = open_db(settings.db_path)
    import_pack(settings, db, write_pack(data.parent / "pack"))
    db.close()
    return data


@dataclass
class Station:
    settings: Settings
    db: Any
    tmp: Path

    @property
    def catalogue(self) -> Catalogue:
        return Catalogue(self.db, self.settings.content_dir)

    def with_content(self, **changes: Any) -> Settings:
        return dataclasses.replace(self.settings, content=dataclasses.replace(self.settings.content, **changes))


@pytest.fixture
def station(baseline, tmp_path) -> Station:
    data = tmp_path / "data"
    shutil.copytree(baseline, data)
    settings = default_settings(data)
    db = open_db(settings.db_path)
    yield Station(settings, db, tmp_path)
    db.close()


def newer_pack(tmp: Path, change: Callable[[dict[str, Any]], None] | None = None, name: str = "pack") -> Path:
    """The valid pack as version 1.1.0 (so that, were it accepted, it would replace 1.0.0)."""

    def bump(m: dict[str, Any]) -> None:
        m["pack"]["version"] = "1.1.0"
        if change:
            change(m)

    return write_pack(tmp / name, edited(bump))


def zip_folder(folder: Path, out: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, prefix + path.relative_to(folder).as_posix())
    return out


# ---- the corpus --------------------------------------------------------------------------


@dataclass
class Broken:
    name: str
    make: Callable[[Path], Path]
    file: str
    needle: str
    line: int | None = None
    content: dict[str, int] = field(default_factory=dict)  # ContentSettings overrides


def _text_manifest(tmp: Path, text: str) -> Path:
    pack = newer_pack(tmp)
    (pack / "pack.toml").write_text(text, encoding="utf-8")
    return pack


def _replace_file(rel: str, content: bytes | Callable[[bytes], bytes]) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        pack = newer_pack(tmp)
        path = pack / rel
        path.write_bytes(content(path.read_bytes()) if callable(content) else content)
        return pack

    return make


def _edit(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], Path]:
    return lambda tmp: newer_pack(tmp, change)


def _variant(ex: int = 0, lang: str = "en-GB", **values: Any) -> Callable[[dict[str, Any]], None]:
    def change(m: dict[str, Any]) -> None:
        m["exercises"][ex]["variants"][lang].update(values)

    return change


def _bad_toml(tmp: Path) -> Path:
    text = (newer_pack(tmp) / "pack.toml").read_text()
    text = text.replace('title = "Test collection"', 'title = "Test collection')
    return _text_manifest(tmp, text)


def _duplicate_key(tmp: Path) -> Path:
    text = (newer_pack(tmp) / "pack.toml").read_text()
    text = text.replace('title = "Test collection"\n', 'title = "Test collection"\ntitle = "Again"\n')
    return _text_manifest(tmp, text)


def _deep_nesting(tmp: Path) -> Path:
    return newer_pack(tmp, lambda m: m["exercises"][0].update(references=[[[[[[[["deep"]]]]]]]]))


def _hostile_nesting(tmp: Path) -> Path:
    text = (newer_pack(tmp) / "pack.toml").read_text()
    return _text_manifest(tmp, "junk = " + "[" * 50_000 + "]" * 50_000 + "\n" + text)


def _not_utf8_manifest(tmp: Path) -> Path:
    pack = newer_pack(tmp)
    data = (pack / "pack.toml").read_bytes().replace(b"Test collection", b"Caf\xe9 collection")
    (pack / "pack.toml").write_bytes(data)
    return pack


def _missing_manifest(tmp: Path) -> Path:
    pack = newer_pack(tmp)
    (pack / "pack.toml").unlink()
    return pack


def _symlink_out(tmp: Path) -> Path:
    pack = newer_pack(tmp)
    outside = tmp / "outside.mp3"
    shutil.copy(DATA / "tone-vbr.mp3", outside)
    (pack / "breath" / "en-GB.mp3").unlink()
    (pack / "breath" / "en-GB.mp3").symlink_to(outside)
    return pack


def _manifest_symlink_out(tmp: Path) -> Path:
    pack = newer_pack(tmp)
    outside = tmp / "elsewhere.toml"
    shutil.move(pack / "pack.toml", outside)
    (pack / "pack.toml").symlink_to(outside)
    return pack


def _fifo(tmp: Path) -> Path:
    pack = newer_pack(tmp)
    (pack / "breath" / "en-GB.vtt").unlink()
    os.mkfifo(pack / "breath" / "en-GB.vtt")
    return pack


def _folder_as_file(tmp: Path) -> Path:
    pack = newer_pack(tmp)
    (pack / "place" / "en-GB.pdf").unlink()
    (pack / "place" / "en-GB.pdf").mkdir()
    return pack


def _frame_boundary_cut(data: bytes) -> bytes:
    """Cut the file after a whole number of frames: only the Xing frame count can tell."""
    info_offset = 0
    lengths = []
    pos = info_offset
    while pos + 4 <= len(data):
        word = struct.unpack_from(">I", data, pos)[0]
        bitrate = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)[(word >> 12) & 15] * 1000
        rate = (44100, 48000, 32000)[(word >> 10) & 3]
        length = 144 * bitrate // rate + ((word >> 9) & 1)
        lengths.append(length)
        pos += length
    return data[: sum(lengths[: len(lengths) // 2])]


def _junk_in_the_middle(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(random.Random(7).randrange(256) for _ in range(700)) + data[middle + 700 :]


def _rate_change(tmp: Path) -> Path:
    pack = newer_pack(tmp)
    # 22.05 kHz frames, then 44.1 kHz frames: a decoder would play them at the wrong speed
    data = (DATA / "tone-cbr.mp3").read_bytes() + (DATA / "tone-cbr44.mp3").read_bytes()
    (pack / "breath" / "en-US.mp3").write_bytes(data)
    return pack


def _long_audio(tmp: Path) -> Path:
    pack = newer_pack(tmp)
    # tone-cbr.mp3 is bare frames (no tags), so copies laid end to end make one longer file
    (pack / "breath" / "en-US.mp3").write_bytes((DATA / "tone-cbr.mp3").read_bytes() * 7)
    return pack


def _big_vtt(tmp: Path) -> Path:
    pack = newer_pack(tmp)
    note = "NOTE " + "x" * 1000 + "\n\n"
    (pack / "breath" / "en-GB.vtt").write_text(vtt([(0, 1, "a")]).replace("WEBVTT\n\n", "WEBVTT\n\n" + note * 1200))
    return pack


def _big_pack(tmp: Path) -> Path:
    pack = newer_pack(tmp)
    note = "NOTE " + "x" * 1000 + "\n\n"
    for rel in ("breath/en-GB.vtt", "breath/en-US.vtt"):
        path = pack / rel
        path.write_text(path.read_text().replace("WEBVTT\n\n", "WEBVTT\n\n" + note * 600))
    return pack


def _other_pack_owns_id(tmp: Path) -> Path:
    def change(m: dict[str, Any]) -> None:
        m["pack"]["id"] = "other-pack"

    return newer_pack(tmp, change)


def _older_version(tmp: Path) -> Path:
    return write_pack(tmp / "pack", edited(lambda m: m["pack"].update(version="0.9.0")))


# zips


def _zip_with(entries: list[tuple[zipfile.ZipInfo | str, bytes]], base: bool = True) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        out = tmp / "pack.zip"
        if base:
            zip_folder(newer_pack(tmp), out)
        with zipfile.ZipFile(out, "a" if base else "w", zipfile.ZIP_DEFLATED) as zf:
            for info, data in entries:
                zf.writestr(info, data)
        return out

    return make


def _symlink_entry() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("breath/link.mp3")
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    return info


def _zip_bomb(tmp: Path) -> Path:
    out = tmp / "pack.zip"
    zip_folder(newer_pack(tmp), out)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("filler.bin", bytes(30 * 1024 * 1024))  # about 30 KB compressed
    return out


def _zip_too_many(tmp: Path) -> Path:
    out = tmp / "pack.zip"
    zip_folder(newer_pack(tmp), out)
    with zipfile.ZipFile(out, "a") as zf:
        for i in range(60):
            zf.writestr(f"extra/{i}.txt", "x")
    return out


def _zip_lies(tmp: Path) -> Path:
    """An entry whose headers declare 1,000 bytes where 2 MB of data is stored."""
    out = tmp / "pack.zip"
    zip_folder(newer_pack(tmp), out)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("notes/liar.txt", os.urandom(2 * 1024 * 1024))
    data = bytearray(out.read_bytes())
    name = b"notes/liar.txt"
    local = data.find(b"PK\x03\x04")
    while local != -1:
        if data[local + 30 : local + 30 + len(name)] == name:
            struct.pack_into("<I", data, local + 22, 1000)
        local = data.find(b"PK\x03\x04", local + 4)
    central = data.find(b"PK\x01\x02")
    while central != -1:
        if data[central + 46 : central + 46 + len(name)] == name:
            struct.pack_into("<I", data, central + 24, 1000)
        central = data.find(b"PK\x01\x02", central + 4)
    out.write_bytes(bytes(data))
    return out


def _not_a_zip(tmp: Path) -> Path:
    out = tmp / "pack.zip"
    out.write_bytes(b"PK\x03\x04 this is not really a zip" + os.urandom(100))
    return out


def _zip_without_manifest(tmp: Path) -> Path:
    pack = newer_pack(tmp)
    (pack / "pack.toml").unlink()
    return zip_folder(pack, tmp / "pack.zip")


def _zip_with_bad_mp3(tmp: Path) -> Path:
    pack = newer_pack(tmp)
    (pack / "place" / "en-GB.mp3").write_bytes(b"")
    return zip_folder(pack, tmp / "pack.zip", prefix="my-pack/")


CORPUS = [
    Broken("toml-syntax", _bad_toml, "pack.toml", "is not valid TOML", line=5),
    Broken("toml-duplicate-key", _duplicate_key, "pack.toml", "is not valid TOML", line=6),
    Broken("toml-not-utf8", _not_utf8_manifest, "pack.toml", "is not UTF-8 text", line=5),
    Broken("manifest-missing", _missing_manifest, "pack.toml", "is missing"),
    Broken("manifest-link-out", _manifest_symlink_out, "pack.toml", "link leading outside"),
    Broken("deep-nesting", _deep_nesting, "pack.toml", "nested too deeply"),
    Broken("hostile-nesting", _hostile_nesting, "pack.toml", "nested too deeply"),
    Broken("format-type", _edit(lambda m: m.update(format="1")), "pack.toml", "format: expected a whole number", line=1),
    Broken("format-future", _edit(lambda m: m.update(format=2)), "pack.toml", "reads pack format 1, the pack is format 2", line=1),
    Broken("pack-missing", _edit(lambda m: m.pop("pack")), "pack.toml", "[pack]: is missing"),
    Broken("title-type", _edit(lambda m: m["exercises"][0].update(title=42)), "pack.toml",
           'exercise 1 ("soothing-breath"): title: expected text, found 42'),
    Broken("summary-missing", _edit(lambda m: m["exercises"][1].pop("summary")), "pack.toml",
           'exercise 2 ("safe-place"): "summary" is missing'),
    Broken("unknown-key", _edit(lambda m: m["exercises"][0].update(titel="x")), "pack.toml",
           'unknown key "titel"; did you mean "title"?'),
    Broken("unknown-variant-key", _edit(_variant(audoi="x.mp3")), "pack.toml", 'did you mean "audio"?'),
    Broken("bad-slug", _edit(lambda m: m["exercises"][0].update(id="Soothing Breath")), "pack.toml", "is not a valid id"),
    Broken("bad-technique", _edit(lambda m: m["exercises"][0].update(techniques=["Self Compassion"])), "pack.toml",
           "is not a valid tag"),
    Broken("duplicate-id", _edit(lambda m: m["exercises"][1].update(id="soothing-breath")), "pack.toml",
           'id "soothing-breath" is already used by exercise 1'),
    Broken("visibility", _edit(lambda m: m["exercises"][0].update(visibility="everyone")), "pack.toml",
           'visibility: expected "public" or "therapist", found "everyone"'),
    Broken("language-tag", _edit(lambda m: m["exercises"][1].update(variants={"english": {"audio": "a.mp3", "cues": "a.vtt"}})),
           "pack.toml", '"english" is not a language tag'),
    Broken("no-variants", _edit(lambda m: m["exercises"][1].pop("variants")), "pack.toml", "has no language variants"),
    Broken("version", _edit(lambda m: m["pack"].update(version="v2")), "pack.toml", "is not a version number", line=6),
    Broken("too-long-title", _edit(lambda m: m["exercises"][0].update(title="x" * 300)), "pack.toml",
           "title: at most 200 characters"),
    Broken("missing-file", _edit(_variant(audio="breath/nowhere.mp3")), "pack.toml",
           '"breath/nowhere.mp3" does not exist in the pack'),
    Broken("dotdot-path", _edit(_variant(audio="../outside.mp3")), "pack.toml", 'must not use ".."'),
    Broken("absolute-path", _edit(_variant(audio="/etc/passwd.mp3")), "pack.toml", "not an absolute path"),
    Broken("backslash-path", _edit(_variant(audio="breath\\en-GB.mp3")), "pack.toml", 'use "/" between folder names'),
    Broken("wrong-extension", _edit(_variant(audio="breath/en-GB.vtt")), "pack.toml", "must be a " + " / ".join(AUDIO_SUFFIXES) + " file"),
    Broken("symlink-escapes", _symlink_out, "breath/en-GB.mp3", "is a link leading outside the pack"),
    Broken("fifo", _fifo, "breath/en-GB.vtt", "is not a regular file"),
    Broken("folder-not-file", _folder_as_file, "place/en-GB.pdf", "is not a regular file"),
    Broken("truncated-mp3", _replace_file("breath/en-GB.mp3", lambda d: d[: len(d) * 3 // 5]), "breath/en-GB.mp3",
           "the file is truncated"),
    Broken("truncated-at-frame", _replace_file("breath/en-GB.mp3", _frame_boundary_cut), "breath/en-GB.mp3",
           "its header promises 279 frames"),
    Broken("junk-mp3", _replace_file("breath/en-GB.mp3", random.Random(1).randbytes(40_000)), "breath/en-GB.mp3",
           "not an MP3"),
    Broken("damaged-mp3", _replace_file("breath/en-GB.mp3", _junk_in_the_middle), "breath/en-GB.mp3",
           "the audio is damaged at byte"),
    Broken("empty-mp3", _replace_file("place/en-GB.mp3", b""), "place/en-GB.mp3", "the file is empty"),
    Broken("wav-as-mp3", _replace_file("place/en-GB.mp3", b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(5000)),
           "place/en-GB.mp3", "this is a WAV (RIFF) file, not an MP3"),
    Broken("rate-change", _rate_change, "breath/en-US.mp3", "the sample rate changes"),
    Broken("vtt-not-utf8", _replace_file("breath/en-GB.vtt", "WEBVTT\n\n00:00.000 --> 00:01.000\ncaf\u00e9\n".encode("latin-1")),
           "breath/en-GB.vtt", "is not UTF-8 text", line=4),
    Broken("vtt-no-header", _replace_file("breath/en-GB.vtt", b"00:00.000 --> 00:01.000\nHello\n"), "breath/en-GB.vtt",
           'must start with the line "WEBVTT"', line=1),
    Broken("vtt-overlap", _replace_file("breath/en-GB.vtt", vtt([(0, 3, "a"), (2, 4, "b")]).encode()), "breath/en-GB.vtt",
           "must not overlap", line=8),
    Broken("vtt-bad-time", _replace_file("breath/en-GB.vtt", b"WEBVTT\n\n00:00.000 --> 0:01.000\nx\n"), "breath/en-GB.vtt",
           "malformed cue timing", line=3),
    Broken("cues-past-end", _replace_file("place/en-GB.vtt", vtt([(0, 3, "a"), (4, 30, "b")]).encode()), "place/en-GB.vtt",
           "cue 2 ends at 30.000 s, after the end of place/en-GB.mp3 (6.000 s)"),
    Broken("not-a-pdf", _replace_file("place/en-GB.pdf", b"just some text"), "place/en-GB.pdf", "is not a PDF document"),
    Broken("file-too-large", _big_vtt, "breath/en-GB.vtt", "the limit per file is 1 MB", content={"max_file_mb": 1}),
    Broken("pack-too-large", _big_pack, "pack.toml", "the limit is 1 MB (content.max_pack_mb)", content={"max_pack_mb": 1}),
    Broken("audio-too-long", _long_audio, "breath/en-US.mp3", "lasts 1 min 10 s; the limit is 1 minutes", content={"max_audio_minutes": 1}),
    Broken("id-of-another-pack", _other_pack_owns_id, "pack.toml", 'the id already belongs to the installed pack "test-pack"'),
    Broken("older-version", _older_version, "pack.toml", "0.9.0 is older than the installed version 1.0.0", line=6),
    Broken("zip-traversal", _zip_with([("../../evil.txt", b"x")]), "pack.zip", 'entry "../../evil.txt" uses ".."'),
    Broken("zip-absolute", _zip_with([("/tmp/evil.txt", b"x")]), "pack.zip", "has an absolute path"),
    Broken("zip-backslash", _zip_with([("..\\..\\evil.txt", b"x")]), "pack.zip", 'has "\\" in its name'),
    Broken("zip-symlink", _zip_with([(_symlink_entry(), b"/etc/passwd")]), "pack.zip", "is a symbolic link"),
    Broken("zip-bomb", _zip_bomb, "pack.zip", "a likely zip bomb"),
    Broken("zip-entries", _zip_too_many, "pack.zip", "the limit is 50 (content.max_zip_entries)", content={"max_zip_entries": 50}),
    Broken("zip-lying-header", _zip_lies, "pack.zip", 'entry "notes/liar.txt"'),
    Broken("zip-name-clash", _zip_with([("clash", b"x"), ("clash/inner", b"y")]), "pack.zip",
           'entry "clash/inner" cannot be extracted, the zip is damaged: File exists'),
    Broken("zip-garbage", _not_a_zip, "pack.zip", "is not a readable zip file"),
    Broken("zip-no-manifest", _zip_without_manifest, "pack.zip", "has no pack.toml at its top"),
    Broken("zip-bad-mp3-inside", _zip_with_bad_mp3, "place/en-GB.mp3", "the file is empty"),
]


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 25
    assert len({case.name for case in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c.name)
def test_broken_pack_is_refused_and_nothing_changes(station, case):
    settings = station.with_content(**case.content) if case.content else station.settings
    source = case.make(station.tmp)
    before_tree = tree_digest(settings.content_dir)
    before_rows = db_dump(station.db)
    with pytest.raises(PackRefused) as refused:
        import_pack(settings, station.db, source)
    faults = refused.value.faults
    matching = [f for f in faults if f.file == case.file and case.needle in f.message]
    assert matching, f"no fault for {case.file} containing {case.needle!r}; got: {[str(f) for f in faults]}"
    if case.line is not None:
        assert matching[0].line == case.line, str(matching[0])
    assert str(matching[0]).startswith(case.file)
    assert tree_digest(settings.content_dir) == before_tree
    assert db_dump(station.db) == before_rows
    assert integrity_problems(station.db) == []


def test_every_fault_is_reported_at_once(station):
    def change(m: dict[str, Any]) -> None:
        m["exercises"][1]["visibility"] = "everyone"

    pack = newer_pack(station.tmp, change)
    (pack / "breath" / "en-GB.mp3").write_bytes((DATA / "tone-vbr.mp3").read_bytes()[:20_000])
    (pack / "breath" / "en-US.vtt").write_text("WEBVTT\n\n00:02.000 --> 00:01.000\nx\n")
    with pytest.raises(PackRefused) as refused:
        import_pack(station.settings, station.db, pack)
    where = sorted(f.file for f in refused.value.faults)
    assert where == ["breath/en-GB.mp3", "breath/en-US.vtt", "pack.toml"]
    message = refused.value.message()
    assert "was refused (3 problems); nothing was changed" in message
    assert "breath/en-US.vtt:3: the cue ends" in message


def test_missing_source(station):
    with pytest.raises(PackRefused, match="does not exist"):
        import_pack(station.settings, station.db, station.tmp / "nowhere")
    plain = station.tmp / "notes.txt"
    plain.write_text("hello")
    with pytest.raises(PackRefused, match="neither a folder nor a .zip"):
        import_pack(station.settings, station.db, plain)


def test_refused_first_import_leaves_no_content_folder(tmp_path):
    settings = default_settings(tmp_path / "data")
    db = open_db(settings.db_path)
    pack = write_pack(tmp_path / "pack")
    (pack / "breath" / "en-GB.mp3").write_bytes(b"")
    with pytest.raises(PackRefused):
        import_pack(settings, db, pack)
    assert not settings.content_dir.exists()


# ---- good imports ------------------------------------------------------------------------


def test_import_from_zip_with_top_folder_and_progress(tmp_path):
    settings = default_settings(tmp_path / "data")
    db = open_db(settings.db_path)
    source = zip_folder(write_pack(tmp_path / "pack"), tmp_path / "pack.zip", prefix="test-pack/")
    seen: list[tuple[float, str]] = []
    result = import_pack(settings, db, source, lambda f, what: seen.append((f, what)))
    assert result.exercises == ("soothing-breath", "safe-place")
    assert result.replaced_version is None
    assert result.audio_seconds == pytest.approx(26.06, abs=0.05)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert any(what.startswith("decoding ") for _, what in seen)
    catalogue = Catalogue(db, settings.content_dir)
    v = catalogue.variant("soothing-breath", "en-GB")
    assert v is not None and v.playback_path.is_file()
    assert not any(p.name == "source" for p in result.folder.iterdir())  # zip extraction gone


def test_missing_pdf_is_rendered_from_the_cues(station):
    v = station.catalogue.variant("soothing-breath", "en-GB")
    assert v is not None
    data = v.script_pdf_path.read_bytes()
    assert data.startswith(b"%PDF-") and v.script_pdf_bytes == len(data)
    text = subprocess.run(["pdftotext", str(v.script_pdf_path), "-"], capture_output=True, text=True, check=True).stdout
    assert "Soothing rhythm breathing" in text
    assert "Stay with this rhythm" in text
    shipped = station.catalogue.variant("safe-place", "en-GB")
    assert shipped is not None and shipped.script_pdf_path.read_bytes() == MINIMAL_PDF


def test_newer_version_replaces_the_old_atomically(station):
    old_folder = station.db.execute("SELECT folder FROM packs").fetchone()[0]

    def change(m: dict[str, Any]) -> None:
        m["exercises"][0]["title"] = "Breathing, second edition"
        m["exercises"].pop(1)

    result = import_pack(station.settings, station.db, newer_pack(station.tmp, change))
    assert result.replaced_version == "1.0.0"
    assert not (station.settings.content_dir / old_folder).exists()
    assert [p.name for p in station.settings.content_dir.iterdir()] == [result.folder.name]
    assert station.catalogue.exercise_ids() == ["soothing-breath"]
    assert [c.title for c in station.catalogue.cards("en-GB")] == ["Breathing, second edition"]
    assert station.db.execute("SELECT version FROM packs").fetchone()[0] == "1.1.0"
    assert cleanup_leftovers(station.settings, station.db) == []


def test_same_version_reimport_and_forced_downgrade(station):
    pack = write_pack(station.tmp / "same")
    assert import_pack(station.settings, station.db, pack).replaced_version == "1.0.0"
    older = write_pack(station.tmp / "older", edited(lambda m: m["pack"].update(version="0.9")))
    assert import_pack(station.settings, station.db, older, allow_downgrade=True).version == "0.9"


def test_check_only_changes_nothing(station):
    before = (tree_digest(station.settings.content_dir), db_dump(station.db))
    result = import_pack(station.settings, station.db, newer_pack(station.tmp), check_only=True)
    assert result.folder is None and result.version == "1.1.0"
    assert (tree_digest(station.settings.content_dir), db_dump(station.db)) == before


def test_symlink_inside_the_pack_is_followed(station):
    pack = newer_pack(station.tmp)
    shutil.move(pack / "breath" / "en-GB.mp3", pack / "real.mp3")
    (pack / "breath" / "en-GB.mp3").symlink_to(pack / "real.mp3")
    import_pack(station.settings, station.db, pack)
    v = station.catalogue.variant("soothing-breath", "en-GB")
    assert v is not None and not v.audio_path.is_symlink()
    assert v.audio_path.read_bytes() == (DATA / "tone-vbr.mp3").read_bytes()


def test_a_second_import_waits_for_the_lock(station):
    with content_lock(station.settings.content_dir), pytest.raises(ContentBusy):
        import_pack(station.settings, station.db, newer_pack(station.tmp))


def test_demo_imported_once_when_empty(tmp_path):
    pack = write_pack(tmp_path / "demo")
    settings = default_settings(tmp_path / "data", content=ContentSettings(demo_pack=str(pack)))
    db = open_db(settings.db_path)
    result = import_demo_if_empty(settings, db)
    assert result is not None and result.pack_id == "test-pack"
    assert import_demo_if_empty(settings, db) is None  # not empty any more
    catalogue = Catalogue(db, settings.content_dir)
    for exercise_id in catalogue.exercise_ids():
        catalogue.remove(exercise_id)
    assert catalogue.is_empty()
    assert import_demo_if_empty(settings, db) is None  # the clinic removed it: it stays removed


def test_demo_refused_or_absent_does_not_raise(tmp_path):
    broken = write_pack(tmp_path / "demo")
    (broken / "pack.toml").write_text("nonsense = [")
    for demo in (str(broken), str(tmp_path / "absent"), ""):
        settings = default_settings(tmp_path / "data", content=ContentSettings(demo_pack=demo))
        db = open_db(settings.db_path)
        assert import_demo_if_empty(settings, db) is None
        assert Catalogue(db, settings.content_dir).is_empty()
        db.close()


def test_the_shipped_demo_pack_imports(tmp_path):
    settings = default_settings(tmp_path / "data")
    assert settings.demo_pack_path is not None and settings.demo_pack_path.is_dir()
    db = open_db(settings.db_path)
    result = import_demo_if_empty(settings, db)
    assert result is not None and result.pack_id == "kiosk-demo"
    catalogue = Catalogue(db, settings.content_dir)
    assert "compassionate-other" in catalogue.exercise_ids()
    ex = catalogue.exercise("compassionate-other", "en-US")
    assert ex is not None and ex.variant.lang == "en-US" and ex.variant.duration_seconds > 60
    assert catalogue.cards("en-GB", query="compassion")


# ---- leftovers and crashes -----------------------------------------------------------------


def _state(settings: Settings) -> tuple[str | None, list[str]]:
    """(installed version, exercise ids), after proving no exercise is half there."""
    db = open_db(settings.db_path)
    try:
        assert integrity_problems(db) == []
        assert search_index_problems(db) == []
        row = db.execute("SELECT version FROM packs WHERE id = 'test-pack'").fetchone()
        catalogue = Catalogue(db, settings.content_dir)
        exercise_ids = catalogue.exercise_ids()
        for exercise_id in exercise_ids:
            languages = catalogue.exercise(exercise_id, "en-GB").languages  # type: ignore[union-attr]
            assert languages
            for lang in languages:
                v = catalogue.variant(exercise_id, lang)
                assert v is not None
                for path in (v.audio_path, v.playback_path, v.script_pdf_path):
                    assert path.is_file(), f"{exercise_id}/{lang}: {path} is missing"
                assert sf.info(str(v.playback_path)).duration == pytest.approx(v.duration_seconds, abs=0.01)
        return (row[0] if row else None), exercise_ids
    finally:
        db.close()


def _after_cleanup_only_referenced(settings: Settings) -> None:
    db = open_db(settings.db_path)
    try:
        cleanup_leftovers(settings, db)
        folders = {r[0] for r in db.execute("SELECT folder FROM packs")}
        assert {p.name for p in settings.content_dir.iterdir()} == folders
        referenced = {p for row in db.execute(
            "SELECT audio_path, playback_path, cues_path, script_pdf_path FROM variants") for p in row}
        for folder in folders:
            for path in (settings.content_dir / folder).rglob("*"):
                if path.is_file():
                    rel = path.relative_to(settings.content_dir).as_posix()
                    assert rel in referenced or rel.endswith(("/pack/pack.toml", "/CHECKSUMS")), rel
    finally:
        db.close()


def test_cleanup_removes_staging_and_unreferenced(station):
    content = station.settings.content_dir
    (content / ".staging-0123abcd").mkdir()
    (content / ".staging-0123abcd" / "half.flac").write_bytes(b"x")
    orphan = content / "test-pack-20240101000000-deadbeef"
    (orphan / "pack").mkdir(parents=True)
    stranger = content / "README-by-hand.txt"
    stranger.write_text("an administrator's note")
    folder = station.db.execute("SELECT folder FROM packs").fetchone()[0]
    stray = content / folder / "playback" / "stray.flac"
    stray.write_bytes(b"x")
    removed = cleanup_leftovers(station.settings, station.db)
    assert set(removed) == {content / ".staging-0123abcd", orphan, stray}
    assert stranger.exists()  # not made by the importer: left alone
    assert _state(station.settings)[1] == ["safe-place", "soothing-breath"]


def test_cleanup_skips_while_an_import_holds_the_lock(station):
    staging = station.settings.content_dir / ".staging-busy"
    staging.mkdir()
    with content_lock(station.settings.content_dir):
        assert cleanup_leftovers(station.settings, station.db) == []
    assert staging.exists()


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from kiosk.config import default_settings
    from kiosk.store import open_db
    import shutil
    import kiosk.content.catalogue as catalogue
    import importlib
    decode = importlib.import_module("kiosk.content.importer.decode")  # the module, not its function
    from kiosk.content import import_pack

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    where = sys.argv[3]
    if where == "decode":
        real_copy = decode.decode_to_playback_copy
        def copy(*args, **kw):
            real_copy(*args, **kw)
            die()
        decode.decode_to_playback_copy = copy
    elif where == "before-commit":
        catalogue.Catalogue.replace_pack = lambda *a, **k: die()
    elif where == "inside-commit":
        real_delete = catalogue.delete_exercise_rows
        def delete(*args):
            real_delete(*args)
            die()
        catalogue.delete_exercise_rows = delete
    elif where == "after-commit":
        real_commit = catalogue.Catalogue.replace_pack
        def commit(*args):
            real_commit(*args)
            die()
        catalogue.Catalogue.replace_pack = commit
    elif where == "deleting-old":
        real_rmtree = shutil.rmtree
        def rmtree(path, *a, **k):
            if ".staging-" not in str(path):
                # delete part of the old folder, then die
                for p in sorted(Path(path).rglob("*.flac"))[:1]:
                    p.unlink()
                die()
            real_rmtree(path, *a, **k)
        shutil.rmtree = rmtree
    settings = default_settings(Path(sys.argv[1]))
    db = open_db(settings.db_path)
    print("started", flush=True)
    import_pack(settings, db, Path(sys.argv[2]))
    print("done", flush=True)
    """
)


def _crash_pack(tmp: Path) -> Path:
    """Version 1.1.0 with six exercises of a minute each: long enough to kill mid-way."""
    long_mp3 = (DATA / "tone-cbr.mp3").read_bytes() * 6  # bare frames: 60 s
    passages = [(i * 10.0, i * 10.0 + 8.0, f"Passage {i} of the longer script.") for i in range(6)]

    def change(m: dict[str, Any]) -> None:
        m["pack"]["version"] = "1.1.0"
        template = m["exercises"][0]
        m["exercises"] = []
        for n in range(6):
            ex = dict(template, id=f"long-{n}", title=f"Long exercise {n}")
            ex["variants"] = {lang: {"audio": f"long/{n}-{lang}.mp3", "cues": f"long/{n}-{lang}.vtt"}
                              for lang in ("en-GB", "en-US")}
            m["exercises"].append(ex)

    pack = write_pack(tmp / "crash-pack", edited(change))
    for n in range(6):
        for lang in ("en-GB", "en-US"):
            (pack / "long" / f"{n}-{lang}.mp3").parent.mkdir(exist_ok=True)
            (pack / "long" / f"{n}-{lang}.mp3").write_bytes(long_mp3)
            (pack / "long" / f"{n}-{lang}.vtt").write_text(vtt(passages))
    return pack


NEW_IDS = [f"long-{n}" for n in range(6)]
OLD_IDS = ["safe-place", "soothing-breath"]


def _run_crash(baseline: Path, tmp: Path, where: str, delay: float | None) -> tuple[Settings, str]:
    data = tmp / "data"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(baseline, data)
    script = tmp / "crash.py"
    script.write_text(CRASH_SCRIPT.format(repo=str(REPO)))
    pack = tmp / "crash-pack"
    if not pack.exists():
        _crash_pack(tmp)
    proc = subprocess.Popen([sys.executable, str(script), str(data), str(pack), where],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if delay is not None:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    outcome = "done" if "done" in out else "killed"
    assert proc.returncode in (0, -signal.SIGKILL), err
    return default_settings(data), outcome


@pytest.mark.slow
@pytest.mark.parametrize("where", ["decode", "before-commit", "inside-commit", "after-commit", "deleting-old"])
def test_crash_at_each_step_leaves_old_or_new(baseline, tmp_path, where):
    settings, outcome = _run_crash(baseline, tmp_path, where, None)
    assert outcome == "killed"
    version, exercise_ids = _state(settings)
    if where in ("after-commit", "deleting-old"):
        assert (version, exercise_ids) == ("1.1.0", NEW_IDS)
    else:
        assert (version, exercise_ids) == ("1.0.0", OLD_IDS)
    _after_cleanup_only_referenced(settings)
    assert _state(settings)[0] == version
    # and the station can import again afterwards
    db = open_db(settings.db_path)
    import_pack(settings, db, tmp_path / "crash-pack")
    db.close()
    assert _state(settings) == ("1.1.0", NEW_IDS)


@pytest.mark.slow
def test_sigkill_at_random_moments(baseline, tmp_path):
    # How long a whole import takes here, to spread the kills over it.
    settings, outcome = _run_crash(baseline, tmp_path, "none", None)
    assert outcome == "done" and _state(settings) == ("1.1.0", NEW_IDS)
    started = time.monotonic()
    _run_crash(baseline, tmp_path, "none", None)
    whole = time.monotonic() - started
    rng = random.Random(int(os.environ.get("KIOSK_CRASH_SEED", "20240611")))
    outcomes = []
    # The issue asks for 100 kills; KIOSK_CRASH_RUNS=8 makes a quick local run.
    for _ in range(int(os.environ.get("KIOSK_CRASH_RUNS", "100"))):
        settings, outcome = _run_crash(baseline, tmp_path, "none", rng.uniform(0.0, whole))
        version, exercise_ids = _state(settings)
        assert (version, exercise_ids) in (("1.0.0", OLD_IDS), ("1.1.0", NEW_IDS))
        _after_cleanup_only_referenced(settings)
        outcomes.append((outcome, version))
    assert any(version == "1.0.0" for _, version in outcomes), outcomes  # some kills landed mid-import


# ---- decoding ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tone-cbr.mp3", "tone-cbr44.mp3", "tone-vbr.mp3", "tone-vbr-stereo.mp3"])
def test_playback_copy_matches_a_whole_file_decode(tmp_path, name):
    from kiosk.content.importer.decode import decode_to_playback_copy

    mp3 = DATA / name
    info = scan_mp3(mp3)
    flac = tmp_path / "copy.flac"
    samples = decode_to_playback_copy(mp3, flac, lambda f: None, info)
    copy, rate = sf.read(str(flac), dtype="int16", always_2d=True)
    assert rate == info.sample_rate and copy.shape == (samples, info.channels)
    # the same decoder, reading the whole file at once: identical
    whole = miniaudio.mp3_read_file_s16(str(mp3))
    reference = np.frombuffer(whole.samples, dtype=np.int16).reshape(-1, whole.nchannels)
    assert np.array_equal(copy, reference)
    assert samples == info.expected_samples
    # another decoder (libsndfile's mpg123, one whole-file read): same length, within 1 LSB
    other, _ = sf.read(str(mp3), dtype="int16", always_2d=True)
    assert other.shape == copy.shape
    assert np.abs(other.astype(np.int32) - copy.astype(np.int32)).max() <= 1


def test_scan_reports_vbr_and_gapless_fields():
    vbr = scan_mp3(DATA / "tone-vbr.mp3")
    assert vbr.vbr and vbr.encoder_delay == 576 and vbr.sample_rate == 32000
    cbr = scan_mp3(DATA / "tone-cbr.mp3")
    assert not cbr.vbr and cbr.encoder_delay is None and cbr.duration == pytest.approx(10.057, abs=0.001)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"ID3\x04\x00\x00\x00\x00\x00\x7f", "ID3 tag runs past the end"),
        (b"ID3\x04\x00\x00\x80\x00\x00\x00" + bytes(100), "malformed size"),
        (b"fLaC" + bytes(100), "a FLAC file"),
        (b"OggS" + bytes(100), "an Ogg file"),
        (bytes(4) + b"ftypM4A " + bytes(100), "MP4"),
        (b"\xff\xfd\x90\x00" + bytes(500), "layer II"),
        (b"\xff\xfb\x00\x00" + bytes(500), "free-format"),
        (bytes(5000), "holds no MP3 audio frames"),
    ],
)
def test_scan_names_what_is_wrong(tmp_path, data, message):
    path = tmp_path / "x.mp3"
    path.write_bytes(data)
    with pytest.raises(Mp3Error, match=message):
        scan_mp3(path)


def test_scan_accepts_tags_at_both_ends(tmp_path):
    body = (DATA / "tone-cbr.mp3").read_bytes()
    id3v2 = b"ID3\x03\x00\x00\x00\x00\x00\x14" + bytes(20)
    id3v1 = b"TAG" + bytes(125)
    ape_footer = b"APETAGEX" + struct.pack("<IIII", 2000, 32, 0, 0) + bytes(8)
    path = tmp_path / "tagged.mp3"
    path.write_bytes(id3v2 + bytes(64) + body + ape_footer + id3v1)
    assert scan_mp3(path).frames == scan_mp3(DATA / "tone-cbr.mp3").frames


# ---- the README's example ------------------------------------------------------------------


def _readme_content_section() -> str:
    readme = REPO / "README.md"
    text = readme.read_text(encoding="utf-8")
    return text[text.index("## Content packs"):]


def test_readme_example_pack_is_valid(tmp_path):
    from kiosk.content.manifest import parse_manifest

    section = _readme_content_section()
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    spec, faults = parse_manifest(example.encode())
    assert faults == [] and spec is not None
    assert [e.id for e in spec.exercises] == ["soothing-breathing", "safe-place"]
    cues = section.split("```\nWEBVTT", 1)[1].split("```", 1)[0]
    from kiosk.content.cues import parse_vtt

    assert len(parse_vtt("WEBVTT" + cues)) == 2


def test_import_from_the_manifest_path(station):
    pack = newer_pack(station.tmp)
    assert import_pack(station.settings, station.db, pack / "pack.toml").version == "1.1.0"


def test_content_problems_for_doctor(station):
    from kiosk.content import content_problems

    assert content_problems(station.settings, station.db) == (2, [])
    v = station.catalogue.variant("safe-place", "en-GB")
    assert v is not None
    v.playback_path.unlink()
    v.audio_path.write_bytes(b"changed")
    count, problems = content_problems(station.settings, station.db)
    assert count == 2 and len(problems) == 2
    assert "is missing" in problems[1] or "is missing" in problems[0]
    assert any("has changed size since import" in p for p in problems)


def test_cleanup_rebuilds_a_damaged_search_index(station):
    db = station.db
    db.execute("DROP TRIGGER variants_au")
    db.execute("UPDATE variants SET title = 'Zebra crossing' WHERE exercise_id = 'soothing-breath'")
    assert search_index_problems(db)
    cleanup_leftovers(station.settings, db)
    assert search_index_problems(db) == []
    assert [c.id for c in station.catalogue.cards("en-GB", query="zebra")] == ["soothing-breath"]
