"""Exact, streaming decoding: the lossless playback copy made at import, and the engine's reader.

Why a playback copy: chunked MP3 reading through soundfile/libsndfile returns wrong samples
for VBR files (see the stack notes), miniaudio streams them exactly but can only seek by
decoding from the start (about 1 s to reach 30 min). So the content importer converts each
MP3 once, streaming through miniaudio, into a 16-bit FLAC beside it (`make_playback_copy`),
and the engine reads that FLAC with soundfile: exact samples, seeks in a few milliseconds.
The original MP3 stays what the client takes home.

miniaudio stops quietly at damage in an MP3 (a truncated file or a run of junk just gives
fewer frames), so before decoding we walk the MPEG frame headers and refuse a file whose
last frame is cut short or which has bytes between frames that are not audio, and after
decoding we compare the frame count with what the file's own header (Xing/LAME) promises.
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import miniaudio
import numpy as np
import soundfile

log = logging.getLogger(__name__)

Progress = Callable[[float, float], None]
"""progress(done_seconds, total_seconds), called as the copy advances."""

COPY_BLOCK_FRAMES = 16384
PLAYBACK_SUBTYPE = "PCM_16"


class DecodeError(Exception):
    """An audio file that cannot be played: the message names the file and the fault."""

    def __init__(self, path: Path | str, fault: str):
        self.path = Path(path)
        self.fault = fault
        super().__init__(f"{self.path}: {fault}")


# ---------------------------------------------------------------------------------------
# MPEG audio frame walk: is the file whole?

_BITRATES = {
    # (mpeg1?, layer) -> kbit/s by index 1..14
    (True, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_TRAILING_TAGS = (b"TAG", b"ID3", b"APETAGEX", b"LYRICS")
MAX_LEADING_JUNK = 64 * 1024  # some encoders pad after the ID3 tag; more is not an MP3


@dataclass(frozen=True)
class FrameHeader:
    version: int  # 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
    layer: int  # 1, 2 or 3
    sample_rate: int
    channels: int
    length: int  # bytes, header included
    samples: int  # PCM frames per MPEG frame

    def same_stream(self, other: FrameHeader) -> bool:
        return (self.version, self.layer, self.sample_rate) == (other.version, other.layer, other.sample_rate)


def parse_header(b: bytes | mmap.mmap, pos: int) -> FrameHeader | None:
    """The MPEG audio frame header at `pos`, or None when those bytes are not one."""
    if pos + 4 > len(b):
        return None
    b0, b1, b2, b3 = b[pos], b[pos + 1], b[pos + 2], b[pos + 3]
    if b0 != 0xFF or (b1 & 0xE0) != 0xE0:
        return None
    version = (b1 >> 3) & 3
    layer_bits = (b1 >> 1) & 3
    bitrate_index = b2 >> 4
    rate_index = (b2 >> 2) & 3
    if version == 1 or layer_bits == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None  # reserved values, or free format (no frame length to check)
    layer = 4 - layer_bits
    mpeg1 = version == 3
    bitrate = _BITRATES[(mpeg1, layer)][bitrate_index - 1] * 1000
    rate = _RATES[version][rate_index]
    padding = (b2 >> 1) & 1
    if layer == 1:
        length = (12 * bitrate // rate + padding) * 4
        samples = 384
    elif layer == 2 or mpeg1:
        length = 144 * bitrate // rate + padding
        samples = 1152
    else:
        length = 72 * bitrate // rate + padding
        samples = 576
    channels = 1 if (b3 >> 6) == 3 else 2
    return FrameHeader(version, layer, rate, channels, length, samples)


@dataclass(frozen=True)
class Mp3Scan:
    frames: int  # MPEG frames with audio (an Xing/Info frame is not counted)
    samples_per_frame: int
    sample_rate: int
    channels: int
    has_info_tag: bool  # Xing/Info/VBRI: miniaudio then knows the exact length
    audio_end: int  # byte offset just past the last frame (tags and padding after it)


def _id3v2_size(b: mmap.mmap, pos: int) -> int:
    if b[pos:pos + 3] != b"ID3" or pos + 10 > len(b):
        return 0
    size = 0
    for byte in b[pos + 6:pos + 10]:
        size = (size << 7) | (byte & 0x7F)
    footer = 10 if b[pos + 5] & 0x10 else 0
    return 10 + size + footer


def _audio_end(b: mmap.mmap) -> int:
    """Where the MPEG frames end: before an ID3v1 tag and an APEv2 tag, if any."""
    end = len(b)
    if end >= 128 and b[end - 128:end - 125] == b"TAG":
        end -= 128
    if end >= 32 and b[end - 32:end - 24] == b"APETAGEX":
        size, flags = struct.unpack("<II", b[end - 20:end - 12])[0], struct.unpack("<I", b[end - 12:end - 8])[0]
        end -= size + (32 if flags & 0x80000000 else 0)
    return max(end, 0)


def _has_info_tag(b: mmap.mmap, pos: int, h: FrameHeader) -> bool:
    # side information length: MPEG-1 17/32 bytes (mono/stereo), MPEG-2 and 2.5 9/17
    sides = {(True, 1): 17, (True, 2): 32, (False, 1): 9, (False, 2): 17}
    side = sides[(h.version == 3, h.channels)]
    at = pos + 4 + side
    return b[at:at + 4] in (b"Xing", b"Info") or b[pos + 36:pos + 40] == b"VBRI"


def _next_frame(b: mmap.mmap, start: int, end: int, like: FrameHeader | None) -> tuple[int, FrameHeader] | None:
    """The next position from `start` where a believable frame begins (its successor too)."""
    pos = start
    while True:
        pos = b.find(b"\xff", pos, end)
        if pos < 0:
            return None
        h = parse_header(b, pos)
        if h is not None and (like is None or h.same_stream(like)):
            nxt = pos + h.length
            if nxt == end:
                return pos, h
            h2 = parse_header(b, nxt) if nxt < end else None
            if h2 is not None and h2.same_stream(h):
                return pos, h
        pos += 1


def scan_mp3(path: Path) -> Mp3Scan:
    """Walk the MPEG frames; raise DecodeError if the file is cut short or has junk inside."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size == 0:
            raise DecodeError(path, "the file is empty")
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as b:
            return _scan(path, b)
    except OSError as exc:
        raise DecodeError(path, f"cannot read the file ({exc.strerror or exc})") from exc


