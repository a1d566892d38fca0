"""Talk-back's figures (issue 15): touch to the start of speech at the sound device, p95,
and the CPU a spoken screen costs the station against espeak-ng speaking the same words alone.

The station runs in this process (Kivy under Xvfb, the real engine in its own process) on
the paced file-backed sound device of the tests (tests/audio_device.py), with
`[accessibility] talk_back = true`. Each trial: the station is cleared (attract speaks; we
wait for quiet), then a finger lands on the attract screen's words, which talk-back speaks
as the finger lands (its "peek", kiosk/ui/talkback_gestures.py), as it does for anything
touched. Measured: the finger down -> the first sample above the noise floor written to the
device's file (ALSA's file plugin writes what PortAudio hands
the device, as it goes), found by a thread that reads the file every 2 ms.

Warm: the words are in talk-back's cache (a screen heard before). Cold: the cache emptied
before each touch, so espeak-ng makes them first.

Peer: espeak-ng alone speaking the same words to the same device (`espeak-ng -v en-gb -s
160 TEXT`, its own audio output through ALSA's default), spawn -> first sample.

CPU: the station's process (the UI, this process) plus its engine's process (read from
/proc) plus the espeak-ng it runs (children, once waited for), from `say()` of the touched
words until the engine reports them said; less what the station uses idle over the
same time (measured in the same run: the engine's stream runs, and the screen is drawn,
whether it speaks or not). The device watcher is stopped meanwhile: its polling is not the
station's. Warm (words cached: mixing only) and cold (espeak-ng makes them first). Peers:
espeak-ng alone making the same words into a WAV, and speaking them to the same device.

  python bench/talkback.py [--trials 20]
"""

from __future__ import annotations

import argparse
import os
import resource
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


TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int | None) -> float:
    """utime + stime of a running process, seconds (0 when there is none)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15 of stat(5)


def station_cpu(engine_pid: int | None) -> float:
    """CPU seconds so far of this process, its engine's process and its waited children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
            + process_cpu(engine_pid))


def children_cpu() -> float:
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


