"""The phones' server on a hostile guest network (issue 16), over real sockets on loopback,
from several source addresses in 127.0.0.0/8. Each test is bounded to a few seconds."""

from __future__ import annotations

import http.client
import logging
import os
import re
import socket
import threading
import time
from contextlib import ExitStack

from kiosk.takehome import links
from kiosk.takehome.delivery import byte_budget
from kiosk.takehome.server import Limits

PHONE = "127.0.0.9"


def _connect(source: str, port: int, *, receive_buffer: int = 0, wait: bool = True) -> socket.socket:
    s = socket.socket()
    if receive_buffer:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    s.bind((source, 0))
    if wait:
        s.connect(("127.0.0.1", port))
    else:
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
    return s


def _served(harness, token: str, source: str = PHONE) -> float:
    """A phone at `source` loads the page and downloads the audio; returns the seconds taken."""
    started = time.monotonic()
    status, _, page = harness.request(f"/t/{token}", source=source, timeout=5)
    assert status == 200 and b"Download audio" in page
    assert harness.request("/healthz", source=source, timeout=5)[0] == 200
    status, _, body = harness.request(f"/t/{token}/audio/1", source=source, timeout=5)
    assert status == 200 and len(body) > 100_000
    return time.monotonic() - started


def _read_until_closed(s: socket.socket, within: float) -> bytes:
    s.settimeout(within)
    data = b""
    try:
        while part := s.recv(65536):
            data += part
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def test_one_address_holding_1000_idle_sockets_shuts_no_one_out(harness) -> None:
    issued = harness.issue()
    with ExitStack() as stack:
        attack = [stack.enter_context(_connect("127.0.0.2", harness.port, wait=False))
                  for _ in range(1000)]
        time.sleep(0.5)  # every connection accepted (or refused) by now
        cap = harness.settings.take_home.max_connections_per_client
        assert harness.server._connections.total <= cap
        # the phone: served at once, well within a second even on a busy test machine
        assert _served(harness, issued.token) < 2.0
        # the attacker's extra sockets were answered 503 and closed at accept
        refused = 0
        for s in attack[cap:cap + 50]:
            s.setblocking(True)
            data = _read_until_closed(s, 2.0)
            refused += data.startswith(b"HTTP/1.1 503") and b"Too many connections" in data
        assert refused == 50


def test_a_few_dozen_addresses_cannot_fill_the_server(make_harness) -> None:
    harness = make_harness(Limits(max_connections_total=200), max_connections_per_client=12)
    issued = harness.issue(downloads=20)
    with ExitStack() as stack:
        for n in range(49):  # 49 x 12 = 588 idle sockets against room for 200
            for _ in range(12):
                stack.enter_context(_connect(f"127.0.1.{n + 1}", harness.port, wait=False))
        time.sleep(0.5)
        assert harness.server._connections.total <= 200
        for n in range(5):  # phone after phone still gets in, by evicting the heaviest
            assert _served(harness, issued.token, source=f"127.0.2.{n + 1}") < 2.0


def test_silent_connection_closed_after_the_first_byte_timeout(make_harness) -> None:
    harness = make_harness(Limits(first_byte_timeout=1.0))
    with _connect("127.0.0.2", harness.port) as silent:
        started = time.monotonic()
        assert _read_until_closed(silent, 4.0) == b""
        assert time.monotonic() - started < 3.0