def _scan(path: Path, b: mmap.mmap) -> Mp3Scan:
    pos = 0
    while (skip := _id3v2_size(b, pos)) > 0:
        pos += skip
    end = _audio_end(b)
    found = _next_frame(b, pos, min(end, pos + MAX_LEADING_JUNK + 4096), None)
    if found is None:
        raise DecodeError(path, "no MP3 audio found (not an MP3 file, or damaged at the start)")
    pos, first = found
    has_tag = _has_info_tag(b, pos, first)
    frames = 0
    while pos < end:
        h = parse_header(b, pos)
        if h is None or not h.same_stream(first):
            rest = b[pos:end]
            if rest.strip(b"\x00") == b"" or any(rest.startswith(t) for t in _TRAILING_TAGS):
                end = pos
                break  # zero padding or a tag after the audio: harmless
            found = _next_frame(b, pos + 1, end, first)
            skipped = (found[0] if found else end) - pos
            raise DecodeError(
                path,
                f"damaged MP3: {skipped} bytes that are not audio at byte {pos} of {len(b)} "
                f"(after {frames * first.samples / first.sample_rate:.1f} s of audio)",
            )
        if pos + h.length > end:
            raise DecodeError(
                path,
                f"the MP3 is cut short: its last frame needs {pos + h.length - end} more bytes "
                f"(the file stops after {frames * first.samples / first.sample_rate:.1f} s of audio)",
            )
        frames += 1
        pos += h.length
    audio_frames = frames - 1 if has_tag else frames
    return Mp3Scan(audio_frames, first.samples, first.sample_rate, first.channels, has_tag, pos)


class _Mp3Source(miniaudio.StreamableSource):
    """The file up to the end of its last MPEG frame.

    miniaudio (dr_mp3) drops the last few hundred samples of a gapless (LAME-tagged) file
    when anything follows the audio, such as an ID3v1 tag or zero padding; hiding the
    trailing bytes gives the exact length back.
    """

    def __init__(self, path: Path, end: int):
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close(), miniaudio's protocol
        self._end = end

    def read(self, num_bytes: int) -> bytes:
        pos = self._f.tell()
        return self._f.read(max(0, min(num_bytes, self._end - pos)))

    def seek(self, offset: int, origin: miniaudio.SeekOrigin) -> bool:
        base = self._f.tell() if origin == miniaudio.SeekOrigin.CURRENT else 0
        target = base + offset
        if not 0 <= target <= self._end:
            return False
        self._f.seek(target)
        return True

    def close(self) -> None:
        self._f.close()


