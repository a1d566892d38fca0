"""The phone-facing take-home server (aiohttp), in its own thread with its own event loop.

Longer than most modules because every route's handler is here, next to the lifecycle that
wires the guard and the delivery accounting into each response; the limits, the accounting
and the redaction are their own modules.

Routes, and nothing else:
  GET/HEAD /t/{token}                the link page ({token}: the token or the typing code)
  GET/HEAD /t/{token}/audio/{n}      the n-th exercise's audio, as an attachment (counted)
  GET/HEAD /t/{token}/script/{n}     its script PDF, as an attachment (counted)
  GET/HEAD /t/{token}/play/{n}       the audio inline, for the page's <audio> player (not counted)
  GET/HEAD /healthz                  "ok", for `kiosk doctor`
Files are addressed by their index within the link, never by a path: no URL maps to the
file system.

The parts: `guard` (abuse limits: connections, timeouts, rate limits), `delivery`
(what was delivered per file per link), `redaction` (what reaches the logs).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import logging
import os
import re
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import sqlite_utils
from aiohttp import hdrs, web
from aiohttp.web_protocol import RequestHandler
from multidict import CIMultiDict, CIMultiDictProxy

from kiosk.config import Settings
from kiosk.logs import RECORDS_LOGGER
from kiosk.loopthread import LoopThread
from kiosk.takehome import links
from kiosk.takehome.address import public_base_url
from kiosk.takehome.delivery import (
    DeliveryTracker,
    ETags,
    FileKey,
    FileResponse,
    Reservations,
    acknowledged,
    byte_budget,
    if_range_allows,
    parse_single_range,
)
from kiosk.takehome.events import record_usage
from kiosk.takehome.guard import (
    ACCEPT_BATCH,
    Connections,
    GuardedProtocol,
    Limits,
    UnknownTokenLimiter,
    client_key,
)
from kiosk.takehome.pages import (
    CSP,
    ItemState,
    VariantInfo,
    audio_type,
    page_lang,
    render_link_page,
    render_message,
)
from kiosk.takehome.redaction import AccessLogger, access_log, aiohttp_log, loop_exception_handler

log = logging.getLogger(__name__)
# Completed downloads: records an administrator may need, kept apart from noise (kiosk.logs).
records_log = logging.getLogger(RECORDS_LOGGER)

Lookup = Callable[[str, str], VariantInfo | None]
LookupFactory = Callable[[sqlite_utils.Database, Settings], Lookup]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TOKEN_PATTERN = "{token:[A-Za-z2-7]{26}|[A-Za-z2-7]{8}}"  # the token, or the typing code
INDEX_PATTERN = "{n:[1-9][0-9]{0,2}}"
PURGE_EVERY_SECONDS = 3600.0


class TakeHomeError(Exception):
    """The server cannot start; the message is for a person (what, where, what to do)."""


def default_lookup_factory(db: sqlite_utils.Database, settings: Settings) -> Lookup:
    """The catalogue's `variant(exercise_id, lang)` on this thread's connection."""
    from kiosk.content import Catalogue  # here: the server's tests pass their own lookup

    lookup: Lookup = Catalogue(db, settings.content_dir).variant
    return lookup


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




# --- the server ---------------------------------------------------------------------------

LISTEN_BACKLOG = 4096  # connections the kernel holds before accept (capped by net.core.somaxconn)


class TakeHomeServer(LoopThread):
    """`start()` binds in the caller (a busy port fails there, clearly), then serves in a
    thread named "takehome-server" with its own event loop and its own SQLite connection."""

    what = "the take-home server"
    thread_name = "takehome-server"

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
        super().__init__(settings.db_path)
        self.port: int | None = None
        self._lookup: Lookup | None = None
        self._runner: web.AppRunner | None = None
        self._server: asyncio.AbstractServer | None = None
        self._purge_task: asyncio.Task[None] | None = None
        self._connections = Connections(settings.take_home.max_connections_per_client,
                                        self.limits.max_connections_total,
                                        self._refusal_bytes())
        self._limiter = UnknownTokenLimiter(self.limits.unknown_token_limit,
                                            self.limits.unknown_token_window,
                                            self.limits.block_seconds)
        self._tracker = DeliveryTracker()
        self._reservations = Reservations()
        self._etags = ETags()

    # -- lifecycle

    def start(self, sock: socket.socket | None = None) -> None:
        """Binds (or takes `sock`, already listening: the station's take-home process gets
        its socket from the parent, which keeps it across restarts) and starts serving."""
        sock = sock if sock is not None else bind(self.settings)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        error = self._start_thread(sock)
        if error is not None:
            raise TakeHomeError(f"the take-home server could not start: {error}") from error
        log.info("take-home server listening on port %d", self.port)

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop_thread(self.limits.shutdown_timeout + 10)
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


    def _prepare(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.set_exception_handler(loop_exception_handler)
        loop.set_default_executor(_InlineExecutor(max_workers=1))

    async def _setup(self) -> None:
        assert self._db is not None
        self._lookup = self.lookup_factory(self._db, self.settings)
        app = self.make_app()
        # The protocol options, kept in one place: AppRunner hands them to aiohttp's Server,
        # and our protocol factory below makes each connection's handler with the same ones
        # (rather than reading the Server's private copy of them).
        handler_options: dict[str, Any] = dict(
            access_log_class=AccessLogger,
            access_log=access_log,
            logger=aiohttp_log,
            keepalive_timeout=self.limits.idle_timeout,
            max_line_size=4096,
            max_field_size=8190,
            max_headers=64,
        )
        runner = web.AppRunner(app, handle_signals=False,
                               shutdown_timeout=self.limits.shutdown_timeout, **handler_options)
        await runner.setup()
        self._runner = runner
        loop = asyncio.get_running_loop()
        factory = runner.server
        assert factory is not None

        def protocol() -> asyncio.Protocol:
            # aiohttp's own protocol, as its Server would make it, with our error answers.
            inner = _RequestHandler(factory, loop=loop, **handler_options)
            inner.answer = self._parser_error
            return GuardedProtocol(inner, self._connections, self.limits, loop)

        assert self._sock is not None
        self._server = await loop.create_server(protocol, sock=self._sock, backlog=ACCEPT_BATCH)
        # asyncio makes the kernel's queue as short as its accept batch (it calls listen with
        # the same number). Under a storm of reconnecting sockets that queue overflowed and a
        # phone's connection was dropped, to be retried by its TCP a second later (1.0-1.5 s
        # first bytes in bench/takehome.py's storms, now and then, with 100 or 512): the queue
        # costs no descriptor, so it is made long; asyncio still accepts ACCEPT_BATCH at a
        # time. A phone then waits behind the storm's queued reconnects instead (0.2-0.3 s).
        self._sock.listen(LISTEN_BACKLOG)
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
        add_security_headers(response.headers)

    def _parser_error(self, status: int) -> web.Response:
        """The answer to a request aiohttp's parser refused: our page, nothing echoed."""
        status = status if 400 <= status < 600 else 400
        response = self._message(status, self._default_lang, "error")
        add_security_headers(response.headers)
        return response

    def _refusal_bytes(self) -> bytes:
        """The whole answer to a connection refused at accept (over its address's cap)."""
        body = render_message(self._default_lang, "busy").encode()
        headers: CIMultiDict[str] = CIMultiDict({
            hdrs.CONTENT_TYPE: "text/html; charset=utf-8",
            hdrs.CONTENT_LENGTH: str(len(body)),
            hdrs.RETRY_AFTER: "5",
            hdrs.CONNECTION: "close",
        })
        add_security_headers(headers)
        head = "HTTP/1.1 503 Service Unavailable\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers.items())
        return head.encode("ascii") + b"\r\n" + body

    @web.middleware
    async def _guard_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        guard = self._connections.guards.get(request.transport)
        if guard is not None:
            guard.request_started()
        try:
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
        items = []
        for it in view.items:
            variant = self._variant(it)
            items.append(ItemState(
                it.position,
                variant,
                audio_left=self._left(view, it, "audio", variant),
                script_left=self._left(view, it, "pdf", variant),
            ))
        raw = request.match_info["token"]
        token = links.normalize_token(raw) or links.normalize_code(raw) or ""  # a typing code too
        lang = view.items[0].lang
        body = render_link_page(token, items, view.expires_at, lang, self.tz)
        return web.Response(text=body, content_type="text/html", charset="utf-8")

    def _left(self, view: links.LinkView, item: links.LinkItem, kind: str,
              variant: VariantInfo | None) -> bool:
        """Whether one more whole copy of the file may still be handed out."""
        if view.used_up(item.position, kind):
            return False
        if variant is None:
            return True
        size = variant.phone_bytes if kind == "audio" else variant.script_pdf_bytes
        held = self._reservations.held((view.link_id, item.position, kind))
        return item.delivered_bytes(kind) + held + size <= byte_budget(view.downloads_per_file, size)

    async def _audio(self, request: web.Request) -> web.StreamResponse:
        return await self._file(request, "audio", counted=True)

    async def _script(self, request: web.Request) -> web.StreamResponse:
        return await self._file(request, "pdf", counted=True)

    async def _play(self, request: web.Request) -> web.StreamResponse:
        return await self._file(request, "audio", counted=False)

    async def _file(self, request: web.Request, kind: str, counted: bool) -> web.StreamResponse:
        """A file of the link; `counted` routes also count completed downloads. Every route
        spends the file's bytes (see kiosk.takehome.delivery)."""
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
            path = Path(variant.phone_path if kind == "audio" else variant.script_pdf_path)
        try:
            st = os.stat(path) if path is not None else None
        except OSError:
            st = None
        if path is None or st is None:
            return self._message(410, lang, "file_gone")
        size = st.st_size

        # The phone names and plays the file by these: its own suffix, its own type.
        suffix = path.suffix.lower() if kind == "audio" else ".pdf"
        name = re.sub(r"[^A-Za-z0-9._-]", "-", f"{item.exercise_id}-{item.lang}{suffix}")
        headers = CIMultiDict(
            {
                hdrs.CONTENT_TYPE: audio_type(path)[0] if kind == "audio" else "application/pdf",
                hdrs.CONTENT_DISPOSITION: f'{"attachment" if counted else "inline"}; filename="{name}"',
                hdrs.CACHE_CONTROL: "private, no-store",
            }
        )
        etag = self._etags.of(st)
        asked = request.headers.get(hdrs.RANGE)
        if not if_range_allows(request.headers.get(hdrs.IF_RANGE), etag, st):
            asked = None  # the phone's partial copy is stale: send the whole file
        wanted = parse_single_range(asked, size)
        if wanted == "unsatisfiable":
            return web.Response(status=416, headers={hdrs.CONTENT_RANGE: f"bytes */{size}",
                                                     hdrs.ACCEPT_RANGES: "bytes"})
        start, end = wanted if isinstance(wanted, tuple) else (0, size)
        length = end - start if request.method == hdrs.METH_GET else 0
        key: FileKey = (view.link_id, position, kind)
        budget = byte_budget(view.downloads_per_file, size)
        if length and not self._reservations.reserve(key, item.delivered_bytes(kind), budget, length):
            log.info("take-home link %s: %s of item %d refused, its bytes are spent",
                     view.short_id, kind, position)
            return self._message(410, lang, "used-up")
        # FileResponse reads the range from the request: give it a copy holding only our
        # single, normalised range. Nothing else of the phone's headers is re-encoded (a
        # header byte that is not UTF-8 stays harmless) and conditionals are ours (If-Range
        # above; no 304s for files that are never cached).
        clean: CIMultiDict[str] = CIMultiDict()
        if isinstance(wanted, tuple):
            clean[hdrs.RANGE] = f"bytes={start}-{end - 1}"
        guard = self._connections.guards.get(request.transport)
        acked_before = guard.acked() if guard is not None and length else None
        response = FileResponse(path, etag, headers=headers)
        complete = False
        try:
            try:
                await response.prepare(request.clone(headers=CIMultiDictProxy(clean)))
            except (ConnectionError, OSError):
                response.force_close()  # the client went away: no download counted
                return response
            if request.method == hdrs.METH_GET and response.status in (200, 206):
                complete = await acknowledged(request)
                if not complete:
                    response.force_close()
        finally:
            if length:
                self._spend(view, key, length, acked_before,
                            guard.acked() if guard is not None else None)
        if complete and counted:
            self._delivered(view, position, kind, size, response)
        return response

    def _spend(self, view: links.LinkView, key: FileKey, length: int, before: int | None,
               after: int | None) -> None:
        """Charges what the phone acknowledged (the whole length if unknown), frees the rest."""
        self._reservations.release(key, length)
        sent = length if before is None or after is None else min(length, max(0, after - before))
        assert self._db is not None
        links.record_delivered(self._db, view.link_id, key[1], key[2], sent)

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
        records_log.info("take-home link %s: %s of item %d downloaded (%d of %d)", view.short_id,
                         kind, position, count, view.downloads_per_file)
        if item is not None:
            record_usage(self._db, "file_downloaded", item.exercise_id, item.lang,
                         self.settings.station_name, at=self.clock())


def add_security_headers(headers: Any) -> None:
    """Our headers on every answer, aiohttp's version banner replaced."""
    headers["Content-Security-Policy"] = CSP
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers.setdefault("Cache-Control", "no-store")
    headers[hdrs.SERVER] = "kiosk"


def bind(settings: Settings) -> socket.socket:
    """The take-home port, listening; a clear TakeHomeError when it cannot be had."""
    host, port = settings.take_home.bind, settings.take_home.port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # Lets a restarted station reuse its port at once (connections in TIME_WAIT); Linux
    # still refuses a port that another program is listening on.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
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


class _RequestHandler(RequestHandler):
    """aiohttp's protocol with our answer to what its parser refuses (a malformed request
    line or header): our page and headers, no version banner, nothing of the request echoed.
    aiohttp still logs the error (through the redacting filter) and closes the connection."""

    answer: Callable[[int], web.Response]

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None, message: str | None = None) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)
        response = self.answer(status)
        response.force_close()
        return response


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

