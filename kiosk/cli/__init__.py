"""The `kiosk` command. Thin: parse arguments, call the library, print.

Settings are loaded on first use, so `--help` works even with a broken config.toml, while
every command that does something refuses to start until the config is fixed.

`kiosk --help` should cost little more than importing click: the command modules import
what a command needs (the database, aiohttp, numpy, even the config loader) inside it, when
it runs. tests/test_cli_imports.py holds this; bench/cli.py measures it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from kiosk.config import Settings

log = logging.getLogger(__name__)

EXIT_CONFIG = 2
EXIT_INTERNAL = 70


class CliContext:
    def __init__(self, config_path: str | None, verbose: bool):
        self.config_path = config_path
        self.verbose = verbose
        self._settings: Settings | None = None
        self.log_path: Path | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from kiosk.config import ConfigError, load_settings
            from kiosk.logs import setup_logging

            try:
                self._settings = load_settings(self.config_path)
            except ConfigError as exc:
                click.echo(exc.message(), err=True)
                raise SystemExit(EXIT_CONFIG) from None
            self.log_path = setup_logging(self._settings.log_dir, verbose=self.verbose)
        return self._settings


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from kiosk import __version__  # importlib.metadata: 20 ms that only --version needs

    click.echo(f"kiosk {__version__}")
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="KIOSK_CONFIG",
    help="The settings file to use (default: config.toml beside the program, or $KIOSK_CONFIG).",
)
@click.option("-v", "--verbose", is_flag=True, help="Write debugging detail to the log file.")
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version, help="Show the version and exit.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """kiosk: an offline listening station for therapy clinics.

    Plays guided audio exercises on headphones with a read-along script, and hands them to
    clients to take home through a QR code served by the station itself.
    """
    ctx.obj = CliContext(config_path, verbose)


def _register_commands() -> None:
    from kiosk.cli import add, audio, console, content, station, takehome, therapist

    for command in (station.run, station.doctor, *content.COMMANDS, *add.COMMANDS, audio.play,
                    *takehome.COMMANDS, therapist.set_pin, therapist.stats,
                    console.set_password):
        cli.add_command(command)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: never lets a traceback reach a person."""
    try:
        cli.main(args=argv, prog_name="kiosk", standalone_mode=True)
    except SystemExit:
        raise
    except Exception as exc:
        log.exception("unexpected error in the kiosk command")
        where = ""
        for handler in logging.getLogger().handlers:
            filename = getattr(handler, "baseFilename", None)
            if filename:
                where = f" Details are in the log: {filename}"
        click.echo(f"kiosk: something went wrong: {exc}.{where}", err=True)
        sys.exit(EXIT_INTERNAL)
