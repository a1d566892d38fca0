"""`kiosk add`, `kiosk cues --set` and the console's edits: content as a clinic has it (an
audio file and its script), and an administrator's corrections to a read-along or to an
exercise's words, all through the pack import.

Neither writes the catalogue itself. Each builds a pack folder, the installed pack's files
(hard links, so nothing large is copied) with a pack.toml written afresh, and hands it to
`import_pack`: so everything is checked as a publisher's pack is (every problem at once),
and a refusal or a crash changes nothing. `kiosk add` builds the station's own local pack
(`LOCAL_PACK_ID`), one version higher each time; `kiosk cues --set` rebuilds whichever
pack holds the exercise, at the same version, and so does `edit_exercise` (the console's
Exercises page): its titles, summaries, introductions, guidance and techniques are checked
by the very rules pack.toml is read with.

The script is read by kiosk.content.scripttext and timed by kiosk.content.align. When it
cannot be timed (no model for the language, too little speech, the wrong script) it is kept
in reading order, `timed = false` in pack.toml: the screen shows it without a highlight,
never one that wanders.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import tempfile
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import sqlite_utils
import tomlkit

from kiosk.config import Settings
from kiosk.content.align import Alignment, PassageTiming
from kiosk.content.catalogue import Catalogue
from kiosk.content.cues import Cue, VttError, format_vtt, parse_vtt
from kiosk.content.faults import AlreadyHeld, Fault, PackRefused
from kiosk.content.importer import ImportResult, Progress, import_pack
from kiosk.content.manifest import (
    AUDIO_SUFFIXES,
    FORMAT_VERSION,
    LANG_TAG,
    MANIFEST,
    SLUG,
    TEXT_LIMITS,
    ExerciseSpec,
    PackSpec,
    VariantSpec,
    normal_path,
    parse_manifest,
)
from kiosk.content.models import VISIBILITIES, PassageState, Placement
from kiosk.content.scripttext import Script, ScriptRefused, read_script

__all__ = [
    "LOCAL_PACK_ID",
    "AddRequest",
    "AddResult",
    "CuesResult",
    "ExerciseEdit",
    "VariantText",
    "add_exercise",
    "edit_exercise",
    "set_cues",
    "slug_of",
    "untimed_cues",
]

LOCAL_PACK_ID = "local"
LOCAL_PACK_TITLE = "This station's own exercises"
ALIGN_SHARE = 0.6  # of the progress bar: timing the script; the import has the rest
MIN_CUE_MS = 100  # a cue shorter than this is lengthened (the aligner may give a word 0 s)


@dataclass(frozen=True)
class AddRequest:
    """What `kiosk add` was given. None: not given (an existing exercise keeps its own)."""

    audio: Path
    title: str
    summary: str
    lang: str
    script: Path | None = None
    exercise_id: str | None = None  # default: slug_of(title)
    techniques: tuple[str, ...] | None = None
    visibility: str | None = None
    introduction: str | None = None
    guidance: str | None = None


@dataclass(frozen=True)
class AddResult:
    exercise_id: str
    lang: str
    new_exercise: bool  # False: a language variant added to an exercise already here
    script: Script | None  # None: no script given
    alignment: Alignment | None  # None: nothing to align (no script)
    cues: tuple[Cue, ...]
    duration: float  # of the audio, s
    imported: ImportResult
    seconds: float  # the whole of it, timing included

    @property
    def timed(self) -> bool:
        return self.alignment is not None and self.alignment.timed

    @property
    def interpolated(self) -> int:
        if self.alignment is None:
            return 0
        return sum(t.interpolated for t in self.alignment.passages)


@dataclass(frozen=True)
class CuesResult:
    exercise_id: str
    lang: str
    pack_id: str
    cues: tuple[Cue, ...]
    imported: ImportResult


@dataclass(frozen=True)
class VariantText:
    """A language variant's own words."""

    title: str
    summary: str
    introduction: str


