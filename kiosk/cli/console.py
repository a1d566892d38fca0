"""`kiosk set-password`: the administrator's password for the clinic console."""

from __future__ import annotations

import logging

import click

from kiosk.cli import CliContext
from kiosk.cli.therapist import writable_config

log = logging.getLogger(__name__)

MIN_PASSWORD = 10


def _check_password(value: str) -> str:
    if len(value) < MIN_PASSWORD:
        raise click.UsageError(f"Use at least {MIN_PASSWORD} characters; a few ordinary words "
                               "in a row make a good one.")
    if len(value) > 1024:
        raise click.UsageError("Use at most 1024 characters.")
    return value


@click.command("set-password")
@click.pass_obj
def set_password(obj: CliContext) -> None:
    """Set the clinic console's administrator password (asked twice, never shown).

    At least 10 characters. Only a salted scrypt hash is written, into the [console]
    section of the config file, keeping its comments. A running station uses it at the
    next sign-in; no restart is needed.
    """
    from kiosk.config import ConfigError, update_config
    from kiosk.therapist.pin import hash_pin

    config_path = obj.settings.config_path
    writable_config(config_path)
    password = click.prompt("New console password", hide_input=True,
                            confirmation_prompt="Type the same password again",
                            value_proc=_check_password)
    try:
        update_config(config_path, {"console": {"password_hash": hash_pin(password)}},
                      {"console": "The clinic console's password, as a salted hash (`kiosk set-password`)."})
    except ConfigError as exc:
        raise click.ClickException(exc.message()) from None
    except OSError as exc:
        raise click.ClickException(f"could not write {config_path}: {exc.strerror or exc}") from None
    log.info("console password changed in %s", config_path)
    console = obj.settings.console
    click.echo(f"The console password is set (stored as a salted hash in {config_path}).")
    click.echo(f"Sign in at http://{console.bind}:{console.port}/ (from this station), or at the "
               "address set in console.bind.")
