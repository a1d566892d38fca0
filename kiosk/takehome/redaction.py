"""Log redaction for the take-home server.

Privacy. No log line holds a token or a client address: the access log has the method, the
route pattern (`/t/{token}/audio/{n}`), status, bytes and duration; aiohttp's own error
messages and asyncio's loop errors go through a redacting filter. Client addresses live only
in memory (connection counts, the unknown-token limiter), never on disk.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

log = logging.getLogger(__name__)
access_log = logging.getLogger("kiosk.takehome.access")
aiohttp_log = logging.getLogger("kiosk.takehome.aiohttp")


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


def loop_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
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
        # One kind of line per route and status for the log's flood limit (kiosk.logs).
        self.logger.info(
            "%s %s %d %d bytes %.1f ms", method[:10], route, response.status, size, time * 1000.0,
            extra={"rate_key": (route, response.status)},
        )