def _mp3_stream(path: Path, scan: Mp3Scan, frames_to_read: int, seek_frame: int = 0) -> tuple[_Mp3Source, Iterator[array]]:
    source = _Mp3Source(path, scan.audio_end)
    stream = miniaudio.stream_any(
        source, miniaudio.FileFormat.MP3,
        output_format=miniaudio.SampleFormat.SIGNED16,
        nchannels=scan.channels, sample_rate=scan.sample_rate,
        frames_to_read=frames_to_read, dither=miniaudio.DitherMode.NONE, seek_frame=seek_frame,
    )
    return source, stream


def _expected_frames(path: Path, scan: Mp3Scan) -> int:
    """How many PCM frames the file promises: the Xing/LAME count (gapless), else the walk's."""
    if scan.has_info_tag:
        try:
            return int(miniaudio.get_file_info(str(path)).num_frames)
        except miniaudio.DecodeError as exc:
            raise DecodeError(path, f"not a playable MP3 ({exc})") from exc
    return scan.frames * scan.samples_per_frame


# ---------------------------------------------------------------------------------------
# The playback copy


def _is_mp3(path: Path) -> bool:
    return path.suffix.lower() in (".mp3", ".mp2", ".mpga")


def make_playback_copy(mp3_path: Path, flac_path: Path, progress: Progress | None = None) -> float:
    """Decode `mp3_path` exactly into a 16-bit FLAC at `flac_path`; returns the duration in s.

    Streams in blocks (memory stays small whatever the length); writes to a temporary file
    beside `flac_path` and renames it at the end, so a failed copy leaves nothing behind.
    Raises DecodeError (naming the file and the fault) for a missing, damaged, truncated or
    non-audio file. Other formats that libsndfile reads (WAV, FLAC, Ogg) are copied too.
    """
    src = Path(mp3_path)
    dst = Path(flac_path)
    if not src.is_file():
        raise DecodeError(src, "the file does not exist")
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.part")
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        if _is_mp3(src):
            frames, rate = _copy_mp3(src, tmp, progress)
        else:
            frames, rate = _copy_soundfile(src, tmp, progress)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return frames / rate


def _copy_mp3(src: Path, tmp: Path, progress: Progress | None) -> tuple[int, int]:
    scan = scan_mp3(src)
    expected = _expected_frames(src, scan)
    rate, channels = scan.sample_rate, scan.channels
    total_s = expected / rate
    done = 0
    source, stream = _mp3_stream(src, scan, COPY_BLOCK_FRAMES)
    try:
        with soundfile.SoundFile(tmp, "w", samplerate=rate, channels=channels,
                                 subtype=PLAYBACK_SUBTYPE, format="FLAC") as out:
            for chunk in stream:
                block = np.frombuffer(chunk, dtype=np.int16).reshape(-1, channels)
                out.write(block)
                done += len(block)
                if progress is not None:
                    progress(done / rate, total_s)
    except miniaudio.DecodeError as exc:
        raise DecodeError(src, f"the MP3 could not be decoded ({exc})") from exc
    except soundfile.LibsndfileError as exc:
        raise DecodeError(tmp, f"cannot write the playback copy ({exc})") from exc
    finally:
        source.close()
    if done == 0:
        raise DecodeError(src, "the MP3 contains no audio")
    # A file damaged where the walk cannot see (inside a frame's data) decodes short.
    if done < expected - scan.samples_per_frame:
        raise DecodeError(
            src,
            f"the MP3 decodes to {done / rate:.2f} s but its header promises "
            f"{expected / rate:.2f} s: it is damaged or cut short",
        )
    if done != expected:
        log.warning("%s: decoded %d frames, the header says %d", src, done, expected)
    return done, rate


def _copy_soundfile(src: Path, tmp: Path, progress: Progress | None) -> tuple[int, int]:
    try:
        with soundfile.SoundFile(src) as f:
            rate, channels, total = f.samplerate, f.channels, f.frames
            done = 0
            with soundfile.SoundFile(tmp, "w", samplerate=rate, channels=channels,
                                     subtype=PLAYBACK_SUBTYPE, format="FLAC") as out:
                for block in f.blocks(COPY_BLOCK_FRAMES, dtype="int16", always_2d=True):
                    out.write(block)
                    done += len(block)
                    if progress is not None:
                        progress(done / rate, total / rate)
    except soundfile.LibsndfileError as exc:
        raise DecodeError(src, f"not a playable audio file ({exc})") from exc
    if done == 0:
        raise DecodeError(src, "the file contains no audio")
    return done, rate


