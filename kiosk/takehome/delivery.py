"""Delivery accounting: what each file of a link has really handed to a phone.

Completed downloads. A download counts when every byte of the file has been delivered since
the last counted one, whether in one 200 response or in several 206 ranges (iOS fetches in
ranges; some clients probe `bytes=0-1` first). A response's bytes are "delivered" when
aiohttp's FileResponse has handed them all to the kernel with sendfile() (the file is never
read in Python) *and* the phone's TCP has acknowledged them: on Linux the socket's send queue
(SIOCOUTQ: unsent plus unacknowledged bytes) is polled down to zero while the connection is
still established. Without that second step a file smaller than the socket buffers would
count as soon as it was queued, even if the phone gave up at once. A send queue that stops
moving for `stall_timeout` ends the response uncounted. Coverage of partial ranges is kept in
memory (bounded); a restart forgets partial coverage, which at worst misses one count. The inline player route never counts, but it is refused once the audio's downloads
are used up, so it cannot be used to go round the limit for ever.
"""

from __future__ import annotations

import re
import socket
import termios
from collections import OrderedDict
from typing import Any

from aiohttp import web


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
        suffix = int(last)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        return "unsatisfiable"
    end = min(size, int(last) + 1) if last else size
    return start, end


# Linux: bytes in a TCP socket's send queue not yet acknowledged, and the connection's state.
_TIOCOUTQ: int | None = getattr(termios, "TIOCOUTQ", None)
_TCP_INFO: int = getattr(socket, "TCP_INFO", 11)
_TCP_OPEN_STATES = (1, 8)  # ESTABLISHED, CLOSE_WAIT (the phone closed after reading it all)


class _FileResponse(web.FileResponse):
    """A FileResponse sent by the handler itself (so the handler knows it completed).

    aiohttp calls prepare() again after the handler returns; FileResponse would send the
    file a second time, so that second call does nothing.
    """

    async def prepare(self, request: web.BaseRequest) -> Any:
        if self.prepared:
            return None
        return await super().prepare(request)
