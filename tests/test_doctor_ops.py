"""The doctor checks added for deployment: the clock, the therapist PIN, persistent storage."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from kiosk.config import TherapistSettings, default_settings
from kiosk.doctor import (
    FAIL,
    OK,
    RELEASED,
    WARN,
    check_clock,
    check_data_persists,
    check_therapist_pin,
    clock_problem,
    mount_of,
)

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


MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 0:30 / / rw,relatime - overlay overlayroot rw,lowerdir=/media/root-ro,upperdir=/media/root-rw/overlay
31 27 179:3 / /var/lib/kiosk rw,noatime - ext4 /dev/mmcblk0p3 rw
32 27 0:40 / /mnt/usb\\040stick rw - vfat /dev/sda1 rw
"""


def test_mount_of_finds_the_nearest_mount() -> None:
    assert mount_of(Path("/var/lib/kiosk/data"), MOUNTINFO) == ("/var/lib/kiosk", "ext4")
    assert mount_of(Path("/var/lib/kiosk"), MOUNTINFO) == ("/var/lib/kiosk", "ext4")
    assert mount_of(Path("/var/lib/kioskx"), MOUNTINFO) == ("/", "overlay")
    assert mount_of(Path("/opt/kiosk/config.toml"), MOUNTINFO) == ("/", "overlay")
    assert mount_of(Path("/mnt/usb stick/x"), MOUNTINFO) == ("/mnt/usb stick", "vfat")


def test_storage_check_on_this_machine(tmp_path) -> None:
    results = list(check_data_persists(default_settings(tmp_path)))
    assert len(results) == 1 and results[0].name == "storage"
    assert results[0].status in (OK, WARN)
