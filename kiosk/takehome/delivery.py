"""Delivery accounting: what each file of a link has really handed to a phone.

The limit. A link allowing N downloads per file hands out at most (N + 2) copies' worth of
bytes of each file, counted by whatever route they leave (the download routes, the page's
inline player `/play/N`, whole files or ranges, one request at a time or many in parallel):
  - Before a response is sent its whole length is reserved against what is left; a request
    that does not fit is refused (410, used up). Parallel requests therefore cannot pass the
    limit together.
  - When it ends, what the phone's TCP really acknowledged (Linux `tcpi_bytes_acked`, read
    before and after, headers included, so it errs against the phone by a few hundred bytes)
    is charged, at most the length; the rest of the reservation is released. A response cut
    short costs what was delivered, not the whole file. Where the counters cannot be read
    the whole length is charged.
  - The two extra copies are the allowance for listening on the page, which the consent
    screen does not count as a download. Browsers fetch audio in ranges: iOS and Android make
    two or three range requests per play (a 2-byte probe, the file, a re-fetch of its tail or
    a seek), and a range a player abandons has still delivered what sat in the phone's
    receive buffer. Measured in Chromium (tests/takehome/test_takehome_chromium.py): one play
    with three seeks cost 1.08 copies, so with one extra copy the download after it was
    refused. Two leave room for a play with seeking and a download on a link allowing one.
The bytes are kept in the database (`link_downloads.delivered_bytes`), so a restart forgets
nothing; only reservations of responses in flight live in memory.

Completed downloads (the count the page and `kiosk links` show, and the `file_downloaded`
usage event) are counted on the download routes only: a download counts when every byte of
the file has been delivered since the last counted one, in one 200 response or in several
206 ranges (iOS fetches in ranges; some clients probe `bytes=0-1` first). Delivered means
handed to the kernel by sendfile() (the file is never read in Python) *and* acknowledged by
the phone's TCP: the socket's send queue (SIOCOUTQ) is polled down to zero while the
connection is established. Coverage of partial ranges is kept in memory (bounded); a restart
forgets partial coverage, which at worst misses one count. A file is used up when it has
been downloaded N times or when its bytes are spent.

ETags are a keyed hash of the file's identity (inode, size, modification time) with a key
drawn when the server starts: they change when the file does, and reveal nothing about it.
After a restart an old ETag simply no longer matches (If-Range then gets the whole file).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import secrets
from collections import OrderedDict
from email.utils import parsedate_to_datetime
from typing import Any

from aiohttp import web

from kiosk.takehome.guard import TCP_OPEN_STATES, tcp_state, unsent

# The most one sendfile() call may send. Unbounded, one call on a fast client copies as much
# as the kernel takes (megabytes on loopback), and the event loop serves every other phone's
# first byte only after each download's turn: 100 downloads at once gave 150-200 ms to first
# byte; in 512 KB turns (the send buffer's size, nginx's sendfile_max_chunk idea) 30-40 ms,
# at the same rate (bench/takehome.py).
SENDFILE_CHUNK = 512 * 1024

ALLOWANCE_COPIES = 2
_DIGITS = 18  # longer numbers in a Range header are beyond any file's size


def byte_budget(downloads_per_file: int, size: int) -> int:
    """Bytes of one file a link may hand out in all (see the module notes)."""
    return (downloads_per_file + ALLOWANCE_COPIES) * size


FileKey = tuple[int, int, str]  # link id, position, kind


class Reservations:
    """Bytes promised to responses in flight, per file of a link (in memory)."""

    def __init__(self) -> None:
        self._held: dict[FileKey, int] = {}

    def held(self, key: FileKey) -> int:
        return self._held.get(key, 0)

    def reserve(self, key: FileKey, delivered: int, budget: int, length: int) -> bool:
        """Reserve `length` bytes if they fit in what is left; False when they do not."""
        held = self._held.get(key, 0)
        if delivered + held + length > budget:
            return False
        self._held[key] = held + length
        return True

    def release(self, key: FileKey, length: int) -> None:
        left = self._held.get(key, 0) - length
        if left > 0:
            self._held[key] = left
        else:
            self._held.pop(key, None)


class DeliveryTracker:
    """Byte coverage of each file since its last completed download (see the module notes)."""

    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        self._covered: OrderedDict[tuple[Any, ...], list[tuple[int, int]]] = OrderedDict()

    def delivered(self, key: tuple[Any, ...], size: int, start: int, end: int) -> bool:
        """Record bytes [start, end) sent; True when the whole file is now covered."""
        if start <= 0 and end >= size:
            self._covered.pop(key, None)
            return True
        spans = self._covered.pop(key, [])
        spans.append((max(0, start), min(size, end)))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for s, e in spans:
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        if merged == [(0, size)]:
            return True
        self._covered[key] = merged
        while len(self._covered) > self.MAX_ENTRIES:
            self._covered.popitem(last=False)
        return False


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= _DIGITS else 10**_DIGITS


def parse_single_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """A Range header -> (start, end exclusive), "unsatisfiable", or None to send it all.

    Only one `bytes=` range is honoured. Several ranges, or a header we do not understand,
    get the whole file (RFC 9110 lets a server ignore Range), never a multipart answer.
    """
    if header is None:
        return None
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header, re.ASCII | re.IGNORECASE)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        suffix = _number(last)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size
    start = _number(first)
    if last and _number(last) < start:
        return None
    if start >= size:
        return "unsatisfiable"
    end = min(size, _number(last) + 1) if last else size
    return start, end


class ETags:
    """Opaque validators for the files served (see the module notes)."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(16)

    def of(self, st: os.stat_result) -> str:
        identity = f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}".encode()
        return '"' + hmac.new(self._key, identity, hashlib.sha256).hexdigest()[:24] + '"'


