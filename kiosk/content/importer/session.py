"""What one import carries from stage to stage: where it is, what it found wrong so far, and
its progress bar."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kiosk.audio.loudness import Loudness
from kiosk.config import Settings
from kiosk.content.catalogue import Catalogue
from kiosk.content.cues import Cue
from kiosk.content.faults import Fault, PackRefused
from kiosk.content.manifest import ExerciseSpec, VariantSpec
from kiosk.content.phonecopy import PhoneCopy

__all__ = ["Decoded", "ImportSession", "Phases", "Progress", "StagedVariant"]

Progress = Callable[[float, str], None]
"""progress(fraction done 0..1, what is happening now), called from the importing thread."""


class Phases:
    """Maps the steps' own progress onto one 0..1 bar: copying 10%, decoding 85%, the rest 5%."""

    def __init__(self, progress: Progress | None):
        self.progress = progress
        self.copy_total = 1
        self.copied = 0
        self.decode_total = 1
        self.decoded_before = 0

    def report(self, fraction: float, what: str) -> None:
        if self.progress is not None:
            self.progress(max(0.0, min(fraction, 1.0)), what)

    def copied_bytes(self, n: int) -> None:
        self.copied += n
        self.report(0.02 + 0.08 * self.copied / self.copy_total, "copying files")

    def decoding(self, size: int, name: str, what: str = "decoding") -> Callable[[float], None]:
        """A step of the decoding share (`what`: "decoding", or "making the phone copy of"),
        weighed by `size`; decode_total is the sum of every step's size."""
        base = self.decoded_before
        self.decoded_before += size

        def step(fraction: float) -> None:
            self.report(0.10 + 0.85 * (base + fraction * size) / self.decode_total, f"{what} {name}")

        return step


@dataclass
class ImportSession:
    """One import's context. Stages add to `faults` rather than stopping, so that one run
    reports everything; `refuse` stops at once for what makes the rest meaningless."""

    settings: Settings
    catalogue: Catalogue
    source: Path
    staging: Path  # private to this import; deleted unless it becomes the pack's folder
    phases: Phases
    allow_downgrade: bool
    faults: list[Fault] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The source as faults about the whole pack name it."""
        return self.source.name

    @property
    def max_file_bytes(self) -> int:
        return self.settings.content.max_file_mb * 1024 * 1024

    def refuse(self, *faults: Fault) -> PackRefused:
        return PackRefused(self.source, list(faults))

    def refuse_if_faults(self) -> None:
        if self.faults:
            raise PackRefused(self.source, self.faults)


@dataclass
class Decoded:
    """What decoding found, by the audio file's normalised path."""

    durations: dict[str, float] = field(default_factory=dict)
    playback: dict[str, str] = field(default_factory=dict)  # the copy, relative to staging
    loudness: dict[str, Loudness] = field(default_factory=dict)  # measured as it was decoded
    phone: dict[str, PhoneCopy] = field(default_factory=dict)  # what phones download


@dataclass
class StagedVariant:
    """What the checks produced for one variant, ready for its catalogue row."""

    exercise: ExerciseSpec
    variant: VariantSpec
    cues: tuple[Cue, ...] = ()
    duration: float = 0.0
    audio_bytes: int = 0
    playback: str = ""  # relative to the staging folder
    pdf: str | None = None  # relative to the staging folder
    pdf_bytes: int = 0
    pdf_rendered: bool = False
    loudness: Loudness | None = None
    phone: PhoneCopy | None = None  # None only until the checks set it
