"""The whole station as a process on the virtual display, seen from outside."""

import os
import subprocess
import sys
import time

import pytest

from tests.e2e.helpers import screenshot_root, station_process, wait_for_log

pytestmark = pytest.mark.ui


def test_kiosk_run_shows_the_attract_screen_and_survives_escape(tmp_path, screenshot_dir):
    from PIL import Image

    config = tmp_path / "config.toml"
    config.write_text('data_dir = "data"\n[display]\nlockdown = true\n[take_home]\nport = 18766\n')
    log = tmp_path / "data" / "logs" / "kiosk.log"
    # station_process: SIGTERM at the end must stop it cleanly (exit 0, no traceback).
    with station_process([sys.executable, "-m", "kiosk", "--config", str(config), "run"],
                         os.environ) as proc:
        wait_for_log(log, "Start application main loop", proc, seconds=30)
        time.sleep(1.0)
        shot = screenshot_dir / "e2e-attract.png"
        screenshot_root(shot)
        image = Image.open(shot).convert("RGB")
        # The calm background colour fills the lower corners (a banner may sit at the top when
        # this machine has no sound device); the welcome text is drawn in the middle.
        assert image.getpixel((5, image.height - 5)) == (31, 58, 69)
        assert len(image.crop((300, 300, 980, 460)).getcolors(maxcolors=100000) or []) > 20
        subprocess.run(["xdotool", "key", "Escape"], check=False, timeout=10)
        time.sleep(0.5)
        assert proc.poll() is None, "Escape closed the station"
    assert "received signal 15, stopping" in log.read_text()
