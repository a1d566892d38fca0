"""The phone pages: the link page and the kind error pages, in the variant's language.

Plain HTML from small templates, inline CSS, no script, no external anything. The page speaks
the language of the variant it hands out (en-GB or en-US; any other language falls back to
the station's default table). Dates are shown in the station's local time zone, which is the
clinic's.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from string import Template
from typing import Protocol

from kiosk.words import format_moment, format_size, whole_minutes

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


STYLE = (TEMPLATES / "style.css").read_text(encoding="utf-8").strip()
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode("utf-8")).digest()).decode("ascii")
CSP = (
    "default-src 'none'; "
    f"style-src 'sha256-{STYLE_HASH}'; "
    "media-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_PAGE = _template("page.html")
_LINK = _template("link.html")
_ITEM = _template("item.html")
_MESSAGE = _template("message.html")

# A take-home recording's type by its file's suffix: the Content-Type a phone's player goes by,
# and the name the page gives it. The import makes an M4A where phones do not play the
# original (kiosk.content.phonecopy); a variant imported before that may still be any of these.
AUDIO_TYPES: dict[str, tuple[str, str]] = {
    ".mp3": ("audio/mpeg", "MP3"),
    ".m4a": ("audio/mp4", "M4A"),
    ".mp4": ("audio/mp4", "M4A"),
    ".aac": ("audio/aac", "AAC"),
    ".wav": ("audio/wav", "WAV"),
    ".flac": ("audio/flac", "FLAC"),
    ".ogg": ("audio/ogg", "Ogg"),
    ".opus": ("audio/ogg", "Opus"),
}
UNKNOWN_AUDIO = ("application/octet-stream", "audio")


def audio_type(path: Path) -> tuple[str, str]:
    """(Content-Type, name) of a take-home recording."""
    return AUDIO_TYPES.get(path.suffix.lower(), UNKNOWN_AUDIO)


EN_GB: dict[str, str] = {
    "title_one": "Your take-home exercise",
    "title_many": "Your take-home exercises",
    "expiry": "This link works until $date.",
    "wifi_note": (
        "Please save the files to your phone while you are here: this page only works on "
        "the clinic's Wi-Fi."
    ),
    "privacy": "This link is just for you. Nothing about you is stored.",
    "listen": "Listen to $title",
    "no_player": "Your browser cannot play the audio here: use the download button below.",
    "download_audio": "Download audio ($kind,\u00a0$size)",
    "download_script": "Download script (PDF,\u00a0$size)",
    "read_script": "Read the script",
    "limit_audio": "The audio has been downloaded as many times as this link allows.",
    "limit_script": "The script has been downloaded as many times as this link allows.",
    "unavailable_title": "No longer available",
    "unavailable": "This exercise is no longer on the station. Please ask at reception.",
    "minute": "1 minute",
    "minutes": "$n minutes",
    "about_minutes": "About $n minutes",
    "not_found_title": "Link not found",
    "not_found": (
        "This address does not lead to anything. Please check it, or ask at reception for help."
    ),
    "expired_title": "This link has expired",
    "expired": "Take-home links only last a few days. Please ask at reception for a new one.",
    "revoked_title": "This link is no longer active",
    "revoked": "Please ask at reception for a new one.",
    "used-up_title": "This link has been used up",
    "used-up": (
        "Its files have been downloaded as many times as it allows. Please ask at reception "
        "for a new one."
    ),
    "file_gone_title": "This file is no longer available",
    "file_gone": "Please go back to the link page, or ask at reception.",
    "too_many_title": "Please wait a moment",
    "too_many": (
        "Too many addresses were tried from this device. Please try again in $n minutes, or "
        "ask at reception."
    ),
    "busy_title": "Please try again",
    "busy": "Too many connections from this device at once. Please try again in a moment.",
    "not_allowed_title": "Not available",
    "not_allowed": "This page can only be opened, not changed.",
    "error_title": "Something went wrong",
    "error": "Please try again in a moment, or ask at reception.",
}

EN_US: dict[str, str] = {
    **EN_GB,
    "wifi_note": (
        "Please save the files to your phone while you are here: this page only works on "
        "the clinic's Wi-Fi."
    ),
    "unavailable": "This exercise is no longer on the station. Please ask at the front desk.",
    "not_found": (
        "This address does not lead to anything. Please check it, or ask at the front desk "
        "for help."
    ),
    "expired": "Take-home links only last a few days. Please ask at the front desk for a new one.",
    "revoked": "Please ask at the front desk for a new one.",
    "used-up": (
        "Its files have been downloaded as many times as it allows. Please ask at the front "
        "desk for a new one."
    ),
    "file_gone": "Please go back to the link page, or ask at the front desk.",
    "too_many": (
        "Too many addresses were tried from this device. Please try again in $n minutes, or "
        "ask at the front desk."
    ),
    "error": "Please try again in a moment, or ask at the front desk.",
}

STRINGS: dict[str, dict[str, str]] = {"en-GB": EN_GB, "en-US": EN_US}


def page_lang(lang: str, default: str = "en-GB") -> str:
    """The strings table used for `lang`: itself when we have one, else the default's."""
    if lang in STRINGS:
        return lang
    return default if default in STRINGS else "en-GB"


