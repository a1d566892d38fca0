"""How the station writes dates, times, lengths and file sizes, in en-GB and en-US.

One place for each format, shared by the touchscreen (kiosk/ui/strings.py), the phone page
(kiosk/takehome/pages.py) and the `kiosk` command, so that a date or a size never reads one
way on the screen and another on the phone. The sentences around these values stay in each
surface's own words table; this module turns numbers into text. No Kivy here.

Any language other than en-US is written the en-GB way (the station's fallback).
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


LANGUAGE_NAMES = {"en-GB": "English (UK)", "en-US": "English (US)"}


def language_name(tag: str) -> str:
    """ "English (UK)" for "en-GB": what a person reads, where a tag would puzzle them."""
    return LANGUAGE_NAMES.get(tag, tag)


def _us(lang: str) -> bool:
    return lang == "en-US"


def format_day(day: date, lang: str) -> str:
    """ "2 December 2026" (en-GB) or "December 2, 2026": the month spelled out, never 03/04."""
    month = MONTHS[day.month - 1]
    if _us(lang):
        return f"{month} {day.day}, {day.year}"
    return f"{day.day} {month} {day.year}"


def format_time_of_day(moment: datetime, lang: str) -> str:
    """ "17:30" (en-GB) or "5:30 PM" (en-US)."""
    if _us(lang):
        hour = moment.hour % 12 or 12
        suffix = "AM" if moment.hour < 12 else "PM"
        return f"{hour}:{moment.minute:02d} {suffix}"
    return f"{moment.hour:02d}:{moment.minute:02d}"


def format_moment(moment: datetime, lang: str, tz: tzinfo | None = None) -> str:
    """ "Tuesday 14 January 2025 at 17:30" (en-GB) or "Tuesday, January 14, 2025 at 5:30 PM",
    in `tz` (default: the station's local time zone, which is the clinic's)."""
    local = moment.astimezone(tz)
    weekday = WEEKDAYS[local.weekday()]
    separator = ", " if _us(lang) else " "
    return f"{weekday}{separator}{format_day(local.date(), lang)} at {format_time_of_day(local, lang)}"


def format_clock(seconds: float) -> str:
    """A position or length as a player shows it: "0:00", "1:05", "1:02:05" (to the nearest
    second, so elapsed and remaining add up to the length)."""
    whole = max(0, int(seconds + 0.5))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def whole_minutes(seconds: float) -> int:
    """A length in whole minutes for "about N minutes": to the nearest minute, at least 1."""
    return max(1, round(seconds / 60))


def format_size(size: int) -> str:
    """Decimal units, as phones show them: "11.6 MB", "420 KB", "12 bytes". The space is a
    no-break space, so "481 KB" never splits across two lines."""
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f}\u00a0MB"
    if size >= 1_000:
        return f"{max(1, round(size / 1_000))}\u00a0KB"
    return f"{size}\u00a0bytes"
