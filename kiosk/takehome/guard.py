"""Abuse limits of the take-home server: connection accounting, timeouts, rate limits.

The server faces a guest Wi-Fi where anyone can be, so no one address, and no few dozen,
may hold the server for everyone else.

Connections are accounted at accept, in the wrapper (`GuardedProtocol`) around aiohttp's
protocol. A connection over its address's cap is answered a short 503 page at once and closed:
it never reaches aiohttp and is never counted. When the whole server is full, a newcomer
takes the place of the oldest connection (idle ones first) of the address holding the most,
as long as that address holds more than the newcomer's would: a full house cannot be made by
a few addresses against everyone else. The per-address cap is `take_home.max_connections_per_client`
(64 by default: a clinic whose guest Wi-Fi puts every phone behind one NAT address still
serves about 16 phones at once, each with the 3 or 4 connections a browser opens for the page,
its player and a download).

Timeouts, one timer per connection: a new connection must send its first byte within
`first_byte_timeout`; once a request head has begun it must be complete within
`header_timeout` (a byte-a-second trickler is cut off); between requests a keep-alive
connection closes after `idle_timeout`. While a request is answered, a watchdog reads the
socket's TCP counters once a second: a response whose bytes stop being acknowledged for
`send_stall_timeout`, or that after `send_grace` runs slower on average than
`min_send_rate` (8 KB/s: a phone on very weak Wi-Fi manages several times that), is cut. So a
client that never reads a download holds its socket for seconds, not for ever, while a slow
phone's long download is never cut.

These are ours rather than a reverse proxy's or systemd's: the station has no proxy (one
may sit in front, see deploy/README.md), aiohttp has no header-read timeout, no per-address
cap and no send timeout, and systemd's socket options (`MaxConnectionsPerSource=`) act only
on socket-activated services and refuse rather than evict.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
import ipaddress
import logging
import resource
import socket
import struct
import termios
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


MOST_CONNECTIONS = 512
STATION_FDS = 128  # the station's own descriptors (about 55 measured) and room for more
# asyncio accepts up to this many connections in one go (create_server's backlog, which is
# also the kernel's queue) before any protocol can close the ones over a cap: measured with a
# 256-descriptor limit, leaving no room for them made accept() fail with EMFILE in a storm.
ACCEPT_BATCH = 100


def total_connection_cap(most: int = MOST_CONNECTIONS) -> int:
    """How many phones' connections the process's descriptor limit leaves room for: each may
    hold two (its socket and the file it is sent), after the station's own and one accept
    batch. Past it, accept
    would fail with EMFILE for everyone, the station's own files included; at it, a newcomer
    evicts as described above."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return most
    return max(8, min(most, (soft - STATION_FDS - ACCEPT_BATCH) // 2))


@dataclass(frozen=True)
class Limits:
    first_byte_timeout: float = 5.0
    header_timeout: float = 10.0
    idle_timeout: float = 30.0
    unknown_token_limit: int = 20  # unknown tokens per client within the window...
    unknown_token_window: float = 600.0
    block_seconds: float = 900.0  # ...then 429 for this long
    max_connections_total: int = field(default_factory=total_connection_cap)
    shutdown_timeout: float = 3.0
    # Caps what one sendfile() call may copy, so one busy download never holds the event loop
    # for long and a new phone's first byte is not kept waiting (0 = the kernel's autotuning).
    send_buffer_bytes: int = 512 * 1024
    send_stall_timeout: float = 20.0  # no byte acknowledged this long while some are queued
    send_grace: float = 30.0  # the minimum rate applies after this long...
    min_send_rate: float = 8_000.0  # ...in bytes a second, averaged over the response


# --- TCP counters (Linux) ------------------------------------------------------------------

_TIOCOUTQ: int | None = getattr(termios, "TIOCOUTQ", None)
_TCP_INFO: int = getattr(socket, "TCP_INFO", 11)
_TCP_INFO_SIZE = 136  # up to tcpi_bytes_received (Linux 4.1+)
_BYTES_ACKED_OFFSET = 120  # struct tcp_info: 8 one-byte fields, 24 u32, 2 u64, then bytes_acked
TCP_OPEN_STATES = (1, 8)  # ESTABLISHED, CLOSE_WAIT (the phone closed after reading it all)


@dataclass(frozen=True)
class TcpState:
    state: int
    bytes_acked: int  # every byte the peer has acknowledged on this connection


def tcp_state(sock: Any) -> TcpState | None:
    """The connection's TCP state and acknowledged bytes; None when closed or not Linux TCP."""
    if sock is None:
        return None
    try:
        if sock.fileno() < 0:
            return None
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _TCP_INFO_SIZE)
    except OSError:
        return None
    if len(info) < _BYTES_ACKED_OFFSET + 8:
        return None
    return TcpState(info[0], struct.unpack_from("=Q", info, _BYTES_ACKED_OFFSET)[0])


def unsent(sock: Any) -> int:
    """Bytes in the socket's send queue not yet acknowledged (SIOCOUTQ); 0 if unknown."""
    if sock is None or _TIOCOUTQ is None:
        return 0
    left = array.array("i", [0])
    try:
        fcntl.ioctl(sock.fileno(), _TIOCOUTQ, left)
    except (OSError, ValueError):
        return 0
    return int(left[0])


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

class Connections:
    """Every admitted connection, by client address, oldest first (see the module notes)."""

    def __init__(self, per_client: int, total: int, refusal: bytes = b""):
        self.per_client_cap = per_client
        self.total_cap = total
        self.refusal = refusal  # the whole answer (head and page) sent to a refused connection
        self.by_client: dict[str, dict[GuardedProtocol, None]] = {}
        self.total = 0
        self.guards: dict[Any, GuardedProtocol] = {}
        self.refused = 0
        self.evicted = 0

    def admit(self, guard: GuardedProtocol) -> bool:
        """Counts a new connection; False (and not counted) when it must be refused."""
        mine = self.by_client.get(guard.client)
        held = len(mine) if mine else 0
        if held >= self.per_client_cap:
            self.refused += 1
            return False
        if self.total >= self.total_cap:
            victim = self._victim(held)
            if victim is None:
                self.refused += 1
                return False
            self.evicted += 1
            victim.evict()
        self.by_client.setdefault(guard.client, {})[guard] = None
        self.total += 1
        return True

    def release(self, guard: GuardedProtocol) -> None:
        mine = self.by_client.get(guard.client)
        if mine is None or guard not in mine:
            return
        del mine[guard]
        if not mine:
            del self.by_client[guard.client]
        self.total -= 1

    def _victim(self, held: int) -> GuardedProtocol | None:
        """The oldest connection, idle first, of the address holding the most, if it holds
        more than the newcomer's address would."""
        if not self.by_client:
            return None
        heaviest = max(self.by_client.values(), key=len)
        if len(heaviest) <= held + 1:
            return None
        for guard in heaviest:
            if guard.state != guard.BUSY:
                return guard
        return next(iter(heaviest))


class GuardedProtocol(asyncio.Protocol):
    """Wraps aiohttp's RequestHandler: the admission, the timeouts and the send watchdog."""

    IDLE, HEAD, BUSY = "idle", "head", "busy"

    def __init__(self, inner: asyncio.Protocol, connections: Connections, limits: Limits,
                 loop: asyncio.AbstractEventLoop):
        self.inner = inner
        self.connections = connections
        self.limits = limits
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.client = "unknown"
        self.admitted = False
        self.state = self.IDLE
        self.peer_eof = False
        self._timer: asyncio.TimerHandle | None = None
        self._busy_since = 0.0
        self._acked_at_start = 0
        self._last_acked = 0
        self._moved_at = 0.0
        self._final_acked: int | None = None

    # asyncio.Protocol, forwarded to aiohttp once admitted
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.client = client_key(transport.get_extra_info("peername"))
        if not self.connections.admit(self):
            # Closed at accept: aiohttp never sees it and it holds no place in the counts.
            self.transport = None
            if self.connections.refusal:
                transport.write(self.connections.refusal)
            transport.close()
            return
        self.admitted = True
        sock = transport.get_extra_info("socket")
        if self.limits.send_buffer_bytes and sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.limits.send_buffer_bytes)
        self.connections.guards[transport] = self
        self._arm(self.limits.first_byte_timeout)
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self.admitted:
            return
        if self.state == self.IDLE and data:
            self.state = self.HEAD
            self._arm(self.limits.header_timeout)
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        if not self.admitted:
            return None
        if self.state == self.BUSY:
            # A phone that read the whole file may close before the server has seen it
            # acknowledged: keep the socket until the answer is done (and counted).
            self.peer_eof = True
            return True
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.admitted:
            return
        self._cancel()
        self.connections.release(self)
        # asyncio closes the socket only after this call: its counters are still readable.
        tcp = tcp_state(self._socket())
        if tcp is not None:
            self._final_acked = tcp.bytes_acked
        if self.transport is not None:
            self.connections.guards.pop(self.transport, None)
            self.transport = None
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.admitted:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.admitted:
            self.inner.resume_writing()

    # called by the server's middleware around each request
    def request_started(self) -> None:
        self.state = self.BUSY
        now = self.loop.time()
        tcp = tcp_state(self._socket())
        acked = tcp.bytes_acked if tcp is not None else 0
        self._busy_since, self._moved_at = now, now
        self._acked_at_start = self._last_acked = acked
        self._arm(1.0, self._watch)

    def request_finished(self) -> None:
        if self.transport is None:
            return
        self.state = self.IDLE
        # After the peer's EOF no further request can come: close once the answer is out.
        self._arm(min(1.0, self.limits.idle_timeout) if self.peer_eof else self.limits.idle_timeout)

    def evict(self) -> None:
        """Makes room for a newcomer from a lighter address (see Connections)."""
        self.connections.release(self)
        if self.transport is not None:
            log.debug("evicting a take-home connection to make room")
            self._cut()

    def acked(self) -> int | None:
        """Bytes the client has acknowledged on this connection (also once it is closed)."""
        tcp = tcp_state(self._socket())
        return tcp.bytes_acked if tcp is not None else self._final_acked

    def _cut(self) -> None:
        """Closes with a reset: a plain close would leave the kernel delivering what is
        queued (up to the send buffer) to a client we just cut, uncounted."""
        sock = self._socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if self.transport is not None:
            self.transport.abort()

    def _socket(self) -> Any:
        return self.transport.get_extra_info("socket") if self.transport is not None else None

    def _arm(self, seconds: float, callback: Callable[[], None] | None = None) -> None:
        self._cancel()
        self._timer = self.loop.call_later(seconds, callback or self._expired)

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
                self._cut()

    def _watch(self) -> None:
        """Once a second while a request is answered: cut a send that stalls or crawls."""
        self._timer = None
        if self.state != self.BUSY or self.transport is None:
            return
        tcp = tcp_state(self._socket())
        if tcp is None:
            return
        now = self.loop.time()
        if tcp.bytes_acked != self._last_acked:
            self._last_acked, self._moved_at = tcp.bytes_acked, now
        queued = self.transport.get_write_buffer_size() > 0 or unsent(self._socket()) > 0
        elapsed = now - self._busy_since
        reason = None
        if queued and now - self._moved_at > self.limits.send_stall_timeout:
            reason = "stalled"
        elif queued and elapsed > self.limits.send_grace and (
            tcp.bytes_acked - self._acked_at_start
            < self.limits.min_send_rate * (elapsed - self.limits.send_grace)
        ):
            reason = "too slow"
        if reason is not None:
            log.info("cutting a take-home response: the phone's reading %s", reason)
            self._cut()
            return
        self._arm(1.0, self._watch)