def test_never_reading_downloads_are_cut_and_others_served(make_harness) -> None:
    harness = make_harness(Limits(send_stall_timeout=1.0))
    issued = harness.issue(downloads=1000)  # the readers' own link: the byte limit is not the point
    with ExitStack() as stack:
        readers = []
        for n in range(4):
            for _ in range(40):
                s = stack.enter_context(_connect(f"127.0.3.{n + 1}", harness.port, receive_buffer=4096))
                s.sendall(f"GET /t/{issued.token}/play/1 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                readers.append(s)
        # every reader in before the phone: on a loaded machine accepting 160 takes a moment
        deadline = time.monotonic() + 10
        while harness.server._connections.total < 160 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert harness.server._connections.total == 160
        assert _served(harness, issued.token) < 2.0
        # nothing read for a second: every never-reader is cut within a few seconds
        deadline = time.monotonic() + 6.0
        while harness.server._connections.total > 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert harness.server._connections.total == 0


def test_a_reader_below_the_minimum_rate_is_cut_a_faster_one_is_not(make_harness, content) -> None:
    harness = make_harness(Limits(send_grace=1.0, min_send_rate=40_000, send_stall_timeout=30.0))
    issued = harness.issue(downloads=20)
    size = content.variant("soothing-rhythm", "en-GB").audio_bytes
    results: dict[str, int] = {}

    def read(name: str, pace: float, chunk: int) -> None:
        with _connect("127.0.0.2", harness.port, receive_buffer=4096) as s:
            s.sendall(f"GET /t/{issued.token}/audio/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            got = 0
            s.settimeout(10)
            try:
                while part := s.recv(chunk):
                    got += len(part)
                    time.sleep(pace)
            except (ConnectionResetError, TimeoutError):
                pass
            results[name] = got

    slow = threading.Thread(target=read, args=("slow", 0.25, 2048))  # about 8 KB/s
    fast = threading.Thread(target=read, args=("fast", 0.01, 8192))  # several hundred KB/s
    slow.start(), fast.start()
    slow.join(15), fast.join(15)
    assert results["fast"] > size  # the whole file and its head
    assert results["slow"] < size // 4  # cut after the grace second or so


def _spent(harness, token: str, kind: str = "audio") -> int:
    view = links.resolve(harness.db, token, harness.clock())
    assert isinstance(view, links.LinkView)
    item = view.item(1)
    assert item is not None
    return item.delivered_bytes(kind)


def test_no_route_hands_out_more_than_the_allowance(harness, content) -> None:
    size = content.variant("soothing-rhythm", "en-GB").audio_bytes
    allowance = byte_budget(5, size)  # a link allowing 5: (5 + 2) copies
    # the inline player, again and again
    issued = harness.issue(downloads=5)
    answers = [harness.request(f"/t/{issued.token}/play/1") for _ in range(25)]
    served = sum(len(body) for status, _, body in answers if status == 200)
    assert size * 5 <= served <= allowance
    assert answers[-1][0] == 410 and b"used up" in answers[-1][2]
    # every byte but the last, again and again, by either audio route
    issued = harness.issue(downloads=5)
    served = 0
    for n in range(25):
        route = "audio" if n % 2 else "play"
        status, _, body = harness.request(f"/t/{issued.token}/{route}/1",
                                          headers={"Range": f"bytes=0-{size - 2}"})
        served += len(body) if status == 206 else 0
    assert size * 5 <= served <= allowance
    # sixteen downloads in parallel
    issued = harness.issue(downloads=5)
    bodies: list[int] = []

    def download() -> None:
        status, _, body = harness.request(f"/t/{issued.token}/audio/1")
        bodies.append(len(body) if status == 200 else 0)

    threads = [threading.Thread(target=download) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sum(bodies) <= allowance and bodies.count(size) >= 5
    # reset right after the last byte
    issued = harness.issue(downloads=5)
    served = 0
    for _ in range(12):
        with _connect("127.0.0.2", harness.port) as s:
            s.sendall(f"GET /t/{issued.token}/audio/1 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head = b""
            while b"\r\n\r\n" not in head and (part := s.recv(4096)):
                head += part
            if not head.startswith(b"HTTP/1.1 200"):
                continue
            body = head.partition(b"\r\n\r\n")[2]
            while len(body) < size and (part := s.recv(65536)):
                body += part
            served += len(body)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    assert size * 5 <= served <= allowance
    assert _spent(harness, issued.token) <= allowance


def test_a_download_cut_short_costs_only_what_was_delivered(harness, content) -> None:
    size = content.variant("soothing-rhythm", "en-GB").audio_bytes
    issued = harness.issue(downloads=1)
    with _connect("127.0.0.2", harness.port, receive_buffer=4096) as s:
        s.sendall(f"GET /t/{issued.token}/audio/1 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        s.recv(1000)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    time.sleep(0.3)
    assert _spent(harness, issued.token) < size // 4
    status, _, body = harness.request(f"/t/{issued.token}/audio/1")  # the phone tries again
    assert status == 200 and len(body) == size


def test_malformed_inputs_get_4xx_never_500(harness, caplog) -> None:
    caplog.set_level(logging.INFO)
    issued = harness.issue(downloads=20)
    audio = f"/t/{issued.token}/audio/1"
    for header in ("bytes=" + "9" * 5000 + "-", "bytes=0-" + "9" * 5000, "bytes=-" + "9" * 5000):
        status, _, _ = harness.request(audio, headers={"Range": header})
        assert status in (200, 206, 416), header
    for raw_header in (b"X-Phone: caf\xe9\xff", b"Range: bytes=0-\xff", b"If-Range: \"\xfe\""):
        with _connect("127.0.0.2", harness.port) as s:
            s.sendall(f"GET {audio} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode()
                      + raw_header + b"\r\n\r\n")
            reply = _read_until_closed(s, 5.0)
        assert re.match(rb"HTTP/1\.1 (200|206|4\d\d) ", reply), (raw_header, reply[:40])
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_parser_errors_carry_our_headers_and_echo_nothing(harness) -> None:
    probes = [
        b"GET /t/ECHOME HTTP/1.1\r\nHost: x\r\nBad Header Line ECHOME\r\n\r\n",
        b"GE\x01T /ECHOME HTTP/1.1\r\n\r\n",
        b"GET /ECHOME HTTP/9.9\r\n\r\n",
        b"GET /" + b"ECHOME" * 2000 + b" HTTP/1.1\r\n\r\n",
    ]
    for probe in probes:
        with _connect("127.0.0.2", harness.port) as s:
            s.sendall(probe)
            reply = _read_until_closed(s, 5.0)
        head, _, body = reply.partition(b"\r\n\r\n")
        assert re.match(rb"HTTP/1\.[01] 4\d\d ", head), (probe[:30], head[:60])
        lines = head.decode("latin-1").lower().split("\r\n")
        assert "server: kiosk" in lines
        assert any(line.startswith("content-security-policy: default-src 'none'") for line in lines)
        assert "x-content-type-options: nosniff" in lines
        assert b"aiohttp" not in reply and b"Python" not in reply
        assert b"ECHOME" not in reply


def test_etag_reveals_no_time_and_if_range_is_honoured(harness, content) -> None:
    issued = harness.issue(downloads=20)
    path = content.variant("soothing-rhythm", "en-GB").audio_path
    st = os.stat(path)
    data = path.read_bytes()
    audio = f"/t/{issued.token}/audio/1"
    _, headers, _ = harness.request(audio, method="HEAD")
    etag = headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{24}"', etag)
    assert f"{st.st_mtime_ns:x}" not in etag and f"{st.st_mtime_ns}" not in etag
    status, _, body = harness.request(audio, headers={"Range": "bytes=100-199", "If-Range": etag})
    assert status == 206 and body == data[100:200]
    for stale in ('"0123456789abcdef01234567"', "W/" + etag, "Mon, 01 Jan 2001 00:00:00 GMT"):
        status, _, body = harness.request(audio, headers={"Range": "bytes=100-199", "If-Range": stale})
        assert status == 200 and body == data, stale


def test_phones_behind_one_nat_address_download_at_once(harness, content) -> None:
    size = content.variant("soothing-rhythm", "en-GB").audio_bytes
    issued = [harness.issue(downloads=5) for _ in range(16)]
    statuses: list[int] = []

    def phone(token: str) -> None:
        # a browser: the page, the player and the download, on connections of their own
        conns = [http.client.HTTPConnection("127.0.0.1", harness.port, timeout=10,
                                            source_address=("127.0.0.5", 0)) for _ in range(3)]
        for conn, rest in zip(conns, ("", "/play/1", "/audio/1"), strict=True):
            conn.request("GET", f"/t/{token}{rest}")
        for conn in conns:
            response = conn.getresponse()
            body = response.read()
            statuses.append(response.status if response.status != 200 or len(body) in (size,) or
                            b"<html" in body else -1)
            conn.close()

    threads = [threading.Thread(target=phone, args=(i.token,)) for i in issued]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert statuses == [200] * 48


def test_the_total_connection_cap_leaves_room_in_the_descriptor_limit(monkeypatch):
    import resource

    from kiosk.takehome import guard

    monkeypatch.setattr(resource, "getrlimit", lambda _which: (1024, 4096))
    room = (1024 - guard.STATION_FDS - guard.ACCEPT_BATCH) // 2
    assert guard.total_connection_cap() == room
    assert guard.Limits().max_connections_total == room
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (65536, 65536))
    assert guard.total_connection_cap() == guard.MOST_CONNECTIONS
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (100, 100))
    assert guard.total_connection_cap() == 8


def test_a_process_with_a_low_descriptor_limit_gets_a_smaller_default_cap():
    """A real limit, set in a child process, not a patched one."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        from kiosk.takehome.guard import Limits
        print(Limits().max_connections_total)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert int(out) == (256 - 128 - 100) // 2