# ---------------------------------------------------------------------------------------
# Whole-file reference decode (tests, tools)


def decode_whole(path: Path) -> np.ndarray:
    """The whole file as float32 (frames, channels), int16 values / 32768: the reference."""
    path = Path(path)
    if _is_mp3(path):
        scan = scan_mp3(path)
        source, stream = _mp3_stream(path, scan, COPY_BLOCK_FRAMES)
        try:
            pcm = np.frombuffer(b"".join(chunk.tobytes() for chunk in stream), dtype=np.int16)
        except miniaudio.DecodeError as exc:
            raise DecodeError(path, f"the MP3 could not be decoded ({exc})") from exc
        finally:
            source.close()
        return pcm.reshape(-1, scan.channels).astype(np.float32) / 32768.0
    try:
        data, _ = soundfile.read(str(path), dtype="float32", always_2d=True)
    except soundfile.LibsndfileError as exc:
        raise DecodeError(path, f"not a playable audio file ({exc})") from exc
    return data


# ---------------------------------------------------------------------------------------
# Readers for the engine's feeder


class Reader:
    """Reads float32 (frames, channels) blocks from a position; `seek` is by frame."""

    path: Path
    samplerate: int
    channels: int
    frames: int

    def read(self, n: int) -> np.ndarray:
        raise NotImplementedError

    def seek(self, frame: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    @property
    def duration(self) -> float:
        return self.frames / self.samplerate if self.samplerate else 0.0


class SoundFileReader(Reader):
    """FLAC (the playback copy), WAV, Ogg: exact chunked reads and fast seeks."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self._f = soundfile.SoundFile(str(self.path))
        except (soundfile.LibsndfileError, OSError) as exc:
            raise DecodeError(self.path, f"cannot open for playback ({exc})") from exc
        self.samplerate = self._f.samplerate
        self.channels = self._f.channels
        self.frames = self._f.frames
        self._buf = np.zeros((0, self.channels), np.float32)

    def read(self, n: int) -> np.ndarray:
        if len(self._buf) < n:
            self._buf = np.zeros((n, self.channels), np.float32)
        try:
            return self._f.read(n, dtype="float32", always_2d=True, out=self._buf[:n])
        except soundfile.LibsndfileError as exc:
            raise DecodeError(self.path, f"read failed ({exc})") from exc

    def seek(self, frame: int) -> None:
        self._f.seek(max(0, min(int(frame), self.frames)))

    def close(self) -> None:
        self._f.close()


class Mp3Reader(Reader):
    """Direct MP3 playback (CLI, files without a playback copy): exact, but a seek decodes
    from the start of the file, so far seeks are slow (about 1 s per 30 min)."""

    BLOCK = 4096

    def __init__(self, path: Path):
        self.path = Path(path)
        self._scan = scan_mp3(self.path)
        self.samplerate = self._scan.sample_rate
        self.channels = self._scan.channels
        self.frames = _expected_frames(self.path, self._scan)
        self._source: _Mp3Source | None = None
        self._pending = np.zeros((0, self.channels), np.float32)
        self.seek(0)

    def seek(self, frame: int) -> None:
        frame = max(0, min(int(frame), self.frames))
        self.close()
        self._source, self._stream = _mp3_stream(self.path, self._scan, self.BLOCK, seek_frame=frame)
        self._pending = np.zeros((0, self.channels), np.float32)

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None

    def read(self, n: int) -> np.ndarray:
        parts = [self._pending]
        have = len(self._pending)
        try:
            while have < n:
                chunk = next(self._stream, None)
                if chunk is None:
                    break
                block = np.frombuffer(chunk, dtype=np.int16).reshape(-1, self.channels)
                parts.append(block.astype(np.float32) / 32768.0)
                have += len(block)
        except miniaudio.DecodeError as exc:
            raise DecodeError(self.path, f"the MP3 could not be decoded ({exc})") from exc
        data = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self._pending = data[n:]
        return data[:n]


def open_reader(path: Path) -> Reader:
    """The right reader for `path`: the FLAC playback copy normally, an MP3 as a fallback."""
    path = Path(path)
    if not path.is_file():
        raise DecodeError(path, "the file does not exist")
    if _is_mp3(path):
        return Mp3Reader(path)
    return SoundFileReader(path)


def probe_duration(path: Path) -> float:
    """The duration in seconds, read from the file's header (fast)."""
    reader = open_reader(path)
    try:
        return reader.duration
    finally:
        reader.close()
