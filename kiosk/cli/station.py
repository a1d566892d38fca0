"""`kiosk run` and `kiosk doctor`: start the station, check its health."""

from __future__ import annotations

import click

from kiosk.cli import CliContext

EXIT_NO_DISPLAY = 3


@click.command()
@click.option("--start", "start_id", metavar="ID", help="Open this exercise's player and start playing.")
@click.option("--take-home", "take_home_id", metavar="ID", help="Open the take-home screen with this exercise's QR code.")
@click.option("--lang", metavar="LANG", help="Language of the exercise for --start or --take-home (e.g. en-US).")
@click.pass_obj
def run(obj: CliContext, start_id: str | None, take_home_id: str | None, lang: str | None) -> None:
    """Start the station: the touchscreen, the audio engine and the take-home server."""
    from kiosk.doctor import display_available

    settings = obj.settings
    ok, detail = display_available()
    if not ok:
        click.echo(
            f"The station needs a screen, and none was found ({detail}). "
            "To try it anyway on a virtual screen: xvfb-run -a make run",
            err=True,
        )
        raise SystemExit(EXIT_NO_DISPLAY)
    from kiosk.memory import tune_allocator
    from kiosk.services import Services

    tune_allocator()  # before any thread or texture: see kiosk/memory.py
    services = Services(settings)
    try:
        services.start(take_home_later=True)  # the screen starts it after its first frame
        from kiosk.ui.boot import run_ui  # after start: the engine's process comes up meanwhile

        run_ui(services, start_id=start_id, take_home_id=take_home_id, lang=lang)
    finally:
        services.stop()


@click.command()
@click.pass_obj
def doctor(obj: CliContext) -> None:
    """Check the station's health: config, display, audio, database, disk, network."""
    from kiosk.doctor import FAIL, run_checks

    results = run_checks(obj.settings)
    width = max(len(r.name) for r in results)
    for r in results:
        click.echo(f"{r.status:<4}  {r.name:<{width}}  {r.detail}")
    failed = [r for r in results if r.status == FAIL]
    if failed:
        click.echo(f"\n{len(failed)} check(s) failed.", err=True)
        raise SystemExit(1)
    click.echo("\nAll checks passed.")
