"""Take-home links: private, expiring, revocable handles on one or more exercise variants.

Tokens: 16 bytes from `secrets` (128 bits), written in RFC 4648 base32 without padding:
26 characters of A-Z and 2-7. Base32 rather than base64url because a person may have to type
the address from the screen: one case only (we accept either case), no `-`/`_`, none of the
look-alikes 0/O, 1/I/l, 8/B. As a bonus, upper-case base32 is in QR's alphanumeric character
set, so the token part of the URL packs into fewer modules (version 3 instead of 4 for a
typical LAN address), which scans more easily at arm's length.

Each link also has a typing code: 8 characters of the same alphabet (40 bits), for a person
who cannot scan the QR code and types the address (`.../t/k7mq2pxa`, 28 characters on a
typical LAN address instead of 46). It opens the same link wherever the token does, for at
most CODE_DAYS (its own, shorter expiry: a short secret should live briefly), and guessing it
meets the server's unknown-link limit (20 wrong tries in 10 minutes, then 15 minutes of 429).

The database keeps only sha256(token) and sha256(code): a copy of it opens no link. Each link also gets a
short id (6 base32 characters, lower case, random and unrelated to the token) that is not a
secret and names the link in listings and for revoking.

Downloads are counted per file of the link (item x kind) and only when complete; what counts
as complete is decided by the server (see `kiosk.takehome.delivery.DeliveryTracker`), this
module only stores the counts.

Times are stored as UTC ISO-8601 text (`2025-01-14T17:30:00Z`), which sorts and compares as
text. Every function that depends on the time takes `now` (an aware datetime) so tests can
move the clock; it defaults to the wall clock.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import sqlite_utils
from sqlite_utils.migrations import Migrations

from kiosk.store import write_transaction
from kiosk.takehome.events import record_usage

log = logging.getLogger(__name__)

migrations = Migrations("kiosk.links")

KINDS: tuple[str, ...] = ("audio", "pdf")
TOKEN_BYTES = 16
TOKEN_LENGTH = 26  # base32 of 16 bytes, padding removed
TOKEN_RE = re.compile(r"[A-Z2-7]{26}")
SHORT_ID_LENGTH = 6
CODE_LENGTH = 8
CODE_RE = re.compile(r"[A-Z2-7]{8}")
CODE_DAYS = 2
SHORT_ID_RE = re.compile(r"[a-z2-7]{6}")
MAX_ITEMS = 20
PURGE_AFTER_DAYS = 14

GoneReason = Literal["expired", "revoked", "used-up"]


@migrations()
def m001_create_links(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE links (
            id INTEGER PRIMARY KEY,
            short_id TEXT NOT NULL UNIQUE,
            token_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            revoked_at TEXT,
            downloads_per_file INTEGER NOT NULL CHECK (downloads_per_file >= 1)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE link_items (
            link_id INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            exercise_id TEXT NOT NULL,
            lang TEXT NOT NULL,
            PRIMARY KEY (link_id, position)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE link_downloads (
            link_id INTEGER NOT NULL,
            position INTEGER NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('audio', 'pdf')),
            completed INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (link_id, position, kind),
            FOREIGN KEY (link_id, position) REFERENCES link_items(link_id, position)
                ON DELETE CASCADE
        )
        """
    )
    db.execute("CREATE INDEX links_expires_at ON links(expires_at)")


@migrations()
def m002_delivered_bytes(db: sqlite_utils.Database) -> None:
    # Bytes of each file handed out by any route (downloads, the inline player, ranges): the
    # limit the server enforces, beside the count of completed downloads.
    db.execute("ALTER TABLE link_downloads ADD COLUMN delivered_bytes INTEGER NOT NULL DEFAULT 0")


@migrations()
def m003_typing_code(db: sqlite_utils.Database) -> None:
    # The short code a person types instead of the token; older links have none.
    db.execute("ALTER TABLE links ADD COLUMN code_hash TEXT")
    db.execute("ALTER TABLE links ADD COLUMN code_expires_at TEXT")
    db.execute("CREATE UNIQUE INDEX links_code_hash ON links(code_hash)")


