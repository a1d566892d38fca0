"""Abuse limits of the take-home server: connection accounting, timeouts, rate limits.

Timeouts. aiohttp has no header-read timeout, so each connection's protocol is wrapped
(`_GuardedProtocol`) with one timer: while no request is in progress, a connection that has
sent nothing closes after `idle_timeout`; once the first byte of a request head arrives, the
head must be complete within `header_timeout` (a client trickling headers a byte a second is
cut off). The timer is off while a request is being answered, so a long download on a slow
phone is never cut. The wrapper also counts connections per client address: over the cap, the
request is answered 503 with Retry-After and the connection closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 10.0
    idle_timeout: float = 30.0
    unknown_token_limit: int = 20  # unknown tokens per client within the window...
    unknown_token_window: float = 600.0
    block_seconds: float = 900.0  # ...then 429 for this long
    max_connections_total: int = 512
    shutdown_timeout: float = 3.0
    # Caps what one sendfile() call may copy, so one busy download never holds the event loop
    # for long and a new phone's first byte is not kept waiting (0 = the kernel's autotuning).
    send_buffer_bytes: int = 512 * 1024
    stall_timeout: float = 60.0  # a download whose bytes stop being acknowledged this long



def client_key(peer: Any) -> str:
    """The client's address (IPv4-mapped IPv6 folded to IPv4), for in-memory limits only."""
    if isinstance(peer, tuple) and peer:
        try:
            ip = ipaddress.ip_address(peer[0])
        except ValueError:
            return str(peer[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ip)
    return "unknown"


class UnknownTokenLimiter:
    """Too many unknown tokens from one client within a window blocks it for a while."""

    MAX_CLIENTS = 10_000

    def __init__(self, limit: int, window: float, block: float,
                 clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self.block = limit, window, block
        self.clock = clock
        self._misses: OrderedDict[str, deque[float]] = OrderedDict()
        self._blocked: dict[str, float] = {}

    def retry_after(self, client: str) -> int | None:
        until = self._blocked.get(client)
        if until is None:
            return None
        left = until - self.clock()
        if left <= 0:
            del self._blocked[client]
            return None
        return max(1, int(left + 0.999))

    def note_unknown(self, client: str) -> None:
        now = self.clock()
        misses = self._misses.pop(client, None) or deque()
        misses.append(now)
        while misses and misses[0] <= now - self.window:
            misses.popleft()
        if len(misses) >= self.limit:
            self._blocked[client] = now + self.block
            log.warning("a client tried %d unknown take-home links; refusing it for %d s",
                        len(misses), int(self.block))
            misses.clear()
        else:
            self._misses[client] = misses
        while len(self._misses) > self.MAX_CLIENTS:
            self._misses.popitem(last=False)


# --- connections: timeouts and per-client cap --------------------------------------------

class _Connections:
    def __init__(self, per_client: int, total: int):
        self.per_client_cap = per_client
        self.total_cap = total
        self.per_client: dict[str, int] = {}
        self.total = 0
        self.guards: dict[Any, _GuardedProtocol] = {}

    def open(self, client: str) -> bool:
        """Counts a new connection; False when it is over a cap."""
        count = self.per_client.get(client, 0) + 1
        self.per_client[client] = count
        self.total += 1
        return count <= self.per_client_cap and self.total <= self.total_cap

    def close(self, client: str) -> None:
        count = self.per_client.get(client, 0) - 1
        if count > 0:
            self.per_client[client] = count
        else:
            self.per_client.pop(client, None)
        self.total -= 1


class _GuardedProtocol(asyncio.Protocol):
    """Wraps aiohttp's RequestHandler to add the idle and header-read timeouts and the caps."""

    IDLE, HEAD, BUSY = "idle", "head", "busy"

    def __init__(self, inner: asyncio.Protocol, connections: _Connections, limits: Limits,
                 loop: asyncio.AbstractEventLoop):
        self.inner = inner
        self.connections = connections
        self.limits = limits
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.client = "unknown"
        self.over_cap = False
        self.state = self.IDLE
        self.peer_eof = False
        self._timer: asyncio.TimerHandle | None = None

    # asyncio.Protocol, forwarded to aiohttp
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.client = client_key(transport.get_extra_info("peername"))
        self.over_cap = not self.connections.open(self.client)
        sock = transport.get_extra_info("socket")
        if self.limits.send_buffer_bytes and sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.limits.send_buffer_bytes)
        self.connections.guards[transport] = self
        self._arm(self.limits.idle_timeout)
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.state == self.IDLE and data:
            self.state = self.HEAD
            self._arm(self.limits.header_timeout)
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self.state == self.BUSY:
            # A phone that read the whole file may close before the server has seen it
            # acknowledged: keep the socket until the answer is done (and counted).
            self.peer_eof = True
            return True
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        if self.transport is not None:
            self.connections.guards.pop(self.transport, None)
            self.connections.close(self.client)
            self.transport = None
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    # called by the middleware around each request
    def request_started(self) -> None:
        self.state = self.BUSY
        self._cancel()

    def request_finished(self) -> None:
        if self.transport is None:
            return
        self.state = self.IDLE
        # After the peer's EOF no further request can come: close once the answer is out.
        self._arm(min(1.0, self.limits.idle_timeout) if self.peer_eof else self.limits.idle_timeout)

    def _arm(self, seconds: float) -> None:
        self._cancel()
        self._timer = self.loop.call_later(seconds, self._expired)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.state != self.BUSY and self.transport is not None:
            log.debug("closing a take-home connection: %s timeout",
                      "header-read" if self.state == self.HEAD else "idle")
            if self.peer_eof:
                self.transport.close()  # lets the last answer finish flushing
            else:
                self.transport.abort()
