"""`kiosk import / list / search / remove / hide / show`: the administrator's content commands.

Thin: each opens the database, calls kiosk.content, and prints. A refused
pack or an unknown id is a plain message and exit status 1, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import click

from kiosk.cli import CliContext

if TYPE_CHECKING:
    import sqlite_utils

    from kiosk.content import Catalogue, ExerciseListing

EXIT_REFUSED = 1

T = TypeVar("T")
Progress = Callable[[float, str], None]

__all__ = ["COMMANDS", "hide", "import_", "list_", "remove", "search", "show"]


@contextmanager
def _catalogue(obj: CliContext) -> Iterator[tuple[sqlite_utils.Database, Catalogue]]:
    from kiosk.content import Catalogue
    from kiosk.store import StoreError, open_db

    settings = obj.settings
    try:
        db = open_db(settings.db_path)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield db, Catalogue(db, settings.content_dir)
    finally:
        db.close()


def _fail(message: str) -> NoReturn:
    click.echo(message, err=True)
    raise SystemExit(EXIT_REFUSED)


def _with_progress(label: str, work: Callable[[Progress], T]) -> T:
    """Run a content change under a progress bar; a refusal is every problem and exit 1."""
    from kiosk.content import ContentBusy, PackRefused

    with click.progressbar(length=1000, label=label, show_eta=False, file=sys.stderr) as bar:
        shown = [0]

        def progress(fraction: float, _what: str) -> None:
            target = int(fraction * 1000)
            if target > shown[0]:
                bar.update(target - shown[0])
                shown[0] = target

        try:
            return work(progress)
        except PackRefused as exc:
            bar.render_finish()
            _fail(exc.message())
        except ContentBusy as exc:
            bar.render_finish()
            _fail(str(exc))


def _minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _lufs(lufs: float | None) -> str:
    # Unknown: imported before the station measured loudness (it plays as recorded), or
    # too quiet to measure.
    return "unknown" if lufs is None else f"{lufs:.1f} LUFS"


def _print_table(items: list[ExerciseListing]) -> None:
    if not items:
        click.echo("No exercises.")
        return
    rows = [
        (
            item.id,
            item.title,
            " ".join(item.languages),
            " / ".join(_minutes(item.durations[lang]) for lang in item.languages if lang in item.durations),
            " / ".join(_lufs(item.loudness.get(lang)) for lang in item.languages if lang in item.durations),
            f"{item.pack_id} {item.pack_version}",
            item.visibility + (", hidden" if item.hidden else ""),
        )
        for item in items
    ]
    header = ("ID", "TITLE", "LANGUAGES", "LENGTH", "LOUDNESS", "PACK", "SHOWN TO")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@click.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace an installed pack even with an older version.")
@click.option("--check", "check_only", is_flag=True,
              help="Only check the pack (every file, every MP3 decoded); change nothing.")
@click.pass_obj
def import_(obj: CliContext, path: Path, force: bool, check_only: bool) -> None:
    """Import a content pack (a folder or a .zip holding pack.toml).

    Everything is checked first and every problem is listed at once, with the file and
    line. A refused pack changes nothing. A newer version of an installed pack replaces it.
    """
    from kiosk.content import import_pack

    with _catalogue(obj) as (db, _):
        label = "Checking" if check_only else "Importing"
        result = _with_progress(f"{label} {path.name}", lambda progress: import_pack(
            obj.settings, db, path, progress, allow_downgrade=force, check_only=check_only))
    count = len(result.exercises)
    what = f"{result.pack_id} {result.version} ({count} exercise{'s' if count != 1 else ''}, {_minutes(result.audio_seconds)} of audio)"
    if check_only:
        click.echo(f"{what} is fine: it can be imported. Nothing was changed.")
    else:
        replaced = f", replacing version {result.replaced_version}" if result.replaced_version else ""
        click.echo(f"Imported {what} in {result.seconds:.1f} s{replaced}.")
    click.echo("Phone copies (what a take-home link gives):")
    for (exercise_id, lang), phone in result.phone_copies.items():
        click.echo(f"  {exercise_id} ({lang}): {phone.describe()}")


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def list_(obj: CliContext, as_json: bool) -> None:
    """List every exercise, including therapist-only and hidden ones."""
    with _catalogue(obj) as (_, catalogue):
        items = catalogue.list_exercises()
    if as_json:
        click.echo(json.dumps([i.as_json() for i in items], indent=2, ensure_ascii=False))
    else:
        _print_table(items)


@click.command("search")
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def search(obj: CliContext, text: str, as_json: bool) -> None:
    """Find exercises by title, summary, technique or script words (best match first)."""
    with _catalogue(obj) as (_, catalogue):
        items = catalogue.search_listing(text)
    if as_json:
        click.echo(json.dumps([i.as_json() for i in items], indent=2, ensure_ascii=False))
    elif not items:
        click.echo(f'No exercise matches "{text}".')
    else:
        _print_table(items)


@click.command("remove")
@click.argument("exercise_id", metavar="ID")
@click.pass_obj
def remove(obj: CliContext, exercise_id: str) -> None:
    """Remove an exercise and its files from the station (import its pack again to undo)."""
    from kiosk.content import ContentBusy

    with _catalogue(obj) as (_, catalogue):
        try:
            found = catalogue.remove(exercise_id)
        except ContentBusy as exc:
            _fail(str(exc))
    if not found:
        _fail(f"no exercise with id {exercise_id}")
    click.echo(f"Removed {exercise_id}.")


@click.command("hide")
@click.argument("exercise_id", metavar="ID")
@click.pass_obj
def hide(obj: CliContext, exercise_id: str) -> None:
    """Hide an exercise from the public browse; therapists still find it."""
    with _catalogue(obj) as (_, catalogue):
        found = catalogue.set_hidden(exercise_id, True)
    if not found:
        _fail(f"no exercise with id {exercise_id}")
    click.echo(f"{exercise_id} is hidden from the public browse (therapists still see it).")


@click.command("show")
@click.argument("exercise_id", metavar="ID")
@click.pass_obj
def show(obj: CliContext, exercise_id: str) -> None:
    """Show a hidden exercise in the public browse again."""
    with _catalogue(obj) as (_, catalogue):
        found = catalogue.set_hidden(exercise_id, False)
        exercise = catalogue.exercise(exercise_id, "")
    if not found or exercise is None:
        _fail(f"no exercise with id {exercise_id}")
    if exercise.visibility == "therapist":
        click.echo(f"{exercise_id} is no longer hidden, but its pack makes it for therapists only, "
                   "so the public browse still does not show it.")
    else:
        click.echo(f"{exercise_id} is shown in the public browse again.")


COMMANDS = (import_, list_, search, remove, hide, show)
