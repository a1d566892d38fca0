"""M4A/AAC through PyAV: probing, exact streaming decode, and the AAC copy phones play.

Why PyAV (`av` on PyPI, BSD): its wheels bundle FFmpeg's own AAC decoder and encoder, so no
system ffmpeg is needed at run time and the decode is FFmpeg's, which every other tool
agrees with. libsndfile (soundfile) reads no AAC at all, and miniaudio neither. Demuxing and
decoding go packet by packet, so a long file is never held whole in memory.

What FFmpeg's MP4 demuxer does and does not trim: it drops the encoder's priming samples at
the start (the edit list), but not the padding after the last sample, so we cut the decode
at the length the container promises. ADTS (.aac) promises no length: there the priming
stays in (about 1024 samples, 23 ms at 44.1 kHz) and a file cut exactly at a frame
boundary cannot be told from a whole one, as with a CBR MP3 without an Info header.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
import soundfile

__all__ = [
    "AAC_SUFFIXES",
    "AacError",
    "AacInfo",
    "decode_blocks",
    "encode_m4a",
    "is_aac",
    "probe",
]

AAC_SUFFIXES = (".m4a", ".mp4", ".aac")

# Sample entry types of protected (DRM) audio in MP4: iTunes FairPlay and Common Encryption.
_PROTECTED = {"drms", "drmi", "enca", "p608"}
# A decode may end this many samples short of the container's promise (the encoder's own
# rounding of the last frame) without the file being damaged.
_SHORT_TOLERANCE = 2048
_ENCODE_BLOCK = 16384


class AacError(Exception):
    """A file that is not usable M4A/AAC; the message says what is wrong, not where."""


@dataclass(frozen=True)
class AacInfo:
    sample_rate: int  # as decoded (HE-AAC decodes at twice the rate its header gives)
    channels: int  # as decoded (HE-AAC v2's parametric stereo decodes to two)
    frames: int | None  # samples per channel the container promises; None for ADTS
    adts: bool  # a bare .aac stream, no MP4 container
    estimated_seconds: float  # FFmpeg's guess from the bit rate, where nothing is promised

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.frames is not None else self.estimated_seconds


def is_aac(path: Path | str) -> bool:
    return Path(path).suffix.lower() in AAC_SUFFIXES


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), "r")
    except FileNotFoundError:
        raise
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise AacError(
            "cannot be read as M4A or AAC: it is not audio, or it is damaged or cut short "
            f"(an M4A's index is often at its end) ({exc})") from exc


def _audio_stream(container: av.container.InputContainer) -> av.audio.stream.AudioStream:
    moving = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if moving:  # cover art is a still picture stream: that is fine
        raise AacError("holds video: give the sound alone, exported as M4A or MP3")
    if not container.streams.audio:
        raise AacError("holds no audio")
    stream = container.streams.audio[0]
    tag = (stream.codec_context.codec_tag or "").strip().lower()
    if tag in _PROTECTED:
        raise AacError("is copy-protected (DRM): the station cannot play it; ask for an unprotected copy")
    name = stream.codec_context.name
    if name != "aac":
        raise AacError(f"holds {name or 'unknown'} audio, not AAC: convert it to MP3 or M4A (AAC)")
    return stream


def probe(path: Path | str) -> AacInfo:
    """What the file holds, checked: one AAC stream, no video, no DRM; its rate and
    channels as decoded (from its first frame). Raises AacError, or FileNotFoundError."""
    path = Path(path)
    with _open(path) as container:
        stream = _audio_stream(container)
        adts = container.format.name == "aac"
        promised = None
        if not adts and stream.duration and stream.time_base:
            promised = Fraction(stream.duration) * stream.time_base  # seconds
        estimated = float(container.duration or 0) / av.time_base
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as exc:
            raise AacError(f"the audio is damaged at its start ({exc})") from exc
        if first is None:
            raise AacError("holds no audio")
        rate, channels = first.sample_rate, first.layout.nb_channels
    frames = round(promised * rate) if promised is not None else None
    if frames == 0:
        raise AacError("holds no audio")
    return AacInfo(rate, channels, frames, adts, estimated)


def _int16(frame: av.AudioFrame, channels: int) -> np.ndarray:
    data: np.ndarray = np.asarray(frame.to_ndarray())
    samples = data.T if frame.format.is_planar else data.reshape(-1, channels)
    if samples.dtype.kind == "f":
        # As FFmpeg converts float to s16 itself: round to nearest, clip.
        return np.clip(np.rint(samples * 32768.0), -32768, 32767).astype(np.int16)
    if samples.dtype == np.int32:
        return (samples >> 16).astype(np.int16)
    return samples.astype(np.int16)


def decode_blocks(path: Path | str, info: AacInfo, block_frames: int) -> Iterator[np.ndarray]:
    """The audio as int16 (frames, channels) blocks of about `block_frames`, cut at the
    length the container promises. Raises AacError when a packet cannot be decoded, when the
    stream changes its rate or channels midway, or when it ends short of the promise."""
    path = Path(path)
    limit = info.frames
    done = 0
    pending: list[np.ndarray] = []
    held = 0
    with _open(path) as container:
        stream = _audio_stream(container)
        try:
            for frame in container.decode(stream):
                if frame.sample_rate != info.sample_rate or frame.layout.nb_channels != info.channels:
                    raise AacError(f"changes its sample rate or channels at {done / info.sample_rate:.1f} s")
                pcm = _int16(frame, info.channels)
                if limit is not None:
                    pcm = pcm[: max(0, limit - done)]
                if not len(pcm):
                    continue
                pending.append(pcm)
                held += len(pcm)
                done += len(pcm)
                if held >= block_frames:
                    yield np.concatenate(pending)
                    pending, held = [], 0
        except av.error.FFmpegError as exc:
            raise AacError(f"the audio is damaged or cut short at {done / info.sample_rate:.1f} s ({exc})") from exc
    if pending:
        yield np.concatenate(pending)
    if limit is not None and done < limit - _SHORT_TOLERANCE:
        raise AacError(f"decodes to {done / info.sample_rate:.2f} s but its index promises "
                       f"{limit / info.sample_rate:.2f} s: it is damaged or cut short")


# ---------------------------------------------------------------------------------------
# The copy phones play


def _encoder_rate(rate: int) -> int:
    rates = sorted(av.codec.Codec("aac", "w").audio_rates or (44100, 48000))
    return next((r for r in rates if r >= rate), rates[-1])


def encode_m4a(src: Path, dst: Path, progress: Callable[[float], None] | None = None) -> int:
    """Encode a file libsndfile reads (the import's FLAC playback copy) as AAC in an M4A at
    `dst`; returns its size in bytes.

    96 kb/s mono or 128 kb/s stereo: transparent for speech, a tenth of CD audio. Mono
    stays mono; more than two channels (rare for speech) are mixed down to mono. The index goes first
    (faststart) so a phone's player starts before the download ends. Written beside `dst`
    and renamed, so a failure leaves nothing. Raises AacError if FFmpeg refuses.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.part")
    try:
        with soundfile.SoundFile(str(src)) as f:
            rate, channels, total = f.samplerate, f.channels, f.frames
            layout = "stereo" if channels == 2 else "mono"
            with av.open(str(tmp), "w", format="ipod", options={"movflags": "+faststart"}) as out:
                stream = out.add_stream("aac", rate=_encoder_rate(rate), layout=layout)
                stream.bit_rate = 128_000 if channels == 2 else 96_000
                done = 0
                for block in f.blocks(_ENCODE_BLOCK, dtype="int16", always_2d=True):
                    if channels > 2:
                        block = np.rint(block.mean(axis=1, keepdims=True)).astype(np.int16)
                    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block.reshape(1, -1)),
                                                       format="s16", layout=layout)
                    frame.sample_rate = rate
                    frame.pts = done
                    done += len(block)
                    for packet in stream.encode(frame):
                        out.mux(packet)
                    if progress is not None and total:
                        progress(min(done / total, 1.0))
                for packet in stream.encode(None):
                    out.mux(packet)
        os.replace(tmp, dst)
    except av.error.FFmpegError as exc:
        tmp.unlink(missing_ok=True)
        raise AacError(f"could not be encoded as AAC ({exc})") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dst.stat().st_size