def text(lang: str, key: str, **values: object) -> str:
    return Template(STRINGS[page_lang(lang)][key]).substitute({k: str(v) for k, v in values.items()})


def format_date(moment: datetime, lang: str, tz: tzinfo | None = None) -> str:
    return format_moment(moment, page_lang(lang), tz)


def format_duration(seconds: float, lang: str) -> str:
    minutes = whole_minutes(seconds)
    return text(lang, "minute") if minutes == 1 else text(lang, "about_minutes", n=minutes)


class Passage(Protocol):
    @property
    def text(self) -> str: ...


class VariantInfo(Protocol):
    """What the pages and downloads need of a catalogue Variant."""

    @property
    def exercise_id(self) -> str: ...
    @property
    def lang(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def duration_seconds(self) -> float: ...
    @property
    def phone_path(self) -> Path: ...  # what phones download: the original, or an M4A made of it
    @property
    def phone_bytes(self) -> int: ...
    @property
    def script_pdf_path(self) -> Path: ...
    @property
    def script_pdf_bytes(self) -> int: ...
    @property
    def cues(self) -> Sequence[Passage]: ...


@dataclass(frozen=True)
class ItemState:
    position: int
    variant: VariantInfo | None
    audio_left: bool  # downloads of this file still allowed
    script_left: bool


def _page(lang: str, title: str, body: str) -> str:
    return _PAGE.substitute(lang=html.escape(lang), title=html.escape(title), style=STYLE, body=body)


def render_link_page(
    token: str, items: list[ItemState], expires_at: datetime, lang: str, tz: tzinfo | None = None
) -> str:
    lang = page_lang(lang)
    esc = html.escape
    sections = []
    for item in items:
        n = item.position
        variant = item.variant
        if variant is None:
            sections.append(
                f'<section aria-labelledby="ex-{n}"><h2 id="ex-{n}">{esc(text(lang, "unavailable_title"))}'
                f'</h2><p>{esc(text(lang, "unavailable"))}</p></section>'
            )
            continue
        base = f"/t/{token}"
        if item.audio_left:
            player = (
                f'<audio controls preload="metadata" src="{base}/play/{n}" '
                f'aria-label="{esc(text(lang, "listen", title=variant.title))}">'
                f'{esc(text(lang, "no_player"))}</audio>'
            )
        else:
            player = ""
        downloads = []
        if item.audio_left:
            label = text(lang, "download_audio", kind=audio_type(variant.phone_path)[1],
                         size=format_size(variant.phone_bytes))
            downloads.append(f'<li><a class="button" href="{base}/audio/{n}" download>{esc(label)}</a></li>')
        else:
            downloads.append(f'<li class="limit">{esc(text(lang, "limit_audio"))}</li>')
        if item.script_left:
            label = text(lang, "download_script", size=format_size(variant.script_pdf_bytes))
            downloads.append(f'<li><a class="button" href="{base}/script/{n}" download>{esc(label)}</a></li>')
        else:
            downloads.append(f'<li class="limit">{esc(text(lang, "limit_script"))}</li>')
        # The words themselves, readable on the phone without the PDF (and its download
        # allowance); a closed <details> keeps the page short and needs no script.
        passages = "".join(f"<p>{esc(cue.text)}</p>" for cue in variant.cues if cue.text.strip())
        script = (f'<details class="script" lang="{esc(variant.lang)}"><summary>'
                  f'{esc(text(lang, "read_script"))}</summary>{passages}</details>'
                  if passages else "")
        sections.append(
            _ITEM.substitute(
                n=n,
                lang=esc(variant.lang),
                title=esc(variant.title),
                summary=esc(variant.summary),
                duration=esc(format_duration(variant.duration_seconds, lang)),
                player=player,
                script=script,
                downloads="\n".join(downloads),
            )
        )
    heading = text(lang, "title_one" if len(items) == 1 else "title_many")
    body = _LINK.substitute(
        heading=esc(heading),
        expiry=esc(text(lang, "expiry", date=format_date(expires_at, lang, tz))),
        wifi_note=esc(text(lang, "wifi_note")),
        sections="\n".join(sections),
        privacy=esc(text(lang, "privacy")),
    )
    return _page(lang, heading, body)


def render_message(lang: str, key: str, **values: object) -> str:
    """A short page: `key`_title as heading, `key` as text (404, 410, 429...)."""
    lang = page_lang(lang)
    heading = text(lang, f"{key}_title")
    body = _MESSAGE.substitute(heading=html.escape(heading), text=html.escape(text(lang, key, **values)))
    return _page(lang, heading, body)
