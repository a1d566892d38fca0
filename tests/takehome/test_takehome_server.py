"""The take-home server over real sockets on loopback."""

from __future__ import annotations

import html
import re
import socket
import time
from collections.abc import Callable

from kiosk.takehome import links
from kiosk.takehome.pages import STYLE_HASH
from kiosk.takehome.server import Limits


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    """The server counts a download just after its last byte is sent: poll briefly for it."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _variant(content, exercise_id="soothing-rhythm", lang="en-GB"):
    return content.variant(exercise_id, lang)


def test_page_lists_the_right_things(harness, content) -> None:
    issued = harness.issue([("soothing-rhythm", "en-GB"), ("safe-place", "en-GB")])
    status, headers, body = harness.request(harness.path(issued.token))
    assert status == 200
    page = body.decode()
    assert '<html lang="en-GB">' in page
    for exercise_id in ("soothing-rhythm", "safe-place"):
        v = _variant(content, exercise_id)
        assert html.escape(v.title) in page and html.escape(v.summary) in page
    assert page.count("<audio controls") == 2
    for n in (1, 2):
        assert f'src="/t/{issued.token}/play/{n}"' in page
        assert f'href="/t/{issued.token}/audio/{n}" download' in page
        assert f'href="/t/{issued.token}/script/{n}" download' in page
    assert re.search(r"Download audio \(MP3,\s[\d.]+\s(KB|MB)\)", page)
    assert re.search(r"Download script \(PDF,\s[\d.]+\s(KB|MB)\)", page)
    # 2025-03-10 09:00 UTC + 7 days, shown in the station's zone (UTC here), en-GB style
    assert "This link works until Monday 17 March 2025 at 09:00." in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and f"'sha256-{STYLE_HASH}'" in csp and "media-src 'self'" in csp
    assert headers["server"] == "kiosk"


def test_page_speaks_the_variant_language(harness) -> None:
    issued = harness.issue([("soothing-rhythm", "en-US")])
    page = harness.request(harness.path(issued.token))[2].decode()
    assert '<html lang="en-US">' in page
    assert "This link works until Monday, March 17, 2025 at 9:00 AM." in page
    harness.server.clock.advance(days=8)  # type: ignore[attr-defined]
    status, _, body = harness.request(harness.path(issued.token))
    assert status == 410 and "front desk" in body.decode()


def test_downloads_are_byte_identical_with_attachment(harness, content) -> None:
    issued = harness.issue()
    v = _variant(content)
    status, headers, body = harness.request(harness.path(issued.token, "/audio/1"))
    assert status == 200 and body == v.audio_path.read_bytes()
    assert headers["content-type"] == "audio/mpeg"
    assert headers["content-disposition"] == 'attachment; filename="soothing-rhythm-en-GB.mp3"'
    assert headers["accept-ranges"] == "bytes"
    status, headers, body = harness.request(harness.path(issued.token, "/script/1"))
    assert status == 200 and body == v.script_pdf_path.read_bytes()
    assert headers["content-type"] == "application/pdf"
    assert headers["content-disposition"].startswith("attachment;")
    status, headers, body = harness.request(harness.path(issued.token, "/play/1"))
    assert status == 200 and body == v.audio_path.read_bytes()
    assert headers["content-disposition"].startswith("inline;")


def test_ranges(harness, content) -> None:
    issued = harness.issue(downloads=20)  # every answer below spends bytes of the file
    data = _variant(content).audio_path.read_bytes()
    size = len(data)
    url = harness.path(issued.token, "/play/1")
    status, headers, body = harness.request(url, headers={"Range": "bytes=0-99"})
    assert status == 206 and body == data[:100]
    assert headers["content-range"] == f"bytes 0-99/{size}"
    status, headers, body = harness.request(url, headers={"Range": "bytes=1000-"})
    assert status == 206 and body == data[1000:]
    status, headers, body = harness.request(url, headers={"Range": "bytes=-500"})
    assert status == 206 and body == data[-500:]
    status, headers, body = harness.request(url, headers={"Range": f"bytes=10-{size + 1000}"})
    assert status == 206 and body == data[10:]
    for unsatisfiable in (f"bytes={size}-", f"bytes={size + 5}-{size + 10}", "bytes=-0"):
        status, headers, body = harness.request(url, headers={"Range": unsatisfiable})
        assert status == 416, unsatisfiable
        assert headers["content-range"] == f"bytes */{size}" and body == b""
    # several ranges: the whole file, never multipart
    many = "bytes=" + ",".join(f"{i * 10}-{i * 10 + 5}" for i in range(300))
    for header in ("bytes=0-1,5-9", many, "bytes=abc", "items=0-5"):
        status, headers, body = harness.request(url, headers={"Range": header})
        assert status == 200 and body == data, header
        assert "multipart" not in headers["content-type"]



def test_a_file_sent_in_many_sendfile_turns_arrives_whole(harness, content, monkeypatch) -> None:
    """Downloads go out in SENDFILE_CHUNK turns so one fast phone cannot hold the event loop;
    here turns of an odd 64 KB so the test file takes several, the last one short."""
    import asyncio

    from kiosk.takehome import delivery

    turns: list[int] = []
    sendfile = asyncio.BaseEventLoop.sendfile

    async def counted(self, transport, file, offset=0, count=None, **kwargs):  # type: ignore[no-untyped-def]
        turns.append(count)
        return await sendfile(self, transport, file, offset, count, **kwargs)

    monkeypatch.setattr(asyncio.BaseEventLoop, "sendfile", counted)
    monkeypatch.setattr(delivery, "SENDFILE_CHUNK", 65_537)
    data = _variant(content).audio_path.read_bytes()
    assert len(data) > 3 * 65_537
    issued = harness.issue(downloads=3)
    status, _headers, body = harness.request(harness.path(issued.token, "/audio/1"))
    assert status == 200 and body == data
    # Our turns, not aiohttp's one call (an aiohttp that no longer calls _sendfile shows here).
    assert len(turns) == -(-len(data) // 65_537) and max(turns) == 65_537
    status, _headers, body = harness.request(harness.path(issued.token, "/play/1"),
                                             headers={"Range": "bytes=70000-250000"})
    assert status == 206 and body == data[70000:250001]

def test_head(harness, content) -> None:
    issued = harness.issue()
    v = _variant(content)
    status, headers, body = harness.request(harness.path(issued.token, "/audio/1"), method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) == v.audio_bytes
    status, headers, body = harness.request(harness.path(issued.token), method="HEAD")
    assert status == 200 and body == b""
    status, _, _ = harness.request(harness.path(issued.token, "/audio/1"), method="HEAD",
                                   headers={"Range": "bytes=0-9"})
    assert status == 206
    # HEADs never count as downloads
    view = links.resolve(harness.db, issued.token, harness.clock())
    assert isinstance(view, links.LinkView) and view.total_downloads == 0


def test_expiry_with_injected_clock(harness) -> None:
    issued = harness.issue(days=1)
    harness.clock.advance(hours=23, minutes=59)
    assert harness.request(harness.path(issued.token))[0] == 200
    harness.clock.advance(minutes=1)
    status, headers, body = harness.request(harness.path(issued.token))
    assert status == 410 and "This link has expired" in body.decode()
    assert "ask at reception" in body.decode()
    assert headers["cache-control"] == "no-store"
    for rest in ("/audio/1", "/script/1", "/play/1"):
        assert harness.request(harness.path(issued.token, rest))[0] == 410


def test_downloads_limit_counts_completed_downloads_only(harness, content) -> None:
    issued = harness.issue(downloads=2)
    data = _variant(content).audio_path.read_bytes()
    size = len(data)
    audio = harness.path(issued.token, "/audio/1")

    def counted() -> int:
        view = links.resolve(harness.db, issued.token, harness.clock())
        assert isinstance(view, links.LinkView)
        item = view.item(1)
        assert item is not None
        return item.completed("audio")

    # iOS-like: a 2-byte probe, then the file in chunks, then a re-fetch of the tail.
    assert harness.request(audio, headers={"Range": "bytes=0-1"})[0] == 206
    half = size // 2
    assert harness.request(audio, headers={"Range": f"bytes=0-{half - 1}"})[2] == data[:half]
    assert counted() == 0
    assert harness.request(audio, headers={"Range": f"bytes={half}-"})[2] == data[half:]
    assert eventually(lambda: counted() == 1)
    # a download cut short does not count
    with socket.create_connection(("127.0.0.1", harness.port)) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(f"GET {audio} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        s.recv(1000)
    assert counted() == 1
    assert harness.request(audio)[2] == data
    assert eventually(lambda: counted() == 2)
    status, _, body = harness.request(audio)
    assert status == 410 and "used up" in body.decode()
    assert harness.request(harness.path(issued.token, "/play/1"))[0] == 410
    page = harness.request(harness.path(issued.token))[2].decode()
    assert "downloaded as many times as this link allows" in page and "/audio/1" not in page
    # the script still has its own downloads
    assert harness.request(harness.path(issued.token, "/script/1"))[0] == 200


def test_usage_events_for_issue_and_completed_downloads(harness) -> None:
    issued = harness.issue()
    harness.request(harness.path(issued.token, "/audio/1"), headers={"Range": "bytes=0-9"})
    harness.request(harness.path(issued.token, "/play/1"))
    harness.request(harness.path(issued.token, "/script/1"))

    def events() -> list[tuple[str, str, str, str]]:
        return [tuple(r) for r in harness.db.execute(
            "SELECT kind, exercise_id, lang, station FROM usage_events ORDER BY id")]

    station = harness.settings.station_name
    assert eventually(lambda: len(events()) == 2)
    assert events() == [("link_issued", "soothing-rhythm", "en-GB", station),
                        ("file_downloaded", "soothing-rhythm", "en-GB", station)]


def test_revoke_gives_410(harness) -> None:
    issued = harness.issue()
    assert harness.request(harness.path(issued.token))[0] == 200
    assert links.revoke(harness.db, issued.short_id)
    status, _, body = harness.request(harness.path(issued.token))
    assert status == 410 and "no longer active" in body.decode()
    assert harness.request(harness.path(issued.token, "/audio/1"))[0] == 410


def test_unknown_tokens_get_identical_404s(make_harness) -> None:
    harness = make_harness(Limits(unknown_token_limit=1000))
    bodies = set()
    for _ in range(8):
        token = links.new_token()
        for rest in ("", "/audio/1", "/script/1", "/play/1"):
            status, headers, body = harness.request(harness.path(token, rest))
            assert status == 404
            bodies.add(body)
    for path in ("/", "/t/", "/t/short", "/favicon.ico", "/static/x", "/t/" + "a" * 40):
        status, _, body = harness.request(path)
        assert status == 404
        bodies.add(body)
    assert len(bodies) == 1
    assert b"Link not found" in bodies.pop()


def test_item_out_of_range_and_methods(harness) -> None:
    issued = harness.issue()
    assert harness.request(harness.path(issued.token, "/audio/2"))[0] == 404
    assert harness.request(harness.path(issued.token, "/audio/0"))[0] == 404
    status, headers, _ = harness.request(harness.path(issued.token), method="POST")
    assert status == 405 and headers["allow"] == "GET, HEAD"
    assert harness.request("/healthz")[:3] == (200, harness.request("/healthz")[1], b"ok\n")


def test_traversal_never_returns_content(make_harness, content) -> None:
    harness = make_harness(Limits(unknown_token_limit=1000))
    issued = harness.issue()
    t = issued.token
    secret = b"root:"
    audio = _variant(content).audio_path.read_bytes()
    attempts = [
        f"/t/{t}/../../../../etc/passwd",
        f"/t/{t}/audio/../../../etc/passwd",
        f"/t/{t}/%2e%2e/%2e%2e/etc/passwd",
        f"/t/{t}/audio/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        f"/t/{t}/audio/%252e%252e%252fetc%252fpasswd",
        f"/t/{t}/audio//etc/passwd",
        f"/t/{t}/audio/1/../../../etc/passwd",
        f"/t/{t}/audio/..%5c..%5cetc%5cpasswd",
        f"/t/{t}/audio/1%00.mp3",
        f"/t/{t}/audio/1%00",
        "/etc/passwd",
        "//etc/passwd",
        f"/t/{t}/{_variant(content).audio_path}",
        f"/t/{t}/audio/{_variant(content).audio_path}",
        "/t/..%2f..%2fetc%2fpasswd",
        "/t/%2e%2e/%2e%2e/etc/passwd",
        f"/t/{t}\\..\\..\\etc\\passwd",
        f"/t/{t}/audio/1\\..\\2",
    ]
    for path in attempts:
        with socket.create_connection(("127.0.0.1", harness.port), timeout=5) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            raw = b""
            while chunk := s.recv(65536):
                raw += chunk
        head, _, body = raw.partition(b"\r\n\r\n")
        status = int(head.split()[1])
        assert status in (400, 404), (path, status)
        assert secret not in body and audio[:2000] not in body, path


def test_file_missing_from_the_station(harness, content, tmp_path) -> None:
    from dataclasses import replace

    gone = replace(_variant(content), audio_path=tmp_path / "nope.mp3")
    harness.server._lookup = lambda e, lang: gone  # the catalogue points at a deleted file
    issued = harness.issue()
    status, _, body = harness.request(harness.path(issued.token, "/audio/1"))
    assert status == 410 and "no longer available" in body.decode()


def test_the_typing_code_opens_the_page_and_its_files(harness, content) -> None:
    """A person who types `.../t/<code>` instead of scanning gets the same page and files,
    counted against the same allowance."""
    issued = harness.issue([("soothing-rhythm", "en-GB")], downloads=1)
    status, _headers, body = harness.request(harness.path(issued.code))
    assert status == 200
    code = issued.code.upper()
    assert f'href="/t/{code}/audio/1" download' in body.decode()
    status, _headers, audio = harness.request(harness.path(issued.code, "/audio/1"))
    assert status == 200 and audio == _variant(content, "soothing-rhythm").audio_path.read_bytes()
    # the one download allowed was spent through the code: it counts on the same link
    def counted() -> int:
        view = links.resolve(harness.db, issued.token, harness.clock())
        assert isinstance(view, links.LinkView)
        item = view.item(1)
        assert item is not None
        return item.completed("audio")

    assert eventually(lambda: counted() == 1)
    # a code that was never issued is an unknown link, as a wrong token is
    assert harness.request(harness.path("zzzzzzzz"))[0] == 404
