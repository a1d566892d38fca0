"""The therapist PIN: which PINs are accepted, how they are stored, and the lockout.

Pure: no Kivy, no database. The UI runs `PinLockout.attempt` off the UI thread, since one
verification deliberately takes a few tenths of a second.

Stored form (the `therapist.pin_hash` key of config.toml):

    scrypt$n=131072,r=8,p=1$<salt, base64>$<key, base64>

scrypt at OWASP's Password Storage Cheat Sheet parameters (N=2^17, r=8, p=1: 128 MiB and
roughly 0.4 s per verification on the 2-core development machine) with a 16-byte random salt
and a 32-byte key. The parameters travel with the hash, so a later release can raise them
and still verify PINs set before.

Why the lockout matters more than the hash: a 6-digit PIN has only a million values, so no
hash stops an offline attack on a stolen config file for long. The hash keeps the PIN out of
plain sight (the config file, backups, a support e-mail); the lockout is what stops someone
at the screen, who gets five tries a minute at first and fewer and fewer after.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.files import write_atomically

log = logging.getLogger(__name__)

MIN_LENGTH = 6
MAX_LENGTH = 16

# OWASP Password Storage Cheat Sheet, scrypt: "N=2^17 (128 MiB), r=8 (1024 bytes), p=1".
SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32

# What a stored hash may ask of us. A hash string comes from a file a person can edit, so
# parameters that would take gigabytes or minutes are refused instead of attempted.
MAX_MEMORY_BYTES = 256 * 1024 * 1024
MAX_P = 16

# Very common 6-digit PINs seen in published studies of PIN choice and in leaked password
# lists that are not plain runs or repeats: mirrors, keypad shapes, counting by twos or tens,
# number-word puns. Several are refused by the rules below as well; the list keeps them
# refused, with the clearer message, whatever becomes of a rule.
COMMON_PINS = frozenset({
    "123321", "321123", "456654", "654456", "789987", "987789", "100001", "123654",
    "102030", "112358", "121314", "131420", "520131", "147369", "963741", "142536",
    "098890", "135790", "246810", "010203", "123987", "998877", "199119",
})

# Lines of three keys on a phone keypad (1-2-3 on top, 0 under 8) and, as the same digit
# sets, a computer's numeric keypad: rows, columns, diagonals and the 2-5-8-0 column, both
# ways. PINs made of such strokes (147258, 159753, 789456) are picked for their shape.
_KEYPAD_LINES = ("123", "456", "789", "147", "258", "369", "159", "357", "580")
KEYPAD_STROKES = frozenset(s for line in _KEYPAD_LINES for s in (line, line[::-1]))

_DIGITS = re.compile(r"[0-9]*")


def _steps_evenly(digits: str) -> bool:
    """Each digit is the last plus a fixed step, counting round from 9 to 0 (890123, 135791)."""
    step = (int(digits[1]) - int(digits[0])) % 10
    return all((int(b) - int(a)) % 10 == step for a, b in zip(digits, digits[1:], strict=False))


def _repeats_a_block(digits: str) -> bool:
    """The PIN is one shorter block written again and again (121212, 123123, 007007)."""
    n = len(digits)
    return any(n % size == 0 and digits[:size] * (n // size) == digits for size in range(1, n // 2 + 1))


def _doubled_sequence(digits: str) -> bool:
    """Each digit of an even-stepping sequence written k >= 2 times (112233, 998877, 111222333)."""
    n = len(digits)
    for k in range(2, n // 2 + 1):
        if n % k:
            continue
        blocks = [digits[i:i + k] for i in range(0, n, k)]
        if all(b == b[0] * k for b in blocks) and _steps_evenly("".join(b[0] for b in blocks)):
            return True
    return False


def _keypad_shape(digits: str) -> bool:
    n = len(digits)
    return n % 3 == 0 and all(digits[i:i + 3] in KEYPAD_STROKES for i in range(0, n, 3))


def _is_day_month(day: int, month: int) -> bool:
    if not 1 <= month <= 12 or day < 1:
        return False
    return day <= (29 if month == 2 else 30 if month in (4, 6, 9, 11) else 31)


def _reads_as_date(digits: str) -> bool:
    """A date as people type birthdays: DDMMYY or MMDDYY (6 digits), DDMMYYYY, MMDDYYYY or
    YYYYMMDD with a year from 1920 to 2039 (8 digits). Other lengths are not dates."""
    if len(digits) == 6:
        a, b = int(digits[0:2]), int(digits[2:4])
        return _is_day_month(a, b) or _is_day_month(b, a)
    if len(digits) == 8:
        a, b, year = int(digits[0:2]), int(digits[2:4]), int(digits[4:8])
        if 1920 <= year <= 2039 and (_is_day_month(a, b) or _is_day_month(b, a)):
            return True
        year, month, day = int(digits[0:4]), int(digits[4:6]), int(digits[6:8])
        return 1920 <= year <= 2039 and _is_day_month(day, month)
    return False


def validate_new_pin(pin: str) -> list[str]:
    """Problems with a proposed therapist PIN, one plain sentence each; empty when it is fine.

    Refused, besides the wrong length or anything but the digits 0-9:
    - fewer than three different digits (111111, 696969, 100100);
    - digits that step evenly, counting round from 9 to 0 (123456, 987654, 890123, 135791);
    - a shorter block repeated (123123, 120120) or a doubled sequence (112233, 998877);
    - strokes along a keypad (147258, 159753, 789456);
    - a date such as a birthday (6 digits as DDMMYY or MMDDYY; 8 as DDMMYYYY, MMDDYYYY or
      YYYYMMDD). This alone refuses about one 6-digit PIN in seventeen, which is the
      point: dates are what people pick, and what someone who knows them would try first;
    - a short list of other very common PINs (COMMON_PINS).
    In all about 6% of 6-digit PINs are refused, leaving some 940,000 to choose from.
    """
    if not isinstance(pin, str) or not pin:
        return [f"Type a PIN of at least {MIN_LENGTH} digits."]
    problems: list[str] = []
    if not _DIGITS.fullmatch(pin):
        problems.append("Use only the digits 0 to 9 (the PIN pad has nothing else).")
    if len(pin) < MIN_LENGTH:
        problems.append(f"Use at least {MIN_LENGTH} digits (this has {len(pin)}).")
    elif len(pin) > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} digits (this has {len(pin)}).")
    if problems:
        return problems

    if pin in COMMON_PINS:
        problems.append("This is one of the most commonly chosen PINs.")
    elif len(set(pin)) < 3:
        problems.append("Use at least three different digits.")
    elif _steps_evenly(pin):
        problems.append("Digits that count up or down in even steps are among the first guessed.")
    elif _repeats_a_block(pin) or _doubled_sequence(pin):
        problems.append("A repeated pattern of digits is among the first guessed.")
    elif _keypad_shape(pin):
        problems.append("Straight lines across the keypad are among the first guessed.")
    elif _reads_as_date(pin):
        problems.append("This reads as a date, such as a birthday; dates are among the first guessed.")
    return problems


# --- hashing -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScryptParams:
    n: int
    r: int
    p: int
    salt: bytes
    key: bytes

    def memory_bytes(self) -> int:
        # What OpenSSL's scrypt allocates: the V array (N+2 blocks) plus the p B blocks.
        return 128 * self.r * (self.n + self.p + 2)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _derive(pin: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    maxmem = 128 * r * (n + p + 2) + 1024 * 1024
    return hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=length)


def hash_pin(pin: str) -> str:
    """A new salted scrypt hash of `pin` in the stored form (takes a few tenths of a second)."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES)
    return f"scrypt$n={SCRYPT_N},r={SCRYPT_R},p={SCRYPT_P}${_b64(salt)}${_b64(key)}"


