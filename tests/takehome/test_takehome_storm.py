"""Issue 16: a descriptor storm against `kiosk serve` as a process, under systemd's default
descriptor limit, seen where the administrator looks: the phone still served, the
download records still in records.log, the log folder not flooded."""

from __future__ import annotations

import contextlib
import http.client
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

from kiosk.config import load_settings
from kiosk.store import open_db
from kiosk.takehome import links
from tests.e2e.helpers import wait_for_log
from tests.takehome.conftest import copy_station

DESCRIPTORS = 1024  # systemd's default soft limit: the cap is then (1024 - 128 - 100) / 2 = 398
STORM = 1000


def _limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, DESCRIPTORS))


def _get(port: int, path: str, source: str = "127.0.0.1") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(source, 0))
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_descriptor_storm_keeps_phones_served_and_records_kept(tmp_path: Path, station_template: Path) -> None:
    data = copy_station(station_template, tmp_path / "data")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "{data}"\n[take_home]\nbind = "127.0.0.1"\nport = {port}\n'
                      f'public_address = "127.0.0.1:{port}"\n', encoding="utf-8")
    settings = load_settings(config)
    db = open_db(settings.db_path)
    issued = links.issue_link(db, [("safe-place", "en-GB")], 7, 3, station=settings.station_name)
    db.close()
    log = settings.log_dir / "kiosk.log"
    command = [sys.executable, "-m", "kiosk", "--config", str(config), "serve"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              preexec_fn=_limit_descriptors)
    held: list[socket.socket] = []
    try:
        wait_for_log(log, "take-home server listening", server, 30)
        assert _get(port, f"/t/{issued.token}/audio/1") == 200
        # 1,000 connections from 20 addresses, held open and sending nothing
        for i in range(STORM):
            s = socket.socket()
            s.setblocking(False)
            s.bind((f"127.0.0.{2 + i % 20}", 0))
            s.connect_ex(("127.0.0.1", port))
            held.append(s)
        time.sleep(1.0)
        started = time.monotonic()
        assert _get(port, "/healthz") == 200
        assert _get(port, f"/t/{issued.token}") == 200
        assert time.monotonic() - started < 2.0
        assert server.poll() is None
    finally:
        for s in held:
            s.close()
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(20)
        if server.poll() is None:
            server.kill()
    records = (settings.log_dir / "records.log").read_text()
    assert "downloaded" in records
    text = log.read_text()
    assert "out of system resource" not in text  # the cap left room for accept()
    assert sum(p.stat().st_size for p in settings.log_dir.iterdir()) < 1_000_000
    assert "Traceback" not in (server.stderr.read() if server.stderr else "")
