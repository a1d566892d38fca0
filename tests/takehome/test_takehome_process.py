"""The take-home server in its own process, as `kiosk run` starts it (kiosk/takehome/process.py):
a real child process on a real socket, its log lines in the station's own files."""

from __future__ import annotations

import http.client
import logging
import os
import signal
import socket
import time
from dataclasses import replace
from pathlib import Path

import pytest

from kiosk.config import TakeHomeSettings, default_settings
from kiosk.logs import RECORDS_FILE_NAME, setup_logging
from kiosk.store import open_db
from kiosk.takehome import links
from kiosk.takehome.process import TakeHomeProcess
from kiosk.takehome.server import TakeHomeError
from tests.takehome.conftest import copy_station


def _get(port: int, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture
def station(tmp_path: Path, station_template: Path):
    th = replace(TakeHomeSettings(), bind="127.0.0.1", port=0, public_address="127.0.0.1")
    settings = default_settings(copy_station(station_template, tmp_path / "data"), take_home=th)
    setup_logging(settings.log_dir)
    yield settings
    logging.getLogger().handlers.clear()


def test_serves_from_a_child_and_logs_into_the_stations_files(station) -> None:
    server = TakeHomeProcess(station)
    server.start()
    try:
        assert server.pid is not None and server.pid != os.getpid()
        db = open_db(station.db_path)
        issued = links.issue_link(db, [("safe-place", "en-GB")], 7, 3, station=station.station_name)
        db.close()
        status, body = _get(server.port, f"/t/{issued.token}/audio/1")
        assert status == 200 and len(body) > 10_000
        assert server.url_for("abc").endswith(f":{server.port}/t/abc")
    finally:
        server.stop()
    # the child's records reach the station's records.log, written by the parent alone
    deadline = time.monotonic() + 5
    records = station.log_dir / RECORDS_FILE_NAME
    while "downloaded" not in records.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    text = records.read_text()
    assert "[take-home process" in text and "downloaded" in text
    assert issued.token not in text  # the redacting filter ran in the child
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_a_killed_server_process_comes_back_on_the_same_port(station) -> None:
    server = TakeHomeProcess(station, restart_seconds=0.2)
    server.start()
    try:
        first = server.pid
        os.kill(first, signal.SIGKILL)
        # A phone asking meanwhile waits in the kept socket's backlog and is answered.
        status, _ = _get(server.port, "/healthz", timeout=20)
        assert status == 200
        assert server.pid not in (None, first)
        log = (station.log_dir / "kiosk.log").read_text()
        assert "the take-home process stopped (exit code -9); starting a new one" in log
    finally:
        server.stop()


def test_a_busy_port_fails_at_start_with_the_same_clear_error(station) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        busy = replace(station, take_home=replace(station.take_home, port=holder.getsockname()[1]))
        with pytest.raises(TakeHomeError, match="already in use by another program"):
            TakeHomeProcess(busy).start()
    finally:
        holder.close()
