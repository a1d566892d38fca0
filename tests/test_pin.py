"""The therapist PIN: acceptance rules, scrypt hashing, and the lockout with an injected clock."""

from __future__ import annotations

import base64
import json
import logging
import time

import pytest

from kiosk.therapist import pin as pinmod
from kiosk.therapist.pin import (
    PinLockout,
    hash_pin,
    needs_rehash,
    parse_pin_hash,
    validate_new_pin,
    verify_pin,
)

GOOD_PIN = "482915"


@pytest.fixture(scope="module")
def stored() -> str:
    # One real scrypt hash for the module: each one costs a few tenths of a second.
    return hash_pin(GOOD_PIN)


# --- hashing ---------------------------------------------------------------------------------

def test_stored_parameters_are_owasps(stored: str) -> None:
    assert stored.startswith("scrypt$n=131072,r=8,p=1$")
    params = parse_pin_hash(stored)
    assert params is not None
    assert (params.n, params.r, params.p) == (2**17, 8, 1)
    assert len(params.salt) == 16
    assert len(params.key) == 32
    assert not needs_rehash(stored)


def test_salt_is_random_and_pin_not_in_hash(stored: str) -> None:
    other = hash_pin(GOOD_PIN)
    assert other != stored
    assert GOOD_PIN not in stored and GOOD_PIN not in other


def test_verify_right_and_wrong(stored: str) -> None:
    assert verify_pin(GOOD_PIN, stored)
    assert not verify_pin("482916", stored)
    assert not verify_pin("", stored)


def test_verify_reads_parameters_from_the_string() -> None:
    # A hash made with other (cheap) parameters still verifies: they travel with the hash.
    salt = b"s" * 16
    key = pinmod._derive("246813", salt, 2**10, 8, 1, 32)
    weak = f"scrypt$n=1024,r=8,p=1${pinmod._b64(salt)}${pinmod._b64(key)}"
    assert verify_pin("246813", weak)
    assert not verify_pin("246814", weak)
    assert needs_rehash(weak)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


SALT, KEY = _b64(b"x" * 16), _b64(b"y" * 32)


@pytest.mark.parametrize("bad", [
    "",
    "   ",
    "482915",
    "scrypt",
    f"bcrypt$n=131072,r=8,p=1${SALT}${KEY}",
    f"scrypt$n=131072,r=8${SALT}${KEY}",                 # a parameter missing
    f"scrypt$n=131072,r=8,p=1,q=2${SALT}${KEY}",         # an unknown one
    f"scrypt$n=131072,n=131072,r=8${SALT}${KEY}",        # one twice
    f"scrypt$n=131071,r=8,p=1${SALT}${KEY}",             # N not a power of two
    f"scrypt$n=0,r=8,p=1${SALT}${KEY}",
    f"scrypt$n=-2,r=8,p=1${SALT}${KEY}",
    f"scrypt$n=0131072,r=8,p=1${SALT}${KEY}",            # leading zero
    f"scrypt$n=1073741824,r=8,p=1${SALT}${KEY}",         # 1 TiB of memory: refused, not tried
    f"scrypt$n=131072,r=8,p=99${SALT}${KEY}",
    f"scrypt$n=131072,r=8,p=1$!!!${KEY}",               # not base64
    f"scrypt$n=131072,r=8,p=1${_b64(b'x' * 4)}${KEY}",   # salt too short
    f"scrypt$n=131072,r=8,p=1${SALT}${_b64(b'y' * 8)}",  # key too short
    f"scrypt$n=131072,r=8,p=1${SALT}${KEY}$extra",
    f"scrypt$n=131072,r=8,p=1${SALT}",
])
def test_malformed_hashes_never_match(bad: str) -> None:
    assert parse_pin_hash(bad) is None
    started = time.perf_counter()
    assert verify_pin(GOOD_PIN, bad) is False
    # Refused before any scrypt work (generous bound; this is not a benchmark).
    assert time.perf_counter() - started < 0.1
    assert needs_rehash(bad)


def test_non_string_hash_is_refused() -> None:
    assert parse_pin_hash(None) is None  # type: ignore[arg-type]
    assert verify_pin(GOOD_PIN, None) is False  # type: ignore[arg-type]


# --- which PINs are accepted -----------------------------------------------------------------

@pytest.mark.parametrize("obvious", [
    "000000", "111111", "999999", "123456", "654321", "234567", "890123", "098765",
    "121212", "123123", "112233", "332211", "696969", "101010", "135791", "246802",
    "147258", "159753", "789456", "123321", "102030", "520520", "007007", "1234567890",
    "311285", "120394", "25121990", "19900512",  # dates: DDMMYY, MMDDYY, DDMMYYYY, YYYYMMDD
])
def test_obvious_pins_refused(obvious: str) -> None:
    assert validate_new_pin(obvious), obvious


@pytest.mark.parametrize("fine", ["482915", "205831", "97315842", "3958274610"])
def test_ordinary_pins_accepted(fine: str) -> None:
    assert validate_new_pin(fine) == []


@pytest.mark.parametrize("bad, words", [
    ("", "at least 6"),
    ("48291", "at least 6"),
    ("48291a", "digits 0 to 9"),
    ("482 915", "digits 0 to 9"),
    ("٤٨٢٩١٥", "digits 0 to 9"),  # Arabic-Indic digits: not on the pad
    ("4" * 17, "at most 16"),
])
def test_shape_problems_are_explained(bad: str, words: str) -> None:
    problems = validate_new_pin(bad)
    assert any(words in p for p in problems), problems


