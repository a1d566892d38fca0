"""The whole station as a process on the virtual display, seen from outside."""

import os
import subprocess
import sys
import time

import pytest

from tests.e2e.helpers import screenshot_root

pytestmark = pytest.mark.ui


def test_kiosk_run_shows_the_attract_screen_and_survives_escape(tmp_path, screenshot_dir):
    from PIL import Image

    config = tmp_path / "config.toml"
    config.write_text('data_dir = "data"\n[display]\nlockdown = true\n[take_home]\nport = 18766\n')
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "kiosk", "--config", str(config), "run"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        log = tmp_path / "data" / "logs" / "kiosk.log"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if log.exists() and "Start application main loop" in log.read_text():
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)
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
    finally:
        proc.terminate()
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, "SIGTERM should stop the station cleanly"
    assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")
    assert "received signal 15, stopping" in log.read_text()
