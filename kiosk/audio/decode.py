"""Exact, streaming decoding: the lossless playback copy made at import, and the engine's reader.

Why a playback copy: chunked MP3 reading through soundfile/libsndfile returns wrong samples
for VBR files (see the stack notes), miniaudio streams them exactly but can only seek by
decoding from the start (about 1 s to reach 30 min). So the content importer converts each
MP3 once, streaming through miniaudio, into a 16-bit FLAC beside it (`make_playback_copy`),
and the engine reads that FLAC with soundfile: exact samples, seeks in a few milliseconds.
The original MP3 stays what the client takes home.

miniaudio stops quietly at damage in an MP3 (a truncated file or a run of junk just gives
fewer frames), so before decoding we walk the MPEG frame headers with the import's walker
(kiosk/audio/mp3scan.py) and refuse a file it refuses, and after decoding we compare the frame
count with what the file's own header (Xing/LAME) promises.

M4A/AAC, which neither libsndfile nor miniaudio reads, goes through PyAV (kiosk/audio/aac.py)
into the same kind of playback copy.
"""

from __future__ import annotations

import logging
import os
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path

import miniaudio
import numpy as np
import soundfile

from kiosk.audio import aac, mp3scan
from kiosk.audio.aac import AacError, AacInfo
from kiosk.audio.loudness import LoudnessMeter
from kiosk.audio.mp3scan import Mp3Error, Mp3Info

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


class FileMissing(DecodeError):
    """The file is not there at all (as opposed to there and unreadable)."""

    def __init__(self, path: Path | str):
        super().__init__(path, "the file does not exist")


# ---------------------------------------------------------------------------------------
# Is the file whole? The import's own frame walk (kiosk/audio/mp3scan.py), with its messages.


def scan_mp3(path: Path) -> Mp3Info:
    """Walk the MPEG frames; raise DecodeError if the file is cut short or has junk inside."""
    path = Path(path)
    try:
        return mp3scan.scan_mp3(path)
    except Mp3Error as exc:
        raise DecodeError(path, str(exc)) from exc
    except FileNotFoundError as exc:
        raise FileMissing(path) from exc
    except OSError as exc:
        raise DecodeError(path, f"cannot read the file ({exc.strerror or exc})") from exc


def scan_aac(path: Path) -> AacInfo:
    """An M4A/AAC file's stream, checked (one AAC stream, no video, no DRM); DecodeError if not."""
    path = Path(path)
    try:
        return aac.probe(path)
    except AacError as exc:
        raise DecodeError(path, str(exc)) from exc
    except FileNotFoundError as exc:
        raise FileMissing(path) from exc


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


def _mp3_stream(path: Path, scan: Mp3Info, frames_to_read: int, seek_frame: int = 0) -> tuple[_Mp3Source, Iterator[array[int]]]:
    source = _Mp3Source(path, scan.audio_end)
    stream = miniaudio.stream_any(
        source, miniaudio.FileFormat.MP3,
        output_format=miniaudio.SampleFormat.SIGNED16,
        nchannels=scan.channels, sample_rate=scan.sample_rate,
        frames_to_read=frames_to_read, dither=miniaudio.DitherMode.NONE, seek_frame=seek_frame,
    )
    return source, stream


def _expected_frames(path: Path, scan: Mp3Info) -> int:
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


def make_playback_copy(mp3_path: Path, flac_path: Path, progress: Progress | None = None,
                       scan: Mp3Info | None = None, meter: LoudnessMeter | None = None) -> float:
    """Decode `mp3_path` exactly into a 16-bit FLAC at `flac_path`; returns the duration in s.

    Streams in blocks (memory stays small whatever the length); writes to a temporary file
    beside `flac_path` and renames it at the end, so a failed copy leaves nothing behind.
    Raises DecodeError (naming the file and the fault) for a missing, damaged, truncated or
    non-audio file. Other formats that libsndfile reads (WAV, FLAC, Ogg) are copied too.
    `scan`: the MP3's frame walk when the caller has made it already (the import has).
    `meter`: given every decoded block, so the loudness costs no second decode.
    """
    src = Path(mp3_path)
    dst = Path(flac_path)
    if not src.is_file():
        raise FileMissing(src)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.part")
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        if _is_mp3(src):
            frames, rate = _copy_mp3(src, tmp, progress, scan, meter)
        elif aac.is_aac(src):
            frames, rate = _copy_aac(src, tmp, progress, meter)
        else:
            frames, rate = _copy_soundfile(src, tmp, progress, meter)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return frames / rate


