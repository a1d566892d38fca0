"""Talk-back heard in the headphones, from outside (issue 15): the whole station with its
real audio engine on the paced file-backed device, talk_back = true; what the device was fed
is recognised offline by pocketsphinx (the content intake's decoder) as the welcome's words."""

import os
import sys
import time

import numpy as np
import pytest
import soundfile

from kiosk.content.align import heard_words, load_pcm, script_words
from kiosk.ui import strings
from tests.audio_device import PulseFileDevice
from tests.e2e.helpers import screenshot_root, station_process, wait_for_log
from tests.e2e.test_sound_device import loudest
from tests.e2e.test_still_there_heard import free_port

pytestmark = [pytest.mark.ui, pytest.mark.audio, pytest.mark.slow]


def test_the_welcome_is_heard_when_the_station_starts(tmp_path, screenshot_dir,
                                                      sound_device: PulseFileDevice):
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "data"\n[take_home]\nport = {free_port()}\n'
                      "[accessibility]\ntalk_back = true\nspeech_rate = 160\n")
    env = {**os.environ, **sound_device.env()}
    log = tmp_path / "data" / "logs" / "kiosk.log"
    with station_process([sys.executable, "-m", "kiosk", "--config", str(config), "run"],
                         env) as station:
        wait_for_log(log, "first frame drawn", station, seconds=120)
        wait_for_log(log, "talk-back is speaking", station, seconds=30)
        # The welcome (about 5 s at 160 words a minute) heard, then quiet again.
        deadline = time.monotonic() + 30
        while loudest(sound_device) < 0.01:
            assert time.monotonic() < deadline, "the welcome was never heard"
            time.sleep(0.1)
        while loudest(sound_device, last_seconds=1.0) > 0.001:
            assert time.monotonic() < deadline, "the welcome never ended"
            time.sleep(0.1)
        screenshot_root(screenshot_dir / "e2e-talk-back-welcome.png")
        played, rate = sound_device.read_played()
        assert "a prompt is playing in the headphones" in log.read_text()  # the engine's path

    assert np.abs(played).max() / 32768 > 0.05, "nothing was heard in the headphones"
    heard_at = tmp_path / "heard.wav"
    soundfile.write(str(heard_at), played, rate, subtype="PCM_16")
    # Listening for every word the station's screens may say, not the welcome's alone.
    every = [text for text in strings.EN_GB.values() if "{" not in text]
    heard = heard_words(load_pcm(heard_at), every, "en-GB")
    print("heard:", heard)
    welcome = strings.tr("talk.attract", "en-GB", welcome=strings.tr("attract.welcome", "en-GB"),
                         touch=strings.tr("attract.touch", "en-GB"))
    said = set(script_words(welcome))
    # espeak-ng's voice is far from the American model's speakers: a word or two of the
    # thirteen is missed or misheard from run to run; most must be the welcome's own.
    ours = sum(w in said for w in heard)
    assert ours >= 4 and ours >= 2 * (len(heard) - ours), heard
    assert {"yourself", "screen"} <= set(heard), heard
