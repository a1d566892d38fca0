"""Abuse limits, timeouts, privacy of the logs, and the server's life cycle."""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from kiosk.config import TakeHomeSettings, default_settings
from kiosk.takehome import links
from kiosk.takehome.server import Limits, TakeHomeError, TakeHomeServer


def _read_all(sock: socket.socket, pace: float = 0.0, chunk: int = 65536) -> bytes:
    data = b""
    while True:
        try:
            part = sock.recv(chunk)
        except ConnectionResetError:
            break
        if not part:
            break
        data += part
        if pace:
            time.sleep(pace)
    return data


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_429_after_many_unknown_tokens(make_harness) -> None:
    harness = make_harness(Limits(unknown_token_limit=5, unknown_token_window=60, block_seconds=1.5))
    issued = harness.issue()
    for _ in range(4):
        assert harness.request(harness.path(links.new_token()))[0] == 404
    assert harness.request(harness.path(issued.token))[0] == 200  # known tokens do not count
    assert harness.request(harness.path(links.new_token()))[0] == 404  # the fifth unknown one
    status, headers, body = harness.request(harness.path(links.new_token()))
    assert status == 429 and headers["retry-after"] in ("1", "2")
    assert b"Please wait a moment" in body
    # while blocked, even a good token is refused (no oracle); the health check still answers
    assert harness.request(harness.path(issued.token))[0] == 429
    assert harness.request("/healthz")[0] == 200
    time.sleep(1.6)
    assert harness.request(harness.path(issued.token))[0] == 200


def test_slow_client_is_cut_off_while_a_real_download_completes(make_harness, content) -> None:
    harness = make_harness(Limits(first_byte_timeout=3.0, header_timeout=2.0, idle_timeout=3.0))
    issued = harness.issue()
    expected = content.variant("soothing-rhythm", "en-GB").audio_path.read_bytes()
    result: dict[str, object] = {}

    def download() -> None:
        with socket.create_connection(("127.0.0.1", harness.port)) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            s.sendall(f"GET /t/{issued.token}/audio/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            started = time.monotonic()
            raw = _read_all(s, pace=0.05, chunk=8192)  # a slow phone: about 160 KB/s
            result["seconds"] = time.monotonic() - started
            result["body"] = raw.partition(b"\r\n\r\n")[2]

    downloader = threading.Thread(target=download)
    downloader.start()

    slowloris = socket.create_connection(("127.0.0.1", harness.port))
    silent = socket.create_connection(("127.0.0.1", harness.port))
    head = f"GET /t/{issued.token} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    started = time.monotonic()
    cut_after = None
    for i in range(len(head)):
        try:
            slowloris.sendall(head[i : i + 1])
        except (BrokenPipeError, ConnectionResetError):
            cut_after = time.monotonic() - started
            break
        if _closed_by_server(slowloris, 1.0):  # one byte a second
            cut_after = time.monotonic() - started
            break
    assert cut_after is not None and 1.5 <= cut_after <= 4.5, cut_after
    assert _closed_by_server(silent, 3.0)  # idle: nothing sent for 3 s
    silent.close()
    slowloris.close()

    downloader.join(30)
    assert result["body"] == expected
    assert float(result["seconds"]) > 3.0  # it outlived both timeouts  # type: ignore[arg-type]


def test_idle_keepalive_connection_is_closed(make_harness) -> None:
    harness = make_harness(Limits(header_timeout=1.0, idle_timeout=1.0))
    with socket.create_connection(("127.0.0.1", harness.port)) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(2)
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert _closed_by_server(s, 3.0)
        assert time.monotonic() - started < 2.5


def test_connections_per_client_are_capped(make_harness) -> None:
    harness = make_harness(max_connections_per_client=3)
    issued = harness.issue()
    held = [socket.create_connection(("127.0.0.1", harness.port)) for _ in range(3)]
    try:
        time.sleep(0.2)
        status, headers, body = harness.request(harness.path(issued.token))
        assert status == 503 and headers["retry-after"] == "5"
        assert headers["connection"].lower() == "close"
        assert b"Too many connections" in body
    finally:
        held.pop().close()
    time.sleep(0.2)
    assert harness.request(harness.path(issued.token))[0] == 200
    for s in held:
        s.close()


def test_no_token_or_client_address_in_logs(make_harness, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    harness = make_harness(Limits(unknown_token_limit=3, header_timeout=1.0, idle_timeout=1.0))
    issued = harness.issue(downloads=1)
    tokens = [issued.token]
    harness.request(harness.path(issued.token))
    harness.request(harness.path(issued.token, "/audio/1"))
    harness.request(harness.path(issued.token, "/audio/1"))  # 410 used up
    harness.request(harness.path(issued.token, "/script/9"))
    harness.request(harness.path(issued.token), method="DELETE")
    for _ in range(4):
        tokens.append(links.new_token())
        harness.request(harness.path(tokens[-1]))  # 404s, then 429
    # a malformed request that carries a token: aiohttp's own error path logs it
    with socket.create_connection(("127.0.0.1", harness.port)) as s:
        s.sendall(f"GET /t/{issued.token} HTTP/1.1\r\nBad Header Line {issued.token}\r\n\r\n".encode())
        _read_all(s)
    with socket.create_connection(("127.0.0.1", harness.port)) as s:
        s.sendall(f"GE\x01T /t/{issued.token} HTTP/1.1\r\n\r\n".encode())
        _read_all(s)
    with socket.create_connection(("127.0.0.1", harness.port)) as s:  # cut off by the timer
        s.sendall(f"GET /t/{issued.token}".encode())
        _read_all(s)
    harness.server.stop()
    lines = [r.getMessage() for r in caplog.records] + [caplog.text]
    assert any("/t/{token}/audio/{n} 200" in line for line in lines)
    for text in lines:
        for token in tokens:
            assert token not in text and token.lower() not in text
        assert "127.0.0.1" not in text


def test_busy_port_fails_at_once_and_clearly(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        th = replace(TakeHomeSettings(), bind="127.0.0.1", port=port)
        server = TakeHomeServer(default_settings(tmp_path, take_home=th),
                                lookup_factory=lambda db, s: (lambda e, lang: None))
        with pytest.raises(TakeHomeError) as info:
            server.start()
    assert str(info.value) == (
        f"port {port} is already in use by another program; set take_home.port in config.toml"
    )
    assert not any(t.name == "takehome-server" for t in threading.enumerate())


def test_thread_name_and_graceful_stop(harness) -> None:
    assert any(t.name == "takehome-server" for t in threading.enumerate())
    assert harness.server.url_for("X" * 26) == f"http://127.0.0.1:{harness.port}/t/{'X' * 26}"
    harness.server.stop()
    assert not any(t.name == "takehome-server" for t in threading.enumerate())
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", harness.port), timeout=1).close()
