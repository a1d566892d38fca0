"""kiosk.words: every format in both languages, and the surfaces that use it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from kiosk import words
from kiosk.cli.audio import progress_line
from kiosk.takehome import pages
from kiosk.ui import strings

NBSP = "\u00a0"
LONDON_SUMMER = timezone(timedelta(hours=1))


@pytest.mark.parametrize(("day", "lang", "expected"), [
    (date(2026, 12, 2), "en-GB", "2 December 2026"),
    (date(2026, 12, 2), "en-US", "December 2, 2026"),
    (date(2027, 1, 31), "en-GB", "31 January 2027"),
    (date(2027, 1, 31), "en-US", "January 31, 2027"),
    (date(2027, 3, 4), "fr-FR", "4 March 2027"),  # any other language: the en-GB way
])
def test_day(day: date, lang: str, expected: str) -> None:
    assert words.format_day(day, lang) == expected


@pytest.mark.parametrize(("hour", "minute", "gb", "us"), [
    (0, 5, "00:05", "12:05 AM"),
    (9, 30, "09:30", "9:30 AM"),
    (12, 0, "12:00", "12:00 PM"),
    (17, 30, "17:30", "5:30 PM"),
    (23, 59, "23:59", "11:59 PM"),
])
def test_time_of_day(hour: int, minute: int, gb: str, us: str) -> None:
    moment = datetime(2025, 1, 14, hour, minute, tzinfo=UTC)
    assert words.format_time_of_day(moment, "en-GB") == gb
    assert words.format_time_of_day(moment, "en-US") == us


def test_moment_in_both_languages_and_in_the_given_time_zone() -> None:
    moment = datetime(2025, 1, 14, 17, 30, tzinfo=UTC)
    assert words.format_moment(moment, "en-GB", UTC) == "Tuesday 14 January 2025 at 17:30"
    assert words.format_moment(moment, "en-US", UTC) == "Tuesday, January 14, 2025 at 5:30 PM"
    # 23:30 UTC is already Sunday in a zone one hour ahead: the day follows the zone.
    late = datetime(2025, 6, 14, 23, 30, tzinfo=UTC)
    assert words.format_moment(late, "en-GB", LONDON_SUMMER) == "Sunday 15 June 2025 at 00:30"
    assert words.format_moment(late, "en-US", LONDON_SUMMER) == "Sunday, June 15, 2025 at 12:30 AM"


@pytest.mark.parametrize(("seconds", "expected"), [
    (0, "0:00"), (-3, "0:00"), (0.4, "0:00"), (0.5, "0:01"), (59.6, "1:00"), (65.4, "1:05"),
    (600, "10:00"), (3599.4, "59:59"), (3600, "1:00:00"), (3725, "1:02:05"), (36000, "10:00:00"),
])
def test_clock(seconds: float, expected: str) -> None:
    assert words.format_clock(seconds) == expected


@pytest.mark.parametrize(("seconds", "expected"), [
    (0, 1), (20, 1), (89, 1), (91, 2), (600, 10), (629, 10), (631, 11), (7200, 120),
])
def test_whole_minutes(seconds: float, expected: int) -> None:
    assert words.whole_minutes(seconds) == expected


@pytest.mark.parametrize(("size", "expected"), [
    (0, "0 bytes"), (999, "999 bytes"), (1_000, "1 KB"), (1_499, "1 KB"), (420_000, "420 KB"),
    (999_499, "999 KB"), (1_000_000, "1.0 MB"), (11_600_000, "11.6 MB"),
    (2_340_000_000, "2340.0 MB"),
])
def test_size(size: int, expected: str) -> None:
    assert words.format_size(size) == expected.replace(" ", NBSP)


def test_the_screen_the_phone_page_and_the_cli_write_them_the_same_way() -> None:
    day = date(2026, 12, 2)
    for lang in ("en-GB", "en-US"):
        assert strings.format_date(day, lang) == words.format_day(day, lang)
    assert strings.format_clock(3725) == words.format_clock(3725) == "1:02:05"
    assert progress_line(3725, 7200, 0.5, width=4).startswith("1:02:05 / 2:00:00 ")
    moment = datetime(2025, 1, 14, 17, 30, tzinfo=UTC)
    assert pages.format_date(moment, "en-US", UTC) == "Tuesday, January 14, 2025 at 5:30 PM"
    assert pages.format_date(moment, "de-DE", UTC) == "Tuesday 14 January 2025 at 17:30"


@pytest.mark.parametrize("lang", ["en-GB", "en-US"])
def test_lengths_in_words_on_the_screen_and_the_phone_page(lang: str) -> None:
    assert strings.format_minutes(30, lang) == "Under 1 min"
    assert strings.format_minutes(610, lang) == "10 min"
    assert strings.length_words(20, lang) == "Length: about 1 minute"
    assert strings.length_words(610, lang) == "Length: about 10 minutes"
    assert pages.format_duration(20, lang) == "1 minute"
    assert pages.format_duration(610, lang) == "About 10 minutes"
