"""Walks an MP3 file frame by frame, without decoding, to prove it is whole and consistent.

A decoder alone cannot tell a complete file from a damaged one: it skips garbage and stops
quietly at a cut. This walk checks what the decoder does not: the file is MPEG layer III from
its first frame (after any ID3v2 tag) to its last (before any appended ID3v1/ID3v2/APE/Lyrics3 tag), every frame
follows the previous one with no gap, the last frame is complete, the sample rate and channel
layout never change, and the frame count promised by a Xing/Info header (what LAME and ffmpeg
write) is all there. It also yields the sample count the decoder must produce, which the
importer compares with the decoded result.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Mp3Error", "Mp3Info", "scan_mp3"]

_BITRATES_V1 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_BITRATES_V2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_VERSION_NAMES = {3: "MPEG-1", 2: "MPEG-2", 0: "MPEG-2.5"}
# Other formats a file named .mp3 turns out to be, by their first bytes.
_MAGIC = (
    (b"RIFF", "a WAV (RIFF) file"),
    (b"fLaC", "a FLAC file"),
    (b"OggS", "an Ogg file"),
    (b"FORM", "an AIFF file"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a zip archive"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
)
# Zero bytes some taggers leave after an ID3v2 tag or at the end of the file.
_MAX_ZERO_PADDING = 1 << 20


class Mp3Error(ValueError):
    """The file is not a whole, consistent MP3; the message says what and at which byte."""


@dataclass(frozen=True)
class Mp3Info:
    sample_rate: int
    channels: int
    frames: int  # audio frames, not counting a Xing/Info header frame
    samples_per_frame: int
    encoder_delay: int | None  # from the LAME tag, when there is one
    encoder_padding: int | None
    vbr: bool  # bitrate varies between frames
    has_info_tag: bool = False  # a Xing/Info/VBRI frame: the decoder then knows the exact length
    audio_end: int = 0  # byte offset just past the last frame (tags or padding may follow)

    @property
    def max_samples(self) -> int:
        """Samples per channel a decoder produces without gapless trimming."""
        return self.frames * self.samples_per_frame

    @property
    def expected_samples(self) -> int:
        """Samples per channel after the gapless trimming that the LAME tag asks for."""
        trim = (self.encoder_delay or 0) + (self.encoder_padding or 0)
        return max(0, self.max_samples - trim)

    @property
    def duration(self) -> float:
        return self.expected_samples / self.sample_rate


def _header(word: int) -> tuple[int, int, int, int, int, int] | None:
    """(version, sample rate, channels, frame length, samples per frame, bitrate) or None."""
    if (word >> 21) & 0x7FF != 0x7FF:
        return None
    version = (word >> 19) & 3
    layer = (word >> 17) & 3
    bitrate_index = (word >> 12) & 15
    rate_index = (word >> 10) & 3
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    padding = (word >> 9) & 1
    channels = 1 if (word >> 6) & 3 == 3 else 2
    rate = _SAMPLE_RATES[version][rate_index]
    if version == 3:
        bitrate = _BITRATES_V1[bitrate_index] * 1000
        return version, rate, channels, 144 * bitrate // rate + padding, 1152, bitrate
    bitrate = _BITRATES_V2[bitrate_index] * 1000
    return version, rate, channels, 72 * bitrate // rate + padding, 576, bitrate


def _why_not_a_frame(word: int) -> str:
    if (word >> 21) & 0x7FF != 0x7FF:
        return "no frame sync"
    version = (word >> 19) & 3
    layer = (word >> 17) & 3
    if version == 1:
        return "reserved MPEG version"
    if layer == 3:
        return "MPEG layer I audio, not layer III (MP3)"
    if layer == 2:
        return "MPEG layer II audio (MP2), not layer III (MP3)"
    if layer == 0:
        return "reserved layer"
    bitrate_index = (word >> 12) & 15
    if bitrate_index == 0:
        return "free-format bitrate, which the station does not accept"
    if bitrate_index == 15:
        return "invalid bitrate"
    return "reserved sample rate"


def _syncsafe(data: bytes) -> int | None:
    if any(b & 0x80 for b in data):
        return None
    return (data[0] << 21) | (data[1] << 14) | (data[2] << 7) | data[3]


def _audio_end(mm: mmap.mmap, size: int) -> int:
    """Where the frames end: before any appended ID3v1, ID3v2 (footer), APEv2 and Lyrics3 tags,
    in whatever order and number tag editors and loudness tools stack them."""
    end = size
    for _ in range(8):
        if end >= 128 and mm[end - 128 : end - 125] == b"TAG":
            end -= 128
            continue
        if end >= 32 and mm[end - 32 : end - 24] == b"APETAGEX":
            tag_size = struct.unpack_from("<I", mm, end - 20)[0]
            flags = struct.unpack_from("<I", mm, end - 12)[0]
            total = tag_size + (32 if flags & (1 << 31) else 0)
            if 0 < total <= end:
                end -= total
                continue
        if end >= 10 and mm[end - 10 : end - 7] == b"3DI":  # an appended ID3v2.4 tag's footer
            tag_size = _syncsafe(mm[end - 4 : end])
            if tag_size is not None and tag_size + 20 <= end:
                end -= tag_size + 20
                continue
        if end >= 15 and mm[end - 9 : end] == b"LYRICS200":  # Lyrics3 v2: its size precedes the end mark
            digits = mm[end - 15 : end - 9]
            if digits.isdigit() and int(digits) + 15 <= end:
                end -= int(digits) + 15
                continue
        break
    return end


def _xing(mm: mmap.mmap, pos: int, version: int, channels: int, length: int) -> tuple[int | None, int | None, int | None] | None:
    """(promised frames, encoder delay, padding) from a Xing/Info frame at pos, or None."""
    # The side information between the header and the tag: its size depends on both.
    side = {(True, 1): 17, (True, 2): 32, (False, 1): 9, (False, 2): 17}[(version == 3, channels)]
    offset = pos + 4 + side
    tag = mm[offset : offset + 4]
    if tag not in (b"Xing", b"Info"):
        if mm[pos + 36 : pos + 40] == b"VBRI":  # Fraunhofer's header: frames at +14
            frames = struct.unpack_from(">I", mm, pos + 36 + 14)[0]
            return frames, None, None
        return None
    flags = struct.unpack_from(">I", mm, offset + 4)[0]
    cursor = offset + 8
    frames = None
    if flags & 1:
        frames = struct.unpack_from(">I", mm, cursor)[0]
        cursor += 4
    if flags & 2:
        cursor += 4
    if flags & 4:
        cursor += 100
    if flags & 8:
        cursor += 4
    delay = padding = None
    # The LAME extension: 9 bytes of encoder name, then fields; delay and padding are two
    # 12-bit numbers 21 bytes in. ffmpeg ("Lavc"/"Lavf") writes the same layout.
    if cursor + 24 <= pos + length and mm[cursor : cursor + 4] in (b"LAME", b"Lavc", b"Lavf", b"L3.9"):
        raw = mm[cursor + 21 : cursor + 24]
        delay = (raw[0] << 4) | (raw[1] >> 4)
        padding = ((raw[1] & 0x0F) << 8) | raw[2]
    return frames, delay, padding


def scan_mp3(path: Path) -> Mp3Info:
    """Walk every frame of the file; raise Mp3Error saying what is wrong and where."""
    size = path.stat().st_size
    if size == 0:
        raise Mp3Error("the file is empty (0 bytes)")
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        return _scan(mm, size)


def _scan(mm: mmap.mmap, size: int) -> Mp3Info:
    for magic, what in _MAGIC:
        if mm[: len(magic)] == magic:
            raise Mp3Error(f"this is {what}, not an MP3")
    if mm[4:8] == b"ftyp":
        raise Mp3Error("this is an MP4/M4A file, not an MP3")
    pos = 0
    while mm[pos : pos + 3] == b"ID3":
        if pos + 10 > size:
            raise Mp3Error("the file is truncated inside its ID3 tag")
        tag_size = _syncsafe(mm[pos + 6 : pos + 10])
        if tag_size is None:
            raise Mp3Error(f"the ID3 tag at byte {pos} has a malformed size")
        pos += 10 + tag_size + (10 if mm[pos + 5] & 0x10 else 0)
        if pos > size:
            raise Mp3Error("the ID3 tag runs past the end of the file: the file is truncated")
    zeros = 0
    while pos < size and mm[pos] == 0 and zeros < _MAX_ZERO_PADDING:
        pos += 1
        zeros += 1
    end = _audio_end(mm, size)
    if pos + 4 > end:
        raise Mp3Error("the file holds no MP3 audio frames")
    word = struct.unpack_from(">I", mm, pos)[0]
    first = _header(word)
    if first is None:
        raise Mp3Error(f"not an MP3: no MPEG layer III frame at byte {pos} ({_why_not_a_frame(word)})")
    version, rate, channels, length, spf, _ = first
    promised = delay = padding = None
    xing = _xing(mm, pos, version, channels, length) if pos + length <= end else None
    if xing is not None:
        promised, delay, padding = xing
        pos += length  # the Xing/Info frame is silent metadata, not audio
    frames = 0
    has_info_tag = xing is not None
    bitrates: set[int] = set()
    unpack = struct.unpack_from
    header = _header
    while pos < end:
        if pos + 4 > end:
            if any(mm[pos:end]):
                raise Mp3Error(f"the file is truncated: {end - pos} stray byte(s) after the last whole frame at byte {pos}")
            break
        word = unpack(">I", mm, pos)[0]
        h = header(word)
        if h is None:
            if not any(mm[pos:end]):
                break  # zero padding at the end
            raise Mp3Error(f"the audio is damaged at byte {pos}: expected an MP3 frame, found other data ({_why_not_a_frame(word)})")
        v, r, c, length, _, bitrate = h
        if v != version or r != rate:
            raise Mp3Error(f"the sample rate changes at byte {pos} ({_VERSION_NAMES[version]} {rate} Hz to {_VERSION_NAMES[v]} {r} Hz)")
        if c != channels:
            raise Mp3Error(f"the channel layout changes at byte {pos} ({channels} to {c} channels)")
        if pos + length > end:
            raise Mp3Error(f"the file is truncated: the last frame (byte {pos}) needs {length} bytes, only {end - pos} remain")
        bitrates.add(bitrate)
        frames += 1
        pos += length
    if frames == 0:
        raise Mp3Error("the file holds no MP3 audio frames")
    if promised is not None and frames < promised:
        raise Mp3Error(f"the file is truncated: its header promises {promised} frames, only {frames} are there")
    return Mp3Info(
        sample_rate=rate,
        channels=channels,
        frames=frames,
        samples_per_frame=spf,
        encoder_delay=delay,
        encoder_padding=padding,
        vbr=len(bitrates) > 1,
        has_info_tag=has_info_tag,
        audio_end=min(pos, end),
    )
