"""`kiosk play`: play an exercise through the station's own engine, with no screen.

For checking headphones and the output device, for `doctor`-style checks by hand, and for
tests. Registered by kiosk/cli/__init__.py (`cli.add_command(audio.play)`).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from kiosk.audio.api import BaseListener, PlayerError, PlayerState
from kiosk.words import format_clock

log = logging.getLogger(__name__)

EXIT_PLAYBACK_FAILED = 1


def progress_line(position: float, duration: float, volume: float, width: int = 24) -> str:
    done = 0 if duration <= 0 else min(width, int(width * position / duration))
    bar = "#" * done + "-" * (width - done)
    return f"{format_clock(position)} / {format_clock(duration)} [{bar}] volume {round(volume * 100)}%"


class _Watcher(BaseListener):
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.ended = threading.Event()
        self.failed = threading.Event()

    def on_error(self, error: PlayerError) -> None:
        self.errors.append(error.detail)
        self.failed.set()

    def on_ended(self) -> None:
        self.ended.set()


def _find_audio(settings: Any, exercise_id: str, lang: str) -> Path:
    """The playback copy (or the original MP3) of an exercise's language variant."""
    from kiosk.content import Catalogue
    from kiosk.store import open_db

    db = open_db(settings.db_path)
    try:
        variant = Catalogue(db, settings.content_dir).variant(exercise_id, lang)
    finally:
        db.close()
    if variant is None:
        raise click.ClickException(
            f'no exercise "{exercise_id}" in language {lang} (see `kiosk list` for what there is)'
        )
    if variant.playback_path.is_file():
        return variant.playback_path
    return variant.audio_path


@click.command()
@click.argument("exercise_id", metavar="ID", required=False)
@click.option("--lang", metavar="LANG", help="Language variant (default: the station's default language).")
@click.option("--start", "start", type=click.FloatRange(min=0), default=0.0, show_default=True,
              metavar="SECONDS", help="Start this many seconds into the track.")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), metavar="N",
              help="Stop after N seconds of playing (default: to the end).")
@click.option("--volume", type=click.FloatRange(0, 1), metavar="V",
              help="Volume from 0 to 1 (never above the configured cap; default: the start volume).")
@click.option("--file", "file_path", type=click.Path(dir_okay=False, path_type=Path), hidden=True,
              help="Play this audio file instead of an exercise (for tests and checks).")
@click.pass_obj
def play(obj: Any, exercise_id: str | None, lang: str | None, start: float, seconds: float | None,
         volume: float | None, file_path: Path | None) -> None:
    """Play an exercise on the headphones through the station's audio engine.

    Shows a progress line; Ctrl-C stops with a fade. Useful to check the output device and
    the volume cap without the screen.
    """
    settings = obj.settings
    if file_path is None:
        if not exercise_id:
            raise click.UsageError("give an exercise ID (see `kiosk list`)")
        path = _find_audio(settings, exercise_id, lang or settings.languages.default)
    else:
        path = file_path
    if not path.is_file():
        raise click.ClickException(f"{path}: the audio file does not exist")

    from kiosk.audio.player import PortAudioPlayer

    player = PortAudioPlayer.from_settings(settings.audio)
    watcher = _Watcher()
    player.add_listener(watcher)
    interactive = sys.stdout.isatty()
    try:
        if not player.wait_ready(8.0):
            message = watcher.errors[0] if watcher.errors else "no audio output device"
            raise click.ClickException(f"cannot play: {message}")
        player.load(path)
        if player.state == PlayerState.ERROR:
            raise click.ClickException(watcher.errors[-1] if watcher.errors else f"{path}: cannot be played")
        if volume is not None:
            player.set_volume(volume)
        if start:
            if start >= player.duration:
                raise click.ClickException(
                    f"--start {start:g} is past the end of the track ({player.duration:.1f} s)")
            player.seek(start)
        click.echo(f"Playing {path.name} on {player.device_label} "
                   f"({format_clock(player.duration)}, volume cap {round(player.volume_cap * 100)}%)")
        t0 = time.monotonic()
        player.play()
        last_line = 0.0
        while True:
            if watcher.ended.is_set() or watcher.failed.is_set():
                break
            if seconds is not None and time.monotonic() - t0 >= seconds:
                break
            now = time.monotonic()
            if interactive:
                click.echo("\r" + progress_line(player.position, player.duration, player.volume), nl=False)
            elif now - last_line >= 5.0:
                click.echo(progress_line(player.position, player.duration, player.volume))
                last_line = now
            time.sleep(0.2)
        played = time.monotonic() - t0
        position = player.position
        player.pause()  # fades out before the stream closes
        time.sleep(0.05)
        if interactive:
            click.echo("\r" + progress_line(position, player.duration, player.volume))
        if watcher.failed.is_set():
            raise click.ClickException(f"playback stopped: {watcher.errors[-1]}")
        end = "the end" if watcher.ended.is_set() else format_clock(position)
        click.echo(f"Played {played:.1f} s, to {end}; output underruns: {player.underruns}")
    except KeyboardInterrupt:
        player.pause()
        time.sleep(0.05)
        click.echo("\nStopped.")
    finally:
        player.close()
