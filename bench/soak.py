"""Months unattended, measured: the whole station as a process through visitor after visitor.

Run: .venv/bin/python bench/soak.py [--cycles N] [--warm-up N]   (default 1000 cycles, about
20 s each, growth counted from cycle 25; `make bench` runs a short form: 6 cycles, from 3). Needs Xvfb, xdotool, ImageMagick's `import` and the paced
test sound device (pulseaudio + the ALSA pulse plugin, tests/audio_device.py).

Everything is real and driven from outside, as a visitor and their phone would: its own
Xvfb screen (1280x800), the station started as `kiosk run` (through bench/soak_station.py,
which only adds a read-only look at the buttons on show, see there), its audio engine in
its own process playing into the paced PulseAudio null sink, and its take-home server on
loopback. Each cycle: touch the attract screen, pick a tile in browse (a different one each
time), Listen, a few seconds of playing, Back, Take home, Show the code; the QR code is read
from a screenshot of the screen (zxing-cpp) and the phone opens that page and downloads the
audio over HTTP; then nobody touches anything until the idle reset ("Still there?" and the
countdown) brings the attract screen back. Touches are xdotool clicks on the X display,
at the middle of the button whose words a person would read.

The bench's own config sets the shortest idle reset the config allows (10 s quiet, 3 s of
"Still there?"), which is most of a cycle's time.

With --heap the station runs under tracemalloc, and each row is followed (on standard error)
by what the Python heap holds and what grew, and what Kivy's caches hold.

Printed: the station's and the engine's RSS (the station's split into its own anonymous
memory and the shared libraries' file pages), open file descriptors and threads, the size of
the database and of the log folder, and the underruns the engine counted, at the start and
after some cycles; then the growth after the warm-up against the aim (flat: RSS within
+10 MB, the same fds and threads).
"""

from __future__ import annotations

import argparse
import html.parser
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WIDTH, HEIGHT = 1280, 800
IDLE_SECONDS, STILL_THERE_SECONDS = 10, 20  # the least kiosk/config.py accepts (20: WCAG 2.2.1)
PLAY_SECONDS = 3.0
WARM_UP_CYCLES = 25  # a 503-cycle run's station RSS held flat from about the 25th visit on
STEP_TIMEOUT = 20.0
LANG = "en-GB"
UNDERRUNS_LOGGED = re.compile(r"audio output underruns: (\d+) so far")


