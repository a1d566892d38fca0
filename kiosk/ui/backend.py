"""The one seam between the screens and the rest of the station.

Screens never import the catalogue, the take-home links or the QR encoder themselves: they
ask a `Backend`, and every Backend method except `make_player` runs on the UI worker thread
with that thread's own database connection (`db`). `StationBackend` is the real one; tests
pass a fake with the same methods. When a piece of the station is missing from this build,
StationBackend says so clearly instead of the screens guessing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kiosk.ui.playback import UnavailablePlayer

if TYPE_CHECKING:
    from kiosk.config import Settings

log = logging.getLogger(__name__)

Dispatch = Callable[[Callable[[], None]], None]


class CueLike(Protocol):
    start: float
    end: float
    text: str


class CardLike(Protocol):
    id: str
    title: str
    summary: str
    duration_seconds: float
    techniques: Sequence[str]


class VariantLike(Protocol):
    exercise_id: str
    lang: str
    title: str
    duration_seconds: float
    playback_path: Path
    cues: Sequence[CueLike]


class ExerciseLike(Protocol):
    id: str
    title: str
    summary: str
    introduction: str
    techniques: Sequence[str]
    languages: Sequence[str]
    variant: VariantLike


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
    def cards(self, db: Any, lang: str, technique: str | None, query: str | None) -> list[CardLike]: ...
    def techniques(self, db: Any) -> list[str]: ...
    def exercise(self, db: Any, exercise_id: str, lang: str) -> ExerciseLike | None: ...
    def take_home(self, db: Any, exercise_id: str, lang: str) -> TakeHomeCode: ...
    def qr_matrix(self, text: str) -> list[list[bool]]: ...
    def make_player(self, dispatch: Dispatch) -> Any: ...
    def open_db(self) -> Any: ...
    # Therapist mode (every method on the worker thread, like the rest).
    def therapist_cards(self, db: Any, lang: str, query: str | None) -> list[CardLike]: ...
    def favourites(self, db: Any) -> list[str]: ...
    def set_favourite(self, db: Any, exercise_id: str, favourite: bool) -> None: ...
    def bundle(self, db: Any, items: list[tuple[str, str]], days: int | None) -> TakeHomeCode: ...
    def live_links(self, db: Any) -> list[Any]: ...
    def revoke(self, db: Any, short_id: str) -> bool: ...
    def usage(self, db: Any, days: int) -> list[Any]: ...


def link_expiry(settings: Settings, now: datetime | None = None) -> datetime:
    """The expiry the consent screen promises; issue_link is given the same number of days."""
    return (now or datetime.now(UTC)) + timedelta(days=settings.take_home.link_days)


class StationBackend:
    """The real station: catalogue, take-home links and QR codes from their own modules."""

    def __init__(self, settings: Settings, services: Any = None,
                 player_factory: Callable[[Dispatch], Any] | None = None):
        self.settings = settings
        self.services = services
        # Tests (and a station without a sound card) pass their own player here.
        self.player_factory = player_factory

    def open_db(self) -> Any:
        from kiosk.store import open_db

        return open_db(self.settings.db_path)

    def _catalogue(self, db: Any) -> Any:
        from kiosk.catalogue import Catalogue

        return Catalogue(db, self.settings.content_dir)

    def cards(self, db: Any, lang: str, technique: str | None, query: str | None) -> list[Any]:
        return list(self._catalogue(db).cards(lang, technique=technique, query=query or None))

    def techniques(self, db: Any) -> list[str]:
        return list(self._catalogue(db).techniques())

    def exercise(self, db: Any, exercise_id: str, lang: str) -> Any:
        return self._catalogue(db).exercise(exercise_id, lang)

    def qr_matrix(self, text: str) -> list[list[bool]]:
        from kiosk.takehome.qr import qr_matrix

        # No quiet zone: the QR widget draws its own around the modules.
        return [list(map(bool, row)) for row in qr_matrix(text, border=0)]

    def take_home(self, db: Any, exercise_id: str, lang: str) -> TakeHomeCode:
        from kiosk.takehome.links import issue_link
        from kiosk.takehome.qr import wifi_payload

        th = self.settings.take_home
        now = datetime.now(UTC)
        issued = issue_link(db, [(exercise_id, lang)], days=th.link_days,
                            downloads_per_file=th.downloads_per_file, now=now,
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
    def therapist_cards(self, db: Any, lang: str, query: str | None) -> list[Any]:
        """Every exercise in `lang`, therapist-only and hidden ones included."""
        return list(self._catalogue(db).cards(lang, query=query or None, include_hidden=True))

    def favourites(self, db: Any) -> list[str]:
        from kiosk.therapist.favourites import favourites

        return list(favourites(db))

    def set_favourite(self, db: Any, exercise_id: str, favourite: bool) -> None:
        from kiosk.therapist.favourites import set_favourite

        set_favourite(db, exercise_id, favourite)

    def bundle(self, db: Any, items: list[tuple[str, str]], days: int | None) -> TakeHomeCode:
        """One link for several exercises; `days` None: the station's default."""
        from kiosk.takehome.links import issue_link  # type: ignore[import-not-found,unused-ignore]

        th = self.settings.take_home
        issued = issue_link(db, list(items), days=days or th.link_days,
                            downloads_per_file=th.downloads_per_file, now=datetime.now(UTC),
                            station=self.settings.station_name)
        url, short = self._addresses(issued)
        return TakeHomeCode(url=url, short_address=short, expires_at=issued.expires_at,
                            matrix=self.qr_matrix(url))

    def live_links(self, db: Any) -> list[Any]:
        from kiosk.takehome.links import live_links  # type: ignore[import-not-found,unused-ignore]

        return list(live_links(db, datetime.now(UTC)))

    def revoke(self, db: Any, short_id: str) -> bool:
        from kiosk.takehome.links import revoke  # type: ignore[import-not-found,unused-ignore]

        return bool(revoke(db, short_id, datetime.now(UTC)))

    def usage(self, db: Any, days: int) -> list[Any]:
        from kiosk.usage import counts

        return list(counts(db, days))

    def _addresses(self, issued: Any) -> tuple[str, str]:
        server = getattr(self.services, "take_home", None)
        if server is not None:
            url = str(server.url_for(issued.token))
        else:
            from kiosk.takehome.address import public_base_url

            url = f"{public_base_url(self.settings).rstrip('/')}/t/{issued.token}"
        # The address to type by hand: without "http://", which phones add by themselves.
        return url, _strip_scheme(url)

    def make_player(self, dispatch: Dispatch) -> Any:
        if self.player_factory is not None:
            return self.player_factory(dispatch)
        from kiosk.audio import open_player

        try:
            return open_player(self.settings.audio, dispatch=dispatch)
        except Exception:
            log.exception("the audio engine could not start: the player will report sound unavailable")
            return UnavailablePlayer(dispatch)


def _strip_scheme(url: str) -> str:
    return url.split("://", 1)[-1]
