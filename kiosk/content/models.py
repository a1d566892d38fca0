"""The catalogue's types: what readers get back (Card, Exercise, Variant, ExerciseListing)
and what the importer hands the catalogue to write (PackRow, ExerciseFields, VariantRow)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from kiosk.audio.loudness import Loudness
from kiosk.content.cues import Cue

__all__ = [
    "UNCERTAIN_BELOW", "Card", "Exercise", "ExerciseFields", "ExerciseListing", "PackRow",
    "PassageState", "Placement", "ReadAlong", "Variant", "VariantRow", "default_placements",
]

VISIBILITIES = ("public", "therapist")
# A passage the aligner heard less of than this share of its words is worth a listen. Below
# every heard passage of the demo's ten variants (164 passages, 2026-12-04: the least heard
# had 0.25 of its words heard, 11 had under 0.4, and every start was within 0.02 s of the
# shipped cues), so that a well-timed read-along does not ask to be checked where it is right.
UNCERTAIN_BELOW = 0.2


class PassageState(Enum):
    """How a passage's start was found. The aligner (kiosk.content.align) gives the middle
    three; the catalogue keeps one of these for every passage of every variant."""

    GIVEN = "given"  # the pack's own cues, timed by whoever made the pack
    ALIGNED = "aligned"  # its words force-aligned to the audio
    ANCHORED = "anchored"  # from the words the recogniser heard in it
    INTERPOLATED = "interpolated"  # nothing of it heard: placed between its neighbours
    UNTIMED = "untimed"  # the script could not be timed: spread by length, in order only
    TITLE = "title"  # no script was given: the exercise's title stands in for one
    CORRECTED = "corrected"  # set by the administrator (kiosk cues --set, the console)


@dataclass(frozen=True)
class Placement:
    """How one passage was placed, and how sure the aligner was of it."""

    state: PassageState
    confidence: float | None = None  # 0..1, the share of its words heard in place; None: not measured

    @property
    def uncertain(self) -> bool:
        """Worth checking by ear: placed without being heard, or hardly heard."""
        if self.state in (PassageState.INTERPOLATED, PassageState.UNTIMED):
            return True
        return self.confidence is not None and self.confidence < UNCERTAIN_BELOW


class ReadAlong(Enum):
    """A variant's read-along as a whole."""

    TIMED = "timed"  # highlighted as it is spoken
    UNTIMED = "untimed"  # a script, shown in order without a highlight
    NO_SCRIPT = "no-script"  # the title stands in for a script


def default_placements(cues: Sequence[Cue], timed: bool) -> tuple[Placement, ...]:
    """What a pack's own cues say of themselves: given times, or an untimed script's order."""
    return (Placement(PassageState.GIVEN if timed else PassageState.UNTIMED),) * len(cues)


@dataclass(frozen=True)
class Card:
    id: str
    title: str
    summary: str
    duration_seconds: float
    techniques: tuple[str, ...]
    languages: tuple[str, ...]
    visibility: str
    hidden: bool


@dataclass(frozen=True)
class Variant:
    exercise_id: str
    lang: str
    title: str
    summary: str
    duration_seconds: float
    audio_path: Path
    audio_bytes: int
    playback_path: Path
    script_pdf_path: Path
    script_pdf_bytes: int
    cues: tuple[Cue, ...]
    timed: bool = True  # False: the cues are the script's passages, their times mean nothing
    loudness: Loudness | None = None  # None: imported before loudness was measured
    # The M4A made for phones (kiosk.content.phonecopy); None: phones get the original.
    phone_copy_path: Path | None = None
    phone_copy_bytes: int | None = None
    placements: tuple[Placement, ...] = ()  # one for each cue, in order

    @property
    def phone_path(self) -> Path:
        """What a client's phone downloads: the copy made for phones, or the original."""
        return self.phone_copy_path if self.phone_copy_path is not None else self.audio_path

    @property
    def phone_bytes(self) -> int:
        return self.phone_copy_bytes if self.phone_copy_bytes is not None else self.audio_bytes

    @property
    def read_along(self) -> ReadAlong:
        if self.timed:
            return ReadAlong.TIMED
        if any(p.state is PassageState.TITLE for p in self.placements):
            return ReadAlong.NO_SCRIPT
        return ReadAlong.UNTIMED

    @property
    def uncertain(self) -> int:
        """How many of a timed read-along's passages are worth checking by ear."""
        return sum(p.uncertain for p in self.placements) if self.timed else 0


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    summary: str
    introduction: str
    guidance: str
    references: tuple[str, ...]
    techniques: tuple[str, ...]
    visibility: str
    hidden: bool
    languages: tuple[str, ...]
    variant: Variant


@dataclass(frozen=True)
class ExerciseListing:
    """One line of `kiosk list`: what an administrator needs to manage the exercise."""

    id: str
    title: str
    pack_id: str
    pack_version: str
    languages: tuple[str, ...]
    durations: dict[str, float]
    techniques: tuple[str, ...]
    visibility: str
    hidden: bool
    timed: dict[str, bool] = field(default_factory=dict)  # by language: False, an untimed read-along
    # by language: integrated LUFS; None where unknown (imported before it was measured, or
    # too quiet to gate)
    loudness: dict[str, float | None] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "pack": self.pack_id,
            "pack_version": self.pack_version,
            "languages": list(self.languages),
            "durations": self.durations,
            "techniques": list(self.techniques),
            "visibility": self.visibility,
            "hidden": self.hidden,
            "timed": self.timed,
            "loudness_lufs": self.loudness,
        }


# ---- what the catalogue writes ----------------------------------------------------------


@dataclass(frozen=True)
class PackRow:
    """One installed pack; `folder` is relative to the content folder."""

    id: str
    title: str
    version: str
    publisher: str
    folder: str
    source: str  # the folder or zip it was imported from


class ExerciseFields(Protocol):
    """What the catalogue stores of an exercise besides its variants (a manifest's
    ExerciseSpec has these, and so does a test's stand-in)."""

    @property
    def id(self) -> str: ...
    @property
    def guidance(self) -> str: ...
    @property
    def references(self) -> Sequence[str]: ...
    @property
    def techniques(self) -> Sequence[str]: ...
    @property
    def visibility(self) -> str: ...


@dataclass(frozen=True)
class VariantRow:
    """One language variant as the catalogue stores it; paths relative to the content folder."""

    lang: str
    title: str
    summary: str
    introduction: str
    cues: tuple[Cue, ...]
    duration: float
    audio_path: str
    audio_bytes: int
    playback_path: str
    cues_path: str
    script_pdf_path: str
    script_pdf_bytes: int
    script_pdf_rendered: bool = False
    timed: bool = True
    loudness: Loudness | None = None
    phone_path: str | None = None  # the M4A made for phones; None: phones get the original
    phone_bytes: int | None = None
    # None: a pack's own cues, which keep what the catalogue held of them when they are the
    # same as before (`Catalogue.replace_pack`), and are given (or untimed) when new.
    placements: tuple[Placement, ...] | None = None
