"""Fuzzing the phone-facing server over a real socket: random paths and headers never crash
it, never get an unexpected status, never return a file outside a live link's own files,
and each request is answered within a second."""

from __future__ import annotations

import http.client
import socket
import time
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.takehome.server import Limits

EXPECTED = {200, 206, 400, 404, 405, 410, 414, 416, 431}
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

segments = st.one_of(
    st.sampled_from(["..", "%2e%2e", "%252e%252e", ".", "t", "audio", "script", "play", "1", "0",
                     "-1", "99999999999999999999", "%00", "etc", "passwd", "\\..\\", "%5c", "//"]),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FFF,
                                   blacklist_characters="?#"), max_size=12).map(quote),
)


@pytest.fixture
def fuzz_harness(make_harness):
    # The unknown-token limit and the per-client cap are tested on their own; here they would
    # turn answers into 429 and 503.
    return make_harness(limits=Limits(unknown_token_limit=10**9), max_connections_per_client=1000)


def _get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@FUZZ
@given(st.booleans(), st.lists(segments, max_size=6))
def test_random_paths(fuzz_harness, with_live_token, parts):
    token = fuzz_harness.issue().token
    path = ("/t/" + token + "/" if with_live_token else "/") + "/".join(parts)
    started = time.monotonic()
    status, body = _get(fuzz_harness.port, path, {})
    assert time.monotonic() - started < 1.0
    assert status in EXPECTED, (path, status)
    assert b"root:" not in body and b"[kiosk]" not in body


header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
range_values = st.one_of(
    header_values,
    st.builds(lambda a, b: f"bytes={a}-{b}", st.integers(-5, 10**7).map(str) | st.just(""),
              st.integers(-5, 10**7).map(str) | st.just("")),
    st.lists(st.builds(lambda a, b: f"{a}-{b}", st.integers(0, 10**6), st.integers(0, 10**6)),
             min_size=2, max_size=300).map(lambda rs: "bytes=" + ",".join(rs)),
)


@FUZZ
@given(range_values, st.dictionaries(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20), header_values,
    max_size=5))
def test_random_headers_on_a_download(fuzz_harness, range_header, extra):
    token = fuzz_harness.issue().token
    headers = {k: v for k, v in extra.items() if k not in ("host", "content-length", "transfer-encoding")}
    headers["Range"] = range_header
    started = time.monotonic()
    status, body = _get(fuzz_harness.port, f"/t/{token}/audio/1", headers)
    assert time.monotonic() - started < 1.0
    assert status in {200, 206, 400, 416}, (range_header, status)
    assert not body.startswith(b"--"), "never a multipart answer"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=1, max_size=400))
def test_raw_garbage_requests(fuzz_harness, garbage):
    with socket.create_connection(("127.0.0.1", fuzz_harness.port), timeout=5) as s:
        s.sendall(garbage + b"\r\n\r\n")
        s.settimeout(2.0)
        try:
            answer = s.recv(200)
        except (TimeoutError, ConnectionResetError):
            answer = b""
    if answer:
        status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.") else None
        assert status in EXPECTED | {None}
    # The server still answers a normal request afterwards.
    assert _get(fuzz_harness.port, "/healthz", {})[0] == 200
