"""The phone copy's cost at import (issue 13): how long the M4A for phones takes to make from
a demo-length track in each format phones do not play, against the decode into the playback
copy that the import makes of the same file in the same run.

The track is the demo's longest (compassionate-other en-GB, 6:47 of speech), decoded once and
written by libsndfile as an audio editor exports it, stereo at 44.1 kHz (Opus: 48 kHz, the
only rate it has), in each format a clinic may bring. For each: the
import's own decode (kiosk.audio.decode.make_playback_copy, the loudness meter fed as at
import) and then the import's own encoder (kiosk.audio.aac.encode_m4a) from that copy; best
of three. Peer: the decode. The phone copy is made once per import, not at each download.

  python bench/phonecopy.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kiosk.audio import aac  # noqa: E402
from kiosk.audio.decode import decode_whole, make_playback_copy  # noqa: E402
from kiosk.audio.loudness import LoudnessMeter  # noqa: E402
from kiosk.resources import DEMO_PACK  # noqa: E402

TRACK = DEMO_PACK / "compassionate-other" / "en-GB.mp3"
# suffix, libsndfile format and subtype, rate, as the station names it
FORMATS = [
    (".wav", "WAV", "PCM_16", 44100, "WAV"),
    (".flac", "FLAC", "PCM_16", 44100, "FLAC"),
    (".ogg", "OGG", "VORBIS", 44100, "Ogg Vorbis"),
    (".opus", "OGG", "OPUS", 48000, "Opus"),
]


def _best(runs: int, step: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    import soundfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    samples = decode_whole(TRACK)[:, 0]
    rate = soundfile.info(str(TRACK)).samplerate
    seconds = len(samples) / rate
    print(f"Track: {TRACK.relative_to(DEMO_PACK)}, {int(seconds) // 60}:{int(seconds) % 60:02d}, "
          f"written in stereo; best of {args.runs}; load average (1 min) before: "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores.\n")
    print("| figure | target | measured | peer | ratio |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for suffix, fmt, subtype, write_rate, name in FORMATS:
            source = folder / f"track{suffix}"
            mono = _resampled(samples, rate, write_rate)
            stereo = np.stack([mono, mono], axis=1)
            # In blocks: libsndfile 1.2.2 crashes (SIGSEGV) writing minutes of Vorbis at once.
            with soundfile.SoundFile(str(source), "w", write_rate, 2, format=fmt, subtype=subtype) as out:
                for at in range(0, len(stereo), 65536):
                    out.write(stereo[at:at + 65536])
            flac, m4a = folder / f"{source.name}.flac", folder / f"{source.name}.m4a"

            def decode(source: Path = source, flac: Path = flac) -> None:
                with LoudnessMeter() as meter:
                    make_playback_copy(source, flac, meter=meter)

            def encode(flac: Path = flac, m4a: Path = m4a) -> None:
                aac.encode_m4a(flac, m4a)

            decoding = _best(args.runs, decode)
            encoding = _best(args.runs, encode)
            size, made = source.stat().st_size, m4a.stat().st_size
            print(f"| phone copy (M4A) of the {name} ({size / 1e6:.1f} MB -> {made / 1e6:.1f} MB); "
                  f"peer: its decode into the playback copy | - | {encoding:.2f} s "
                  f"({seconds / encoding:.0f}x real time) | {decoding:.2f} s | {encoding / decoding:.2f} |")
    return 0


def _resampled(samples: np.ndarray, rate: int, to: int) -> np.ndarray:
    """Linear interpolation: enough for a benchmark's input (what is timed is the codecs)."""
    positions = np.arange(int(len(samples) * to / rate)) * rate / to
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


if __name__ == "__main__":
    raise SystemExit(main())