class LinkError(ValueError):
    """A link cannot be issued as asked; the message says why, for a person."""


@dataclass(frozen=True)
class IssuedLink:
    token: str
    short_id: str
    expires_at: datetime
    code: str = ""  # the typing code (lower case), valid until code_expires_at
    code_expires_at: datetime | None = None

    def __repr__(self) -> str:  # keeps the token out of logs and tracebacks
        return f"IssuedLink(short_id={self.short_id!r}, expires_at={self.expires_at.isoformat()})"


@dataclass(frozen=True)
class LinkItem:
    position: int  # 1-based, as in the URLs
    exercise_id: str
    lang: str
    downloads: dict[str, int] = field(default_factory=dict)  # kind -> completed downloads
    delivered: dict[str, int] = field(default_factory=dict)  # kind -> bytes handed out

    def completed(self, kind: str) -> int:
        return self.downloads.get(kind, 0)

    def delivered_bytes(self, kind: str) -> int:
        return self.delivered.get(kind, 0)


@dataclass(frozen=True)
class LinkView:
    """A live link, as the server and the therapist panel see it (never its token)."""

    link_id: int
    short_id: str
    created_at: datetime
    expires_at: datetime
    downloads_per_file: int
    items: tuple[LinkItem, ...]

    def item(self, position: int) -> LinkItem | None:
        for it in self.items:
            if it.position == position:
                return it
        return None

    def used_up(self, position: int, kind: str) -> bool:
        it = self.item(position)
        return it is None or it.completed(kind) >= self.downloads_per_file

    @property
    def total_downloads(self) -> int:
        return sum(sum(it.downloads.values()) for it in self.items)


@dataclass(frozen=True)
class LinkGone:
    """A link that existed but no longer works; the page says so kindly, in `lang`."""

    reason: GoneReason
    short_id: str
    lang: str


def utc_now() -> datetime:
    return datetime.now(UTC)


def _aware(now: datetime | None) -> datetime:
    if now is None:
        return utc_now()
    if now.tzinfo is None:
        raise ValueError("`now` must be timezone-aware (UTC)")
    return now.astimezone(UTC)


def _fmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def new_token() -> str:
    return base64.b32encode(secrets.token_bytes(TOKEN_BYTES)).decode("ascii").rstrip("=")


def normalize_token(text: str) -> str | None:
    """The canonical (upper-case) token, or None when `text` cannot be a token at all."""
    candidate = text.strip().upper()
    return candidate if TOKEN_RE.fullmatch(candidate) else None


def normalize_code(text: str) -> str | None:
    """The canonical (upper-case) typing code, or None when `text` cannot be one."""
    candidate = text.strip().upper()
    return candidate if CODE_RE.fullmatch(candidate) else None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _new_short_id(db: sqlite_utils.Database) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    while True:
        short_id = "".join(secrets.choice(alphabet) for _ in range(SHORT_ID_LENGTH))
        if db.execute("SELECT 1 FROM links WHERE short_id = ?", [short_id]).fetchone() is None:
            return short_id


