"""The phone-facing take-home server (aiohttp), in its own thread with its own event loop.

Routes, and nothing else:
  GET/HEAD /t/{token}                the link page
  GET/HEAD /t/{token}/audio/{n}      the n-th exercise's MP3, as an attachment (counted)
  GET/HEAD /t/{token}/script/{n}     its script PDF, as an attachment (counted)
  GET/HEAD /t/{token}/play/{n}       the MP3 inline, for the page's <audio> player (not counted)
  GET/HEAD /healthz                  "ok", for `kiosk doctor`
Files are addressed by their index within the link, never by a path: no URL maps to the
file system.

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

Timeouts. aiohttp has no header-read timeout, so each connection's protocol is wrapped
(`_GuardedProtocol`) with one timer: while no request is in progress, a connection that has
sent nothing closes after `idle_timeout`; once the first byte of a request head arrives, the
head must be complete within `header_timeout` (a client trickling headers a byte a second is
cut off). The timer is off while a request is being answered, so a long download on a slow
phone is never cut. The wrapper also counts connections per client address: over the cap, the
request is answered 503 with Retry-After and the connection closed.

Privacy. No log line holds a token or a client address: the access log has the method, the
route pattern (`/t/{token}/audio/{n}`), status, bytes and duration; aiohttp's own error
messages and asyncio's loop errors go through a redacting filter. Client addresses live only
in memory (connection counts, the unknown-token limiter), never on disk.
"""

from __future__ import annotations

import array
import asyncio
import concurrent.futures
import contextlib
import errno
import fcntl
import ipaddress
import logging
import os
import re
import socket
import termios
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import sqlite_utils
from aiohttp import hdrs, web
from aiohttp.abc import AbstractAccessLogger
from multidict import CIMultiDict

from kiosk.config import Settings
from kiosk.store import open_db
from kiosk.takehome import links
from kiosk.takehome.address import public_base_url
from kiosk.takehome.events import record_usage
from kiosk.takehome.pages import (
    CSP,
    ItemState,
    VariantInfo,
    page_lang,
    render_link_page,
    render_message,
)

log = logging.getLogger(__name__)
access_log = logging.getLogger("kiosk.takehome.access")
aiohttp_log = logging.getLogger("kiosk.takehome.aiohttp")

Lookup = Callable[[str, str], VariantInfo | None]
LookupFactory = Callable[[sqlite_utils.Database, Settings], Lookup]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TOKEN_PATTERN = "{token:[A-Za-z2-7]{26}}"
INDEX_PATTERN = "{n:[1-9][0-9]{0,2}}"
PURGE_EVERY_SECONDS = 3600.0


class TakeHomeError(Exception):
    """The server cannot start; the message is for a person (what, where, what to do)."""


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


def default_lookup_factory(db: sqlite_utils.Database, settings: Settings) -> Lookup:
    """The catalogue's `variant(exercise_id, lang)` on this thread's connection."""
    import importlib

    catalogue_module = importlib.import_module("kiosk.content")
    catalogue = catalogue_module.Catalogue(db, settings.content_dir)
    lookup: Lookup = catalogue.variant
    return lookup


# --- privacy: redaction of what aiohttp and asyncio log ---------------------------------

_REDACT = re.compile(
    r"[A-Za-z2-7]{26}"  # tokens
    r"|\b\d{1,3}(?:\.\d{1,3}){3}\b"  # IPv4 addresses
    r"|\b[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}\b"  # IPv6 addresses
)


def redact(message: str) -> str:
    return _REDACT.sub("[redacted]", message)


