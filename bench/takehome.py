"""Take-home server figures: concurrent downloads against nginx and `python -m http.server`,
and QR generation time. Prints a markdown table.

    .venv/bin/python bench/takehome.py

Every server runs in its own process and serves the same 20 MB file on loopback; the load
comes from a separate client process (non-blocking sockets, recv_into a reused buffer, so the
client costs little CPU per byte). Each configuration gets 20 and then 100 simultaneous
downloads. nginx is Debian's, started here with a temporary config (`sendfile on`, one worker
process like our one event loop, and the same 512 KB socket send buffer our server sets).
Our server answers the counted download route
(/t/TOKEN/audio/1), so the figures include resolving the link and counting each download.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import secrets
import select
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

FILE_MB = 20
ROUNDS = (20, 100)
HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answered on port {port}")


# --- the load client (runs as `bench/takehome.py --client PORT PATH N`) ---------------------

def client(port: int, path: str, count: int, limit: float) -> dict[str, object]:
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    buffer = bytearray(1 << 20)
    states = []
    started = time.perf_counter()
    for i in range(count):
        s = socket.socket()
        # Phones from 50 addresses (127.0.1.1-50), as on a guest Wi-Fi, not all behind one.
        s.bind((f"127.0.1.{1 + i % 50}", 0))
        s.setblocking(False)
        state = {"sock": s, "t0": time.perf_counter(), "first": None, "end": None, "head": b"",
                 "body": 0, "length": None, "status": None}
        s.connect_ex(("127.0.0.1", port))
        sel.register(s, selectors.EVENT_WRITE, state)
        states.append(state)
    pending = count
    deadline = time.monotonic() + limit
    while pending and time.monotonic() < deadline:
        for key, events in sel.select(timeout=5):
            state = key.data
            s = state["sock"]
            if events & selectors.EVENT_WRITE:
                s.sendall(request)
                sel.modify(s, selectors.EVENT_READ, state)
                continue
            try:
                n = s.recv_into(buffer)
            except (BlockingIOError, InterruptedError):
                continue
            except ConnectionError:
                n = 0
            now = time.perf_counter()
            if n and state["first"] is None:
                state["first"] = now
            if n and state["length"] is None:
                state["head"] += bytes(buffer[:n])
                head, sep, rest = state["head"].partition(b"\r\n\r\n")
                if sep:
                    lines = head.split(b"\r\n")
                    state["status"] = int(lines[0].split()[1])
                    state["length"] = next(int(v) for k, _, v in (ln.partition(b":") for ln in lines[1:])
                                           if k.strip().lower() == b"content-length")
                    state["body"] = len(rest)
                    state["head"] = b""
            elif n:
                state["body"] += n
            done = state["length"] is not None and state["body"] >= state["length"]
            if done or n == 0:
                state["end"] = now
                sel.unregister(s)
                s.close()
                pending -= 1
    finished = time.perf_counter()
    complete = [st for st in states if st["status"] == 200 and st["length"] == st["body"]]
    # A connection that got nothing before the deadline counts as the whole run for TTFB.
    ttfb = sorted((st["first"] - st["t0"]) if st["first"] is not None else finished - st["t0"]
                  for st in states)
    for st in states:
        if st["end"] is None:
            st["sock"].close()
    return {
        "ok": len(complete),
        "bytes": sum(st["body"] for st in states),
        "seconds": finished - started,
        "ttfb_p99": ttfb[max(0, int(len(ttfb) * 0.99 + 0.5) - 1)] if ttfb else None,
        "ttfb_p50": statistics.median(ttfb) if ttfb else None,
        "cpu": time.process_time(),
    }


def run_client(port: int, path: str, count: int, limit: float = 60.0) -> dict[str, object]:
    out = subprocess.run([sys.executable, str(HERE), "--client", str(port), path, str(count), str(limit)],
                         capture_output=True, text=True, timeout=limit + 60, check=True)
    return json.loads(out.stdout)


# --- the storm (runs as `bench/takehome.py --storm PORT MODE COUNT PATH`) -----------------------

STORM_SOURCE = "127.0.0.9"  # one address; the phones measured come from 127.0.1.1-50
STORM_SOCKETS = 1000


def storm(port: int, mode: str, count: int, path: str) -> None:
    """Hold `count` connections from one address until stdin closes, reconnecting each one
    the server closes, as an attacker would. `idle`: connect and send nothing. `noread`:
    ask for the file and never read a byte of it."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, count + 256)), hard))
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    poller = select.poll()
    socks: dict[int, socket.socket] = {}
    reconnects = 0

    def connect() -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a reader that takes nothing
        s.bind((STORM_SOURCE, 0))
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks[s.fileno()] = s
        poller.register(s, select.POLLOUT | select.POLLHUP | select.POLLERR | select.POLLRDHUP)

    for _ in range(count):
        connect()
    selector = selectors.DefaultSelector()
    selector.register(sys.stdin, selectors.EVENT_READ)
    while not selector.select(timeout=0):
        for fd, events in poller.poll(200):
            s = socks[fd]
            if events & (select.POLLHUP | select.POLLERR | select.POLLRDHUP):
                poller.unregister(fd)
                del socks[fd]
                s.close()
                reconnects += 1
                connect()
            elif events & select.POLLOUT:
                if mode == "noread":
                    with contextlib.suppress(OSError):
                        s.send(request)
                poller.modify(fd, select.POLLHUP | select.POLLERR | select.POLLRDHUP)
    print(json.dumps({"reconnects": reconnects}), flush=True)


