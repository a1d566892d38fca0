"""The playback copy: exact, streaming, and refusing damaged files by name."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import soundfile

from kiosk.audio.decode import (
    DecodeError,
    decode_whole,
    make_playback_copy,
    open_reader,
    probe_duration,
    scan_mp3,
)


@pytest.mark.parametrize("kind", ["cbr", "vbr", "mono22"])
def test_copy_equals_whole_file_decode(tmp_path, tracks, kind):
    src = tracks[kind]
    flac = tmp_path / "out" / "copy.flac"
    seen: list[tuple[float, float]] = []
    duration = make_playback_copy(src, flac, progress=lambda done, total: seen.append((done, total)))
    reference = decode_whole(src)
    copy = decode_whole(flac)
    assert np.array_equal(copy, reference)
    info = soundfile.info(str(flac))
    assert info.format == "FLAC" and info.subtype == "PCM_16"
    assert duration == pytest.approx(len(reference) / info.samplerate)
    assert seen and seen[-1][0] == pytest.approx(duration)
    assert all(b[0] >= a[0] for a, b in zip(seen, seen[1:], strict=False))
    assert not list(flac.parent.glob(".*.part")), "temporary file left behind"


def test_gapless_length_matches_the_source(tracks):
    # lame writes its delay and padding; the decode must give back the 4.0 s we encoded.
    for kind in ("cbr", "vbr"):
        assert len(decode_whole(tracks[kind])) == 4 * 44100


def test_vbr_decode_is_the_programme(tracks):
    """Not just self-consistent: the decoded VBR file sounds like what was encoded."""
    src = soundfile.read(str(tracks["wav"]), dtype="float32")[0]
    dec = decode_whole(tracks["vbr"])
    c = np.corrcoef(src[:, 1], dec[:, 1])[0, 1]
    assert c > 0.99


@pytest.fixture
def damaged(tmp_path, tracks):
    data = tracks["vbr"].read_bytes()
    notag = tmp_path / "notag.mp3"
    subprocess.run(["lame", "--quiet", "-t", "-V", "4", str(tracks["wav"]), str(notag)], check=True)
    nt = notag.read_bytes()
    files = {
        "truncated": data[: len(data) * 2 // 3],
        "truncated_no_header": nt[: len(nt) * 2 // 3 + 1],
        "junk_inside": data[:20000] + bytes(range(256)) * 6 + data[20000 + 1536:],
        "zeros_inside_no_header": nt[:15000] + b"\0" * 3000 + nt[18000:],
        "random_bytes": np.random.default_rng(5).bytes(30000),
        "empty": b"",
        "text": b"this is not an mp3\n" * 100,
    }
    paths = {}
    for name, content in files.items():
        p = tmp_path / f"{name}.mp3"
        p.write_bytes(content)
        paths[name] = p
    return paths


@pytest.mark.parametrize(
    "name",
    ["truncated", "truncated_no_header", "junk_inside", "zeros_inside_no_header",
     "random_bytes", "empty", "text"],
)
def test_damaged_mp3_is_refused_naming_the_file(tmp_path, damaged, name):
    flac = tmp_path / "copy.flac"
    with pytest.raises(DecodeError) as info:
        make_playback_copy(damaged[name], flac)
    assert f"{name}.mp3" in str(info.value)
    assert info.value.path == damaged[name]
    assert not flac.exists()
    assert not list(tmp_path.glob(".*.part"))


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(DecodeError, match="does not exist"):
        make_playback_copy(tmp_path / "nope.mp3", tmp_path / "x.flac")


def test_tags_and_padding_are_not_damage(tmp_path, tracks):
    data = tracks["cbr"].read_bytes()
    id3v2 = b"ID3\x04\x00\x00" + bytes([0, 0, 0x08, 0x00]) + b"\x00" * 1024
    id3v1 = b"TAG" + b"\x20" * 125
    tagged = tmp_path / "tagged.mp3"
    tagged.write_bytes(id3v2 + data + b"\x00" * 300 + id3v1)
    scan = scan_mp3(tagged)
    assert scan.sample_rate == 44100
    make_playback_copy(tagged, tmp_path / "tagged.flac")
    assert np.array_equal(decode_whole(tmp_path / "tagged.flac"), decode_whole(tracks["cbr"]))


def test_reader_seeks_exactly(tmp_path, tracks):
    flac = tmp_path / "copy.flac"
    make_playback_copy(tracks["vbr"], flac)
    whole = decode_whole(flac)
    reader = open_reader(flac)
    rng = np.random.default_rng(0)
    for start in rng.integers(0, len(whole) - 3000, 20):
        reader.seek(int(start))
        assert np.array_equal(reader.read(2500), whole[start:start + 2500])
    reader.seek(len(whole) - 10)
    assert len(reader.read(100)) == 10
    reader.close()


def test_mp3_reader_fallback_is_exact(tracks):
    whole = decode_whole(tracks["vbr"])
    reader = open_reader(tracks["vbr"])
    assert reader.frames == len(whole)
    parts = []
    while len(block := reader.read(3000)):
        parts.append(block.copy())
    assert np.array_equal(np.concatenate(parts), whole)
    reader.seek(50000)
    assert np.array_equal(reader.read(1000), whole[50000:51000])
    assert probe_duration(tracks["vbr"]) == pytest.approx(4.0)
