"""A content file damaged on disk after import, seen from outside: the whole station with its
real audio engine on a real (file-backed) sound device plays it, shows a banner that blames
the file (not the headphones) and carries on; `kiosk doctor` names the file."""

import os
import subprocess
import sys
import time

import pytest

from kiosk.config import load_settings
from kiosk.store import open_db
from tests.e2e.helpers import screenshot_root, station_process, wait_for_log

pytestmark = [pytest.mark.ui, pytest.mark.audio, pytest.mark.slow]


def test_a_damaged_file_gets_a_banner_the_station_carries_on_and_doctor_names_it(
        tmp_path, screenshot_dir, sound_device):
    config = tmp_path / "config.toml"
    config.write_text('data_dir = "data"\n[take_home]\nport = 18769\n')
    settings = load_settings(config)
    kiosk = [sys.executable, "-m", "kiosk", "--config", str(config)]
    subprocess.run([*kiosk, "import", str(settings.demo_pack_path)], check=True, timeout=120,
                   stdout=subprocess.DEVNULL)
    db = open_db(settings.db_path)
    playback = settings.content_dir / db.execute(
        "SELECT playback_path FROM variants WHERE exercise_id = 'soothing-rhythm-breathing' "
        "AND lang = 'en-GB'").fetchone()[0]
    db.close()
    # Damage a stretch a few seconds in, keeping the size: what a bad sector or a bad copy
    # does. The engine meets it while playing, not when it opens the file.
    data = bytearray(playback.read_bytes())
    start = len(data) // 20
    data[start:start + 4000] = os.urandom(4000)
    playback.write_bytes(bytes(data))

    env = {**os.environ, **sound_device.env()}
    log = settings.log_dir / "kiosk.log"
    with station_process([*kiosk, "run", "--start", "soothing-rhythm-breathing", "--lang", "en-GB"],
                         env) as station:
        wait_for_log(log, "banner shown: banner.file_damaged", station)
        time.sleep(1.0)
        assert station.poll() is None, "the station quit over a damaged file"
        screenshot_root(screenshot_dir / "e2e-damaged-file.png")
        assert "banner.audio_unavailable" not in log.read_text()

    doctor = subprocess.run([*kiosk, "doctor"], capture_output=True, text=True, timeout=120,
                            env=env)
    assert doctor.returncode == 1
    assert f"soothing-rhythm-breathing (en-GB): {playback} is damaged" in doctor.stdout, doctor.stdout