def test_problems_never_repeat_the_pin() -> None:
    for pin in ("123456", "311285", "48291a"):
        assert all(pin not in p for p in validate_new_pin(pin))


def test_most_six_digit_pins_remain() -> None:
    refused = sum(1 for i in range(0, 10**6, 97) if validate_new_pin(f"{i:06d}"))
    assert refused / len(range(0, 10**6, 97)) < 0.10


# --- lockout ---------------------------------------------------------------------------------

class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def fake_verify(pin: str, stored: str) -> bool:
    return pin == stored


def fail(lockout: PinLockout, times: int) -> list[pinmod.AttemptResult]:
    return [lockout.attempt("000001", "right", verify=fake_verify) for _ in range(times)]


def test_five_wrong_lock_for_a_minute_then_doubling(tmp_path) -> None:
    clock = FakeClock()
    lockout = PinLockout(tmp_path / "lock.json", clock=clock)
    results = fail(lockout, 4)
    assert [r.locked_seconds for r in results] == [0, 0, 0, 0]
    assert lockout.seconds_left() == 0
    assert fail(lockout, 1)[0].locked_seconds == 60
    assert lockout.seconds_left() == 60

    clock.advance(59)
    assert lockout.seconds_left() == pytest.approx(1)
    clock.advance(1)
    assert lockout.seconds_left() == 0

    for expected in (120, 240, 480):
        results = fail(lockout, 5)
        assert [r.locked_seconds for r in results[:4]] == [0, 0, 0, 0]
        assert results[4].locked_seconds == expected
        assert lockout.seconds_left() == expected
        clock.advance(expected)


def test_locked_pad_does_not_check_the_pin(tmp_path) -> None:
    clock = FakeClock()
    lockout = PinLockout(tmp_path / "lock.json", clock=clock)
    fail(lockout, 5)
    calls: list[str] = []

    def counting_verify(pin: str, stored: str) -> bool:
        calls.append(pin)
        return True

    clock.advance(30)
    result = lockout.attempt("right", "right", verify=counting_verify)
    assert not result.ok and result.locked_seconds == pytest.approx(30)
    assert calls == []  # even the right PIN waits out the lock
    clock.advance(30)
    assert lockout.attempt("right", "right", verify=counting_verify).ok


def test_success_resets_everything(tmp_path) -> None:
    clock = FakeClock()
    lockout = PinLockout(tmp_path / "lock.json", clock=clock)
    fail(lockout, 5)
    clock.advance(60)
    fail(lockout, 3)
    assert lockout.attempt("right", "right", verify=fake_verify).ok
    assert lockout.failures == 0
    # Back to the first lock's length, not the second's.
    assert fail(lockout, 5)[-1].locked_seconds == 60


def test_lockout_survives_a_restart(tmp_path) -> None:
    clock = FakeClock()
    path = tmp_path / "lock.json"
    fail(PinLockout(path, clock=clock), 5)
    clock.advance(20)

    again = PinLockout(path, clock=clock)  # the station came back up
    assert again.seconds_left() == pytest.approx(40)
    assert again.failures == 5
    clock.advance(40)
    assert fail(again, 5)[-1].locked_seconds == 120  # and the doubling carries on

    assert PinLockout(path, clock=clock).seconds_left() == 120


def test_station_lockout_lives_where_set_pin_clears_it(tmp_path) -> None:
    clock = FakeClock()
    fail(PinLockout.for_data_dir(tmp_path, clock=clock), 5)
    assert (tmp_path / pinmod.LOCKOUT_FILE_NAME).exists()
    assert PinLockout.for_data_dir(tmp_path, clock=clock).seconds_left() == 60


def test_clock_going_back_cannot_lengthen_a_lock(tmp_path) -> None:
    clock = FakeClock()
    path = tmp_path / "lock.json"
    fail(PinLockout(path, clock=clock), 5)
    clock.advance(-10 * 86400)  # rebooted without a real-time clock
    assert PinLockout(path, clock=clock).seconds_left() == 60


def test_unreadable_state_locks_rather_than_opens(tmp_path, caplog) -> None:
    path = tmp_path / "lock.json"
    path.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="kiosk.therapist.pin"):
        lockout = PinLockout(path, clock=FakeClock())
    assert lockout.seconds_left() == 60
    assert "unreadable" in caplog.text


def test_lock_length_is_capped(tmp_path) -> None:
    lockout = PinLockout(None, clock=FakeClock(), max_lock_seconds=300)
    assert [lockout.lock_length(n) for n in range(1, 6)] == [60, 120, 240, 300, 300]


def test_state_file_is_small_json_without_digits(tmp_path) -> None:
    path = tmp_path / "lock.json"
    fail(PinLockout(path, clock=FakeClock()), 2)
    state = json.loads(path.read_text())
    assert state["failures"] == 2
    assert "000001" not in path.read_text()
    assert not list(tmp_path.glob(".lock.json.*"))  # no temporary file left behind


def test_failures_logged_without_digits(tmp_path, caplog, stored: str) -> None:
    lockout = PinLockout(tmp_path / "lock.json", clock=FakeClock())
    with caplog.at_level(logging.DEBUG):
        for _ in range(5):
            assert not lockout.attempt("739164", stored).ok  # real scrypt verification
    text = caplog.text
    assert "wrong therapist PIN" in text
    assert "locked for 60 s" in text
    assert "739164" not in text
    with caplog.at_level(logging.DEBUG):
        caplog.clear()
        lockout.record_success()
    assert "unlocked after 5 wrong" in caplog.text