def note(text: str) -> None:
    print(f"[bench/soak] {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_xvfb(width: int = WIDTH, height: int = HEIGHT) -> tuple[subprocess.Popen[bytes], str]:
    """Always a screen of its own: xdotool must never click on someone's desktop."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0",
                             f"{width}x{height}x24", "-nolisten", "tcp"], pass_fds=(write_fd,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    if not number:
        raise RuntimeError("Xvfb did not start")
    return proc, f":{number}"


# -- what a process holds ---------------------------------------------------------------------

@dataclass
class ProcessFigures:
    rss_mb: float
    fds: int
    threads: int
    anon_mb: float  # the process's own memory (heap, mmaps); the rest of RSS is file pages
    file_mb: float  # touched pages of shared libraries and mapped files (shared, reclaimable)


def process_figures(pid: int) -> ProcessFigures:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    def mb(name: str) -> float:
        return int(fields.get(name, "0 kB").split()[0]) / 1024

    return ProcessFigures(rss_mb=mb("VmRSS"), fds=len(os.listdir(f"/proc/{pid}/fd")),
                          threads=int(fields["Threads"]), anon_mb=mb("RssAnon"),
                          file_mb=mb("RssFile") + mb("RssShmem"))


def child_pid(station_pid: int, name: str) -> int | None:
    """The station's child process that named itself `name` (kiosk.logs.name_process)."""
    children: list[str] = []
    for task in Path(f"/proc/{station_pid}/task").iterdir():
        try:
            children += (task / "children").read_text().split()
        except OSError:
            continue
    for child in children:
        try:
            comm = Path(f"/proc/{child}/comm").read_text().strip()
        except OSError:
            continue
        if comm == name:
            return int(child)
    return None


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


# -- the station, seen and touched from outside ---------------------------------------------

class Station:
    """`kiosk run` on its own screen (see soak_station.py), driven by xdotool as a person
    touches it; `width`, `height` and `diagonal` are the panel's (tests/e2e's visit at every
    panel size uses it too)."""

    def __init__(self, tmp: Path, display: str, device_env: dict[str, str],
                 width: int = WIDTH, height: int = HEIGHT, diagonal: float = 0.0):
        from kiosk.config import load_settings

        self.tmp = tmp
        self.width, self.height = width, height
        self.port = free_port()
        self.config = tmp / "config.toml"
        self.config.write_text(
            'data_dir = "data"\n'
            f"[display]\nlockdown = true\nwidth = {width}\nheight = {height}\n"
            f"diagonal_inches = {diagonal}\n"
            f"[session]\nidle_timeout_seconds = {IDLE_SECONDS}\n"
            f"still_there_seconds = {STILL_THERE_SECONDS}\n"
            f'[take_home]\nbind = "127.0.0.1"\nport = {self.port}\n'
            f'public_address = "127.0.0.1:{self.port}"\n', encoding="utf-8")
        self.settings = load_settings(self.config)
        self.eyes = tmp / "eyes.json"
        self.env = {**os.environ, **device_env, "DISPLAY": display, "SOAK_EYES": str(self.eyes),
                    "KIVY_HOME": str(tmp / "kivy")}
        self.kiosk = [sys.executable, "-m", "kiosk", "--config", str(self.config)]
        self.proc: subprocess.Popen[str] | None = None
        self._look = 0

    def import_demo(self, pack: Path | None = None) -> None:
        """Before the station starts, so the import's own memory is not in its figures."""
        subprocess.run([*self.kiosk, "import", str(pack or self.settings.demo_pack_path)],
                       check=True, timeout=300, env=self.env, stdout=subprocess.DEVNULL)

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "soak_station.py"), "--config", str(self.config), "run"],
            env={**self.env, **(extra_env or {})}, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, cwd=self.tmp)
        log = self.settings.log_dir / "kiosk.log"
        deadline = time.monotonic() + 120
        while "first frame drawn" not in (log.read_text(errors="replace") if log.exists() else ""):
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError("the station drew no frame within 120 s")
            time.sleep(0.1)
        state = self.wait(lambda s: s["screen"] == "attract", "the attract screen")
        if state["window"] != [self.width, self.height]:
            raise RuntimeError(f"the window is {state['window']}, not {self.width}x{self.height}")

    def heap_look(self) -> None:
        """What the Python heap and Kivy's caches hold (bench/soak_station.py, SIGUSR2), to
        standard error."""
        assert self.proc is not None
        heap = self.eyes.with_suffix(".heap")
        before = heap.read_text() if heap.exists() else ""
        self.proc.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = heap.read_text() if heap.exists() else ""
            if now != before and now.endswith("--\n"):
                note(now[len(before):].strip())
                return
            time.sleep(0.2)
        note("no heap figures within 60 s")

    def stop(self) -> str:
        """SIGTERM, as systemd stops it; returns what it wrote to standard error."""
        if self.proc is None:
            return ""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        errors = self.proc.stderr.read() if self.proc.stderr else ""
        code, self.proc = self.proc.returncode, None
        if code != 0:
            note(f"the station exited with {code} on SIGTERM")
        return errors

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            errors = self.proc.stderr.read() if self.proc and self.proc.stderr else ""
            raise RuntimeError(f"the station has exited: {errors[-2000:]}")

    # -- looking ------------------------------------------------------------------------------
    def look(self) -> dict[str, Any]:
        self.check_alive()
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                state = json.loads(self.eyes.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                state = {"look": 0}
            if state["look"] > self._look:
                self._look = state["look"]
                return state
            time.sleep(0.02)
        os.kill(self.pid, signal.SIGQUIT)  # soak_station.py writes every thread's stack
        time.sleep(1.0)
        stacks = self.eyes.with_suffix(".stacks")
        raise RuntimeError("the station did not answer a look within 10 s; its threads:\n"
                           + (stacks.read_text() if stacks.exists() else "(none written)"))

    def wait(self, predicate: Any, what: str, timeout: float = STEP_TIMEOUT,
             every: float = 0.15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = self.look()
            if predicate(state):
                return state
            time.sleep(every)
        shown = [b["text"] for b in state.get("buttons", [])]
        raise StepFailed(f"no {what} within {timeout:.0f} s (screen {state.get('screen')!r}, "
                         f"buttons {shown})")

    # -- touching -----------------------------------------------------------------------------
    def tap_at(self, x: int, y: int) -> None:
        # A finger rests for about 80 ms; a click's down and up in the same instant is no touch.
        subprocess.run(["xdotool", "mousemove", str(x), str(y), "mousedown", "1", "sleep", "0.08",
                        "mouseup", "1"], check=True, timeout=10, env=self.env)

    def swipe_up(self, x: int, y: int, lift: int) -> None:
        """A finger pushing a list up by `lift` pixels from (x, y), steadily, as a person
        scrolls to what is below the panel's edge."""
        steps = max(4, lift // 12)
        moves: list[str] = []
        for n in range(1, steps + 1):
            moves += ["mousemove", str(x), str(y - lift * n // steps), "sleep", "0.01"]
        subprocess.run(["xdotool", "mousemove", str(x), str(y), "mousedown", "1", *moves,
                        "sleep", "0.3", "mouseup", "1"], check=True, timeout=20, env=self.env)

    def tap(self, state: dict[str, Any], words: str) -> None:
        for button in state["buttons"]:
            if button["text"] == words:
                self.tap_at(button["x"], button["y"])
                return
        raise StepFailed(f"no {words!r} button on the {state['screen']} screen "
                         f"(buttons: {[b['text'] for b in state['buttons']]})")

    def screenshot(self, path: Path) -> None:
        subprocess.run(["import", "-window", "root", str(path)], check=True, timeout=30,
                       env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    # -- measuring ----------------------------------------------------------------------------
    def underruns(self) -> int:
        """The most the engine has reported in the log (it logs the count at most every 10 s,
        so the figure taken at the end also asks the window's player)."""
        most = 0
        for path in self.settings.log_dir.glob("kiosk.log*"):
            for match in UNDERRUNS_LOGGED.finditer(path.read_text(errors="replace")):
                most = max(most, int(match.group(1)))
        return most


class StepFailed(Exception):
    pass


def has(words: str) -> Any:
    return lambda state: any(b["text"] == words for b in state["buttons"])


def on(screen: str, *words: str) -> Any:
    return lambda state: state["screen"] == screen and all(has(w)(state) for w in words)


class LinkReader(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append(href)


def read_qr(station: Station, shot: Path) -> str:
    import zxingcpp
    from PIL import Image

    for _ in range(10):
        station.screenshot(shot)
        with Image.open(shot) as image:
            found = [r.text for r in zxingcpp.read_barcodes(image) if r.text.startswith("http")]
        if found:
            return found[0]
        time.sleep(0.2)  # the code's texture is drawn a frame after the stage changes
    raise StepFailed("no take-home QR code could be read from the screen")


def phone(url: str) -> int:
    """Opens the page the QR code leads to and downloads its audio, as a phone does;
    returns the bytes downloaded."""
    with urllib.request.urlopen(url, timeout=30) as answer:
        page = answer.read().decode("utf-8")
    reader = LinkReader()
    reader.feed(page)
    audio = [link for link in reader.links if "/audio/" in link]
    if not audio:
        raise StepFailed(f"the take-home page at {url} has no audio link")
    got = 0
    with urllib.request.urlopen(urllib.parse.urljoin(url, audio[0]), timeout=60) as answer:
        while chunk := answer.read(1 << 16):
            got += len(chunk)
    if got == 0:
        raise StepFailed("the audio download was empty")
    return got


def visit(station: Station, cycle: int, shot: Path) -> int:
    from kiosk.ui.strings import tr

    def words(key: str) -> str:
        return tr(key, LANG)

    station.wait(lambda s: s["screen"] == "attract" and not s["dialogs"], "attract screen")
    station.tap_at(station.width // 2, station.height // 2)
    state = station.wait(lambda s: s["screen"] == "browse"
                         and any(b["kind"] == "Tile" for b in s["buttons"]), "tiles in browse")
    tiles = [b for b in state["buttons"] if b["kind"] == "Tile"]
    station.tap(state, tiles[cycle % len(tiles)]["text"])
    state = station.wait(on("exercise", words("exercise.listen"), words("exercise.take_home")),
                         "exercise screen")
    station.tap(state, words("exercise.listen"))
    state = station.wait(on("player", words("player.pause")), "the player playing")
    time.sleep(PLAY_SECONDS)
    station.tap(station.look(), words("top.back"))
    state = station.wait(on("exercise", words("exercise.take_home")), "the exercise screen again")
    station.tap(state, words("exercise.take_home"))
    state = station.wait(on("take_home", words("takehome.agree")), "the take-home consent")
    station.tap(state, words("takehome.agree"))
    station.wait(on("take_home", words("takehome.done")), "the take-home code")
    got = phone(read_qr(station, shot))
    # Walk away: nothing touched until the station clears itself.
    station.wait(lambda s: s["screen"] == "attract" and not s["dialogs"], "the idle reset",
                 timeout=IDLE_SECONDS + STILL_THERE_SECONDS + 15, every=0.5)
    return got


# -- the table --------------------------------------------------------------------------------

COLUMNS = ["cycles", "minutes", "station RSS MB", "of it anon / file MB", "engine RSS MB",
           "take-home RSS MB",
           "station fds", "engine fds",
           "station threads", "engine threads", "database KB", "WAL KB", "logs KB", "underruns",
           "load (1 min)"]


@dataclass
class Row:
    cycles: int
    minutes: float
    station: ProcessFigures
    engine: ProcessFigures | None
    take_home: ProcessFigures | None
    db_kb: float
    wal_kb: float
    logs_kb: float
    underruns: int
    load: float

    def cells(self) -> list[str]:
        engine = self.engine
        return [str(self.cycles), f"{self.minutes:.1f}", f"{self.station.rss_mb:.1f}",
                f"{self.station.anon_mb:.1f} / {self.station.file_mb:.1f}",
                f"{engine.rss_mb:.1f}" if engine else "-",
                f"{self.take_home.rss_mb:.1f}" if self.take_home else "-", str(self.station.fds),
                str(engine.fds) if engine else "-", str(self.station.threads),
                str(engine.threads) if engine else "-", f"{self.db_kb:.0f}", f"{self.wal_kb:.0f}",
                f"{self.logs_kb:.0f}",
                str(self.underruns), f"{self.load:.2f}"]


def measure(station: Station, cycles: int, began: float) -> Row:
    pid = station.pid
    engine = child_pid(pid, "kiosk-audio")
    take_home = child_pid(pid, "kiosk-takehome")
    db = station.settings.db_path
    wal = db.with_name(db.name + "-wal")
    # The engine's own count, as the window's player last heard it; the log's (written at
    # most every 10 s) when the look has none.
    underruns = station.look().get("underruns")
    return Row(cycles, (time.monotonic() - began) / 60, process_figures(pid),
               process_figures(engine) if engine else None,
               process_figures(take_home) if take_home else None, db.stat().st_size / 1024,
               (wal.stat().st_size if wal.exists() else 0) / 1024,
               folder_bytes(station.settings.log_dir) / 1024,
               int(underruns) if underruns is not None else station.underruns(),
               os.getloadavg()[0])


def print_row(row: Row, header: bool = False) -> None:
    if header:
        print("| " + " | ".join(COLUMNS) + " |")
        print("|" + "---|" * len(COLUMNS))
    print("| " + " | ".join(row.cells()) + " |", flush=True)


def report_points(cycles: int, warm_up: int) -> set[int]:
    points = {0, 1, 2, 3, 5, warm_up, 10, 25, 50, cycles}
    points |= set(range(100, cycles, 100))
    return {p for p in points if p <= cycles}


def verdict(rows: list[Row], warm_up: int) -> list[str]:
    warm = next((r for r in rows if r.cycles >= warm_up), None)
    first, last = rows[0], rows[-1]
    if warm is None or warm is last:
        return ["Too few cycles to compare after the warm-up."]
    lines = ["| figure | target | measured | peer (after the warm-up) | ratio |",
             "| --- | --- | --- | --- | --- |"]

    def grow(name: str, target: str, before: float, after: float, unit: str, digits: int = 1) -> None:
        lines.append(f"| {name}, after {last.cycles} cycles | {target} | {after:.{digits}f} {unit} "
                     f"({after - before:+.{digits}f}) | {before:.{digits}f} {unit} after "
                     f"{warm.cycles} | {after / before if before else float('nan'):.2f} |")

    grow("station RSS", "<= +10 MB", warm.station.rss_mb, last.station.rss_mb, "MB")
    grow("... of it the station's own (anonymous)", "-", warm.station.anon_mb, last.station.anon_mb, "MB")
    if warm.engine and last.engine:
        grow("engine RSS", "<= +10 MB", warm.engine.rss_mb, last.engine.rss_mb, "MB")
        grow("engine fds", "same", warm.engine.fds, last.engine.fds, "", 0)
        grow("engine threads", "same", warm.engine.threads, last.engine.threads, "", 0)
    if warm.take_home and last.take_home:
        grow("take-home RSS", "<= +10 MB", warm.take_home.rss_mb, last.take_home.rss_mb, "MB")
        grow("take-home fds", "same", warm.take_home.fds, last.take_home.fds, "", 0)
    grow("station fds", "same", warm.station.fds, last.station.fds, "", 0)
    grow("station threads", "same", warm.station.threads, last.station.threads, "", 0)
    grow("database (without its WAL)", "-", warm.db_kb, last.db_kb, "KB", 0)
    grow("log folder", "<= 12 MB (5 x 2 MB rotated)", warm.logs_kb, last.logs_kb, "KB", 0)
    lines.append(f"| warm-up: station RSS, start to after {warm.cycles} cycles | - | "
                 f"{warm.station.rss_mb:.1f} MB ({warm.station.rss_mb - first.station.rss_mb:+.1f}) | "
                 f"{first.station.rss_mb:.1f} MB at the start | "
                 f"{warm.station.rss_mb / first.station.rss_mb:.2f} |")
    lines.append(f"| ... of it anonymous / file pages | - | "
                 f"{warm.station.anon_mb - first.station.anon_mb:+.1f} / "
                 f"{warm.station.file_mb - first.station.file_mb:+.1f} MB | "
                 f"{first.station.anon_mb:.1f} / {first.station.file_mb:.1f} MB at the start | - |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000, help="visitor cycles (default 1000)")
    parser.add_argument("--warm-up", type=int, default=WARM_UP_CYCLES,
                        help=f"cycles before the growth is counted (default {WARM_UP_CYCLES})")
    parser.add_argument("--heap", action="store_true",
                        help="trace the Python heap (tracemalloc) and print what grew at each row")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tests"))
    from audio_device import PulseFileDevice, tools_available

    missing = [tool for tool in ("Xvfb", "xdotool", "import") if shutil.which(tool) is None]
    why = tools_available() or (f"missing: {', '.join(missing)}" if missing else None)
    if why:
        print(f"bench/soak.py cannot run here: {why}")
        return 1
    load_before = os.getloadavg()
    began = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="kiosk-bench-soak-"))
    xvfb, display = start_xvfb()
    device = PulseFileDevice(tmp / "sound")
    station: Station | None = None
    rows: list[Row] = []
    failures: list[str] = []
    downloaded = 0
    cycle_times: list[float] = []
    stopped = False

    def stop_early(_signum: int, _frame: Any) -> None:
        nonlocal stopped
        stopped = True  # finish the visit under way, then print the table so far

    signal.signal(signal.SIGINT, stop_early)
    signal.signal(signal.SIGTERM, stop_early)
    try:
        device.start()
        station = Station(tmp, display, device.env())
        note("importing the demo collection")
        station.import_demo()
        note("starting the station")
        station.start({"PYTHONTRACEMALLOC": "1"} if args.heap else None)
        time.sleep(2.0)  # let start-up's last work (the engine opening the device) settle
        points = report_points(args.cycles, args.warm_up)
        began = time.monotonic()
        rows.append(measure(station, 0, began))
        print_row(rows[-1], header=True)
        if args.heap:
            station.heap_look()
        cycle = 0
        consecutive = 0
        while cycle < args.cycles and not stopped:
            started = time.monotonic()
            try:
                downloaded += visit(station, cycle, tmp / "screen.png")
                consecutive = 0
            except StepFailed as exc:
                failures.append(f"cycle {cycle + 1}: {exc}")
                note(failures[-1])
                station.screenshot(tmp / f"failed-{cycle + 1}.png")
                consecutive += 1
                if consecutive >= 3:
                    raise RuntimeError("three visits in a row failed:\n"
                                       + "\n".join(failures[-3:])) from exc
                # Walk away from whatever went wrong: the idle reset must clear it.
                station.wait(lambda s: s["screen"] == "attract" and not s["dialogs"],
                             "the idle reset after a failed visit",
                             timeout=IDLE_SECONDS + STILL_THERE_SECONDS + 30, every=0.5)
            cycle += 1
            cycle_times.append(time.monotonic() - started)
            if cycle in points or stopped:
                rows.append(measure(station, cycle, began))
                print_row(rows[-1])
                if args.heap:
                    station.heap_look()
        final_look = station.look()
        errors = station.stop()
    finally:
        if station is not None and station.proc is not None:
            station.stop()
        device.stop()
        xvfb.terminate()
        xvfb.wait(timeout=10)
        if args.keep:
            note(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    for line in verdict(rows, args.warm_up):
        print(line)
    print()
    cycles = len(cycle_times)
    mean = sum(cycle_times) / cycles if cycles else 0.0
    print(f"{cycles} visitor cycles in {(time.monotonic() - began) / 60:.1f} min ({mean:.1f} s each, "
          f"of which {IDLE_SECONDS + STILL_THERE_SECONDS} s waiting for the idle reset); "
          f"{len(failures)} failed; {downloaded / 2**20:.0f} MB downloaded by the phone.")
    print(f"Underruns the engine counted: {final_look.get('underruns')} (its player's count at the end); "
          f"load average (1 min) at the start and the end: {load_before[0]:.2f}, "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores.")
    if "Traceback" in errors:
        print("The station wrote a traceback to standard error:\n" + errors[-2000:])
    for failure in failures:
        print(f"- {failure}")
    return 1 if failures or "Traceback" in errors else 0


if __name__ == "__main__":
    sys.exit(main())
