"""Why a pack is refused: every reason, with the file and line, and nothing changed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["AlreadyHeld", "Fault", "PackRefused", "megabytes"]


@dataclass(frozen=True)
class Fault:
    """One reason a pack is refused. `file` is relative to the pack (or the zip's name)."""

    file: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class PackRefused(Exception):
    """The pack was not imported; `faults` lists every reason. Nothing was changed."""

    def __init__(self, source: Path, faults: list[Fault]):
        self.source = source
        self.faults = faults
        super().__init__(self.message())

    def message(self) -> str:
        n = len(self.faults)
        lines = [f"{self.source} was refused ({n} problem{'s' if n != 1 else ''}); nothing was changed:"]
        lines += [f"  - {f}" for f in self.faults]
        return "\n".join(lines)


class AlreadyHeld(PackRefused):
    """The station already has this very recording, with the same script, as the variant it
    was to be added as: nothing was added again (a drop-folder item delivered twice, or
    kiosk add run twice). A refusal, so every caller that handles one handles this."""

    def __init__(self, source: Path, audio_name: str, exercise_id: str, lang: str):
        self.audio_name = audio_name
        self.exercise_id = exercise_id
        self.lang = lang
        super().__init__(source, [Fault(audio_name, f'the station already has this recording, with the same script, '
                                                    f'as exercise "{exercise_id}" ({lang}): it was not added again')])


def megabytes(n: int) -> str:
    """A size as the faults write it: "512 KB", "3.2 MB"."""
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n / (1024 * 1024):.1f} MB"
