"""The checking stages: the pack against the catalogue, the staged files' contents, and
each variant's cues against its decoded audio. Each adds every fault it finds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kiosk.audio.mp3scan import Mp3Error, Mp3Info, scan_mp3
from kiosk.content.cues import Cue, VttError, parse_vtt
from kiosk.content.faults import Fault
from kiosk.content.importer.gather import Manifest, StagedFiles
from kiosk.content.importer.session import Decoded, ImportSession, StagedVariant
from kiosk.content.manifest import MANIFEST, normal_path, version_key
from kiosk.content.phonecopy import AudioFormat

__all__ = ["CUE_TOLERANCE_SECONDS", "Contents", "check_against_catalogue", "check_contents", "match_cues"]

CUE_TOLERANCE_SECONDS = 0.5


@dataclass
class Contents:
    """What the staged files hold, for the files whose contents passed."""

    cues: dict[str, tuple[Cue, ...]] = field(default_factory=dict)  # by normalised path
    mp3s: dict[str, Mp3Info] = field(default_factory=dict)  # by normalised path
    others: dict[str, float] = field(default_factory=dict)  # WAV, FLAC, Ogg: their length, s
    formats: dict[str, AudioFormat] = field(default_factory=dict)  # every audio file in mp3s or others


def check_against_catalogue(session: ImportSession, manifest: Manifest) -> None:
    """The catalogue's point of view: exercise ids owned by other packs, going back a version."""
    spec, locator = manifest.spec, manifest.locator
    for ex in spec.exercises:
        owner = session.catalogue.exercise_owner(ex.id)
        if owner is not None and spec.id and owner != spec.id:
            session.faults.append(Fault(MANIFEST, f'exercise {ex.number} ("{ex.id}"): the id already belongs to the installed pack "{owner}"; exercise ids are unique across the catalogue',
                                        locator.line(("exercises", ex.number - 1, "id"))))
    installed = session.catalogue.installed_version(spec.id) if spec.id else None
    if installed and spec.version and not session.allow_downgrade and version_key(spec.version) < version_key(installed):
        session.faults.append(Fault(MANIFEST, f'[pack]: version: {spec.version} is older than the installed version {installed} of "{spec.id}" (import with --force to go back)',
                                    locator.line(("pack", "version"))))


def check_contents(session: ImportSession, files: StagedFiles) -> Contents:
    """Cues parsed, PDFs recognised, each MP3 walked frame by frame and its length limited."""
    contents = Contents()
    faults = session.faults
    for rel, kind in files.kinds.items():
        path = files.paths.get(rel)
        if path is None:
            continue
        if kind == "cues":
            cues = _read_cues(rel, path, faults)
            if cues is not None:
                contents.cues[rel] = cues
        elif kind == "script_pdf":
            with open(path, "rb") as f:
                head = f.read(5)
            if head != b"%PDF-":
                faults.append(Fault(rel, "is not a PDF document"))
    max_minutes = session.settings.content.max_audio_minutes
    for rel, path in files.paths.items():
        if files.kinds[rel] != "audio":
            continue
        if not rel.lower().endswith(".mp3"):
            found = _other_audio(rel, path, faults)
            if found is not None and not _too_long(rel, found[0], max_minutes, faults):
                contents.others[rel], contents.formats[rel] = found
            continue
        try:
            info = scan_mp3(path)
        except Mp3Error as exc:
            faults.append(Fault(rel, str(exc)))
            continue
        if _too_long(rel, info.duration, max_minutes, faults):
            continue
        contents.mp3s[rel] = info
        contents.formats[rel] = AudioFormat.MP3
    return contents


def _too_long(rel: str, duration: float, max_minutes: int, faults: list[Fault]) -> bool:
    if duration <= max_minutes * 60:
        return False
    whole = round(duration)
    faults.append(Fault(rel, f"lasts {whole // 60} min {whole % 60:02d} s; the limit is {max_minutes} minutes (content.max_audio_minutes)"))
    return True


# libsndfile's major formats (soundfile.info's `format`) that are a WAV file for a phone.
_WAV_FORMATS = {"WAV", "WAVEX", "RF64", "W64"}


def _other_audio(rel: str, path: Path, faults: list[Fault]) -> tuple[float, AudioFormat] | None:
    """Its length in seconds and what it holds, told by its content, not its name."""
    import soundfile  # libsndfile: the playback copy is made with it too

    from kiosk.audio import aac

    if aac.is_aac(path):
        try:
            info_aac = aac.probe(path)
        except aac.AacError as exc:
            faults.append(Fault(rel, str(exc)))
            return None
        return info_aac.duration, AudioFormat.AAC if info_aac.adts else AudioFormat.M4A
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        faults.append(Fault(rel, f"is not a playable audio file ({exc})"))
        return None
    if info.frames <= 0 or info.samplerate <= 0:
        faults.append(Fault(rel, "holds no audio"))
        return None
    if info.format in _WAV_FORMATS:
        kind = AudioFormat.WAV
    elif info.format == "FLAC":
        kind = AudioFormat.FLAC
    elif info.format == "OGG" and info.subtype in ("VORBIS", "OPUS"):
        kind = AudioFormat.VORBIS if info.subtype == "VORBIS" else AudioFormat.OPUS
    else:
        kind = AudioFormat.OTHER
    return float(info.frames / info.samplerate), kind


def _read_cues(rel: str, path: Path, faults: list[Fault]) -> tuple[Cue, ...] | None:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        faults.append(Fault(rel, f"is not UTF-8 text (byte {exc.start})", line))
        return None
    try:
        return parse_vtt(text)
    except VttError as exc:
        faults.extend(Fault(rel, f.message, f.line) for f in exc.faults)
        return None


def match_cues(session: ImportSession, manifest: Manifest, files: StagedFiles, contents: Contents,
               decoded: Decoded) -> list[StagedVariant]:
    """Each variant: its cues end within its audio's decoded length. Returns the variants
    whose files all passed, ready for their rows."""
    staged: list[StagedVariant] = []
    for ex in manifest.spec.exercises:
        for v in ex.variants:
            item = StagedVariant(ex, v)
            audio_rel, cues_rel = normal_path(v.audio), normal_path(v.cues)
            cues = contents.cues.get(cues_rel)
            duration = decoded.durations.get(audio_rel)
            if cues is not None and duration is not None and cues[-1].end > duration + CUE_TOLERANCE_SECONDS:
                late = next(i for i, c in enumerate(cues) if c.end > duration + CUE_TOLERANCE_SECONDS)
                session.faults.append(Fault(cues_rel, f"cue {late + 1} ends at {cues[late].end:.3f} s, after the end of {audio_rel} ({duration:.3f} s)"))
            if cues is None or duration is None:
                continue
            item.cues = cues
            item.duration = duration
            item.audio_bytes = files.sizes[audio_rel]
            item.playback = decoded.playback[audio_rel]
            item.loudness = decoded.loudness.get(audio_rel)
            item.phone = decoded.phone.get(audio_rel)
            if v.script_pdf:
                if normal_path(v.script_pdf) not in files.paths:
                    continue  # its fault is already recorded
                item.pdf = f"pack/{normal_path(v.script_pdf)}"
                item.pdf_bytes = files.sizes[normal_path(v.script_pdf)]
            staged.append(item)
    return staged
