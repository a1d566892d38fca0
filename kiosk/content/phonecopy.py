"""What a client's phone is given to take home: the original recording, or an M4A made from it.

iOS Safari and Android Chrome play MP3 and M4A/AAC downloads everywhere. Ogg (Vorbis or
Opus) and FLAC they play unevenly or not at all (an iPhone saves an Ogg file it cannot open),
and a WAV is ten times the size of what it needs to be on a phone's data plan and storage. So
the import keeps an MP3 or M4A as it is and serves it as it is, and for anything else makes
an M4A (kiosk.audio.aac.encode_m4a) from the lossless playback copy, inside the same atomic
import. The decision travels as `PhoneDecision`; its words are made in one place, `describe`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from kiosk.words import format_size

__all__ = ["PHONE_SUFFIX", "AudioFormat", "PhoneCopy", "PhoneDecision", "decide"]

PHONE_SUFFIX = ".m4a"  # what encode_m4a writes


class AudioFormat(enum.Enum):
    """What an audio file holds, as found by the import's checks (by content, not name)."""

    MP3 = "MP3"
    M4A = "M4A"  # AAC in an MP4 container (.m4a, .mp4)
    AAC = "AAC"  # a bare ADTS stream (.aac)
    WAV = "WAV"
    FLAC = "FLAC"
    VORBIS = "Ogg Vorbis"
    OPUS = "Opus"
    OTHER = "other"  # anything else libsndfile reads (AIFF, Ogg FLAC...) behind an audio suffix

    @property
    def phones_play(self) -> bool:
        return self in (AudioFormat.MP3, AudioFormat.M4A, AudioFormat.AAC)


class PhoneDecision(enum.Enum):
    KEPT = "kept"  # the original is what phones download
    MADE = "made"  # an M4A was made from it for phones


def decide(source: AudioFormat) -> PhoneDecision:
    return PhoneDecision.KEPT if source.phones_play else PhoneDecision.MADE


@dataclass(frozen=True)
class PhoneCopy:
    """What phones are given of one audio file. `path` is relative to the pack's folder: the
    original under pack/ when kept, the made copy under phone/ otherwise."""

    decision: PhoneDecision
    source: AudioFormat
    path: str
    size: int
    original_size: int

    def describe(self) -> str:
        """The decision and its reason in a few words, as the CLI prints it after
        "Phone copy: "."""
        name = self.source.value
        if self.decision is PhoneDecision.KEPT:
            return f"kept the {name} (phones play it)"
        sizes = f"{format_size(self.size)} instead of {format_size(self.original_size)}"
        if self.source is AudioFormat.WAV:
            why = "phones do not play WAV downloads well, and it is large"
        elif self.source is AudioFormat.OTHER:
            return f"made an M4A (phones do not play this file's format; {sizes})"
        else:
            why = f"phones do not all play {name} downloads"
        return f"made an M4A from the {name} ({why}; {sizes})"
