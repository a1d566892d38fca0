"""The doctor checks added for therapist mode and the clock."""

from __future__ import annotations

import dataclasses
import datetime as dt

from kiosk.config import TherapistSettings, default_settings
from kiosk.doctor import FAIL, OK, RELEASED, WARN, check_clock, check_therapist_pin, clock_problem

UTC = dt.UTC


def test_clock_before_release_is_wrong() -> None:
    before = dt.datetime.combine(RELEASED - dt.timedelta(days=1), dt.time(12), tzinfo=UTC)
    problem = clock_problem(before)
    assert problem and "before this software was released" in problem
    assert clock_problem(dt.datetime(1970, 1, 1, tzinfo=UTC))


def test_clock_far_ahead_is_wrong_and_today_is_fine() -> None:
    assert clock_problem(dt.datetime(RELEASED.year + 31, 1, 1, tzinfo=UTC))
    assert clock_problem(dt.datetime.combine(RELEASED, dt.time(0), tzinfo=UTC)) is None
    assert clock_problem(dt.datetime(RELEASED.year + 3, 6, 1, tzinfo=UTC)) is None


def test_check_clock_reports_the_time(tmp_path) -> None:
    (result,) = check_clock(default_settings(tmp_path))
    assert result.name == "clock" and result.status in (OK, WARN)


def _pin_check(tmp_path, pin_hash: str):
    settings = default_settings(tmp_path, therapist=TherapistSettings(pin_hash=pin_hash))
    (result,) = check_therapist_pin(settings)
    return result


def test_check_therapist_pin(tmp_path) -> None:
    assert _pin_check(tmp_path, "").status == WARN
    assert _pin_check(tmp_path, "123456").status == FAIL
    salt_key = "c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
    assert _pin_check(tmp_path, f"scrypt$n=1024,r=8,p=1${salt_key}").status == WARN
    good = _pin_check(tmp_path, f"scrypt$n=131072,r=8,p=1${salt_key}")
    assert good.status == OK
    assert dataclasses.asdict(good)["name"] == "therapist-pin"
