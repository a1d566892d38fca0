""""Still there?" heard in the headphones, from outside: the whole station with its real
audio engine on a real file-backed device, a client who paused and rests."""

import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.audio_device import PulseFileDevice
from tests.e2e.helpers import screenshot_root, station_process, wait_for_log
from tests.e2e.test_sound_device import PLAY_BUTTON, loudest

pytestmark = [pytest.mark.ui, pytest.mark.audio, pytest.mark.slow]

CHIME_HZ = (784.0, 1046.5)  # assets/prompts/generate.py's two notes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_share(samples: np.ndarray, rate: int, hz: float) -> float:
    """The share of the signal's energy within 15 Hz of `hz`."""
    mono = samples.astype(np.float64).mean(axis=1) if samples.ndim == 2 else samples.astype(np.float64)
    power = np.abs(np.fft.rfft(mono)) ** 2
    freqs = np.fft.rfftfreq(len(mono), 1 / rate)
    return float(power[np.abs(freqs - hz) < 15].sum() / max(power.sum(), 1e-12))


def test_a_resting_client_hears_still_there_and_the_exercise_waits(tmp_path, screenshot_dir,
                                                                   sound_device: PulseFileDevice):
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "data"\n[take_home]\nport = {free_port()}\n'
                      "[session]\nidle_timeout_seconds = 10\npaused_timeout_seconds = 12\n"
                      "still_there_seconds = 40\n")
    env = {**os.environ, **sound_device.env()}
    log = tmp_path / "data" / "logs" / "kiosk.log"
    with station_process([sys.executable, "-m", "kiosk", "--config", str(config), "run",
                          "--start", "soothing-rhythm-breathing", "--lang", "en-GB"],
                         env) as station:
        wait_for_log(log, "first frame drawn", station, seconds=120)
        deadline = time.monotonic() + 20
        while loudest(sound_device) < 0.01:
            assert time.monotonic() < deadline, "the deep link never played a sound"
            time.sleep(0.3)
        time.sleep(1.0)
        mark = len(log.read_text())
        subprocess.run(["xdotool", "mousemove", *map(str, PLAY_BUTTON), "click", "1"],
                       check=True, timeout=10)  # the client pauses, part-way, and rests
        paused_at = time.monotonic()
        time.sleep(1.5)
        played, rate = sound_device.read_played()
        before = len(played)

        wait_for_log(log, "a prompt is playing in the headphones", station, seconds=40, after=mark)
        waited = time.monotonic() - paused_at
        assert waited >= 11, f"asked after {waited:.1f} s paused, before the paused time"
        time.sleep(2.5)
        screenshot_root(screenshot_dir / "e2e-still-there-heard.png")
        time.sleep(6.0)  # the chime and the words: about 7 s
        played, rate = sound_device.read_played()
        prompt = played[before:]
        assert len(prompt) > rate * 5, "the device was not fed while the prompt played"
        assert np.abs(prompt).max() / 32768 > 0.05, "nothing was heard in the headphones"
        start = int(np.flatnonzero(np.abs(prompt).max(axis=1) > 300)[0])  # after the quiet
        chime = prompt[start:start + int(rate * 1.7)]
        for hz in CHIME_HZ:
            assert peak_share(chime, rate, hz) > 0.05, f"no chime at {hz} Hz"
        # After it, quiet again: the exercise waits, paused, for the client.
        assert loudest(sound_device, last_seconds=0.5) < 0.001, "the exercise went on by itself"

        # A touch anywhere answers "Still there?"; Play then goes on with the exercise.
        for _ in range(2):
            subprocess.run(["xdotool", "mousemove", *map(str, PLAY_BUTTON), "click", "1"],
                           check=True, timeout=10)
            time.sleep(0.8)
        deadline = time.monotonic() + 10
        while loudest(sound_device) < 0.01:
            assert time.monotonic() < deadline, "Play did not bring the exercise back"
            time.sleep(0.3)
        screenshot_root(screenshot_dir / "e2e-still-there-answered.png")
        assert "clearing the station" not in log.read_text()[mark:]