def pump(loop: Any, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        loop.idle()


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
    load_at_start = os.getloadavg()[0]
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
        for n in range(trials * 2):
            cache_cold = n % 2 == 1
            app.go("browse")  # off attract, so that the clearing comes back to it, and speaks it
            app.talk_back.said.clear()
            app.reset_session()
            wait_for(lambda: bool(app.talk_back.said), EventLoop, 30, "the welcome")
            wait_for(lambda: not app.playback.speaking, EventLoop, 30, "the welcome to end")
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
            onset.arm()
            pressed = time.perf_counter()
            touch.touch_down()
            wait_for(lambda: onset.heard() is not None, EventLoop, 10, "the touched words")
            heard = onset.heard()
            assert heard is not None
            (cold if cache_cold else warm).append(heard - pressed)
            wait_for(lambda: app.talk_back.said[-1] != welcome, EventLoop, 10, "the touched words said")
            text = app.talk_back.said[-1]
            touch.touch_up()
        onset.stop()
        cpu = measure_cpu(app, settings, EventLoop, text, max(5, trials // 2))
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

    # CPU peers: espeak-ng alone, the same words, into a WAV and to the same device.
    to_wav: list[float] = []
    to_device: list[float] = []
    for n in range(max(5, trials // 2) * 2):
        before = children_cpu()
        if n % 2 == 0:
            subprocess.run(["espeak-ng", "-v", "en-gb", "-s", "160", "-w", str(tmp / "alone.wav"), text],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            to_wav.append(children_cpu() - before)
        else:
            subprocess.run(["espeak-ng", "-v", "en-gb", "-s", "160", text], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            to_device.append(children_cpu() - before)
        time.sleep(0.3)

    ms = 1000.0
    peer = p95(alone)
    print(f"Load average (1 min) at the start: {load_at_start:.2f}.")
    print(f"Words: \"{text}\" ({len(text.split())} words, espeak-ng voice en-gb, 160 words a minute); "
          f"{trials} touches each; load average (1 min) at the end: {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} cores.\n")
    print("| figure | target | measured | peer | ratio |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| touch (finger down on words) to start of their speech at the sound device, p95 (p50), words cached | "
          f"<= 300 ms | {p95(warm) * ms:.0f} ms ({sorted(warm)[len(warm) // 2] * ms:.0f} ms) | "
          f"{peer * ms:.0f} ms (espeak-ng alone, spawn to sound) | {p95(warm) / peer:.2f} |")
    print(f"| same, talk-back's cache emptied before each touch (espeak-ng makes the words) | "
          f"<= 300 ms | {p95(cold) * ms:.0f} ms ({sorted(cold)[len(cold) // 2] * ms:.0f} ms) | "
          f"{peer * ms:.0f} ms | {p95(cold) / peer:.2f} |")
    wav, dev = median(to_wav), median(to_device)
    print(f"| CPU of speaking the touched words, station (UI + engine) over idle, words cached, median | "
          f"- | {cpu['warm'] * ms:.0f} ms | {dev * ms:.0f} ms (espeak-ng alone to the device) | "
          f"{cpu['warm'] / dev:.2f} |")
    print(f"| same, words made by espeak-ng first (cache emptied), median | - | {cpu['cold'] * ms:.0f} ms | "
          f"{dev * ms:.0f} ms | {cpu['cold'] / dev:.2f} |")
    print(f"| same, against espeak-ng alone making the words into a WAV (no sound) | - | "
          f"{cpu['cold'] * ms:.0f} ms | {wav * ms:.0f} ms | {cpu['cold'] / wav:.2f} |")
    print(f"\nEach touch, ms, sorted: words cached {[round(v * ms) for v in sorted(warm)]}; "
          f"cache emptied {[round(v * ms) for v in sorted(cold)]}.")
    print(f"\nStation CPU while speaking, gross (before the idle is taken off): warm "
          f"{cpu['warm_gross'] * ms:.0f} ms, cold {cpu['cold_gross'] * ms:.0f} ms, over "
          f"{cpu['seconds']:.2f} s of speech (say() to said); idle station: "
          f"{cpu['idle_rate'] * ms:.0f} ms of CPU a second.")
    return 0


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def measure_cpu(app: Any, settings: Any, loop: Any, text: str, trials: int) -> dict[str, float]:
    """The station's CPU for speaking `text`, net of its idle use over the same time."""
    engine_pid = getattr(app.playback.player, "pid", None)
    talk = app.talk_back
    pump(loop, 1.0)
    # Idle: the station on the browse screen, quiet, nothing said.
    idle_seconds = 6.0
    c0, t0 = station_cpu(engine_pid), time.perf_counter()
    pump(loop, idle_seconds)
    idle_rate = (station_cpu(engine_pid) - c0) / (time.perf_counter() - t0)
    results: dict[str, list[float]] = {"warm": [], "cold": [], "warm_gross": [], "cold_gross": []}
    durations: list[float] = []
    for n in range(trials * 2):
        cold = n % 2 == 1
        if cold:
            shutil.rmtree(settings.speech_cache_dir, ignore_errors=True)
        pump(loop, 0.5)
        c0, t0 = station_cpu(engine_pid), time.perf_counter()
        talk.say(text)
        wait_for(lambda: app.playback.speaking, loop, 10, "the words to start")
        wait_for(lambda: not app.playback.speaking, loop, 30, "the words to end")
        seconds = time.perf_counter() - t0
        gross = station_cpu(engine_pid) - c0
        kind = "cold" if cold else "warm"
        results[kind].append(gross - idle_rate * seconds)
        results[f"{kind}_gross"].append(gross)
        durations.append(seconds)
    out = {k: median(v) for k, v in results.items()}
    out["idle_rate"] = idle_rate
    out["seconds"] = median(durations)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
