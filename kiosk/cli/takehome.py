"""`kiosk link`, `kiosk links`, `kiosk revoke`, `kiosk serve`: take-home links from a terminal."""

from __future__ import annotations

import json
import signal
import time
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from kiosk.cli import CliContext

if TYPE_CHECKING:
    from kiosk.takehome.server import LookupFactory

# Tests replace this with a stand-in catalogue; None is the real one (imported when used).
lookup_factory: LookupFactory | None = None


def _lookup_factory() -> LookupFactory:
    from kiosk.takehome.server import default_lookup_factory

    return lookup_factory or default_lookup_factory


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


@click.command()
@click.argument("exercise_ids", nargs=-1, required=True, metavar="ID [ID ...]")
@click.option("--lang", metavar="LANG", help="Language of the exercises, e.g. en-US (default: the station's).")
@click.option("--days", type=click.IntRange(1, 365), help="Days the link works (default: take_home.link_days).")
@click.option("--downloads", type=click.IntRange(1, 1000),
              help="Completed downloads allowed per file (default: take_home.downloads_per_file).")
@click.pass_obj
def link(obj: CliContext, exercise_ids: tuple[str, ...], lang: str | None, days: int | None,
         downloads: int | None) -> None:
    """Issue a take-home link for one exercise, or several as one bundle, and show its QR code.

    The QR code is drawn in the terminal; the link's address is the last line printed.
    """
    from kiosk.store import open_db
    from kiosk.takehome import links as links_mod
    from kiosk.takehome.address import public_address
    from kiosk.takehome.pages import audio_type
    from kiosk.takehome.qr import qr_terminal
    from kiosk.words import format_size

    settings = obj.settings
    th = settings.take_home
    lang = lang or settings.languages.default
    db = open_db(settings.db_path)
    try:
        lookup = _lookup_factory()(db, settings)
        titles = []
        for exercise_id in exercise_ids:
            variant = lookup(exercise_id, lang)
            if variant is None:
                raise click.ClickException(
                    f'there is no exercise "{exercise_id}" in {lang}; `kiosk list` shows the exercises'
                )
            titles.append((exercise_id, variant.title, audio_type(variant.phone_path)[1], variant.phone_bytes,
                           variant.script_pdf_bytes))
        try:
            issued = links_mod.issue_link(
                db, [(e, lang) for e in exercise_ids], days or th.link_days,
                downloads or th.downloads_per_file, station=settings.station_name,
            )
        except links_mod.LinkError as exc:
            raise click.ClickException(str(exc)) from None
    finally:
        db.close()
    address = public_address(settings)
    url = f"{address.base_url}/t/{issued.token}"
    click.echo(f"Take-home link {issued.short_id} ({lang}), works until {_when(issued.expires_at)}, "
               f"{downloads or th.downloads_per_file} download(s) per file:")
    for exercise_id, title, audio_kind, audio_bytes, pdf_bytes in titles:
        click.echo(f"  {exercise_id}: {title} ({audio_kind} {format_size(audio_bytes)}, PDF {format_size(pdf_bytes)})")
    if address.warning:
        click.echo(f"Warning: {address.warning}", err=True)
    click.echo("")
    click.echo(qr_terminal(url))
    click.echo("")
    click.echo(url)


@click.command(name="links")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_obj
def links_command(obj: CliContext, as_json: bool) -> None:
    """List the take-home links that still work, by their short id (newest first)."""
    from kiosk.store import open_db
    from kiosk.takehome import links as links_mod

    db = open_db(obj.settings.db_path)
    try:
        views = links_mod.live_links(db)
    finally:
        db.close()
    if as_json:
        data = [
            {
                "short_id": v.short_id,
                "created_at": v.created_at.isoformat(),
                "expires_at": v.expires_at.isoformat(),
                "downloads_per_file": v.downloads_per_file,
                "items": [
                    {"exercise_id": it.exercise_id, "lang": it.lang,
                     "downloads": {k: it.completed(k) for k in links_mod.KINDS}}
                    for it in v.items
                ],
            }
            for v in views
        ]
        click.echo(json.dumps(data, indent=2))
        return
    if not views:
        click.echo("No take-home links are live.")
        return
    click.echo(f"{'ID':<8}{'ISSUED':<18}{'EXPIRES':<18}EXERCISES (downloads: audio, script / allowed)")
    for v in views:
        for n, it in enumerate(v.items):
            head = f"{v.short_id:<8}{_when(v.created_at):<18}{_when(v.expires_at):<18}" if n == 0 else " " * 44
            click.echo(f"{head}{it.exercise_id} {it.lang} "
                       f"({it.completed('audio')}, {it.completed('pdf')} / {v.downloads_per_file})")


@click.command()
@click.argument("link_ref", metavar="SHORT_ID_OR_TOKEN")
@click.pass_obj
def revoke(obj: CliContext, link_ref: str) -> None:
    """Stop a take-home link from working, by its short id (see `kiosk links`) or full token."""
    from kiosk.store import open_db
    from kiosk.takehome import links as links_mod

    db = open_db(obj.settings.db_path)
    try:
        done = links_mod.revoke(db, link_ref)
    finally:
        db.close()
    if not done:
        raise click.ClickException("no live link has that short id or token; `kiosk links` lists them")
    click.echo("The link is revoked: it now shows a \"no longer active\" page.")


def _wait_for_interrupt() -> None:
    while True:
        time.sleep(3600)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command()
@click.pass_obj
def serve(obj: CliContext) -> None:
    """Run the take-home server alone, in the foreground, until Ctrl-C."""
    from kiosk.takehome.address import public_base_url
    from kiosk.takehome.server import TakeHomeError, TakeHomeServer

    settings = obj.settings
    server = TakeHomeServer(settings, lookup_factory=_lookup_factory())
    try:
        server.start()
    except TakeHomeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Serving take-home links at {public_base_url(settings, port=server.port)} "
               "(press Ctrl-C to stop).")
    console = _start_console(settings)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        _wait_for_interrupt()
    except KeyboardInterrupt:
        click.echo("Stopping.")
    finally:
        signal.signal(signal.SIGTERM, previous)
        if console is not None:
            console.stop()
        server.stop()


def _start_console(settings: Any) -> Any:
    """The clinic console beside the phones' server, as under `kiosk run`; a console that
    cannot start is said, and the phones are served all the same."""
    if not settings.console.enabled:
        return None
    from kiosk.console.server import ConsoleError, ConsoleServer

    console = ConsoleServer(settings)
    try:
        console.start()
    except ConsoleError as exc:
        click.echo(f"The clinic console is not available: {exc}", err=True)
        return None
    click.echo(f"The clinic console is at http://{settings.console.bind}:{console.port}/")
    return console


COMMANDS = (link, links_command, revoke, serve)