def _copy_mp3(src: Path, tmp: Path, progress: Progress | None, scan: Mp3Info | None,
              meter: LoudnessMeter | None) -> tuple[int, int]:
    if scan is None:
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
                if meter is not None:
                    meter.push(block, rate)
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


def _copy_aac(src: Path, tmp: Path, progress: Progress | None,
              meter: LoudnessMeter | None) -> tuple[int, int]:
    info = scan_aac(src)
    rate, total_s, done = info.sample_rate, info.duration, 0
    try:
        with soundfile.SoundFile(tmp, "w", samplerate=rate, channels=info.channels,
                                 subtype=PLAYBACK_SUBTYPE, format="FLAC") as out:
            for block in aac.decode_blocks(src, info, COPY_BLOCK_FRAMES):
                out.write(block)
                if meter is not None:
                    meter.push(block, rate)
                done += len(block)
                if progress is not None:
                    progress(done / rate, max(total_s, done / rate))
    except AacError as exc:
        raise DecodeError(src, str(exc)) from exc
    except soundfile.LibsndfileError as exc:
        raise DecodeError(tmp, f"cannot write the playback copy ({exc})") from exc
    if done == 0:
        raise DecodeError(src, "the file contains no audio")
    return done, rate


def _copy_soundfile(src: Path, tmp: Path, progress: Progress | None,
                    meter: LoudnessMeter | None) -> tuple[int, int]:
    try:
        with soundfile.SoundFile(src) as f:
            rate, channels, total = f.samplerate, f.channels, f.frames
            done = 0
            with soundfile.SoundFile(tmp, "w", samplerate=rate, channels=channels,
                                     subtype=PLAYBACK_SUBTYPE, format="FLAC") as out:
                for block in f.blocks(COPY_BLOCK_FRAMES, dtype="int16", always_2d=True):
                    out.write(block)
                    if meter is not None:
                        meter.push(block, rate)
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
    if aac.is_aac(path):
        info = scan_aac(path)
        try:
            blocks = list(aac.decode_blocks(path, info, COPY_BLOCK_FRAMES))
        except AacError as exc:
            raise DecodeError(path, str(exc)) from exc
        pcm16 = np.concatenate(blocks) if blocks else np.zeros((0, info.channels), np.int16)
        return pcm16.astype(np.float32) / 32768.0
    try:
        data, _ = soundfile.read(str(path), dtype="float32", always_2d=True)
    except soundfile.LibsndfileError as exc:
        raise DecodeError(path, f"not a playable audio file ({exc})") from exc
    return np.asarray(data)


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
            return np.asarray(self._f.read(n, dtype="float32", always_2d=True, out=self._buf[:n]))
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


class AacReader(Reader):
    """M4A/AAC read forward (the aligner, `kiosk add`'s length): exact; a seek decodes from
    the start, as the MP3 reader's does."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._info = scan_aac(self.path)
        self.samplerate = self._info.sample_rate
        self.channels = self._info.channels
        self.frames = round(self._info.duration * self.samplerate)
        self._blocks: Iterator[np.ndarray] = iter(())
        self._pending = np.zeros((0, self.channels), np.float32)
        self.seek(0)

    def seek(self, frame: int) -> None:
        self.close()
        self._blocks = aac.decode_blocks(self.path, self._info, COPY_BLOCK_FRAMES)
        self._pending = np.zeros((0, self.channels), np.float32)
        skip = max(0, int(frame))
        while skip > 0 and len(self.read(min(skip, COPY_BLOCK_FRAMES))):
            skip -= COPY_BLOCK_FRAMES

    def close(self) -> None:
        close = getattr(self._blocks, "close", None)
        if close is not None:
            close()

    def read(self, n: int) -> np.ndarray:
        parts = [self._pending]
        have = len(self._pending)
        try:
            while have < n:
                block = next(self._blocks, None)
                if block is None:
                    break
                parts.append(block.astype(np.float32) / 32768.0)
                have += len(block)
        except AacError as exc:
            raise DecodeError(self.path, str(exc)) from exc
        data = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self._pending = data[n:]
        return data[:n]


def open_reader(path: Path) -> Reader:
    """The right reader for `path`: the FLAC playback copy normally, an MP3 or an M4A as a
    fallback."""
    path = Path(path)
    if not path.is_file():
        raise FileMissing(path)
    if _is_mp3(path):
        return Mp3Reader(path)
    if aac.is_aac(path):
        return AacReader(path)
    return SoundFileReader(path)


def probe_duration(path: Path) -> float:
    """The duration in seconds, read from the file's header (fast)."""
    reader = open_reader(path)
    try:
        return reader.duration
    finally:
        reader.close()