# --- our server (runs as `bench/takehome.py --serve-kiosk DIR PORT`) ---------------------------

def serve_kiosk(folder: Path, port: int, as_shipped: bool = False) -> None:
    sys.path.insert(0, str(ROOT))
    import logging

    from kiosk.config import TakeHomeSettings, default_settings
    from kiosk.store import open_db
    from kiosk.takehome import links
    from kiosk.takehome.server import TakeHomeServer

    logging.basicConfig(level=logging.WARNING)
    mp3, pdf = folder / "exercise.mp3", folder / "exercise.pdf"

    class Variant:
        exercise_id, lang, title, summary = "bench", "en-GB", "Bench", "A benchmark file."
        duration_seconds = 1200.0
        phone_path, phone_bytes = mp3, mp3.stat().st_size
        script_pdf_path, script_pdf_bytes = pdf, pdf.stat().st_size

    # The download rounds come from one address, so they lift the per-address cap; the storm
    # measures the server as shipped.
    th = replace(TakeHomeSettings(), bind="127.0.0.1", port=port, public_address="127.0.0.1")
    if not as_shipped:
        th = replace(th, max_connections_per_client=1000)
    settings = default_settings(folder / "data", take_home=th)
    db = open_db(settings.db_path)
    issued = links.issue_link(db, [("bench", "en-GB")], 7, 1000, station=settings.station_name)
    db.close()
    server = TakeHomeServer(settings, lookup_factory=lambda db, s: (lambda e, lang: Variant()))
    server.start()
    print(f"/t/{issued.token}/audio/1", flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    server.stop()


# --- the peers ---------------------------------------------------------------------------------

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 2048; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 30;
    types {{ audio/mpeg mp3; }}
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=511 sndbuf=512k;
        root {root};
        location / {{ }}
    }}
}}
"""


def start_nginx(folder: Path, port: int) -> subprocess.Popen[bytes]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    tmp = folder / "nginx"
    tmp.mkdir(exist_ok=True)
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, root=folder))
    proc = subprocess.Popen([nginx, "-e", str(tmp / "error.log"), "-p", str(tmp), "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc


def rss_mb(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss) / 1e6


REPEATS = 5


def median_run(runs: list[dict[str, object]]) -> dict[str, object]:
    """The run with the median rate (the machine is shared: one run can be unlucky)."""
    ordered = sorted(runs, key=lambda r: float(r["bytes"]) / float(r["seconds"]))  # type: ignore[arg-type]
    return ordered[len(ordered) // 2]


def measure_interleaved(targets: list[tuple[str, int, str, int | None]]) -> dict[str, dict[str, object]]:
    """Rounds of 20 and 100 clients, alternating between servers, REPEATS times; medians kept."""
    results: dict[str, dict[str, object]] = {}
    runs: dict[tuple[str, int], list[dict[str, object]]] = {}
    for name, port, path, pid in targets:
        run_client(port, path, 4)  # warm up (page cache, first connections)
        results[name] = {"rss_before": rss_mb(pid) if pid else None}
    for _ in range(REPEATS):
        for n in ROUNDS:
            for name, port, path, _pid in targets:
                r = run_client(port, path, n)
                if r["ok"] != n:
                    raise RuntimeError(f"{name}: only {r['ok']} of {n} downloads completed")
                runs.setdefault((name, n), []).append(r)
    for name, _port, _path, pid in targets:
        for n in ROUNDS:
            results[name][n] = median_run(runs[(name, n)])  # type: ignore[index]
        results[name]["rss_after"] = rss_mb(pid) if pid else None
    return results


def measure_once(port: int, path: str, limit: float) -> dict[str, object]:
    run_client(port, path, 4)
    result: dict[str, object] = {}
    for n in ROUNDS:
        result[n] = run_client(port, path, n, limit)  # type: ignore[index]
    return result


STORM_PHONES = 20


def under_storm(port: int, mode: str, storm_path: str, phone_path: str) -> dict[str, object]:
    """20 phones download while one address holds STORM_SOCKETS sockets (see `storm`)."""
    attacker = subprocess.Popen([sys.executable, str(HERE), "--storm", str(port), mode,
                                 str(STORM_SOCKETS), storm_path],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(3)  # every socket connected (and, for `noread`, its request sent)
        result = run_client(port, phone_path, STORM_PHONES, 60.0)
    finally:
        assert attacker.stdin is not None and attacker.stdout is not None
        attacker.stdin.close()
        result["reconnects"] = json.loads(attacker.stdout.readline() or "{}").get("reconnects")
        attacker.wait(30)
    return result


@contextlib.contextmanager
def kiosk_and_nginx(folder: Path, as_shipped: bool = False) -> Iterator[tuple[int, str, int, int]]:
    """Our server and nginx on `folder`'s files: (our port, our download path, our pid,
    nginx's port), both stopped when the block ends."""
    port = free_port()
    command = [sys.executable, str(HERE), "--serve-kiosk", str(folder), str(port)]
    kiosk = subprocess.Popen(command + (["--as-shipped"] if as_shipped else []),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    nginx_port = free_port()
    nginx = start_nginx(folder, nginx_port)
    try:
        assert kiosk.stdout is not None
        path = kiosk.stdout.readline().strip()
        wait_port(port)
        yield port, path, kiosk.pid, nginx_port
    finally:
        if kiosk.stdin:
            kiosk.stdin.close()
        kiosk.wait(30)
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(30)


def measure_storms(folder: Path) -> dict[tuple[str, str], dict[str, object]]:
    """Our server as shipped (per-address cap and all) and nginx, each under each storm."""
    results: dict[tuple[str, str], dict[str, object]] = {}
    with kiosk_and_nginx(folder, as_shipped=True) as (port, path, _pid, nginx_port):
        for mode in ("idle", "noread"):
            results[("kiosk", mode)] = under_storm(port, mode, path, path)
            results[("nginx", mode)] = under_storm(nginx_port, mode, "/exercise.mp3", "/exercise.mp3")
    return results


def with_station_running(folder: Path) -> dict[str, dict[str, object]] | str:
    """100 phones download a demo MP3 from the station itself, `kiosk run` under Xvfb with an
    exercise playing (screen, read-along and take-home server in one process, the engine in
    its own), and from nginx serving the same file. Returns why not, when it cannot run."""
    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT / "bench"))
    from audio_device import PulseFileDevice, tools_available
    from soak import HEIGHT, LANG, WIDTH, Station, on, start_xvfb

    from kiosk.ui.strings import tr

    missing = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
    why = tools_available() or (f"missing: {', '.join(missing)}" if missing else None)
    if why:
        return why
    from kiosk.store import open_db
    from kiosk.takehome import links

    xvfb, display = start_xvfb()
    device = PulseFileDevice(folder / "sound")
    station: Station | None = None
    nginx = None
    try:
        device.start()
        (folder / "station").mkdir()
        station = Station(folder / "station", display, device.env())
        station.import_demo()
        station.start()
        mp3 = station.settings.data_dir / "content"
        db = open_db(station.settings.db_path)
        exercise = "soothing-rhythm-breathing"
        issued = links.issue_link(db, [(exercise, "en-GB")], 7, 100, station=station.settings.station_name)
        audio = db.execute("SELECT audio_path FROM variants WHERE exercise_id = ? AND lang = 'en-GB'",
                           [exercise]).fetchone()[0]
        db.close()
        served = folder / "station-file"
        served.mkdir()
        served.chmod(0o755)
        shutil.copy(Path(audio) if Path(audio).is_absolute() else mp3 / audio, served / "exercise.mp3")
        nginx_port = free_port()
        nginx = start_nginx(served, nginx_port)
        # A visitor listening, the read-along moving on the screen, while the phones download.
        station.tap_at(WIDTH // 2, HEIGHT // 2)
        state = station.wait(lambda s: s["screen"] == "browse"
                             and any(b["kind"] == "Tile" for b in s["buttons"]), "tiles in browse")
        station.tap(state, next(b["text"] for b in state["buttons"] if b["kind"] == "Tile"))
        state = station.wait(on("exercise", tr("exercise.listen", LANG)), "exercise screen")
        station.tap(state, tr("exercise.listen", LANG))
        station.wait(on("player", tr("player.pause", LANG)), "the player playing")
        results = {"kiosk": run_client(station.port, f"/t/{issued.token}/audio/1", 100),
                   "nginx": run_client(nginx_port, "/exercise.mp3", 100)}
        station.check_alive()
        return results
    finally:
        if nginx is not None:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(30)
        if station is not None:
            station.stop()
        device.stop()
        xvfb.terminate()
        xvfb.wait(10)


def qr_figures(samples: int = 300) -> tuple[float, float]:
    sys.path.insert(0, str(ROOT))
    from kiosk.takehome.links import new_token
    from kiosk.takehome.qr import qr_matrix, qr_png

    qr_matrix("warm up")
    matrix_times, png_times = [], []
    for _ in range(samples):
        url = f"http://192.168.100.200:8080/t/{new_token()}"
        t = time.perf_counter()
        qr_matrix(url)
        matrix_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        qr_png(url, io.BytesIO(), box_size=10)
        png_times.append(time.perf_counter() - t)

    def p95(values: list[float]) -> float:
        return sorted(values)[int(len(values) * 0.95) - 1] * 1000

    return p95(matrix_times), p95(png_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--client", nargs=4, metavar=("PORT", "PATH", "N", "LIMIT"))
    parser.add_argument("--serve-kiosk", nargs=2, metavar=("DIR", "PORT"))
    parser.add_argument("--as-shipped", action="store_true")
    parser.add_argument("--storm", nargs=4, metavar=("PORT", "MODE", "COUNT", "PATH"))
    args = parser.parse_args()
    if args.client:
        print(json.dumps(client(int(args.client[0]), args.client[1], int(args.client[2]),
                                float(args.client[3]))))
        return
    if args.serve_kiosk:
        serve_kiosk(Path(args.serve_kiosk[0]), int(args.serve_kiosk[1]), args.as_shipped)
        return
    if args.storm:
        storm(int(args.storm[0]), args.storm[1], int(args.storm[2]), args.storm[3])
        return

    with tempfile.TemporaryDirectory(prefix="bench-takehome-") as tmp:
        folder = Path(tmp)
        folder.chmod(0o755)  # nginx's worker runs as an unprivileged user and must read the file
        (folder / "exercise.mp3").write_bytes(secrets.token_bytes(FILE_MB * 1_000_000))
        (folder / "exercise.pdf").write_bytes(b"%PDF-1.4\n" + secrets.token_bytes(50_000))

        with kiosk_and_nginx(folder) as (port, path, pid, nginx_port):
            measured = measure_interleaved([("kiosk", port, path, pid),
                                            ("nginx", nginx_port, "/exercise.mp3", None)])

        stormed = measure_storms(folder)
        station_run = with_station_running(folder)

        port = free_port()
        stdlib = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                   "--directory", str(folder)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            # It serves 100 clients far more slowly (a 5-connection accept queue, one thread per
            # client copying in Python): one run each, cut at 15 s; the rate is what it sent.
            stdlib_r = measure_once(port, "/exercise.mp3", 15.0)
        finally:
            stdlib.terminate()
            stdlib.wait(30)

    qr_matrix_p95, qr_png_p95 = qr_figures()
    ours, nginx_r = measured["kiosk"], measured["nginx"]

    def mbps(r: dict[str, object], n: int) -> float:
        run = r[n]
        assert isinstance(run, dict)
        return float(run["bytes"]) / float(run["seconds"]) / 1e6

    def ttfb(r: dict[str, object], n: int) -> float:
        run = r[n]
        assert isinstance(run, dict)
        return float(run["ttfb_p99"]) * 1000

    def done(r: dict[str, object], n: int) -> str:
        run = r[n]
        assert isinstance(run, dict)
        return "" if run["ok"] == n else f" ({run['ok']}/{n} done in {float(run['seconds']):.0f} s)"

    rows = [("figure", "target", "measured (kiosk)", "peer", "ratio")]
    for n in ROUNDS:
        rows.append((f"aggregate download rate, {n} clients", "≥ 0.8 × nginx",
                     f"{mbps(ours, n):,.0f} MB/s", f"nginx {mbps(nginx_r, n):,.0f} MB/s",
                     f"{mbps(ours, n) / mbps(nginx_r, n):.2f}"))
        rows.append((f"aggregate download rate, {n} clients", "(reference)",
                     f"{mbps(ours, n):,.0f} MB/s",
                     f"http.server {mbps(stdlib_r, n):,.0f} MB/s{done(stdlib_r, n)}",
                     f"{mbps(ours, n) / mbps(stdlib_r, n):.2f}"))
    for n in ROUNDS:
        rows.append((f"p99 time to first byte, {n} clients", "≤ 100 ms" if n == 100 else "-",
                     f"{ttfb(ours, n):.1f} ms", f"nginx {ttfb(nginx_r, n):.1f} ms",
                     f"{ttfb(ours, n) / max(ttfb(nginx_r, n), 1e-3):.1f}"))
        rows.append((f"p99 time to first byte, {n} clients", "(reference)",
                     f"{ttfb(ours, n):.1f} ms",
                     f"http.server {ttfb(stdlib_r, n):.1f} ms{done(stdlib_r, n)}",
                     f"{ttfb(ours, n) / max(ttfb(stdlib_r, n), 1e-3):.2f}"))
    for mode, what in (("idle", "idle"), ("noread", "never-reading")):
        k, g = stormed[("kiosk", mode)], stormed[("nginx", mode)]
        k_ms, g_ms = float(k["ttfb_p99"]) * 1000, float(g["ttfb_p99"]) * 1000  # type: ignore[arg-type]
        rows.append((f"p99 time to first byte, {STORM_PHONES} phones, one address holding "
                     f"{STORM_SOCKETS:,} {what} sockets", "< 1 s",
                     f"{k_ms:.1f} ms ({k['ok']}/{STORM_PHONES} done)",
                     f"nginx {g_ms:.1f} ms ({g['ok']}/{STORM_PHONES} done)",
                     f"{k_ms / max(g_ms, 1e-3):.1f}"))
    if isinstance(station_run, str):
        rows.append(("p99 time to first byte, 100 phones, station running", "≤ 100 ms",
                     f"not measured: {station_run}", "-", "-"))
    else:
        k_ms = float(station_run["kiosk"]["ttfb_p99"]) * 1000  # type: ignore[arg-type]
        g_ms = float(station_run["nginx"]["ttfb_p99"]) * 1000  # type: ignore[arg-type]
        rows.append(("p99 time to first byte, 100 phones, `kiosk run` playing an exercise",
                     "≤ 100 ms", f"{k_ms:.1f} ms ({station_run['kiosk']['ok']}/100 done)",
                     f"nginx {g_ms:.1f} ms ({station_run['nginx']['ok']}/100 done)",
                     f"{k_ms / max(g_ms, 1e-3):.1f}"))
    before, after = float(ours["rss_before"]), float(ours["rss_after"])  # type: ignore[arg-type]
    rows.append(("server RSS before → after all downloads", "flat", f"{before:.1f} → {after:.1f} MB",
                 "-", f"{after / before:.2f}"))
    rows.append(("QR matrix generation, p95", "≤ 10 ms", f"{qr_matrix_p95:.2f} ms", "-", "-"))
    rows.append(("QR PNG generation, p95", "-", f"{qr_png_p95:.2f} ms", "-", "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for i, row in enumerate(rows):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print(f"\n{FILE_MB} MB file, loopback, {os.cpu_count()} cores; one load-client process; "
          "nginx with one worker, sendfile on and the same 512 KB send buffer as ours; "
          f"kiosk and nginx rounds alternate, median of {REPEATS}; http.server: one run.\n"
          f"Storms: one process holds {STORM_SOCKETS:,} sockets from {STORM_SOURCE} and reconnects "
          "each one the server closes; the phones from 50 others. Our server as shipped "
          "(64 per address); nginx as above, with no per-address limit and its default 60 s "
          "header timeout.")


if __name__ == "__main__":
    main()
