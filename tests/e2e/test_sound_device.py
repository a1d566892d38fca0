"""Headphones (the sound device) pulled while a client listens, then put back, seen from
outside: the whole station with its real audio engine on a real file-backed device."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.audio_device import PulseFileDevice
from tests.e2e.helpers import screenshot_root, station_process, wait_for_log

pytestmark = [pytest.mark.ui, pytest.mark.audio, pytest.mark.slow]

# On the player screen, in the 1280 x 800 virtual display, once the banner is gone (it pushes
# the screen down while it shows).
PLAY_BUTTON = (200, 176)


def loudest(device: PulseFileDevice, last_seconds: float | None = 1.0) -> float:
    """The peak of what was played (in the last seconds), from 0 to 1."""
    try:
        played, rate = device.read_played()
    except ValueError:  # the device was just opened again, the file is starting over
        return 0.0
    if last_seconds is not None:
        played = played[-int(rate * last_seconds):]
    return float(np.abs(played).max()) / 32768 if len(played) else 0.0


def test_sound_lost_gives_a_banner_then_comes_back_and_plays(tmp_path, screenshot_dir,
                                                             sound_device):
    config = tmp_path / "config.toml"
    config.write_text('data_dir = "data"\n[take_home]\nport = 18770\n')
    env = {**os.environ, **sound_device.env()}
    log = tmp_path / "data" / "logs" / "kiosk.log"
    # The station imports its demo collection on this first start, then plays the deep link.
    with station_process([sys.executable, "-m", "kiosk", "--config", str(config), "run",
                          "--start", "soothing-rhythm-breathing", "--lang", "en-GB"],
                         env) as station:
        wait_for_log(log, "first frame drawn", station, seconds=120)
        deadline = time.monotonic() + 20
        while loudest(sound_device) < 0.01:
            assert time.monotonic() < deadline, "the deep link never played a sound"
            time.sleep(0.3)

        mark = len(log.read_text())
        sound_device.stop()  # the cable pulled: the sound server dies
        wait_for_log(log, "banner shown: banner.audio_unavailable", station, seconds=10,
                     after=mark)
        screenshot_root(screenshot_dir / "e2e-sound-lost.png")

        mark = len(log.read_text())
        sound_device.start()  # plugged back in
        wait_for_log(log, "the audio engine recovered", station, seconds=15, after=mark)
        time.sleep(1.5)
        # The device starts over (a new file): it must hold nothing but silence so far, not
        # even the end of the fade that the pulled cable cut short.
        assert loudest(sound_device, last_seconds=None) < 0.001, "sound came back without a touch"
        # The client presses Play again (a real pointer event on the virtual display).
        subprocess.run(["xdotool", "mousemove", *map(str, PLAY_BUTTON), "click", "1"],
                       check=True, timeout=10)
        deadline = time.monotonic() + 10
        while loudest(sound_device) < 0.01:
            assert time.monotonic() < deadline, "Play did not bring the sound back"
            time.sleep(0.3)
        screenshot_root(screenshot_dir / "e2e-sound-back.png")
