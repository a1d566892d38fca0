"""The clinic console's Add page (issue 14, Figures): a long MP3 and its script uploaded and
imported through the console, against `kiosk add` of the same files in the same run, and
the console process's memory while the upload streams in.

Run: .venv/bin/python bench/console.py              (a 60-minute track: about 6 minutes,
                                                     plus about a minute the first time to
                                                     make the track)
     .venv/bin/python bench/console.py --minutes 10 (a shorter track, same figures)

The track is bench/align.py's long one (the demo's variants in turn, repeated to the length
asked), encoded as a VBR MP3 with lame; its script is the same passages as plain text, one
paragraph each. The repeated script makes the read-along's times poor (bench/align-long.md
says why), which costs both sides the same.

- `kiosk add`: the installed command in a child process, wall time from Popen to exit, and
  that process's peak resident set (wait4's ru_maxrss).
- Console: a child process running the console server (as `kiosk serve` does), signed in
  over a real socket; the multipart body (CSRF token, fields, then the files) is streamed
  from disk in 1 MB writes, as a browser sends it. Wall time from the first byte sent to
  the job's page answering "done" (polled every 0.2 s; a browser's refresh adds up to 2 s
  more). Its resident set from /proc: idle (signed in, before the upload: the median of a
  second's samples every 10 ms), the peak while the body streams in (until the POST is
  answered), and the peak while the import runs (the aligner, in the console's worker
  thread, in the same process); each peak is the process's high-water mark (VmHWM), started
  again from the present at the start of each phase (clear_refs), so that a short phase's
  peak is not missed between samples.

The machine may be shared: the load average is printed with the table.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

PASSWORD = "a long bench password"
AIM_RATIO, AIM_UPLOAD_MB = 1.2, 50.0


def make_track(minutes: int) -> tuple[Path, Path]:
    """The MP3 and its plain-text script, made once and kept in bench/out/."""
    import align

    mp3 = OUT / f"console-{minutes}min.mp3"
    script = mp3.with_suffix(".txt")
    if mp3.exists() and script.exists():
        return mp3, script
    OUT.mkdir(parents=True, exist_ok=True)
    align.LONG_S = minutes * 60.0
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-console-") as tmp:
        flac, cues = align.make_long(Path(tmp))
        partial = mp3.with_suffix(".part")
        sox = subprocess.Popen(["sox", "-q", str(flac), "-t", "wav", "-"], stdout=subprocess.PIPE)
        subprocess.run(["lame", "--quiet", "-V", "4", "-", str(partial)], stdin=sox.stdout, check=True)
        assert sox.wait() == 0
    script.write_text("\n\n".join(c["text"] for c in cues) + "\n", encoding="utf-8")
    partial.rename(mp3)
    return mp3, script


def write_config(folder: Path, password_hash: str = "") -> Path:
    folder.mkdir(parents=True)
    config = folder / "config.toml"
    config.write_text(f'data_dir = "{folder / "data"}"\n[console]\nport = 8081\n'
                      f'password_hash = "{password_hash}"\n', encoding="utf-8")
    return config


# -- the console's child process --------------------------------------------------------------
def serve(folder: str, password_hash: str) -> None:
    import dataclasses

    from kiosk.config import ConsoleSettings, default_settings
    from kiosk.console.server import ConsoleServer
    from kiosk.store import open_db

    data = Path(folder) / "data"
    data.mkdir(parents=True, exist_ok=True)
    settings = dataclasses.replace(
        default_settings(data, console=ConsoleSettings(port=0, password_hash=password_hash)),
        config_path=Path(folder) / "config.toml")
    open_db(settings.db_path).close()
    server = ConsoleServer(settings)
    server.start()
    print(json.dumps({"port": server.port}), flush=True)
    sys.stdin.read()  # until the parent closes it
    server.stop()


class Client:
    def __init__(self, port: int):
        self.port, self.cookie = port, ""

    def send(self, method: str, path: str, body: object = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        sent = dict(headers or {})
        if self.cookie:
            sent["Cookie"] = self.cookie
        conn.request(method, path, body=body, headers=sent)  # type: ignore[arg-type]
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        answer = {k.lower(): v for k, v in response.getheaders()}
        if "set-cookie" in answer:
            self.cookie = answer["set-cookie"].split(";")[0]
        conn.close()
        return response.status, answer, text


def multipart(boundary: str, fields: list[tuple[str, str]],
              files: list[tuple[str, Path]]) -> tuple[int, Iterator[bytes]]:
    """The Add form's body as a browser streams it: its length, and its pieces."""
    heads = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields]
    file_heads = [(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; '
                   f'filename="{p.name}"\r\nContent-Type: application/octet-stream\r\n\r\n').encode()
                  for k, p in files]
    tail = f"--{boundary}--\r\n".encode()
    length = (sum(map(len, heads)) + sum(map(len, file_heads)) + len(tail)
              + sum(p.stat().st_size + 2 for _k, p in files))

    def pieces() -> Iterator[bytes]:
        yield from heads
        for head, (_k, path) in zip(file_heads, files, strict=True):
            yield head
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    yield chunk
            yield b"\r\n"
        yield tail

    return length, pieces()


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_from_now(pid: int) -> None:
    """Start the process's high-water mark (VmHWM) again from its present resident set, so
    that a phase's peak is read exactly rather than sampled (Linux 4.0 and later)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class Sampler(threading.Thread):
    """The child's resident set every 10 ms, each sample marked with the phase it fell in."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.phase = pid, "idle"
        self.samples: list[tuple[str, float]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.samples.append((self.phase, rss_mb(self.pid)))
            time.sleep(0.01)

    def of(self, phase: str) -> list[float]:
        return [mb for p, mb in self.samples if p == phase]


def through_console(mp3: Path, script: Path, tmp: Path) -> dict[str, float]:
    from kiosk.therapist.pin import hash_pin

    stored = hash_pin(PASSWORD)
    folder = tmp / "console"
    write_config(folder, stored)
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(folder), stored],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        port = json.loads(child.stdout.readline())["port"]
        client = Client(port)
        form = urllib.parse.urlencode({"password": PASSWORD})
        status, _h, _ = client.send("POST", "/login", form,
                                    {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 303, status
        page = client.send("GET", "/add")[2]
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        sampler = Sampler(child.pid)
        sampler.start()
        time.sleep(1.0)
        boundary = "----kioskbench" + os.urandom(8).hex()
        length, body = multipart(boundary, [("csrf", token), ("kind", "exercise"),
                                            ("title", "An hour"), ("summary", "Sixty minutes."),
                                            ("lang", "en-GB")],
                                 [("audio", mp3), ("script", script)])
        peak_from_now(child.pid)
        sampler.phase = "upload"
        started = time.perf_counter()
        status, headers, page = client.send(
            "POST", "/add", body, {"Content-Type": f"multipart/form-data; boundary={boundary}",
                                   "Content-Length": str(length)})
        uploaded = time.perf_counter() - started
        assert status == 303, (status, page[:2000])
        upload_hwm = rss_mb(child.pid, "VmHWM")
        peak_from_now(child.pid)
        sampler.phase = "import"
        job = headers["location"]
        while True:
            status, headers, page = client.send("GET", job)
            if status != 200:
                break
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        assert status == 303 and "/review" in headers["location"], (status, page[:2000])
        import_hwm = rss_mb(child.pid, "VmHWM")
        sampler.stopping.set()
        sampler.join()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=60)
    idle = statistics.median(sampler.of("idle"))
    return {"seconds": seconds, "upload_seconds": uploaded, "idle_mb": idle,
            "upload_peak_mb": max(upload_hwm, *sampler.of("upload")),
            "import_peak_mb": max(import_hwm, *sampler.of("import"))}


def through_kiosk_add(mp3: Path, script: Path, tmp: Path) -> dict[str, float]:
    config = write_config(tmp / "cli")
    started = time.perf_counter()
    # `python -m kiosk` from this checkout: the same code as the console's child runs.
    child = subprocess.Popen([sys.executable, "-m", "kiosk", "--config", str(config), "add", str(mp3),
                              "--script", str(script), "--title", "An hour", "--summary",
                              "Sixty minutes.", "--lang", "en-GB"], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert child.stdout is not None
    output = child.stdout.read()
    _pid, status, usage = os.wait4(child.pid, 0)  # reaped here, for its rusage
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    assert child.returncode == 0, output
    return {"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--serve", nargs=2, metavar=("FOLDER", "HASH"))
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return
    mp3, script = make_track(args.minutes)
    before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-console-") as tmp_name:
        tmp = Path(tmp_name)
        cli = through_kiosk_add(mp3, script, tmp)
        shutil.rmtree(tmp / "cli")
        web = through_console(mp3, script, tmp)
    after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    ratio = web["seconds"] / cli["seconds"]
    above = web["upload_peak_mb"] - web["idle_mb"]
    mb = mp3.stat().st_size / 1e6
    print(f"## Console: Add through the browser (bench/console.py, {args.minutes}-minute MP3 "
          f"of {mb:.0f} MB and its script)\n")
    print("| figure | target | measured | peer | ratio |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| upload and import through the console, wall time | ratio <= {AIM_RATIO} | "
          f"{web['seconds']:.1f} s (of which the upload {web['upload_seconds']:.2f} s) | "
          f"{cli['seconds']:.1f} s (`kiosk add`, same files) | {ratio:.2f} |")
    print(f"| console's peak resident set during the upload, above idle | <= {AIM_UPLOAD_MB:.0f} MB | "
          f"{above:.1f} MB ({web['upload_peak_mb']:.0f} MB peak, {web['idle_mb']:.0f} MB idle) | - | - |")
    print(f"| console's peak resident set during the import (the aligner, in its worker thread) | - | "
          f"{web['import_peak_mb']:.0f} MB | {cli['peak_mb']:.0f} MB (`kiosk add`'s peak) | "
          f"{web['import_peak_mb'] / cli['peak_mb']:.2f} |")
    print()
    print(f"Load average before: {before}; after: {after} ({os.cpu_count()} cores). "
          f"`kiosk add` ran first, then the console, once each.")


if __name__ == "__main__":
    main()
