"""Talk-back's figures (issue 15): touch to the start of speech at the sound device, p95.

The station runs in this process (Kivy under Xvfb, the real engine in its own process) on
the paced file-backed sound device of the tests (tests/audio_device.py), with
`[accessibility] talk_back = true`. Each trial: the station is cleared (attract speaks; we
wait for quiet), then a finger touches the attract screen; on release it opens browse, which
speaks "Choose an exercise. N exercises." Measured: release -> the first sample above the
noise floor written to the device's file (ALSA's file plugin writes what PortAudio hands
the device, as it goes), found by a thread that reads the file every 2 ms.

Warm: the words are in talk-back's cache (a screen heard before). Cold: the cache emptied
before each touch, so espeak-ng makes them first.

Peer: espeak-ng alone speaking the same words to the same device (`espeak-ng -v en-gb -s
160 TEXT`, its own audio output through ALSA's default), spawn -> first sample.

  python bench/talkback.py [--trials 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench.ui import p95, start_xvfb  # noqa: E402

THRESHOLD = 300  # int16: above the device's silence


class Onset:
    """Watches the device's file; `arm()`, then `wait()` gives when sound first came."""

    def __init__(self, path: Path):
        self.path = path
        self._armed_at = 0
        self._heard: float | None = None
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def arm(self) -> None:
        with self._cond:
            self._armed_at = self._size()
            self._heard = None

    def heard(self) -> float | None:
        with self._cond:
            return self._heard

    def _run(self) -> None:
        import numpy as np

        while not self._stop:
            time.sleep(0.002)
            with self._cond:
                start = self._armed_at
                done = self._heard is not None
            size = self._size()
            if done or size <= start:
                if size < start:  # the file started over (a new stream)
                    with self._cond:
                        self._armed_at = 44
                continue
            with open(self.path, "rb") as f:
                f.seek(start - (start % 2))
                data = f.read(size - start)
            samples = np.frombuffer(data[: len(data) // 2 * 2], np.int16)
            if len(samples) and np.abs(samples.astype(np.int32)).max() > THRESHOLD:
                now = time.perf_counter()
                with self._cond:
                    self._heard = now
            else:
                with self._cond:
                    self._armed_at = size

    def stop(self) -> None:
        self._stop = True


def wait_for(predicate: Any, loop: Any, timeout: float, what: str) -> None:
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        if loop is not None:
            loop.idle()
        else:
            time.sleep(0.005)
        if predicate():
            return
    raise RuntimeError(f"timed out waiting for {what}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    xvfb = start_xvfb()
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-talkback-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ.setdefault("KIVY_HOME", str(tmp / "kivy"))
        os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
        os.environ.setdefault("KIVY_NO_FILELOG", "1")
        from audio_device import PulseFileDevice, tools_available

        why = tools_available()
        if why:
            raise SystemExit(f"bench/talkback.py needs the paced sound device: {why}")
        device = PulseFileDevice(tmp / "sound")
        device.start()
        os.environ.update(device.env())
        try:
            return run(tmp, device, args.trials)
        finally:
            device.stop()
            if xvfb is not None:
                xvfb.terminate()


def run(tmp: Path, device: Any, trials: int) -> int:
    from kiosk.config import AccessibilitySettings, TakeHomeSettings, default_settings
    from kiosk.ui.boot import prepare_kivy

    settings = default_settings(tmp / "data", accessibility=AccessibilitySettings(talk_back=True),
                                take_home=TakeHomeSettings(enabled=False))
    prepare_kivy(settings)
    from kivy.base import EventLoop
    from kivy.tests.common import UnitTestTouch

    from kiosk.services import Services
    from kiosk.ui.app import KioskApp

    services = Services(settings)
    services.start()
    app = KioskApp(services)
    app._run_prepare()
    EventLoop.ensure_window()
    app.dispatch("on_start")
    onset = Onset(device.played_path)
    warm: list[float] = []
    cold: list[float] = []
    text = ""
    try:
        if not app.playback.player.wait_ready(20):
            raise SystemExit("the audio engine did not open the paced sound device")
        wait_for(lambda: bool(app.talk_back.said), EventLoop, 30, "the welcome")
        welcome = app.talk_back.said[-1]
        app.begin()  # off attract, so that each clearing of the station comes back to it
        wait_for(lambda: app.talk_back.said[-1] != welcome, EventLoop, 30, "browse's words")
        for n in range(trials * 2):
            cache_cold = n % 2 == 1
            app.talk_back.said.clear()
            app.reset_session()
            wait_for(lambda: bool(app.talk_back.said), EventLoop, 30, "the welcome")
            wait_for(lambda: not app.playback.prompting, EventLoop, 30, "the welcome to end")
            while True:  # the device quiet for half a second: the welcome is all out
                onset.arm()
                end = time.perf_counter() + 0.5
                while time.perf_counter() < end:
                    EventLoop.idle()
                if onset.heard() is None:
                    break
            if cache_cold:
                shutil.rmtree(settings.speech_cache_dir, ignore_errors=True)
            x, y = app.root.width / 2, app.root.height / 2
            touch = UnitTestTouch(x, y)
            touch.touch_down()
            end = time.perf_counter() + 0.05
            while time.perf_counter() < end:
                EventLoop.idle()
            onset.arm()
            released = time.perf_counter()
            touch.touch_up()
            wait_for(lambda: onset.heard() is not None, EventLoop, 10, "the browse screen's words")
            heard = onset.heard()
            assert heard is not None
            (cold if cache_cold else warm).append(heard - released)
            wait_for(lambda: app.talk_back.said[-1] != welcome, EventLoop, 10, "browse's words")
            text = app.talk_back.said[-1]
    finally:
        onset.stop()
        app.dispatch("on_stop")
        services.stop()

    # The peer: espeak-ng alone, the same words, to the same device.
    alone: list[float] = []
    for _ in range(trials):
        time.sleep(0.4)
        onset = Onset(device.played_path)
        onset.arm()
        started = time.perf_counter()
        proc = subprocess.Popen(["espeak-ng", "-v", "en-gb", "-s", "160", text],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda o=onset: o.heard() is not None, None, 10, "espeak-ng alone")
            heard = onset.heard()
            assert heard is not None
            alone.append(heard - started)
        finally:
            proc.wait(20)
            onset.stop()

    ms = 1000.0
    peer = p95(alone)
    print(f"Words: \"{text}\" ({len(text.split())} words, espeak-ng voice en-gb, 160 words a minute); "
          f"{trials} touches each; load average (1 min) at the end: {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} cores.\n")
    print("| figure | target | measured | peer | ratio |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| touch (release) to start of speech at the sound device, p95 (p50), words cached | "
          f"<= 300 ms | {p95(warm) * ms:.0f} ms ({sorted(warm)[len(warm) // 2] * ms:.0f} ms) | "
          f"{peer * ms:.0f} ms (espeak-ng alone, spawn to sound) | {p95(warm) / peer:.2f} |")
    print(f"| same, talk-back's cache emptied before each touch (espeak-ng makes the words) | "
          f"<= 300 ms | {p95(cold) * ms:.0f} ms ({sorted(cold)[len(cold) // 2] * ms:.0f} ms) | "
          f"{peer * ms:.0f} ms | {p95(cold) / peer:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