def if_range_allows(header: str | None, etag: str, st: os.stat_result) -> bool:
    """False when an If-Range no longer matches, so the range is ignored (RFC 9110 13.1.5)."""
    if header is None:
        return True
    value = header.strip()
    if value.startswith('"') or value.startswith("W/"):
        return value == etag  # strong comparison; a weak tag never matches
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return False
    return moment is not None and moment.tzinfo is not None and int(st.st_mtime) <= moment.timestamp()


class FileResponse(web.FileResponse):
    """aiohttp's sendfile() response, sent by the handler itself, with our ETag.

    The handler prepares it (so it knows when the file was sent); aiohttp calls prepare()
    again after the handler returns and FileResponse would send the file twice, so that
    second call does nothing. aiohttp sets an ETag from the modification time: ours replaces it.
    """

    def __init__(self, path: Any, etag: str, headers: Any = None):
        super().__init__(path, headers=headers)
        self._opaque_etag = etag

    async def prepare(self, request: web.BaseRequest) -> Any:
        if self.prepared:
            return None
        return await super().prepare(request)

    async def _sendfile(self, request: web.BaseRequest, fobj: Any, offset: int, count: int) -> Any:
        # aiohttp's own _sendfile (3.14), in SENDFILE_CHUNK turns; test_takehome_server.py
        # sends a file in many turns, whole and as a range.
        writer = await web.StreamResponse.prepare(self, request)
        assert writer is not None
        loop = asyncio.get_running_loop()
        transport = request.transport
        if transport is None:
            raise ConnectionResetError("Connection lost")
        try:
            while count > 0:
                n = min(SENDFILE_CHUNK, count)
                await loop.sendfile(transport, fobj, offset, n)
                offset, count = offset + n, count - n
        except NotImplementedError:
            return await self._sendfile_fallback(writer, fobj, offset, count)
        await web.StreamResponse.write_eof(self)
        return writer

    @property
    def etag(self) -> Any:
        return self.headers.get("ETag")

    @etag.setter
    def etag(self, value: Any) -> None:
        self.headers["ETag"] = self._opaque_etag


async def acknowledged(request: web.BaseRequest) -> bool:
    """Waits until the client has acknowledged every byte sent; False if it went away.

    A client that stops reading is cut by the connection's watchdog (guard.py), which ends
    this wait too.
    """
    transport = request.transport
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    delay = 0.002
    while True:
        tcp = tcp_state(sock)
        if tcp is None:
            return not transport.is_closing() and sock is not None and sock.fileno() >= 0
        if tcp.state not in TCP_OPEN_STATES:
            return False  # reset by the phone: the kernel dropped what was left
        if unsent(sock) == 0 and transport.get_write_buffer_size() == 0:
            return True
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