class RedactFilter(logging.Filter):
    """Rewrites a record so neither its message nor its traceback holds a token or address."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Error handling request") and record.exc_info:
            # A malformed request (a scanner, not a phone): one line, no traceback.
            error = record.exc_info[1]
            record.msg = f"refused a malformed request ({type(error).__name__})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
            return True
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = redact(message)
        record.args = ()
        return True


aiohttp_log.addFilter(RedactFilter())


def _loop_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # asyncio's default handler prints the socket (with the peer address) and protocol reprs.
    exc = context.get("exception")
    what = type(exc).__name__ if exc is not None else "no exception"
    log.warning("take-home event loop: %s (%s)", redact(str(context.get("message", ""))), what)


class AccessLogger(AbstractAccessLogger):
    """Method, route pattern, status, bytes, duration: never the path or the peer."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        route = "(no route)"
        try:
            resource = request.match_info.route.resource  # type: ignore[attr-defined]
        except (AttributeError, AssertionError):  # a request aiohttp refused before routing
            resource = None
        if resource is not None:
            route = resource.canonical
        method = request.method if request.method.isalpha() else "?"
        size = response.body_length
        if isinstance(response, web.FileResponse) and response.content_length is not None:
            size = response.content_length  # sent by sendfile(), which body_length misses
        self.logger.info(
            "%s %s %d %d bytes %.1f ms", method[:10], route, response.status, size, time * 1000.0
        )


