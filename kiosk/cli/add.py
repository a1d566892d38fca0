"""`kiosk add / cues`: an exercise from an audio file and its script, and its read-along.

Thin, like kiosk.cli.content: the work is kiosk.content.adding; a refusal is every problem
at once and exit status 1, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from kiosk.cli import CliContext
from kiosk.cli.content import _catalogue, _fail, _minutes, _with_progress

if TYPE_CHECKING:
    from kiosk.content.adding import AddResult
    from kiosk.content.align import TrackState

__all__ = ["COMMANDS", "add", "cues"]


def _untimed_reason(state: TrackState, lang: str) -> str:
    from kiosk.content.align import TrackState

    return {
        TrackState.NO_MODEL: f"there is no speech model for {lang} on this station",
        TrackState.COULD_NOT_ALIGN: "too little of it could be found in the audio (is the speech very quiet, "
                                    "or under music?)",
        TrackState.WRONG_SCRIPT: "what is said in the audio is not this script: check that the script is "
                                 "this recording's",
        TrackState.TIMED: "",
    }[state]


def _report(result: AddResult) -> None:
    imported = result.imported
    what = "exercise" if result.new_exercise else f"{result.lang} variant of"
    click.echo(f'Added {what} "{result.exercise_id}" ({result.lang}, {_minutes(result.duration)}) to '
               f"this station's own pack (version {imported.version}) in {result.seconds:.1f} s.")
    phone = imported.phone_copies.get((result.exercise_id, result.lang))
    if phone is not None:
        click.echo(f"Phone copy: {phone.describe()}.")
    if result.script is None:
        click.echo("No script was given: the screen shows the title where the read-along would be.")
        return
    count = len(result.cues)
    dropped = len(result.script.dropped)
    skipped = f"; {dropped} line{'s' if dropped != 1 else ''} not spoken left out (headers, footers, page numbers)" if dropped else ""
    click.echo(f"Script: {count} passage{'s' if count != 1 else ''} from {result.script.source.name}{skipped}.")
    alignment = result.alignment
    assert alignment is not None
    if alignment.timed:
        unheard = result.interpolated
        click.echo(f"Read-along timed: {count - unheard} of {count} passages placed in the audio"
                   + (f", {unheard} not heard and placed between their neighbours (check them with "
                      f"kiosk cues {result.exercise_id} --lang {result.lang})." if unheard else "."))
    else:
        click.echo(f"The script is kept without times (shown, not highlighted): "
                   f"{_untimed_reason(alignment.state, result.lang)}. Correct it with "
                   f"kiosk cues {result.exercise_id} --lang {result.lang} --set FILE.vtt")


@click.command("add")
@click.argument("audio", type=click.Path(path_type=Path))
@click.option("--script", "script", type=click.Path(path_type=Path),
              help="The script: a PDF with text in it, a plain-text file or a Word .docx.")
@click.option("--title", required=True, help="The exercise's title, as the screen shows it.")
@click.option("--summary", required=True, help="One sentence about it, for the browse.")
@click.option("--lang", help="Its language (default: the first of languages.available).")
@click.option("--id", "exercise_id", help="Its id (default: made from the title).")
@click.option("--techniques", help="Tags, separated by commas: breathing,imagery")
@click.option("--visibility", type=click.Choice(["public", "therapist"]),
              help="Who sees it in the browse (default public).")
@click.option("--introduction", help="What the screen says before it starts.")
@click.option("--guidance", help="Notes for therapists.")
@click.pass_obj
def add(obj: CliContext, audio: Path, script: Path | None, title: str, summary: str, lang: str | None,
        exercise_id: str | None, techniques: str | None, visibility: str | None,
        introduction: str | None, guidance: str | None) -> None:
    """Add an exercise (or another language of one) from an audio file and its script.

    The script's passages are timed to the voice for the read-along, offline. It goes into
    this station's own pack, checked as any pack is: a refusal lists every problem at once
    and changes nothing.
    """
    from kiosk.content.adding import AddRequest, add_exercise

    settings = obj.settings
    request = AddRequest(
        audio=audio, title=title, summary=summary, lang=lang or settings.languages.available[0],
        script=script, exercise_id=exercise_id,
        techniques=tuple(t.strip() for t in techniques.split(",") if t.strip()) if techniques is not None else None,
        visibility=visibility, introduction=introduction, guidance=guidance)
    with _catalogue(obj) as (db, _):
        result = _with_progress(f"Adding {audio.name}",
                                lambda progress: add_exercise(settings, db, request, progress))
    _report(result)


@click.command("cues")
@click.argument("exercise_id", metavar="ID")
@click.option("--lang", help="The variant (default: the first of languages.available).")
@click.option("--set", "vtt", type=click.Path(path_type=Path),
              help="Replace the passages with this WebVTT file (checked as at import).")
@click.pass_obj
def cues(obj: CliContext, exercise_id: str, lang: str | None, vtt: Path | None) -> None:
    """Print an exercise's read-along passages as WebVTT, or replace them (--set)."""
    from kiosk.content import format_vtt
    from kiosk.content.adding import set_cues

    settings = obj.settings
    lang = lang or settings.languages.available[0]
    with _catalogue(obj) as (db, catalogue):
        if vtt is None:
            variant = catalogue.variant(exercise_id, lang)
            if variant is None:
                exercise = catalogue.exercise(exercise_id, lang)
                if exercise is None:
                    _fail(f"no exercise with id {exercise_id}")
                _fail(f"{exercise_id} has no {lang} variant; it has {', '.join(exercise.languages)}")
            notes = [] if variant.timed else [
                "Untimed: these times only keep the passages in order; the screen does not highlight them."]
            click.echo(format_vtt(variant.cues, notes), nl=False)
            return
        result = _with_progress(f"Checking {vtt.name}",
                                lambda progress: set_cues(settings, db, exercise_id, lang, vtt, progress))
    click.echo(f"{exercise_id} ({lang}): {len(result.cues)} passages set from {vtt.name}; "
               "the read-along follows them.")


COMMANDS = (add, cues)
