"""The one seam between the screens and the rest of the station's data.

Screens never import the catalogue, the take-home links or the QR encoder themselves: they
ask a `Backend`, and every Backend method runs on the UI worker thread with that thread's
own database connection (`db`). Answers are the domain's own types (kiosk.content's Card
and Exercise, kiosk.takehome.links' LinkView, kiosk.usage's UsageRow). `StationBackend` is
the real one; tests subclass it. The player is not here: kiosk.services starts it with the
rest of the station and hands it to the app.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import sqlite_utils

    from kiosk.config import Settings
    from kiosk.content import Card, Catalogue, Exercise
    from kiosk.services import Services
    from kiosk.takehome.links import IssuedLink, LinkView
    from kiosk.usage import UsageRow

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class TakeHomeCode:
    """What the take-home screen shows; built on the worker thread, drawn on the UI thread."""

    url: str
    short_address: str
    expires_at: datetime
    matrix: list[list[bool]]
    wifi_ssid: str = ""
    wifi_matrix: list[list[bool]] | None = None


class Backend(Protocol):
    settings: Settings  # replaced when config.toml changes (KioskApp.apply_settings)

    def open_db(self) -> sqlite_utils.Database: ...
    def cards(self, db: sqlite_utils.Database, lang: str, technique: str | None,
              query: str | None) -> list[Card]: ...
    def techniques(self, db: sqlite_utils.Database) -> list[str]: ...
    def exercise(self, db: sqlite_utils.Database, exercise_id: str, lang: str) -> Exercise | None: ...
    def take_home(self, db: sqlite_utils.Database, exercise_id: str, lang: str) -> TakeHomeCode: ...
    def qr_matrix(self, text: str) -> list[list[bool]]: ...
    # Therapist mode (every method on the worker thread, like the rest).
    def therapist_cards(self, db: sqlite_utils.Database, lang: str, query: str | None) -> list[Card]: ...
    def favourites(self, db: sqlite_utils.Database) -> list[str]: ...
    def set_favourite(self, db: sqlite_utils.Database, exercise_id: str, favourite: bool) -> None: ...
    def bundle(self, db: sqlite_utils.Database, items: list[tuple[str, str]],
               days: int | None) -> TakeHomeCode: ...
    def live_links(self, db: sqlite_utils.Database) -> list[LinkView]: ...
    def revoke(self, db: sqlite_utils.Database, short_id: str) -> bool: ...
    def usage(self, db: sqlite_utils.Database, days: int) -> list[UsageRow]: ...


def link_expiry(settings: Settings, now: datetime | None = None) -> datetime:
    """The expiry the consent screen promises; issue_link is given the same number of days."""
    return (now or datetime.now(UTC)) + timedelta(days=settings.take_home.link_days)


class StationBackend:
    """The real station: catalogue, take-home links and QR codes from their own modules.

    `services` gives the running take-home server's address for links; without it (a
    backend used on its own) the address comes from the settings.
    """

    def __init__(self, settings: Settings, services: Services | None = None):
        self.settings = settings
        self.services = services

    def open_db(self) -> sqlite_utils.Database:
        from kiosk.store import open_db

        return open_db(self.settings.db_path)

    def _catalogue(self, db: sqlite_utils.Database) -> Catalogue:
        from kiosk.content import Catalogue

        return Catalogue(db, self.settings.content_dir)

    def cards(self, db: sqlite_utils.Database, lang: str, technique: str | None,
              query: str | None) -> list[Card]:
        return self._catalogue(db).cards(lang, technique=technique, query=query or None)

    def techniques(self, db: sqlite_utils.Database) -> list[str]:
        return self._catalogue(db).techniques()

    def exercise(self, db: sqlite_utils.Database, exercise_id: str, lang: str) -> Exercise | None:
        return self._catalogue(db).exercise(exercise_id, lang)

    def qr_matrix(self, text: str) -> list[list[bool]]:
        from kiosk.takehome.qr import qr_matrix

        # No quiet zone: the QR widget draws its own around the modules.
        return qr_matrix(text, border=0)

    def take_home(self, db: sqlite_utils.Database, exercise_id: str, lang: str) -> TakeHomeCode:
        from kiosk.takehome.links import issue_link
        from kiosk.takehome.qr import wifi_payload

        th = self.settings.take_home
        issued = issue_link(db, [(exercise_id, lang)], days=th.link_days,
                            downloads_per_file=th.downloads_per_file, now=datetime.now(UTC),
                            station=self.settings.station_name)
        url, short = self._addresses(issued)
        wifi_matrix = None
        if th.wifi_ssid:
            wifi_matrix = self.qr_matrix(wifi_payload(th.wifi_ssid, th.wifi_password,
                                                      th.wifi_security, th.wifi_hidden))
        return TakeHomeCode(url=url, short_address=short, expires_at=issued.expires_at,
                            matrix=self.qr_matrix(url), wifi_ssid=th.wifi_ssid,
                            wifi_matrix=wifi_matrix)

    # -- therapist mode ----------------------------------------------------------------------
    def therapist_cards(self, db: sqlite_utils.Database, lang: str, query: str | None) -> list[Card]:
        """Every exercise in `lang`, therapist-only and hidden ones included."""
        return self._catalogue(db).cards(lang, query=query or None, include_hidden=True)

    def favourites(self, db: sqlite_utils.Database) -> list[str]:
        from kiosk.therapist.favourites import favourites

        return favourites(db)

    def set_favourite(self, db: sqlite_utils.Database, exercise_id: str, favourite: bool) -> None:
        from kiosk.therapist.favourites import set_favourite

        set_favourite(db, exercise_id, favourite)

    def bundle(self, db: sqlite_utils.Database, items: list[tuple[str, str]],
               days: int | None) -> TakeHomeCode:
        """One link for several exercises; `days` None: the station's default."""
        from kiosk.takehome.links import issue_link

        th = self.settings.take_home
        issued = issue_link(db, list(items), days=days or th.link_days,
                            downloads_per_file=th.downloads_per_file, now=datetime.now(UTC),
                            station=self.settings.station_name)
        url, short = self._addresses(issued)
        return TakeHomeCode(url=url, short_address=short, expires_at=issued.expires_at,
                            matrix=self.qr_matrix(url))

    def live_links(self, db: sqlite_utils.Database) -> list[LinkView]:
        from kiosk.takehome.links import live_links

        return live_links(db, datetime.now(UTC))

    def revoke(self, db: sqlite_utils.Database, short_id: str) -> bool:
        from kiosk.takehome.links import revoke

        return revoke(db, short_id, datetime.now(UTC))

    def usage(self, db: sqlite_utils.Database, days: int) -> list[UsageRow]:
        from kiosk.usage import counts

        return counts(db, days)

    def _addresses(self, issued: IssuedLink) -> tuple[str, str]:
        # On the worker thread: a take-home asked for while the server still starts waits.
        server = self.services.wait_for_take_home() if self.services is not None else None
        if server is not None:
            base = server.url_for("").removesuffix("/t/")
        else:
            from kiosk.takehome.address import public_base_url

            base = public_base_url(self.settings).rstrip("/")
        url = f"{base}/t/{issued.token}"
        # The address to type by hand: the short typing code rather than the 26-character
        # token, and without "http://", which phones add by themselves.
        typed = f"{base}/t/{issued.code}" if issued.code else url
        return url, _strip_scheme(typed)


def _strip_scheme(url: str) -> str:
    return url.split("://", 1)[-1]