@dataclass(frozen=True)
class ExerciseEdit:
    """An exercise's words as the administrator wants them: every language's, by tag. The
    first language's are the exercise's own, which the others fall back to when empty (as
    pack.toml has it)."""

    guidance: str
    techniques: tuple[str, ...]
    variants: dict[str, VariantText]


def slug_of(title: str) -> str:
    """An exercise id from its title: "Safe place (short)" -> "safe-place-short"."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:64].rstrip("-")


def add_exercise(settings: Settings, db: sqlite_utils.Database, request: AddRequest,
                 progress: Progress | None = None) -> AddResult:
    """Add the audio (and its script, timed) to the local pack; raise PackRefused listing
    every problem, having changed nothing. Raises ContentBusy while another import runs."""
    started = time.monotonic()
    report = progress or (lambda _f, _what: None)
    catalogue = Catalogue(db, settings.content_dir)
    exercise_id = request.exercise_id or slug_of(request.title)
    faults = _request_faults(request, exercise_id, catalogue)
    script: Script | None = None
    if request.script is not None:
        try:
            script = read_script(request.script, request.title)
        except ScriptRefused as exc:
            faults.append(exc.fault())
    if _already_held(catalogue, exercise_id, request, script):
        raise AlreadyHeld(request.audio, request.audio.name, exercise_id, request.lang)
    faults += _audio_faults(request.audio)
    if faults:
        raise PackRefused(request.audio, faults)
    alignment: Alignment | None = None
    if script is not None:
        from kiosk.audio.decode import DecodeError
        from kiosk.content.align import align

        passages = script.spoken()
        try:
            alignment = align(request.audio, passages, request.lang,
                              lambda f: report(ALIGN_SHARE * f, "timing the script"))
        except DecodeError as exc:
            raise PackRefused(request.audio, [Fault(request.audio.name, f"cannot be decoded: {exc}")]) from None
        duration = alignment.duration
        if alignment.timed:
            cues = timed_cues(passages, alignment.passages, alignment.duration)
            placements = tuple(Placement(t.state, t.confidence) for t in alignment.passages)
        else:
            cues = untimed_cues(passages, alignment.duration)
            placements = (Placement(PassageState.UNTIMED),) * len(cues)
    else:
        from kiosk.audio.decode import DecodeError, probe_duration

        try:
            duration = probe_duration(request.audio)
        except DecodeError as exc:
            raise PackRefused(request.audio, [Fault(request.audio.name, f"cannot be decoded: {exc}")]) from None
        # No script: the screen shows the title where the read-along would be.
        cues = untimed_cues([request.title], duration)
        placements = (Placement(PassageState.TITLE),)
    report(ALIGN_SHARE, "building the pack")

    lang, rel_dir = request.lang, exercise_id
    audio_rel = f"{rel_dir}/{lang}{request.audio.suffix.lower()}"
    cues_rel = f"{rel_dir}/{lang}.vtt"
    pdf_rel = f"{rel_dir}/{lang}.pdf" if script is not None and script.format == "pdf" else None
    variant = VariantSpec(lang, audio_rel, cues_rel, pdf_rel, request.title, request.summary,
                          request.introduction or "", "", timed=alignment is not None and alignment.timed)
    new_files = {audio_rel: request.audio}
    if pdf_rel and request.script is not None:
        new_files[pdf_rel] = request.script
    notes = _alignment_notes(alignment)

    def change(spec: PackSpec) -> PackSpec:
        exercises = list(spec.exercises)
        for n, ex in enumerate(exercises):
            if ex.id == exercise_id:
                exercises[n] = replace(
                    ex,
                    techniques=list(request.techniques) if request.techniques is not None else ex.techniques,
                    visibility=request.visibility or ex.visibility,
                    guidance=request.guidance if request.guidance is not None else ex.guidance,
                    variants=[*ex.variants, variant])
                break
        else:
            exercises.append(ExerciseSpec(
                exercise_id, request.title, request.summary, request.introduction or "",
                request.guidance or "", [], list(request.techniques or ()),
                request.visibility or "public", [variant], len(exercises) + 1))
        return replace(spec, exercises=exercises)

    new_exercise = catalogue.exercise_owner(exercise_id) is None
    imported = _rebuild(settings, db, catalogue, LOCAL_PACK_ID, change,
                        new_files,
                        {cues_rel: format_vtt(cues, notes)},
                        lambda f, what: report(ALIGN_SHARE + (1 - ALIGN_SHARE) * f, what),
                        request.audio, placements={(exercise_id, lang): placements})
    return AddResult(exercise_id, lang, new_exercise, script, alignment, cues, duration, imported,
                     time.monotonic() - started)


def set_cues(settings: Settings, db: sqlite_utils.Database, exercise_id: str, lang: str,
             vtt: Path, progress: Progress | None = None) -> CuesResult:
    """Replace a variant's cues with a WebVTT file, checked as at import (against the
    audio's decoded length too), in whichever pack holds it; the read-along is then timed."""
    catalogue = Catalogue(db, settings.content_dir)
    pack_id = catalogue.exercise_owner(exercise_id)
    if pack_id is None:
        raise PackRefused(vtt, [Fault(exercise_id, "there is no exercise with this id (kiosk list shows them)")])
    langs = catalogue.pack_variants(pack_id).get(exercise_id, [])
    if lang not in langs:
        raise PackRefused(vtt, [Fault(exercise_id, f"has no {lang} variant; it has {', '.join(langs)}")])
    try:
        data = vtt.read_bytes()
    except OSError as exc:
        raise PackRefused(vtt, [Fault(vtt.name, f"cannot be read: {exc.strerror or exc}")]) from None
    try:
        cues = parse_vtt(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PackRefused(vtt, [Fault(vtt.name, f"is not UTF-8 text (byte {exc.start})")]) from None
    except VttError as exc:
        raise PackRefused(vtt, [Fault(vtt.name, f.message, f.line) for f in exc.faults]) from None
    cues_rel = f"{exercise_id}/{lang}.corrected.vtt"
    before = catalogue.variant(exercise_id, lang)
    assert before is not None  # pack_variants named it
    # A passage whose start and words are as they were keeps how it was placed; any other
    # was set by hand.
    placements = tuple(
        before.placements[n] if n < len(before.cues) and (before.cues[n].start, before.cues[n].text)
        == (cue.start, cue.text) else Placement(PassageState.CORRECTED)
        for n, cue in enumerate(cues))

    def change(spec: PackSpec) -> PackSpec:
        exercises = []
        for ex in spec.exercises:
            if ex.id == exercise_id:
                ex = replace(ex, variants=[replace(v, cues=cues_rel, timed=True) if v.lang == lang else v
                                           for v in ex.variants])
            exercises.append(ex)
        return replace(spec, exercises=exercises)

    imported = _rebuild(settings, db, catalogue, pack_id, change, {cues_rel: vtt}, {}, progress, vtt,
                        same_version=True, placements={(exercise_id, lang): placements})
    return CuesResult(exercise_id, lang, pack_id, cues, imported)


def edit_exercise(settings: Settings, db: sqlite_utils.Database, exercise_id: str, edit: ExerciseEdit,
                  progress: Progress | None = None) -> ImportResult:
    """Change an exercise's words in whichever pack holds it (at the same version, like
    `set_cues`); raise PackRefused listing every problem, having changed nothing. Languages
    `edit` does not name keep theirs. Raises ContentBusy while another import runs."""
    catalogue = Catalogue(db, settings.content_dir)
    pack_id = catalogue.exercise_owner(exercise_id)
    source = Path(exercise_id)
    if pack_id is None:
        raise PackRefused(source, [Fault(exercise_id, "there is no exercise with this id (kiosk list shows them)")])

    def change(spec: PackSpec) -> PackSpec:
        exercises = []
        for ex in spec.exercises:
            if ex.id == exercise_id:
                variants = []
                for v in ex.variants:
                    words = edit.variants.get(v.lang)
                    if words is not None:
                        v = replace(v, title=words.title, summary=words.summary,
                                    introduction=words.introduction)
                    variants.append(v)
                first = variants[0]
                ex = replace(ex, title=first.title, summary=first.summary, introduction=first.introduction,
                             guidance=edit.guidance, techniques=list(edit.techniques), variants=variants)
            exercises.append(ex)
        return replace(spec, exercises=exercises)

    return _rebuild(settings, db, catalogue, pack_id, change, {}, {}, progress, source, same_version=True)


# ---------------------------------------------------------------------------------------
# Cues from the alignment


def timed_cues(passages: list[str], timings: tuple[PassageTiming, ...], duration: float) -> tuple[Cue, ...]:
    """One cue a passage, in order, never overlapping, each at least MIN_CUE_MS long, all
    within the track (times in whole milliseconds, as WebVTT writes them)."""
    end_ms = max(int(duration * 1000), MIN_CUE_MS * len(passages))
    cues: list[Cue] = []
    at = 0
    for n, (text, t) in enumerate(zip(passages, timings, strict=True)):
        room = end_ms - MIN_CUE_MS * (len(passages) - n)  # leave the rest their least
        start = min(max(at, round(t.start * 1000)), room)
        end = max(start + MIN_CUE_MS, min(round(t.end * 1000), room + MIN_CUE_MS))
        if n + 1 < len(passages):
            end = min(end, max(start + MIN_CUE_MS, round(timings[n + 1].start * 1000)))
        cues.append(Cue(start / 1000, end / 1000, text))
        at = end
    return tuple(cues)


def untimed_cues(passages: list[str], duration: float) -> tuple[Cue, ...]:
    """The passages in reading order, spread over the track by length: their times only
    order them (pack.toml says `timed = false`), and give `kiosk cues --set` a start."""
    weights = [max(1, len(p.split())) for p in passages]
    total = sum(weights)
    span = max(int(duration * 1000), MIN_CUE_MS * len(passages))
    cues, at = [], 0
    for n, (text, w) in enumerate(zip(passages, weights, strict=True)):
        step = max(MIN_CUE_MS, span * w // total)
        end = min(at + step, span) if n + 1 < len(passages) else span
        end = max(end, at + 1)
        cues.append(Cue(at / 1000, end / 1000, text))
        at = end
    return tuple(cues)


def _alignment_notes(alignment: Alignment | None) -> list[str]:
    if alignment is None:
        return ["No script was given: the title stands in for one. Times are not meaningful."]
    if not alignment.timed:
        return [f"Untimed ({alignment.state.value}): the times only keep the passages in order."]
    notes = [f"Timed by kiosk add ({alignment.model}); {alignment.heard:.0%} of the script's words heard in place."]
    for n, t in enumerate(alignment.passages, 1):
        if t.interpolated:
            notes.append(f"Cue {n} was not heard: placed between its neighbours. Check it.")
    return notes


# ---------------------------------------------------------------------------------------
# The pack rebuilt and imported


def _request_faults(request: AddRequest, exercise_id: str, catalogue: Catalogue) -> list[Fault]:
    # A first pass, before minutes of alignment, that names the option at fault ("--title")
    # rather than a line of a pack.toml the administrator never wrote. It uses pack.toml's
    # own limits and patterns, and the rebuilt pack still goes through the whole import, so
    # a rule missed here is still enforced there.
    faults: list[Fault] = []
    for name, value in (("--title", request.title), ("--summary", request.summary),
                        ("--introduction", request.introduction), ("--guidance", request.guidance)):
        if value is None:
            continue
        limit = TEXT_LIMITS[name.removeprefix("--")]
        if name in ("--title", "--summary") and not value.strip():
            faults.append(Fault(name, "must not be empty"))
        elif len(value) > limit:
            faults.append(Fault(name, f"at most {limit} characters, found {len(value)}"))
    if not SLUG.match(exercise_id):
        where = "--id" if request.exercise_id else "--title"
        faults.append(Fault(where, f'"{exercise_id}" is not a usable id (lowercase letters, digits and "-", '
                                   "at most 64 characters): give one with --id"))
    if not LANG_TAG.match(request.lang):
        faults.append(Fault("--lang", f'"{request.lang}" is not a language tag like "en-GB" or "en-US"'))
    for technique in request.techniques or ():
        if not SLUG.match(technique):
            faults.append(Fault("--techniques", f'"{technique}" is not a valid tag (lowercase letters, digits and "-")'))
    if request.visibility is not None and request.visibility not in VISIBILITIES:
        faults.append(Fault("--visibility", f"must be {' or '.join(VISIBILITIES)}"))
    owner = catalogue.exercise_owner(exercise_id)
    if owner is not None and owner != LOCAL_PACK_ID:
        faults.append(Fault("--id", f'"{exercise_id}" belongs to the installed pack "{owner}"; kiosk add adds only '
                                    "to this station's own exercises: give another --id"))
    elif owner is not None and request.lang in catalogue.pack_variants(LOCAL_PACK_ID).get(exercise_id, []):
        faults.append(Fault("--lang", f'"{exercise_id}" already has a {request.lang} variant: remove it first '
                                      "(kiosk remove) or give another --lang or --id"))
    return faults


def _already_held(catalogue: Catalogue, exercise_id: str, request: AddRequest, script: Script | None) -> bool:
    """Whether the variant is already here with this very audio (byte for byte) and these
    words. Anything else of it that differs (a new recording, a corrected script) is a new
    version, which the `--lang` fault asks to remove first."""
    variant = catalogue.variant(exercise_id, request.lang)
    if variant is None:
        return False
    try:
        if request.audio.stat().st_size != variant.audio_bytes or not filecmp.cmp(
                request.audio, variant.audio_path, shallow=False):
            return False
    except OSError:
        return False  # either file unreadable: the checks that follow say which
    # Without a script, the title stands in for one (add_exercise).
    passages = script.spoken() if script is not None else [request.title]
    return [" ".join(p.split()) for p in passages] == [" ".join(c.text.split()) for c in variant.cues]


def _audio_faults(audio: Path) -> list[Fault]:
    from kiosk.audio import aac
    from kiosk.audio.mp3scan import Mp3Error, scan_mp3

    if not audio.is_file():
        return [Fault(audio.name, "does not exist" if not audio.exists() else "is not a file")]
    if audio.suffix.lower() not in AUDIO_SUFFIXES:
        return [Fault(audio.name, f"is not an audio file the station takes ({', '.join(AUDIO_SUFFIXES)})")]
    if audio.suffix.lower() == ".mp3":
        try:
            scan_mp3(audio)
        except Mp3Error as exc:
            return [Fault(audio.name, str(exc))]
    if aac.is_aac(audio):
        try:
            aac.probe(audio)
        except aac.AacError as exc:
            return [Fault(audio.name, str(exc))]
    return []


def _rebuild(settings: Settings, db: sqlite_utils.Database, catalogue: Catalogue, pack_id: str,
             change: Callable[[PackSpec], PackSpec], files: dict[str, Path], texts: dict[str, str],
             progress: Progress | None, source: Path, same_version: bool = False,
             placements: dict[tuple[str, str], tuple[Placement, ...]] | None = None) -> ImportResult:
    """The installed pack (what the catalogue still holds of it), changed, imported again."""
    folder = catalogue.pack_folder(pack_id)
    old_root = settings.content_dir / folder / "pack" if folder else None
    if old_root is not None:
        spec, _faults = parse_manifest((old_root / MANIFEST).read_bytes())
        if spec is None:
            raise PackRefused(source, [Fault(MANIFEST, f"the installed pack {pack_id} cannot be read again")])
        held = catalogue.pack_variants(pack_id)
        spec = replace(spec, exercises=[
            replace(ex, variants=[v for v in ex.variants if v.lang in held[ex.id]])
            for ex in spec.exercises if ex.id in held])
    else:
        spec = PackSpec(pack_id, LOCAL_PACK_TITLE, "", "", [])
    version = spec.version if same_version else _next_version(spec.version)
    spec = change(replace(spec, version=version))
    # The words are refused before any audio is decoded again, by the rules the import
    # itself reads pack.toml with (it checks them once more, with everything else).
    manifest = manifest_text(spec)
    _spec, faults = parse_manifest(manifest.encode("utf-8"))
    if faults:
        raise PackRefused(source, faults)
    settings.content_dir.mkdir(parents=True, exist_ok=True)
    # Beside the content folder (one file system: links, not copies), not in it: the import
    # and the start-up clean-up own what is inside.
    with tempfile.TemporaryDirectory(prefix=".kiosk-pack-", dir=settings.data_dir) as tmp:
        root = Path(tmp)
        if old_root is not None:
            for ex in spec.exercises:
                for v in ex.variants:
                    for rel in (v.audio, v.cues, v.script_pdf):
                        if rel and rel not in files and rel not in texts and (old_root / rel).is_file():
                            _place(old_root / rel, root / rel)
        for rel, path in files.items():
            _place(path, root / rel)
        for rel, text in texts.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, encoding="utf-8")
        (root / MANIFEST).write_text(manifest, encoding="utf-8")
        return import_pack(settings, db, root, progress, placements=placements)


def _place(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed: the import copies anyway
        shutil.copyfile(src, dst)


def _next_version(version: str) -> str:
    if not version:
        return "1"
    parts = version.split(".")
    parts[-1] = str(int(parts[-1]) + 1)
    return ".".join(parts)


def manifest_text(spec: PackSpec) -> str:
    """pack.toml for the spec: what parse_manifest reads back to the same spec."""
    doc = tomlkit.document()
    doc.add(tomlkit.comment("Written by kiosk add / kiosk cues --set from this station's catalogue."))
    doc["format"] = FORMAT_VERSION
    pack = tomlkit.table()
    pack["id"] = spec.id
    pack["title"] = spec.title
    pack["version"] = spec.version
    if spec.publisher:
        pack["publisher"] = spec.publisher
    doc["pack"] = pack
    exercises = tomlkit.aot()
    for ex in spec.exercises:
        table = tomlkit.table()
        table["id"] = ex.id
        table["title"] = ex.title
        table["summary"] = ex.summary
        for key, value in (("introduction", ex.introduction), ("guidance", ex.guidance)):
            if value:
                table[key] = value
        if ex.references:
            table["references"] = list(ex.references)
        if ex.techniques:
            table["techniques"] = list(ex.techniques)
        table["visibility"] = ex.visibility
        variants = tomlkit.table(is_super_table=True)
        for v in ex.variants:
            vt = tomlkit.table()
            vt["audio"] = normal_path(v.audio)
            vt["cues"] = normal_path(v.cues)
            if v.script_pdf:
                vt["script_pdf"] = normal_path(v.script_pdf)
            # Where a variant's words are the exercise's, they are left to fall back to them,
            # so that a problem with them is reported once, for the exercise.
            for key, value, own in (("title", v.title, ex.title), ("summary", v.summary, ex.summary),
                                    ("introduction", v.introduction, ex.introduction)):
                if value != own:
                    vt[key] = value
            if not v.timed:
                vt["timed"] = False
            variants[v.lang] = vt
        table["variants"] = variants
        exercises.append(table)
    doc["exercises"] = exercises
    return tomlkit.dumps(doc)
