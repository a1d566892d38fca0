"""Fixtures for the audio tests: test tracks made at test time, and a real paced sound device."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

TESTS = Path(__file__).resolve().parent.parent
if str(TESTS) not in sys.path:  # tests/audio_device.py is shared with other test folders
    sys.path.insert(0, str(TESTS))

from audio_device import PulseFileDevice, tools_available  # noqa: E402

RATE = 44100


def synth_signal(seconds: float, rate: int = RATE, seed: int = 1) -> np.ndarray:
    """Stereo test programme: a log sweep and a chord, plus a little noise, well below full scale."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0, f1 = 80.0, 6000.0
    k = np.log(f1 / f0) / seconds
    sweep = np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k)
    chord = sum(np.sin(2 * np.pi * f * t + p) for f, p in ((220, 0.3), (277.2, 1.1), (329.6, 2.0))) / 3
    left = 0.45 * sweep + 0.03 * rng.standard_normal(len(t))
    right = 0.45 * chord + 0.03 * rng.standard_normal(len(t))
    return np.stack([left, right], axis=1).astype(np.float32)


def write_wav(path: Path, data: np.ndarray, rate: int = RATE) -> Path:
    soundfile.write(str(path), data, rate, subtype="PCM_16")
    return path


def lame(src_wav: Path, dst: Path, *args: str) -> Path:
    if shutil.which("lame") is None:
        pytest.skip("lame is not installed")
    subprocess.run(["lame", "--quiet", *args, str(src_wav), str(dst)], check=True)
    return dst


@pytest.fixture(scope="session")
def tracks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Short test MP3s made from a synthesized signal: CBR, VBR, mono 22.05 kHz; and WAVs."""
    d = tmp_path_factory.mktemp("tracks")
    wav = write_wav(d / "programme.wav", synth_signal(4.0))
    mono = synth_signal(3.0)[:, :1]
    mono_wav = write_wav(d / "mono.wav", mono)
    t = np.arange(int(3.0 * RATE)) / RATE
    # 220 Hz at 0.9 starting at its peak: without a fade the first sample would be a click.
    tone = np.repeat((0.9 * np.cos(2 * np.pi * 220 * t))[:, None], 2, axis=1).astype(np.float32)
    loud = np.repeat((0.999 * np.sign(np.sin(2 * np.pi * 110 * t)))[:, None], 2, axis=1).astype(np.float32)
    return {
        "wav": wav,
        "cbr": lame(wav, d / "cbr.mp3", "-b", "128"),
        "vbr": lame(wav, d / "vbr.mp3", "-V", "4"),
        "mono22": lame(mono_wav, d / "mono22.mp3", "-m", "m", "-V", "5", "--resample", "22.05"),
        "tone": write_wav(d / "tone.wav", tone),
        "loud": write_wav(d / "loud.wav", loud),
    }


def _device_or_skip(tmp_path: Path) -> PulseFileDevice:
    why = tools_available()
    if why:
        pytest.skip(why)
    return PulseFileDevice(tmp_path / "device")


@pytest.fixture
def audio_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PulseFileDevice]:
    """A running real-time sound device; what is played lands in `audio_device.played_path`.

    ALSA_CONFIG_PATH is set before the test creates any PyAudio (alsa-lib reads it at each
    PortAudio initialisation); the daemon is killed by PID afterwards.
    """
    device = _device_or_skip(tmp_path)
    device.start()
    for key, value in device.env().items():
        monkeypatch.setenv(key, value)
    try:
        yield device
    finally:
        device.stop()


@pytest.fixture
def absent_audio_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PulseFileDevice]:
    """ALSA's default points at a PulseAudio that is not running: PortAudio finds no output
    (and raises OSError on open) without aborting. `start()` makes the device appear."""
    device = _device_or_skip(tmp_path)
    for key, value in device.env().items():
        monkeypatch.setenv(key, value)
    try:
        yield device
    finally:
        device.stop()
