#!/usr/bin/env python3
"""Generate the spoken "Still there?" prompt the station plays in the headphones.

    .venv/bin/python assets/prompts/generate.py

Writes `still-there.<lang>.flac` beside this file for each language: a soft two-note chime,
then the words, in the demo pack's voices (assets/demo/scripts.toml), at a peak well below
the exercises' so that it wakes nobody with a start. The words are this project's own.
Needs espeak-ng on PATH; the output is committed, so the station needs neither at run time.
Run it only after changing the words or the chime, then commit the new files.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE.parent / "demo" / "scripts.toml"
RATE = 22050  # espeak-ng's own rate: nothing is resampled
PEAK_DBFS = -9.0  # the demo's speech peaks at -3 dBFS: this sits well under it

WORDS = {
    "en-GB": "Are you still there? If you are, touch the screen.",
    "en-US": "Are you still there? If you are, touch the screen.",
}


def chime() -> np.ndarray:
    """Two soft bell-like notes (G5, then C6 while the first dies away), each a sine with a
    little of its octave, a 20 ms rise and a slow decay faded to nothing: no click."""
    length, start = 1.3, 0.45
    t = np.arange(int(length * RATE)) / RATE
    tail = np.clip((length - t) / 0.1, 0.0, 1.0)
    out = np.zeros(int((start + length) * RATE))
    for offset, freq in ((0.0, 784.0), (start, 1046.5)):
        tone = np.sin(2 * np.pi * freq * t) + 0.2 * np.sin(4 * np.pi * freq * t)
        at = int(offset * RATE)
        out[at:at + len(t)] += tone * np.minimum(1.0, t / 0.02) * np.exp(-t / 0.3) * tail
    return out


def speech(text: str, voice: dict, work: Path) -> np.ndarray:
    wav = work / "words.wav"
    try:
        subprocess.run(["espeak-ng", "-v", voice["voice"], "-s", str(voice["rate"]),
                        "-p", str(voice["pitch"]), "-w", str(wav), text],
                       check=True, capture_output=True)
    except FileNotFoundError:
        raise SystemExit("espeak-ng is not installed: apt-get install espeak-ng") from None
    data, rate = sf.read(wav, dtype="float64", always_2d=False)
    if rate != RATE:
        raise SystemExit(f"espeak-ng wrote {rate} Hz, expected {RATE} Hz")
    loud = np.flatnonzero(np.abs(data) > np.abs(data).max() * 0.003)
    words = data[loud[0]:loud[-1] + 1].copy()
    fade = int(0.005 * RATE)
    words[:fade] *= np.linspace(0.0, 1.0, fade)
    words[-fade:] *= np.linspace(1.0, 0.0, fade)
    return words


def main() -> None:
    voices = tomllib.loads(SCRIPTS.read_text(encoding="utf-8"))["languages"]
    with tempfile.TemporaryDirectory() as work:
        for lang, text in WORDS.items():
            bell, words = chime(), speech(text, voices[lang], Path(work))
            bell *= np.abs(words).max() / np.abs(bell).max() * 0.6  # the chime under the words
            silence = np.zeros(int(0.35 * RATE))
            signal = np.concatenate([np.zeros(int(0.05 * RATE)), bell, silence, words,
                                     np.zeros(int(0.2 * RATE))])
            signal *= 10 ** (PEAK_DBFS / 20) / np.abs(signal).max()
            path = HERE / f"still-there.{lang}.flac"
            sf.write(path, signal, RATE, subtype="PCM_16")
            print(f"{path.name}: {len(signal) / RATE:.2f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