_PARAM = re.compile(r"[1-9][0-9]{0,9}")


def parse_pin_hash(stored: str) -> ScryptParams | None:
    """The parameters, salt and key of a stored hash; None when it is malformed or asks for
    more memory or work than a station should spend (see MAX_MEMORY_BYTES)."""
    if not isinstance(stored, str):
        return None
    parts = stored.strip().split("$")
    if len(parts) != 4 or parts[0] != "scrypt":
        return None
    values: dict[str, int] = {}
    for item in parts[1].split(","):
        name, sep, value = item.partition("=")
        if not sep or name not in ("n", "r", "p") or name in values or not _PARAM.fullmatch(value):
            return None
        values[name] = int(value)
    if set(values) != {"n", "r", "p"}:
        return None
    try:
        salt, key = _unb64(parts[2]), _unb64(parts[3])
    except (binascii.Error, ValueError):
        return None
    params = ScryptParams(values["n"], values["r"], values["p"], salt, key)
    n = params.n
    if n < 2 or n & (n - 1) or params.p > MAX_P or params.memory_bytes() > MAX_MEMORY_BYTES:
        return None
    if not 8 <= len(salt) <= 64 or not 16 <= len(key) <= 64:
        return None
    return params


def verify_pin(pin: str, stored: str) -> bool:
    """Whether `pin` matches the stored hash. A malformed or empty hash never matches."""
    params = parse_pin_hash(stored)
    if params is None or not isinstance(pin, str):
        return False
    try:
        candidate = _derive(pin, params.salt, params.n, params.r, params.p, len(params.key))
    except (ValueError, MemoryError):
        log.warning("the stored PIN hash could not be checked (scrypt refused its parameters)")
        return False
    return hmac.compare_digest(candidate, params.key)