def issue_link(
    db: sqlite_utils.Database,
    items: list[tuple[str, str]],
    days: int,
    downloads_per_file: int,
    now: datetime | None = None,
    *,
    station: str,
) -> IssuedLink:
    """Create a link for (exercise_id, lang) items and record "link_issued" for each, as
    issued on `station` (required: a link that is never counted is a defect, not a choice).

    The caller checks that the variants exist (it has the catalogue); this stores the link.
    """
    if not items:
        raise LinkError("a link needs at least one exercise")
    if len(items) > MAX_ITEMS:
        raise LinkError(f"a link can hold at most {MAX_ITEMS} exercises")
    if len(set(items)) != len(items):
        raise LinkError("the same exercise and language is listed twice")
    if not 1 <= days <= 365:
        raise LinkError("a link lasts from 1 to 365 days")
    if not 1 <= downloads_per_file <= 1000:
        raise LinkError("the downloads per file must be from 1 to 1000")
    moment = _aware(now)
    expires = moment + timedelta(days=days)
    token = new_token()
    code_expires = min(expires, moment + timedelta(days=CODE_DAYS))
    with write_transaction(db):
        short_id = _new_short_id(db)
        code = _new_code(db)
        cursor = db.execute(
            "INSERT INTO links (short_id, token_hash, created_at, expires_at, downloads_per_file,"
            " code_hash, code_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [short_id, token_hash(token), _fmt(moment), _fmt(expires), downloads_per_file,
             token_hash(code), _fmt(code_expires)],
        )
        link_id = cursor.lastrowid
        db.conn.executemany(
            "INSERT INTO link_items (link_id, position, exercise_id, lang) VALUES (?, ?, ?, ?)",
            [(link_id, n, exercise_id, lang) for n, (exercise_id, lang) in enumerate(items, 1)],
        )
        # In the same transaction, so the usage counts never disagree with the links.
        for exercise_id, lang in items:
            record_usage(db, "link_issued", exercise_id, lang, station, at=moment)
    log.info("take-home link %s issued: %d item(s), %d day(s)", short_id, len(items), days)
    return IssuedLink(token=token, short_id=short_id, expires_at=_parse(_fmt(expires)),
                      code=code.lower(), code_expires_at=_parse(_fmt(code_expires)))


def _new_code(db: sqlite_utils.Database) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    while True:
        code = "".join(secrets.choice(alphabet) for _ in range(CODE_LENGTH))
        if db.execute("SELECT 1 FROM links WHERE code_hash = ?", [token_hash(code)]).fetchone() is None:
            return code


def _items(db: sqlite_utils.Database, link_id: int) -> tuple[LinkItem, ...]:
    counts: dict[int, dict[str, int]] = {}
    delivered: dict[int, dict[str, int]] = {}
    for position, kind, completed, sent in db.execute(
        "SELECT position, kind, completed, delivered_bytes FROM link_downloads WHERE link_id = ?",
        [link_id],
    ):
        counts.setdefault(position, {})[kind] = completed
        delivered.setdefault(position, {})[kind] = sent
    return tuple(
        LinkItem(position, exercise_id, lang, counts.get(position, {}), delivered.get(position, {}))
        for position, exercise_id, lang in db.execute(
            "SELECT position, exercise_id, lang FROM link_items WHERE link_id = ? ORDER BY position",
            [link_id],
        )
    )


_LINK_COLUMNS = "id, short_id, created_at, expires_at, revoked_at, downloads_per_file"


def _view_or_gone(db: sqlite_utils.Database, row: tuple, moment: datetime) -> LinkView | LinkGone:
    link_id, short_id, created_at, expires_at, revoked_at, per_file = row
    items = _items(db, link_id)
    lang = items[0].lang if items else ""
    if revoked_at is not None:
        return LinkGone("revoked", short_id, lang)
    if _parse(expires_at) <= moment:
        return LinkGone("expired", short_id, lang)
    if all(it.completed(kind) >= per_file for it in items for kind in KINDS):
        return LinkGone("used-up", short_id, lang)
    return LinkView(link_id, short_id, _parse(created_at), _parse(expires_at), per_file, items)


def resolve(
    db: sqlite_utils.Database, token: str, now: datetime | None = None
) -> LinkView | LinkGone | None:
    """The live link behind `token` (or its typing code), why it no longer works, or None if
    it never existed (a typing code past its own expiry no longer exists)."""
    moment = _aware(now)
    canonical = normalize_token(token)
    if canonical is not None:
        row = db.execute(
            f"SELECT {_LINK_COLUMNS} FROM links WHERE token_hash = ?", [token_hash(canonical)]
        ).fetchone()
    elif (code := normalize_code(token)) is not None:
        row = db.execute(
            f"SELECT {_LINK_COLUMNS} FROM links WHERE code_hash = ? AND code_expires_at > ?",
            [token_hash(code), _fmt(moment)],
        ).fetchone()
    else:
        return None
    if row is None:
        return None
    return _view_or_gone(db, row, moment)


