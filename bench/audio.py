"""The audio engine's figures (issue 4), printed as a markdown table.

Run:  .venv/bin/python bench/audio.py             (about 6 minutes: 5 of them real-time playback)
      .venv/bin/python bench/audio.py --quick     (about 1.5 minutes: 30 s of real-time playback)
      .venv/bin/python bench/audio.py --duration 600
      .venv/bin/python bench/audio.py --in-process   (also the underrun run with the engine in
                                                      the UI's process, and the playback copy's CPU)

The engine runs as on a station, in its own process (RemotePlayer), for the CPU and underrun
figures; its CPU is that process's plus what the UI's process spends on it (the pipe).

Devices (no sound card needed):
- "paced": a real-time device, the tests' one (tests/audio_device.py): PortAudio -> ALSA file
  plugin -> a private PulseAudio null sink that consumes in real time like a sound card.
  Used for latencies, memory, real-time CPU and underruns.
- "null": ALSA's null device, which has no clock and takes audio as fast as it is given.
  Used to push a whole 60-minute track through the engine in seconds, next to mpg123 (the
  MP3) and sox (the engine's FLAC playback copy) playing the same file to the same device.
  The callback there is called back to back, as fast as it returns; it wakes the feeder
  whenever the ring falls under its lead, but when the feeder is late the callback renders
  silence (counted in the notes): the real-time row is the one that says what a station
  spends.

Each measurement runs in its own child process (`--child NAME`), so one does not disturb
the next and each process's CPU time is its own. Test tracks (60 and 5 minutes, VBR MP3
plus the FLAC playback copy) are generated once with sox and lame into bench/out/.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from audio_device import PulseFileDevice  # noqa: E402

from kiosk.audio.api import PlayerState  # noqa: E402
from kiosk.audio.decode import make_playback_copy  # noqa: E402

LONG_MIN = 60
SHORT_MIN = 5
RATE = 44100
MEMORY_SAMPLES = 15  # RSS every 0.2 s while playing each track


# ------------------------------------------------------------------------------ tracks
def ensure_track(minutes: int) -> tuple[Path, Path, float | None]:
    """(mp3, flac, CPU seconds the playback copy took if it was made now)."""
    OUT.mkdir(parents=True, exist_ok=True)
    mp3 = OUT / f"programme-{minutes}min.mp3"
    flac = OUT / f"programme-{minutes}min.flac"
    if not mp3.exists():
        print(f"making a {minutes}-minute test track (once, cached in {OUT})...", file=sys.stderr, flush=True)
        part = mp3.with_suffix(".part")
        # Pink noise with a slow swell and a tone: something like a voice over a pad,
        # busy enough that neither MP3 nor FLAC has it easy.
        sox = subprocess.Popen(
            ["sox", "-q", "-n", "-r", str(RATE), "-c", "2", "-b", "16", "-t", "wav", "-",
             "synth", str(minutes * 60), "pinknoise", "tremolo", "0.2", "60", "gain", "-14"],
            stdout=subprocess.PIPE,
        )
        subprocess.run(["lame", "--quiet", "-V", "4", "-", str(part)], stdin=sox.stdout, check=True)
        sox.wait()
        part.rename(mp3)
    copy_cpu = None
    if not flac.exists():
        before = time.process_time()
        make_playback_copy(mp3, flac)
        copy_cpu = time.process_time() - before
    return mp3, flac, copy_cpu


# ------------------------------------------------------------------------------ helpers
def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def wait_until(cond: Any, timeout: float, step: float = 0.0005) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if cond():
            return True
        time.sleep(step)
    return bool(cond())


def new_player(remote: bool = False, **kw: Any) -> Any:
    from kiosk.audio.player import PortAudioPlayer
    from kiosk.audio.remote import RemotePlayer

    args: dict[str, Any] = dict(volume_cap=1.0, start_volume=0.5, fade_ms=20, buffer_seconds=1.5)
    args.update(kw)
    player = RemotePlayer(**args) if remote else PortAudioPlayer(**args)
    if not player.wait_ready(20):
        raise SystemExit("the output device did not open")
    return player


def engine_cpu(player: Any) -> float:
    """CPU seconds so far of the engine: this process, plus its own process if remote."""
    import psutil

    cpu = time.process_time()
    if getattr(player, "pid", None):
        times = psutil.Process(player.pid).cpu_times()
        cpu += times.user + times.system
    return cpu


def engine_counts(player: Any) -> tuple[int, int, int, int]:
    """(callbacks, frames rendered, underruns, rate) of either kind of player."""
    if hasattr(player, "refresh"):
        player.refresh()
        snap = player.snapshot()
        return snap.calls, snap.rendered, snap.underruns, snap.rate
    stage = player.stage
    return stage.calls, stage.frames_rendered, player.underruns, stage.rate


def rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


def emit(result: dict[str, Any]) -> None:
    print("RESULT " + json.dumps(result), flush=True)


# ------------------------------------------------------------------------------ children
def child_latency(args: argparse.Namespace) -> None:
    """play() / load()+play() / seek() to the first frame handed to PortAudio (paced device)."""
    player = new_player()
    stage = lambda: player.stage  # noqa: E731 - the stage object is replaced on a rate change
    rng = random.Random(4)
    flac_long, flac_short = Path(args.long), Path(args.short)
    player.load(flac_long)
    time.sleep(0.5)
    plays, loads, seeks = [], [], []
    for _ in range(args.repeats):
        player.seek(rng.uniform(0, player.duration - 10))
        time.sleep(0.25)  # the feeder refills; a person presses play some time after choosing
        t0 = time.perf_counter()
        player.play()
        wait_until(lambda t0=t0: stage().fade_in_time >= t0, 1.0)
        plays.append(stage().fade_in_time - t0)
        time.sleep(0.05)
        player.pause()
        time.sleep(0.05)
    for i in range(args.repeats // 2):
        time.sleep(0.1)
        t0 = time.perf_counter()
        player.load(flac_short if i % 2 else flac_long)
        player.play()
        wait_until(lambda t0=t0: stage().handoff_time >= t0 and stage().fade_in_time >= t0, 1.0)
        loads.append(stage().handoff_time - t0)
        time.sleep(0.1)
        player.pause()
    player.load(flac_long)
    player.play()
    time.sleep(0.5)
    for _ in range(args.repeats):
        time.sleep(rng.uniform(0.15, 0.35))  # at a random moment against the callback's period
        target = rng.uniform(0, player.duration - 5)
        t0 = time.perf_counter()
        player.seek(target)
        gen = player._gen
        # A long wait, so a slow seek is measured as slow, not as the one before it.
        wait_until(lambda t0=t0, gen=gen: stage().handoff_gen == gen and stage().handoff_time >= t0, 5.0)
        seeks.append(stage().handoff_time - t0)
    result = {"play": plays, "load_play": loads, "seek": seeks, "block": player._block,
              "latency": player.output_latency, "underruns": player.underruns}
    player.close()
    emit(result)


def child_push(args: argparse.Namespace) -> None:
    """The whole long track through the engine into whatever device is configured."""
    from kiosk.audio.player import BLOCK_FRAMES

    player = new_player(remote=args.remote, start_volume=1.0)
    player.load(Path(args.long))
    time.sleep(0.5)
    calls0, rendered0, underruns0, _ = engine_counts(player)
    cpu0, wall0 = engine_cpu(player), time.monotonic()
    player.play()
    limit = args.seconds if args.seconds else 3 * 3600
    while player.state == PlayerState.PLAYING and time.monotonic() - wall0 < limit:
        time.sleep(0.1)  # this process's CPU counts too: poll seldom
    cpu, wall = engine_cpu(player) - cpu0, time.monotonic() - wall0
    calls, rendered, underruns, rate = engine_counts(player)
    emit({"cpu": cpu, "wall": wall, "audio": (rendered - rendered0) / rate, "calls": calls - calls0,
          "underruns": underruns - underruns0, "block": BLOCK_FRAMES})
    player.close()


def child_floor(args: argparse.Namespace) -> None:
    """What no engine on PyAudio + libsndfile can go below: a callback that does nothing,
    and decoding the FLAC copy alone."""
    import numpy as np
    import pyaudio
    import soundfile

    from kiosk.audio.player import BLOCK_FRAMES, FEED_FRAMES

    pa = pyaudio.PyAudio()
    out = np.zeros((BLOCK_FRAMES, 2), np.int16)
    calls = [0]

    def callback(*_: Any) -> tuple[Any, int]:
        calls[0] += 1
        return out, 0

    stream = pa.open(format=pyaudio.paInt16, channels=2, rate=RATE, output=True,
                     frames_per_buffer=BLOCK_FRAMES, stream_callback=callback)
    time.sleep(0.2)
    c0, n0 = time.process_time(), calls[0]
    time.sleep(args.seconds)
    cpu, n = time.process_time() - c0, calls[0] - n0
    stream.close()
    pa.terminate()
    callback_per_hour = cpu / (n * BLOCK_FRAMES / RATE) * 3600
    if args.callback_only:
        emit({"callback_per_hour": callback_per_hour})
        return
    buf = np.zeros((FEED_FRAMES, 2), np.float32)
    c0 = time.process_time()
    with soundfile.SoundFile(args.long) as f:
        while len(f.read(FEED_FRAMES, dtype="float32", always_2d=True, out=buf)) == FEED_FRAMES:
            pass
        hours = f.frames / f.samplerate / 3600
    decode_per_hour = (time.process_time() - c0) / hours
    emit({"callback_per_hour": callback_per_hour, "decode_per_hour": decode_per_hour})


def child_memory(args: argparse.Namespace) -> None:
    from kiosk.audio.decode import probe_duration

    probe_duration(Path(args.short))  # libraries loaded, as a station has them
    player = new_player()
    time.sleep(1.0)
    idle = rss_mb()
    samples: dict[str, list[float]] = {}
    for name, path, seek_to in (("short", args.short, None), ("long", args.long, LONG_MIN * 60 - 60)):
        player.load(Path(path))
        player.play()
        series = []
        for i in range(MEMORY_SAMPLES):
            time.sleep(0.2)
            series.append(rss_mb())
            if i == MEMORY_SAMPLES // 2 and seek_to is not None:
                player.seek(seek_to)
        samples[name] = series
        player.stop()
    emit({"idle": idle, "short": samples["short"], "long": samples["long"], "underruns": player.underruns})
    player.close()


def child_underruns(args: argparse.Namespace) -> None:
    """Real-time playback with the screen animating (Kivy under Xvfb, in this process as on
    a station) and 10 downloads served from this process (aiohttp, like the take-home server)."""
    server_port, stop_server = start_download_server(Path(args.blob))
    curls = start_downloads(server_port, 10)
    if args.remote:
        from kiosk.audio.remote import RemotePlayer

        player: Any = RemotePlayer(volume_cap=1.0, start_volume=0.5)
        if not player.wait_ready(20):
            raise SystemExit("the output device did not open")
    else:
        player = new_player()
    player.load(Path(args.long))
    counts: dict[str, Any] = {}

    def figures() -> tuple[int, int]:
        if args.remote:
            player.refresh()
            snap = player.snapshot()
            counts["priority"] = snap.priority
            return snap.ring_underruns, snap.xruns
        counts["priority"] = player.priority
        return player.stage.underruns, player.stage.xruns

    def start_playing() -> None:
        # As on a station: the screen is up before anyone presses play.
        counts["before"] = figures()
        counts["cpu0"] = time.process_time()
        player.play()

    def stop_playing() -> None:
        counts["after"] = figures()
        counts["cpu"] = time.process_time() - counts["cpu0"]
        counts["played"] = player.position

    ui = "none"
    try:
        ui = run_animation(args.seconds, start_playing, stop_playing)
    finally:
        for proc in curls:
            os.killpg(proc.pid, signal.SIGTERM)
        downloaded = stop_server()
        player.close()
    (u0, x0), (u1, x1) = counts["before"], counts["after"]
    emit({"underruns": u1 - u0 + x1 - x0, "ring_underruns": u1 - u0, "xruns": x1 - x0,
          "priority": counts["priority"],
          "played": counts["played"], "ui": ui, "downloaded_mb": downloaded / 2**20,
          "cpu": counts["cpu"], "seconds": args.seconds})


# ------------------------------------------------------------------------------ load for the underrun run
def start_download_server(blob: Path) -> tuple[int, Any]:
    import asyncio

    from aiohttp import web

    sent = [0]

    async def handler(request: web.Request) -> web.StreamResponse:
        sent[0] += blob.stat().st_size
        return web.FileResponse(blob)

    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_get("/blob", handler)
    runner = web.AppRunner(app, access_log=None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        loop.run_forever()

    thread = threading.Thread(target=serve, name="takehome-server", daemon=True)
    thread.start()
    time.sleep(0.3)

    def stop() -> int:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(2)
        return sent[0]

    return port, stop


def start_downloads(port: int, count: int) -> list[subprocess.Popen[bytes]]:
    # A phone on clinic Wi-Fi: ~5 MB/s each.
    loop = f"while :; do curl -s --limit-rate 5M -o /dev/null http://127.0.0.1:{port}/blob; done"
    return [subprocess.Popen(["sh", "-c", loop], start_new_session=True) for _ in range(count)]


def run_animation(seconds: float, on_start: Any, on_stop: Any) -> str:
    """Kivy animating a busy screen at 60 fps for `seconds` of playing; without Kivy, a
    CPU-burning thread. `on_start` is called once the window shows, `on_stop` at the end."""
    try:
        from kivy.animation import Animation
        from kivy.app import App
        from kivy.clock import Clock
        from kivy.uix.floatlayout import FloatLayout
        from kivy.uix.label import Label
        from kivy.uix.widget import Widget
    except Exception as exc:  # no Kivy or no display: say so in the table
        on_start()
        burn_cpu(seconds)
        on_stop()
        return f"CPU burner thread (Kivy unavailable: {type(exc).__name__})"

    class Busy(App):
        def build(self) -> Widget:
            root = FloatLayout()
            self.labels = []
            for i in range(40):
                label = Label(text=f"Exercise {i}", size_hint=(0.2, 0.08),
                              pos_hint={"x": (i % 5) * 0.2, "y": (i // 5) * 0.12})
                root.add_widget(label)
                anim = (Animation(opacity=0.2, font_size=30, duration=0.7)
                        + Animation(opacity=1.0, font_size=15, duration=0.7))
                anim.repeat = True
                anim.start(label)
                self.labels.append(label)
            Clock.schedule_interval(self.tick, 1 / 60)
            Clock.schedule_once(self.begin, 1.0)
            return root

        def begin(self, dt: float) -> None:
            on_start()
            Clock.schedule_once(self.end, seconds)

        def end(self, dt: float) -> None:
            on_stop()
            self.stop()

        def tick(self, dt: float) -> None:
            self.labels[0].text = f"{time.monotonic():.2f}"

    Busy().run()
    return "Kivy window under Xvfb, 40 labels animating (text re-rendered each frame), 60 fps"


def burn_cpu(seconds: float) -> None:
    import numpy as np

    end = time.monotonic() + seconds
    a = np.random.default_rng(0).standard_normal((300, 300))
    while time.monotonic() < end:
        a = np.tanh(a @ a.T / 300)
        sum(i * i for i in range(20000))


# ------------------------------------------------------------------------------ the parent
def run_child(name: str, env: dict[str, str], *extra: str, timeout: float = 1800) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, *extra]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[7:])
            return result
    raise RuntimeError(f"bench child {name} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def peer_cpu(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of a peer command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def start_display(tmp: Path) -> tuple[dict[str, str], subprocess.Popen[bytes] | None]:
    if os.environ.get("DISPLAY") or shutil.which("Xvfb") is None:
        return {}, None
    for number in range(140, 160):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            break
    proc = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if Path(f"/tmp/.X11-unix/X{number}").exists():
            break
        time.sleep(0.05)
    return {"DISPLAY": f":{number}"}, proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 s of real-time playback instead of 5 min (CI smoke)")
    parser.add_argument("--duration", type=float, help="seconds of real-time playback for the underrun figure (default 300)")
    parser.add_argument("--repeats", type=int, default=30, help="samples per latency figure")
    parser.add_argument("--in-process", action="store_true",
                        help="also the underrun run with the engine in the UI's process, and the "
                             "playback copy's CPU (the content bench times the whole import)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--long", help=argparse.SUPPRESS)
    parser.add_argument("--short", help=argparse.SUPPRESS)
    parser.add_argument("--blob", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--remote", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--callback-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        {"latency": child_latency, "push": child_push, "memory": child_memory,
         "underruns": child_underruns, "floor": child_floor}[args.child](args)
        return 0

    # Stopped from outside: still stop the daemons this run started (the finally below).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    started, load_start = time.monotonic(), os.getloadavg()[0]
    duration = args.duration or (30.0 if args.quick else 300.0)
    realtime_sample = 5.0 if args.quick else 8.0
    for tool in ("sox", "lame", "mpg123", "pulseaudio"):
        if shutil.which(tool) is None:
            print(f"bench/audio.py needs {tool} (deploy/system-packages.sh test)", file=sys.stderr)
            return 2
    long_mp3, long_flac, copy_cpu = ensure_track(LONG_MIN)
    short_mp3, short_flac, _ = ensure_track(SHORT_MIN)
    blob = OUT / "download-blob.bin"
    if not blob.exists() or blob.stat().st_size != 50 * 2**20:
        blob.write_bytes(os.urandom(50 * 2**20))
    if copy_cpu is None and args.in_process:  # made on an earlier run: time a fresh copy
        with tempfile.TemporaryDirectory() as d:
            before = time.process_time()
            make_playback_copy(long_mp3, Path(d) / "copy.flac")
            copy_cpu = time.process_time() - before

    tracks = ["--long", str(long_flac), "--short", str(short_flac)]
    rows: list[tuple[str, str, str, str, str]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-audio-") as tmp_name:
        tmp = Path(tmp_name)
        base_env = dict(os.environ, PYTHONPATH=str(ROOT), KIVY_NO_ARGS="1", KIVY_HOME=str(tmp / "kivy"),
                        KIVY_NO_CONSOLELOG="1", KIVY_NO_FILELOG="1", KIVY_LOG_MODE="PYTHON")
        null_conf = tmp / "null.conf"
        null_conf.write_text("pcm.!default { type null }\n")
        null_env = dict(base_env, ALSA_CONFIG_PATH=str(null_conf))
        device = PulseFileDevice(tmp / "paced")
        device.start()
        paced_env = dict(base_env, ALSA_CONFIG_PATH=str(device.asound_conf))
        display_env, xvfb = start_display(tmp)
        try:
            print(f"[{time.monotonic() - started:.0f} s] latencies...", file=sys.stderr, flush=True)
            lat = run_child("latency", paced_env, *tracks, "--repeats", str(args.repeats))
            ms = lambda xs, p: f"{percentile(xs, p) * 1000:.1f} ms"  # noqa: E731
            block_ms = lat["block"] / RATE * 1000
            rows.append(("play() to first frame handed to PortAudio, p95 (p50)", "<= 30 ms",
                         f"{ms(lat['play'], 95)} ({ms(lat['play'], 50)})", "", ""))
            rows.append(("load() + play() of another track to first frame, p95 (p50)", "",
                         f"{ms(lat['load_play'], 95)} ({ms(lat['load_play'], 50)})", "", ""))
            rows.append((f"seek anywhere in a {LONG_MIN}-min track to first frame, p95 (p50)", "<= 30 ms",
                         f"{ms(lat['seek'], 95)} ({ms(lat['seek'], 50)})", "", ""))
            notes.append(f"Latencies: {len(lat['play'])} samples each on the paced device; callback "
                         f"block {lat['block']} frames ({block_ms:.1f} ms), so a request waits up to one "
                         f"block for the next callback; a seek while playing first fades the old audio "
                         f"out (20 ms). Output latency reported by PortAudio: "
                         f"{lat['latency'] * 1000:.1f} ms (taken off the position). Slowest seek "
                         f"{max(lat['seek']) * 1000:.1f} ms; underruns during these runs: {lat['underruns']}.")

            print(f"[{time.monotonic() - started:.0f} s] pushing {LONG_MIN} min through the null device...", file=sys.stderr, flush=True)
            push = run_child("push", null_env, *tracks, "--remote")
            mpg_cpu, mpg_wall = peer_cpu(["mpg123", "-q", "-o", "alsa", str(long_mp3)], null_env)
            sox_cpu, sox_wall = peer_cpu(["sox", "-q", str(long_flac), "-t", "alsa", "default"], null_env)
            real_calls = push["audio"] * RATE / push["block"]
            spin = max(0.0, 1 - real_calls / max(1, push["calls"]))
            rows.append((f"CPU to push {LONG_MIN} min into ALSA null (unpaced), engine (own process) vs mpg123 (MP3)",
                         "ratio <= 1.0", f"{push['cpu']:.2f} s", f"{mpg_cpu:.2f} s", f"{push['cpu'] / mpg_cpu:.2f}"))
            rows.append(("... same, vs sox playing the engine's FLAC copy", "", f"{push['cpu']:.2f} s",
                         f"{sox_cpu:.2f} s", f"{push['cpu'] / sox_cpu:.2f}"))
            floor = run_child("floor", null_env, *tracks, "--seconds", "3")
            floor_total = floor["callback_per_hour"] + floor["decode_per_hour"]
            rows.append(("... floor of this design per 60 min: empty PyAudio callback + FLAC decode alone", "",
                         f"{floor['callback_per_hour']:.2f} s + {floor['decode_per_hour']:.2f} s "
                         f"= {floor_total:.2f} s", f"{mpg_cpu:.2f} s", f"{floor_total / mpg_cpu:.2f}"))
            notes.append(f"Null device: the engine took {push['wall']:.1f} s wall for {push['audio'] / 60:.1f} min "
                         f"of audio; {push['calls']} callbacks of which {spin:.0%} rendered silence (the "
                         f"clockless device calls back as fast as the callback returns, and the feeder, "
                         f"woken when the ring falls under its lead, was late; {push['underruns']} "
                         f"underruns counted there). mpg123 took {mpg_wall:.1f} s, sox {sox_wall:.1f} s.")

            print(f"[{time.monotonic() - started:.0f} s] real-time CPU ({realtime_sample:.0f} s each)...", file=sys.stderr, flush=True)
            rt = run_child("push", paced_env, *tracks, "--seconds", str(realtime_sample), "--remote")
            frames = int(realtime_sample * RATE / 1152)
            mpg_rt, _ = peer_cpu(["mpg123", "-q", "-o", "alsa", "-n", str(frames), str(long_mp3)], paced_env)
            scale = LONG_MIN * 60 / rt["wall"]
            rows.append((f"CPU per {LONG_MIN} min at real time (paced, {realtime_sample:.0f} s sampled), engine (own process) vs mpg123",
                         "", f"{rt['cpu'] * scale:.2f} s ({rt['cpu'] / rt['wall']:.2%} of a core)",
                         f"{mpg_rt * scale:.2f} s", f"{rt['cpu'] / max(mpg_rt, 1e-9):.2f}"))
            rt_floor = run_child("floor", paced_env, *tracks, "--seconds", "3", "--callback-only")
            rows.append((f"... floor at real time: an empty PyAudio callback ({LONG_MIN} min, paced device)", "",
                         f"{rt_floor['callback_per_hour']:.2f} s", f"{mpg_rt * scale:.2f} s",
                         f"{rt_floor['callback_per_hour'] / (mpg_rt * scale):.2f}"))
            if copy_cpu is not None:
                rows.append((f"one-time playback copy at import ({LONG_MIN} min MP3 -> FLAC), CPU", "",
                             f"{copy_cpu:.2f} s", "", ""))

            print(f"[{time.monotonic() - started:.0f} s] memory...", file=sys.stderr, flush=True)
            mem = run_child("memory", paced_env, *tracks)
            long_peak = max(mem["long"]) - mem["idle"]
            short_peak = max(mem["short"]) - mem["idle"]
            growth = mem["long"][-1] - mem["long"][5]
            rows.append((f"memory above idle while playing {LONG_MIN} min (peak)", "<= 40 MB",
                         f"{long_peak:.1f} MB", f"{SHORT_MIN}-min track: {short_peak:.1f} MB",
                         f"{long_peak / short_peak:.2f}" if short_peak > 0.5 else "-"))
            rows.append((f"memory growth over {MEMORY_SAMPLES * 0.2 - 1:.0f} s of playing (incl. a seek to the end)",
                         "not growing",
                         f"{growth:+.1f} MB", "", ""))
            notes.append(f"Memory: RSS of the player process; idle = player open, nothing loaded "
                         f"({mem['idle']:.0f} MB). The ring is fixed (2 x (1.5 s + one 0.74 s read) of "
                         f"float32 stereo, about 1.6 MB) whatever the track's length.")

            for remote in (True, False) if args.in_process else (True,):
                where = "engine in its own process (RemotePlayer)" if remote else "engine in the UI's process"
                print(f"[{time.monotonic() - started:.0f} s] underruns, {where}: {duration:.0f} s of real-time playback under load...",
                      file=sys.stderr, flush=True)
                und = run_child("underruns", dict(paced_env, **display_env), *tracks, "--blob", str(blob),
                                "--seconds", str(duration), *(["--remote"] if remote else []),
                                timeout=duration + 300)
                detail = f" (ring {und['ring_underruns']}, PortAudio {und['xruns']})"
                rows.append((f"underruns, {duration / 60:g} min real time, screen animating + 10 downloads, {where}",
                             "0", f"{und['underruns']}{detail}", "", ""))
                if remote:
                    notes.append(f"Underrun run: callback thread at {und['priority']}; {und['ui']}; 10 curl clients at 5 MB/s each from an "
                                 f"aiohttp server in the UI's process ({und['downloaded_mb']:.0f} MB served); "
                                 f"that process used {und['cpu'] / und['seconds']:.0%} of a core; played to "
                                 f"{und['played']:.0f} s.")
                else:
                    notes.append("In the UI's process the callback waits for the GIL whenever Kivy holds "
                                 "it (over 100 ms at times under llvmpipe), longer than PortAudio's 46 ms "
                                 "of buffer: the station runs the engine in its own process.")
        finally:
            device.stop()
            if xvfb is not None:
                xvfb.terminate()
                xvfb.wait(5)

    notes.append(f"Load average (1 min) at the start and the end: {load_start:.2f}, {os.getloadavg()[0]:.2f} "
                 f"on {os.cpu_count()} cores; {time.monotonic() - started:.0f} s in all.")
    print("| figure | target | measured | peer | ratio |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    for note in notes:
        print(f"- {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
