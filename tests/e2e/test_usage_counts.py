"""The usage counts count what happens at the station, seen from outside: the whole station
with its real audio engine on the paced (real-time) test sound device plays an exercise to
the end, then hands a client the take-home code; after it has stopped, `kiosk stats --csv`
shows the play started, the play completed and the link, on this station's name."""

import csv
import datetime as dt
import io
import os
import socket
import subprocess
import sys

import pytest

from kiosk.config import load_settings
from kiosk.store import open_db
from kiosk.usage import record
from tests.e2e.helpers import station_process, wait_for_log
from tests.packfactory import write_pack

pytestmark = [pytest.mark.ui, pytest.mark.audio, pytest.mark.slow]

EXERCISE = "soothing-breath"  # tests/packfactory.py: 10 s of tone in en-GB


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_play_heard_to_the_end_and_a_take_home_show_in_kiosk_stats(tmp_path, sound_device):
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(
        'data_dir = "data"\nstation_name = "e2e-usage"\n[content]\ndemo_pack = ""\n'
        f'[take_home]\nbind = "127.0.0.1"\nport = {port}\npublic_address = "127.0.0.1:{port}"\n'
        "[usage]\nkeep_days = 30\n")
    settings = load_settings(config)
    kiosk = [sys.executable, "-m", "kiosk", "--config", str(config)]
    subprocess.run([*kiosk, "import", str(write_pack(tmp_path / "pack"))], check=True,
                   timeout=120, stdout=subprocess.DEVNULL)
    # An event from long ago, which the station's start must prune (usage.keep_days = 30).
    db = open_db(settings.db_path)
    record(db, "play_started", "long-gone", "en-GB", "e2e-usage",
           at=dt.datetime.now(dt.UTC) - dt.timedelta(days=31))
    db.close()

    env = {**os.environ, **sound_device.env()}
    log = settings.log_dir / "kiosk.log"
    with station_process([*kiosk, "run", "--start", EXERCISE, "--lang", "en-GB"], env) as station:
        # Ten seconds of sound through the real device, paced in real time.
        wait_for_log(log, f"play_completed: {EXERCISE} (en-GB)", station, seconds=90)
    assert "audio trouble" not in log.read_text()
    mark = len(log.read_text())
    with station_process([*kiosk, "run", "--take-home", EXERCISE, "--lang", "en-GB"], env) as station:
        wait_for_log(log, "take-home link", station, after=mark)

    stats = subprocess.run([*kiosk, "stats", "--csv", "--days", "1"], capture_output=True,
                           text=True, timeout=60, check=True)
    rows = list(csv.DictReader(io.StringIO(stats.stdout)))
    assert [(r["station"], r["exercise_id"], r["lang"], r["plays_started"], r["plays_completed"],
             r["links_issued"]) for r in rows] == [("e2e-usage", EXERCISE, "en-GB", "1", "1", "1")], \
        stats.stdout
    everything = subprocess.run([*kiosk, "stats", "--csv", "--days", "3660"], capture_output=True,
                                text=True, timeout=60, check=True)
    assert "long-gone" not in everything.stdout
