"""Healthy MP3s carry tags where tag editors and loudness tools put them; the real importer takes
them all, and still refuses a file cut short of what its own Info header promises."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from kiosk.audio.mp3scan import scan_mp3
from kiosk.config import default_settings
from kiosk.content import Catalogue, PackRefused, import_pack
from kiosk.store import open_db
from tests.packfactory import DATA, write_pack


def _syncsafe(n: int) -> bytes:
    return bytes(((n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F))


def _id3v2_frame(frame_id: bytes, body: bytes) -> bytes:
    return frame_id + _syncsafe(len(body)) + b"\0\0" + body


def id3v2(cover_bytes: int = 0, footer: bool = False) -> bytes:
    """An ID3v2.4 tag with a title and, when asked, an APIC cover of that many bytes."""
    frames = _id3v2_frame(b"TIT2", b"\x03Breathing\0")
    if cover_bytes:
        # A JPEG-looking picture: its bytes hold frame syncs, as real cover art does.
        picture = (b"\xff\xd8\xff\xe0" + bytes(range(256)) * (cover_bytes // 256 + 1))[:cover_bytes]
        frames += _id3v2_frame(b"APIC", b"\x00image/jpeg\0\x03cover\0" + picture)
    flags = 0x10 if footer else 0
    tag = b"ID3\x04\x00" + bytes((flags,)) + _syncsafe(len(frames)) + frames
    if footer:
        tag += b"3DI\x04\x00" + bytes((flags,)) + _syncsafe(len(frames))
    return tag


def id3v1() -> bytes:
    return (b"TAG" + b"Breathing".ljust(30, b"\0") + b"Clinic".ljust(30, b"\0") + b"".ljust(30, b"\0")
            + b"2026" + b"".ljust(30, b"\0") + b"\x0c")


def apev2(header: bool = True) -> bytes:
    item = struct.pack("<II", 6, 0) + b"REPLAYGAIN_TRACK_GAIN\0" + b"-3.2 dB"[:6]
    size = len(item) + 32
    def block(is_header: bool) -> bytes:
        flags = (1 << 31 if header else 0) | (1 << 29 if is_header else 0)
        return b"APETAGEX" + struct.pack("<IIII", 2000, size, 1, flags) + b"\0" * 8
    return (block(True) if header else b"") + item + block(False)


def lyrics3() -> bytes:
    body = b"LYRICSBEGIN" + b"IND00002" + b"10"
    return body + str(len(body)).zfill(6).encode() + b"LYRICS200"


AUDIO = (DATA / "tone-vbr.mp3").read_bytes()  # lame VBR with an Info tag (frame count promised)

TAGGED = {
    "leading ID3v2 with 1 MB cover": id3v2(cover_bytes=1 << 20) + AUDIO,
    "ID3v1": AUDIO + id3v1(),
    "appended ID3v2": AUDIO + id3v2(footer=True),
    "APEv2 then ID3v1": AUDIO + apev2() + id3v1(),
    "APEv2 without header": AUDIO + apev2(header=False),
    "APEv2, Lyrics3 and ID3v1": AUDIO + apev2() + lyrics3() + id3v1(),
    "everything": id3v2(cover_bytes=1 << 20) + AUDIO + id3v2(footer=True) + apev2() + lyrics3() + id3v1(),
}


@pytest.mark.parametrize("name", list(TAGGED))
def test_the_scan_sees_the_same_audio_whatever_the_tags(tmp_path: Path, name: str) -> None:
    bare = tmp_path / "bare.mp3"
    bare.write_bytes(AUDIO)
    tagged = tmp_path / "tagged.mp3"
    tagged.write_bytes(TAGGED[name])
    a, b = scan_mp3(bare), scan_mp3(tagged)
    assert (b.frames, b.expected_samples, b.sample_rate) == (a.frames, a.expected_samples, a.sample_rate)


@pytest.mark.parametrize("name", list(TAGGED))
def test_the_real_importer_takes_a_tagged_mp3(tmp_path: Path, name: str) -> None:
    pack = write_pack(tmp_path / "pack")
    (pack / "breath" / "en-GB.mp3").write_bytes(TAGGED[name])
    settings = default_settings(tmp_path / "data")
    db = open_db(settings.db_path)
    try:
        import_pack(settings, db, pack)
        assert Catalogue(db, settings.content_dir).variant("soothing-breath", "en-GB") is not None
    finally:
        db.close()


def test_a_tagged_mp3_cut_short_of_its_info_header_is_still_refused(tmp_path: Path) -> None:
    cut = AUDIO[: len(AUDIO) * 3 // 5]
    pack = write_pack(tmp_path / "pack")
    (pack / "breath" / "en-GB.mp3").write_bytes(id3v2(cover_bytes=1 << 20) + cut + apev2() + id3v1())
    settings = default_settings(tmp_path / "data")
    db = open_db(settings.db_path)
    try:
        with pytest.raises(PackRefused) as refused:
            import_pack(settings, db, pack)
        assert "truncated" in str(refused.value)
    finally:
        db.close()
