"""Who may use the console: the administrator's sessions and the lock-out of guessers.

Pure: no aiohttp, no database; the server (kiosk.console.server) holds one of each.

Sessions live in memory only: a restart signs everyone out, which for one administrator
is a small price for never writing a session id to disk. An id is 256 random bits
(secrets.token_urlsafe(32)); it is made only at a successful sign-in, so an id a visitor
brings along (a fixed one) never becomes a session, and it is tied to the address it was
made for, so one copied to another machine opens nothing. A session ends after
IDLE_SECONDS without a request, and on "Sign out". Each session has its own CSRF token, which
every form that changes something carries and the server compares in constant time.

The lock-out counts wrong passwords per client address: from the FAILURES_BEFORE_LOCK-th in
a row, each wrong one locks that address out for twice as long as the last (30 s, 60 s,
120 s ... up to a day). A right password clears it. A guesser on the staff network thus
gets a handful of tries an hour, and the administrator at another desk is not locked out.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

IDLE_SECONDS = 30 * 60
MAX_SESSIONS = 32  # one administrator, a few browsers; the oldest goes first beyond this
FAILURES_BEFORE_LOCK = 5
FIRST_LOCK_SECONDS = 30.0
MAX_LOCK_SECONDS = 24 * 3600.0
MAX_CLIENTS_TRACKED = 4096  # addresses with wrong passwords remembered; the oldest forgotten


@dataclass
class Session:
    id: str
    csrf: str
    client: str
    last_seen: float


class Sessions:
    def __init__(self, clock: Callable[[], float] = time.monotonic, idle_seconds: float = IDLE_SECONDS):
        self._clock = clock
        self._idle = idle_seconds
        self._lock = threading.Lock()
        self._by_id: OrderedDict[str, Session] = OrderedDict()

    def create(self, client: str) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), client, self._clock())
        with self._lock:
            self._by_id[session.id] = session
            while len(self._by_id) > MAX_SESSIONS:
                self._by_id.popitem(last=False)
        return session

    def get(self, session_id: str | None, client: str) -> Session | None:
        """The live session behind a cookie's id, from the address it was made for; touching
        it keeps it alive."""
        if not session_id:
            return None
        now = self._clock()
        with self._lock:
            session = self._by_id.get(session_id)
            if session is None:
                return None
            if now - session.last_seen > self._idle:
                del self._by_id[session_id]
                return None
            if not hmac.compare_digest(session.client, client):
                return None
            session.last_seen = now
            self._by_id.move_to_end(session_id)
            return session

    def end(self, session_id: str) -> None:
        with self._lock:
            self._by_id.pop(session_id, None)

    def end_all(self) -> None:
        """A new password: every session made with the old one ends."""
        with self._lock:
            self._by_id.clear()


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), str(sent).encode())


@dataclass
class _Client:
    failures: int = 0
    locked_until: float = 0.0
    lock_length: float = 0.0


class Lockout:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._clients: OrderedDict[str, _Client] = OrderedDict()

    def seconds_left(self, client: str) -> float:
        with self._lock:
            state = self._clients.get(client)
            if state is None:
                return 0.0
            return max(0.0, state.locked_until - self._clock())

    def failed(self, client: str) -> float:
        """Counts a wrong password; returns the seconds of the lock it started, or 0.0."""
        with self._lock:
            state = self._clients.pop(client, None) or _Client()
            self._clients[client] = state
            while len(self._clients) > MAX_CLIENTS_TRACKED:
                self._clients.popitem(last=False)
            state.failures += 1
            if state.failures < FAILURES_BEFORE_LOCK:
                return 0.0
            state.lock_length = min(MAX_LOCK_SECONDS, state.lock_length * 2 or FIRST_LOCK_SECONDS)
            state.locked_until = self._clock() + state.lock_length
            return state.lock_length

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._clients.pop(client, None)