def needs_rehash(stored: str) -> bool:
    """True when a hash uses weaker parameters than today's (set the PIN again to upgrade)."""
    params = parse_pin_hash(stored)
    if params is None:
        return True
    return (params.n < SCRYPT_N or params.r < SCRYPT_R or params.p < SCRYPT_P
            or len(params.key) < KEY_BYTES or len(params.salt) < SALT_BYTES)


# --- lockout -------------------------------------------------------------------------------

FAILURES_PER_LOCK = 5
FIRST_LOCK_SECONDS = 60.0
# Doubling without end would lock a forgetful clinic out for weeks; a day between rounds
# still leaves someone at the screen about five guesses a day against a million PINs.
MAX_LOCK_SECONDS = 24 * 3600.0
LOCKOUT_FILE_NAME = "pin-lockout.json"


@dataclass(frozen=True)
class AttemptResult:
    """What the PIN pad shows after an attempt."""

    ok: bool
    locked_seconds: float = 0.0  # > 0: the pad is locked this long (PIN was not checked, or this failure locked it)
    failures: int = 0  # wrong PINs in a row so far


class PinLockout:
    """Counts wrong PINs and locks the pad: five wrong in a row lock it for a minute; after
    that, each further five lock it twice as long as the last (120, 240 s ... up to a day).
    A right PIN resets everything.

    The state lives in a small JSON file in the data folder, rewritten atomically at each
    change, so switching the station off and on again does not reset a lockout. A file
    rather than a table: the pad reads the time left on the UI thread every second and the
    attempt runs on a worker thread, while an SQLite connection belongs to one thread; and
    the state is a handful of numbers that need no query.

    The end of a lock is kept as wall-clock time (a monotonic clock restarts at boot). A
    station without a real-time clock may boot with its clock behind; the time left is
    therefore never more than the lock's own length, so a clock that jumps back cannot
    lock the pad for longer than intended.
    """

    def __init__(self, state_path: Path | None, *, clock: Callable[[], float] = time.time,
                 failures_per_lock: int = FAILURES_PER_LOCK,
                 first_lock_seconds: float = FIRST_LOCK_SECONDS,
                 max_lock_seconds: float = MAX_LOCK_SECONDS):
        self._path = state_path
        self._clock = clock
        self._per_lock = failures_per_lock
        self._first = first_lock_seconds
        self._max = max_lock_seconds
        self._state_lock = threading.Lock()
        self._attempt_lock = threading.Lock()
        self._failures = 0  # wrong PINs since the last success
        self._locks = 0  # locks since the last success
        self._locked_until = 0.0
        self._lock_length = 0.0
        self._load()

    @classmethod
    def for_data_dir(cls, data_dir: Path, **kwargs: Any) -> PinLockout:
        """The station's lockout, kept in `data_dir` (what `kiosk set-pin` clears)."""
        return cls(Path(data_dir) / LOCKOUT_FILE_NAME, **kwargs)

    @property
    def failures(self) -> int:
        return self._failures

    def seconds_left(self) -> float:
        """Seconds until the pad accepts a PIN again; 0.0 when it is open."""
        with self._state_lock:
            return self._seconds_left()

    def _seconds_left(self) -> float:
        left = self._locked_until - self._clock()
        return max(0.0, min(left, self._lock_length))

    def lock_length(self, lock_number: int) -> float:
        """Length of the n-th lock (1-based) since the last success."""
        return min(self._first * 2 ** (lock_number - 1), self._max)

    def record_failure(self) -> float:
        """Counts a wrong PIN; returns the seconds of the lock it started, or 0.0."""
        with self._state_lock:
            self._failures += 1
            started = 0.0
            if self._failures % self._per_lock == 0:
                self._locks += 1
                started = self.lock_length(self._locks)
                self._lock_length = started
                self._locked_until = self._clock() + started
            self._save()
            failures, locks = self._failures, self._locks
        # Never the digits typed: only that it happened and what it led to.
        if started:
            log.warning("wrong therapist PIN (%d in a row): PIN pad locked for %d s (lock %d)",
                        failures, started, locks)
        else:
            log.warning("wrong therapist PIN (%d in a row)", failures)
        return started

    def record_success(self) -> None:
        with self._state_lock:
            had = self._failures
            self._failures = self._locks = 0
            self._locked_until = self._lock_length = 0.0
            self._save()
        log.info("therapist mode unlocked%s", f" after {had} wrong PIN(s)" if had else "")

    def attempt(self, pin: str, stored_hash: str,
                verify: Callable[[str, str], bool] = verify_pin) -> AttemptResult:
        """Checks a PIN typed on the pad, honouring the lockout. Slow (scrypt): call it off the
        UI thread. Attempts are taken one at a time."""
        with self._attempt_lock:
            left = self.seconds_left()
            if left > 0:
                return AttemptResult(ok=False, locked_seconds=left, failures=self._failures)
            if verify(pin, stored_hash):
                self.record_success()
                return AttemptResult(ok=True)
            started = self.record_failure()
            return AttemptResult(ok=False, locked_seconds=started, failures=self._failures)

    # State file ------------------------------------------------------------------------

    def _load(self) -> None:
        if self._path is None:
            return
        try:
            raw = json.loads(self._path.read_text(encoding="utf-8"))
            failures, locks = int(raw["failures"]), int(raw["locks"])
            until, length = float(raw["locked_until"]), float(raw["lock_length"])
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Written by os.replace, so a torn file is not expected; if it happens anyway,
            # start with the pad locked for one first-length lock rather than wide open.
            log.warning("PIN lockout state %s unreadable (%s); locking the pad for %d s",
                        self._path, exc, self._first)
            self._failures, self._locks = self._per_lock, 1
            self._lock_length = self._first
            self._locked_until = self._clock() + self._first
            return
        self._failures, self._locks = max(0, failures), max(0, locks)
        self._locked_until, self._lock_length = until, max(0.0, min(length, self._max))

    def _save(self) -> None:
        if self._path is None:
            return
        state = {
            "failures": self._failures,
            "locks": self._locks,
            "locked_until": self._locked_until,
            "lock_length": self._lock_length,
            "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        try:
            write_atomically(self._path, json.dumps(state).encode("utf-8"))
        except OSError as exc:
            # The lockout still holds for this run; only a restart would forget it.
            log.error("cannot save the PIN lockout state to %s: %s", self._path, exc)