def revoke(db: sqlite_utils.Database, token_or_short_id: str, now: datetime | None = None) -> bool:
    """Revoke by short id or full token; True when a link that was not yet revoked now is."""
    text = token_or_short_id.strip()
    moment = _fmt(_aware(now))
    canonical = normalize_token(text)
    with write_transaction(db):
        if canonical is not None:
            cursor = db.execute(
                "UPDATE links SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
                [moment, token_hash(canonical)],
            )
        elif SHORT_ID_RE.fullmatch(text.lower()):
            cursor = db.execute(
                "UPDATE links SET revoked_at = ? WHERE short_id = ? AND revoked_at IS NULL",
                [moment, text.lower()],
            )
        else:
            return False
    done = cursor.rowcount > 0
    if done:
        short = db.execute(
            "SELECT short_id FROM links WHERE revoked_at = ? ORDER BY id DESC LIMIT 1", [moment]
        ).fetchone()
        log.info("take-home link %s revoked", short[0] if short else "?")
    return done


def live_links(db: sqlite_utils.Database, now: datetime | None = None) -> list[LinkView]:
    """Links that still work, newest first."""
    moment = _aware(now)
    rows = db.execute(
        f"SELECT {_LINK_COLUMNS} FROM links WHERE revoked_at IS NULL AND expires_at > ?"
        " ORDER BY created_at DESC, id DESC",
        [_fmt(moment)],
    ).fetchall()
    views = [_view_or_gone(db, row, moment) for row in rows]
    return [v for v in views if isinstance(v, LinkView)]


def purge_expired(
    db: sqlite_utils.Database, now: datetime | None = None, keep_days: int = PURGE_AFTER_DAYS
) -> int:
    """Delete links that expired or were revoked more than `keep_days` ago; returns how many.

    They are kept that long so that a client who comes back a little late still gets the kind
    "ask at reception" page rather than the page for an address that never existed.
    """
    cutoff = _fmt(_aware(now) - timedelta(days=keep_days))
    with write_transaction(db):
        cursor = db.execute(
            "DELETE FROM links WHERE expires_at <= ? OR (revoked_at IS NOT NULL AND revoked_at <= ?)",
            [cutoff, cutoff],
        )
    if cursor.rowcount:
        log.info("purged %d old take-home link(s)", cursor.rowcount)
    return cursor.rowcount


def record_download(db: sqlite_utils.Database, link_id: int, position: int, kind: str) -> int:
    """Count one completed download of a file of a link; returns the new count."""
    if kind not in KINDS:
        raise ValueError(f"unknown file kind {kind!r}")
    with write_transaction(db):
        db.execute(
            "INSERT INTO link_downloads (link_id, position, kind, completed) VALUES (?, ?, ?, 1)"
            " ON CONFLICT (link_id, position, kind) DO UPDATE SET completed = completed + 1",
            [link_id, position, kind],
        )
    row = db.execute(
        "SELECT completed FROM link_downloads WHERE link_id = ? AND position = ? AND kind = ?",
        [link_id, position, kind],
    ).fetchone()
    return int(row[0])


def record_delivered(db: sqlite_utils.Database, link_id: int, position: int, kind: str,
                     nbytes: int) -> None:
    """Add bytes of a file of a link handed to a phone, by whatever route."""
    if kind not in KINDS:
        raise ValueError(f"unknown file kind {kind!r}")
    if nbytes <= 0:
        return
    with write_transaction(db):
        db.execute(
            "INSERT INTO link_downloads (link_id, position, kind, completed, delivered_bytes)"
            " VALUES (?, ?, ?, 0, ?) ON CONFLICT (link_id, position, kind)"
            " DO UPDATE SET delivered_bytes = delivered_bytes + excluded.delivered_bytes",
            [link_id, position, kind, nbytes],
        )
