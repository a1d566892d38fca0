"""The catalogue's types: what readers get back (Card, Exercise, Variant, ExerciseListing)
and what the importer hands the catalogue to write (PackRow, ExerciseFields, VariantRow)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kiosk.audio.loudness import Loudness
from kiosk.content.cues import Cue

__all__ = ["Card", "Exercise", "ExerciseFields", "ExerciseListing", "PackRow", "Variant", "VariantRow"]

VISIBILITIES = ("public", "therapist")


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

    @property
    def phone_path(self) -> Path:
        """What a client's phone downloads: the copy made for phones, or the original."""
        return self.phone_copy_path if self.phone_copy_path is not None else self.audio_path

    @property
    def phone_bytes(self) -> int:
        return self.phone_copy_bytes if self.phone_copy_bytes is not None else self.audio_bytes


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