# --- abuse limits ----------------------------------------------------------------------

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


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """The server loop's default executor: runs the call at once, in the loop's thread.

    aiohttp's FileResponse stats, opens and closes the file in the default executor. For a
    local file in the page cache that takes microseconds, while the hop to a thread pool (and
    the fight for the GIL that follows) put tens of milliseconds before the first byte when a
    hundred phones ask at once. (asyncio wants a ThreadPoolExecutor; no thread is ever started.)
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class _FileResponse(web.FileResponse):
    """A FileResponse sent by the handler itself (so the handler knows it completed).

    aiohttp calls prepare() again after the handler returns; FileResponse would send the
    file a second time, so that second call does nothing.
    """

    async def prepare(self, request: web.BaseRequest) -> Any:
        if self.prepared:
            return None
        return await super().prepare(request)


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


# --- the server ---------------------------------------------------------------------------

class TakeHomeServer:
    """`start()` binds in the caller (a busy port fails there, clearly), then serves in a
    thread named "takehome-server" with its own event loop and its own SQLite connection."""

    def __init__(
        self,
        settings: Settings,
        *,
        lookup_factory: LookupFactory = default_lookup_factory,
        clock: Callable[[], datetime] = links.utc_now,
        limits: Limits | None = None,
        tz: tzinfo | None = None,
    ):
        self.settings = settings
        self.lookup_factory = lookup_factory
        self.clock = clock
        self.limits = limits or Limits()
        self.tz = tz
        self.port: int | None = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._db: sqlite_utils.Database | None = None
        self._lookup: Lookup | None = None
        self._runner: web.AppRunner | None = None
        self._server: asyncio.AbstractServer | None = None
        self._purge_task: asyncio.Task[None] | None = None
        self._connections = _Connections(settings.take_home.max_connections_per_client,
                                         self.limits.max_connections_total)
        self._limiter = UnknownTokenLimiter(self.limits.unknown_token_limit,
                                            self.limits.unknown_token_window,
                                            self.limits.block_seconds)
        self._tracker = DeliveryTracker()

    # -- lifecycle

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the take-home server is already started")
        self._sock = self._bind()
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._run, name="takehome-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(30) and self._startup_error is None:
            self._startup_error = TimeoutError("it did not start within 30 seconds")
        if self._startup_error is not None:
            self._thread.join(5)
            self._thread = None
            error = self._startup_error
            raise TakeHomeError(f"the take-home server could not start: {error}") from error
        log.info("take-home server listening on port %d", self.port)

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(self.limits.shutdown_timeout + 10)
        if thread.is_alive():
            log.warning("the take-home server thread did not stop in time")
        self._thread = None
        log.info("take-home server stopped")

    def __enter__(self) -> TakeHomeServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return public_base_url(self.settings, port=self.port)

    def url_for(self, token: str) -> str:
        return f"{self.base_url}/t/{token}"

    def _bind(self) -> socket.socket:
        host, port = self.settings.take_home.bind, self.settings.take_home.port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        # Lets a restarted station reuse its port at once (connections in TIME_WAIT); Linux
        # still refuses a port that another program is listening on.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(512)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise TakeHomeError(
                    f"port {port} is already in use by another program; "
                    "set take_home.port in config.toml"
                ) from None
            if exc.errno == errno.EACCES:
                raise TakeHomeError(
                    f"port {port} needs administrator rights; set take_home.port in config.toml "
                    "to 1024 or above"
                ) from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise TakeHomeError(
                    f"{host} is not an address of this station; set take_home.bind in "
                    'config.toml (usually "0.0.0.0")'
                ) from None
            raise TakeHomeError(f"cannot listen on {host} port {port}: {exc.strerror}") from None
        sock.setblocking(False)
        return sock

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.set_exception_handler(_loop_exception_handler)
            loop.set_default_executor(_InlineExecutor(max_workers=1))
            self._db = open_db(self.settings.db_path)
            self._lookup = self.lookup_factory(self._db, self.settings)
            loop.run_until_complete(self._setup())
        except BaseException as exc:
            log.exception("the take-home server could not start")
            self._startup_error = exc
            self._ready.set()
            self._close_resources(loop)
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(self._shutdown())
            except Exception:
                log.exception("stopping the take-home server failed")
            self._close_resources(loop)

    def _close_resources(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._db is not None:
            self._db.close()
            self._db = None
        try:
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()

    async def _setup(self) -> None:
        app = self.make_app()
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log_class=AccessLogger,
            access_log=access_log,
            logger=aiohttp_log,
            keepalive_timeout=self.limits.idle_timeout,
            shutdown_timeout=self.limits.shutdown_timeout,
            max_line_size=4096,
            max_field_size=8190,
            max_headers=64,
        )
        await runner.setup()
        self._runner = runner
        loop = asyncio.get_running_loop()
        factory = runner.server
        assert factory is not None

        def protocol() -> asyncio.Protocol:
            return _GuardedProtocol(factory(), self._connections, self.limits, loop)

        assert self._sock is not None
        self._server = await loop.create_server(protocol, sock=self._sock)
        self._sock = None  # the server owns it now
        self._purge_task = loop.create_task(self._purge_forever())

    async def _shutdown(self) -> None:
        if self._purge_task is not None:
            self._purge_task.cancel()
        if self._server is not None:
            self._server.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._server is not None:
            # Connections refused before aiohttp saw them are not in the runner's list.
            for transport in list(self._connections.guards):
                transport.abort()
            await self._server.wait_closed()

    async def _purge_forever(self) -> None:
        while True:
            try:
                assert self._db is not None
                links.purge_expired(self._db, self.clock())
            except Exception:
                log.exception("purging old take-home links failed")
            await asyncio.sleep(PURGE_EVERY_SECONDS)

    # -- the application

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard_middleware, self._error_middleware])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get(f"/t/{TOKEN_PATTERN}", self._page)
        app.router.add_get(f"/t/{TOKEN_PATTERN}/audio/{INDEX_PATTERN}", self._audio)
        app.router.add_get(f"/t/{TOKEN_PATTERN}/script/{INDEX_PATTERN}", self._script)
        app.router.add_get(f"/t/{TOKEN_PATTERN}/play/{INDEX_PATTERN}", self._play)
        app.on_response_prepare.append(self._security_headers)
        return app

    @property
    def _default_lang(self) -> str:
        return self.settings.languages.default

    def _message(self, status: int, lang: str, key: str, headers: dict[str, str] | None = None,
                 **values: object) -> web.Response:
        return web.Response(status=status, text=render_message(lang, key, **values),
                            content_type="text/html", charset="utf-8", headers=headers)

    def _not_found(self, request: web.Request) -> web.Response:
        # The same bytes whatever was asked: an unknown link reveals nothing.
        if request.path.startswith("/t/"):
            self._limiter.note_unknown(client_key(request.transport.get_extra_info("peername")
                                                  if request.transport else None))
        return self._message(404, self._default_lang, "not_found")

    @staticmethod
    async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        headers["Content-Security-Policy"] = CSP
        headers["Referrer-Policy"] = "no-referrer"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Cross-Origin-Resource-Policy"] = "same-origin"
        headers.setdefault("Cache-Control", "no-store")
        headers[hdrs.SERVER] = "kiosk"

    @web.middleware
    async def _guard_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        guard = self._connections.guards.get(request.transport)
        if guard is not None:
            guard.request_started()
        try:
            if guard is not None and guard.over_cap:
                response = self._message(503, self._default_lang, "busy", {"Retry-After": "5"})
                response.force_close()
                return response
            if request.path.startswith("/t/"):
                client = guard.client if guard is not None else "unknown"
                retry = self._limiter.retry_after(client)
                if retry is not None:
                    minutes = max(1, (retry + 59) // 60)
                    return self._message(429, self._default_lang, "too_many",
                                         {"Retry-After": str(retry)}, n=minutes)
            return await handler(request)
        finally:
            if guard is not None:
                guard.request_finished()

    @web.middleware
    async def _error_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return self._not_found(request)
        except web.HTTPMethodNotAllowed:
            return self._message(405, self._default_lang, "not_allowed", {"Allow": "GET, HEAD"})
        except web.HTTPException as exc:
            if exc.status >= 400:
                return self._message(exc.status, self._default_lang, "error")
            raise
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception:
            route = request.match_info.route.resource
            log.exception("take-home request failed on %s",
                          route.canonical if route is not None else "(no route)")
            return self._message(500, self._default_lang, "error")

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    def _live_link(self, request: web.Request) -> links.LinkView | web.Response:
        assert self._db is not None
        state = links.resolve(self._db, request.match_info["token"], self.clock())
        if state is None:
            return self._not_found(request)
        if isinstance(state, links.LinkGone):
            return self._message(410, state.lang or self._default_lang, state.reason)
        return state

    def _variant(self, item: links.LinkItem) -> VariantInfo | None:
        assert self._lookup is not None
        return self._lookup(item.exercise_id, item.lang)

    async def _page(self, request: web.Request) -> web.StreamResponse:
        view = self._live_link(request)
        if isinstance(view, web.Response):
            return view
        items = [
            ItemState(
                it.position,
                self._variant(it),
                audio_left=not view.used_up(it.position, "audio"),
                script_left=not view.used_up(it.position, "pdf"),
            )
            for it in view.items
        ]
        token = links.normalize_token(request.match_info["token"]) or ""
        lang = view.items[0].lang
        body = render_link_page(token, items, view.expires_at, lang, self.tz)
        return web.Response(text=body, content_type="text/html", charset="utf-8")

    async def _audio(self, request: web.Request) -> web.StreamResponse:
        return await self._file(request, "audio", counted=True)

    async def _script(self, request: web.Request) -> web.StreamResponse:
        return await self._file(request, "pdf", counted=True)

    async def _play(self, request: web.Request) -> web.StreamResponse:
        return await self._file(request, "audio", counted=False)

    async def _file(self, request: web.Request, kind: str, counted: bool) -> web.StreamResponse:
        view = self._live_link(request)
        if isinstance(view, web.Response):
            return view
        position = int(request.match_info["n"])
        item = view.item(position)
        if item is None:
            return self._message(404, self._default_lang, "not_found")
        lang = page_lang(item.lang, self._default_lang)
        if view.used_up(position, kind):
            return self._message(410, lang, "used-up")
        variant = self._variant(item)
        path = None
        if variant is not None:
            path = Path(variant.audio_path if kind == "audio" else variant.script_pdf_path)
        try:
            size = os.stat(path).st_size if path is not None else -1
        except OSError:
            size = -1
        if path is None or size < 0:
            return self._message(410, lang, "file_gone")

        suffix = "mp3" if kind == "audio" else "pdf"
        name = re.sub(r"[^A-Za-z0-9._-]", "-", f"{item.exercise_id}-{item.lang}") + f".{suffix}"
        headers = CIMultiDict(
            {
                hdrs.CONTENT_TYPE: "audio/mpeg" if kind == "audio" else "application/pdf",
                hdrs.CONTENT_DISPOSITION: f'{"attachment" if counted else "inline"}; filename="{name}"',
                hdrs.CACHE_CONTROL: "private, no-store",
            }
        )
        wanted = parse_single_range(request.headers.get(hdrs.RANGE), size)
        if wanted == "unsatisfiable":
            return web.Response(status=416, headers={hdrs.CONTENT_RANGE: f"bytes */{size}",
                                                     hdrs.ACCEPT_RANGES: "bytes"})
        # FileResponse reads the range from the request: give it a copy with our single,
        # normalised range (or none), and without Accept-Encoding so it never looks for a
        # pre-compressed sibling file.
        clean = CIMultiDict(request.headers)
        clean.popall(hdrs.RANGE, None)
        clean.popall(hdrs.ACCEPT_ENCODING, None)
        if isinstance(wanted, tuple):
            clean[hdrs.RANGE] = f"bytes={wanted[0]}-{wanted[1] - 1}"
        response = _FileResponse(path, headers=headers)
        try:
            await response.prepare(request.clone(headers=clean))
        except (ConnectionError, OSError):
            response.force_close()  # the client went away: nothing counted
            return response
        if counted and request.method == hdrs.METH_GET and response.status in (200, 206):
            if await self._acknowledged(request):
                self._delivered(view, position, kind, size, response)
            else:
                response.force_close()
        return response

    async def _acknowledged(self, request: web.Request) -> bool:
        """Waits until the client has acknowledged every byte sent; False if it went away."""
        transport = request.transport
        if transport is None:
            return False
        sock = transport.get_extra_info("socket")
        if sock is None or _TIOCOUTQ is None:
            return not transport.is_closing()
        loop = asyncio.get_running_loop()
        left = array.array("i", [0])
        last, moved_at, delay = -1, loop.time(), 0.002
        while True:
            if sock.fileno() < 0:
                return False  # closed: the phone reset the connection
            try:
                fcntl.ioctl(sock.fileno(), _TIOCOUTQ, left)
                state = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 1)[0]
            except OSError:
                return False
            if state not in _TCP_OPEN_STATES:
                return False  # reset by the phone: the kernel dropped what was left
            if left[0] == 0:
                return True
            now = loop.time()
            if left[0] != last:
                last, moved_at = left[0], now
            elif now - moved_at > self.limits.stall_timeout:
                log.info("a take-home download stalled; closing it uncounted")
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _delivered(self, view: links.LinkView, position: int, kind: str, size: int,
                   response: web.StreamResponse) -> None:
        start, end = 0, size
        if response.status == 206:
            match = re.fullmatch(r"bytes (\d+)-(\d+)/\d+", response.headers.get(hdrs.CONTENT_RANGE, ""))
            if match is None:
                return
            start, end = int(match.group(1)), int(match.group(2)) + 1
        if not self._tracker.delivered((view.link_id, position, kind, size), size, start, end):
            return
        assert self._db is not None
        count = links.record_download(self._db, view.link_id, position, kind)
        item = view.item(position)
        log.info("take-home link %s: %s of item %d downloaded (%d of %d)", view.short_id,
                 kind, position, count, view.downloads_per_file)
        if item is not None:
            record_usage(self._db, "file_downloaded", item.exercise_id, item.lang,
                         self.settings.station_name, at=self.clock())


def wait_for_port(host: str, port: int, timeout: float = 5.0) -> bool:
    """True once something accepts connections on host:port (for `kiosk serve` and tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False

