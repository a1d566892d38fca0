"""`kiosk set-pin` and `kiosk stats`: the therapist PIN and the anonymous usage counts."""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

import click

from kiosk.cli import CliContext

log = logging.getLogger(__name__)


def _check_pin(value: str) -> str:
    from kiosk.therapist.pin import validate_new_pin

    problems = validate_new_pin(value)
    if problems:
        # click.prompt shows this and asks again; the PIN itself is never part of it.
        raise click.UsageError(" ".join(problems))
    return value


def write_pin_hash(config_path: Path, pin_hash: str) -> None:
    from kiosk.config import update_config

    update_config(config_path, {"therapist": {"pin_hash": pin_hash}},
                  {"therapist": "The therapist PIN's salted hash, written by `kiosk set-pin`."})


def writable_config(config_path: Path) -> None:
    """A clear refusal, before anything is asked, when the config cannot be rewritten."""
    if not os.access(config_path, os.W_OK) or not os.access(config_path.parent, os.W_OK):
        raise click.ClickException(
            f"{config_path} cannot be changed by this user (the file and its folder must be "
            "writable); run the command as the user that owns it"
        )


@click.command("set-pin")
@click.pass_obj
def set_pin(obj: CliContext) -> None:
    """Set the therapist PIN (asked twice, never shown).

    At least 6 digits; common and easily guessed PINs (123456, 111111, dates...) are
    refused. Only a salted scrypt hash is written, into the [therapist] section of the
    config file, keeping its comments. Setting a PIN also clears a PIN pad lockout.
    Restart the station afterwards.
    """
    from kiosk.config import ConfigError
    from kiosk.therapist.pin import LOCKOUT_FILE_NAME, hash_pin

    settings = obj.settings
    config_path = settings.config_path
    writable_config(config_path)
    pin = click.prompt(
        "New therapist PIN", hide_input=True, confirmation_prompt="Type the same PIN again",
        value_proc=_check_pin,
    )
    try:
        write_pin_hash(config_path, hash_pin(pin))
    except ConfigError as exc:
        raise click.ClickException(exc.message()) from None
    except OSError as exc:
        raise click.ClickException(f"could not write {config_path}: {exc.strerror or exc}") from None
    lockout_file = settings.data_dir / LOCKOUT_FILE_NAME
    try:
        lockout_file.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not clear the PIN lockout file %s: %s", lockout_file, exc)
    log.info("therapist PIN changed in %s", config_path)
    click.echo(f"The therapist PIN is set (stored as a salted hash in {config_path}).")
    click.echo("Restart the station to use it, for example: sudo systemctl restart kiosk")


_HEADINGS = ("exercise", "plays started", "plays completed", "links issued", "downloads")


@click.command()
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 3660),
              help="How many days back to count, today included.")
@click.option("--csv", "as_csv", is_flag=True,
              help="Print one line per day, exercise and language as CSV, with a header line "
                   "(for a spreadsheet).")
@click.pass_obj
def stats(obj: CliContext, days: int, as_csv: bool) -> None:
    """Show anonymous usage counts per exercise: plays started and completed, take-home
    links issued and files downloaded, over the last N days (local time).

    Nothing about any person is recorded; only what was played or handed out, and when.
    Example: kiosk stats --days 90 --csv > usage.csv
    """
    from kiosk.store import StoreError, open_db
    from kiosk.usage import counts, daily_counts, daily_csv, window

    settings = obj.settings
    try:
        db = open_db(settings.db_path)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    now = dt.datetime.now(dt.UTC)
    try:
        if as_csv:
            click.echo(daily_csv(daily_counts(db, days, now)), nl=False)
            return
        rows = counts(db, days, now)
    finally:
        db.close()
    start, _ = window(days, now)
    span = f"{start.date().isoformat()} to {now.astimezone().date().isoformat()}"
    click.echo(f"Usage on {settings.station_name}, last {days} day{'s' if days != 1 else ''} ({span}):")
    if not rows:
        click.echo("Nothing was played or taken home in that time.")
        return
    table: list[tuple[str, int, int, int, int]] = [
        (r.exercise_id, r.plays_started, r.plays_completed, r.links_issued, r.downloads)
        for r in rows
    ]
    totals = ("total", sum(r.plays_started for r in rows), sum(r.plays_completed for r in rows),
              sum(r.links_issued for r in rows), sum(r.downloads for r in rows))
    width = max(len(_HEADINGS[0]), *(len(r[0]) for r in table))
    numbers = [len(h) for h in _HEADINGS[1:]]

    def line(cells: tuple[object, ...]) -> str:
        first = f"{cells[0]!s:<{width}}"
        rest = "  ".join(f"{c!s:>{w}}" for c, w in zip(cells[1:], numbers, strict=True))
        return f"{first}  {rest}"

    click.echo()
    click.echo(line(_HEADINGS))
    for row in table:
        click.echo(line(row))
    if len(table) > 1:
        click.echo(line(totals))
