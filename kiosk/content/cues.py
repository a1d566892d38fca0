"""Read-along: an exercise's script as timed passages (WebVTT cues), and which one is spoken now.

Pure functions, no I/O beyond what the caller hands in. The parser is strict because a pack's
author needs to know exactly which line of which file is wrong before the pack is accepted;
the player then calls `cue_at` several times a second, so that one is a bisect over a sorted,
non-overlapping tuple.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Cue", "VttError", "VttFault", "cue_at", "format_vtt", "parse_vtt", "script_text"]


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class VttFault:
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class VttError(ValueError):
    """The text is not usable WebVTT; `faults` lists every problem found, with its line."""

    def __init__(self, faults: list[VttFault]):
        self.faults = faults
        super().__init__("; ".join(str(f) for f in faults))


# hh:mm:ss.ttt with optional hours (any number of digits), minutes and seconds 00-59.
_TIMESTAMP = r"(?:(\d+):)?(\d{2}):(\d{2})\.(\d{3})"
_TIMING = re.compile(rf"^{_TIMESTAMP}[ \t]+-->[ \t]+{_TIMESTAMP}(?:[ \t]+(.*))?$")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>|<\d[^>]*>")
_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&nbsp;": "\u00a0", "&lrm;": "\u200e", "&rlm;": "\u200f"}


def _seconds(hours: str | None, minutes: str, seconds: str, millis: str) -> float | None:
    m, s = int(minutes), int(seconds)
    if m > 59 or s > 59:
        return None
    return int(hours or 0) * 3600 + m * 60 + s + int(millis) / 1000


def _plain(text: str) -> str:
    """Cue text without WebVTT markup (<i>, <v Speaker>, <00:01.000>), entities decoded."""
    text = _TAG.sub("", text)
    for entity, char in _ENTITIES.items():
        text = text.replace(entity, char)
    return text.strip()


def parse_vtt(text: str) -> tuple[Cue, ...]:
    """Parse WebVTT text into cues sorted by time; raise VttError listing every fault.

    Tolerated: a BOM, CRLF or CR line ends, text after "WEBVTT" on the header line, header
    metadata lines, NOTE / STYLE / REGION blocks, cue identifiers, cue settings after the
    timestamps, and markup in the cue text (stripped). Refused: a missing header, malformed
    timestamps, a cue that ends before (or when) it starts, cues out of order or overlapping
    the previous one, cues with no text, and a file with no cues at all.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    faults: list[VttFault] = []
    if not lines or not re.match(r"^WEBVTT(?:[ \t].*)?$", lines[0]):
        faults.append(VttFault(1, 'the file must start with the line "WEBVTT"'))
        # Carry on: the cues below may have faults of their own worth reporting at once.
    cues: list[Cue] = []
    cue_lines: list[int] = []
    i = 1
    # Header metadata runs until the first blank line.
    while i < len(lines) and lines[i].strip():
        i += 1
    n = len(lines)
    while i < n:
        if not lines[i].strip():
            i += 1
            continue
        block_start = i
        block: list[str] = []
        while i < n and lines[i].strip():
            block.append(lines[i])
            i += 1
        first = block[0]
        if re.match(r"^(NOTE|STYLE|REGION)(?:[ \t]|$)", first):
            continue
        timing_index = 0
        if "-->" not in first:
            # A cue identifier, then the timing line.
            if len(block) < 2 or "-->" not in block[1]:
                faults.append(VttFault(block_start + 1, f'expected a cue timing line ("00:00:01.000 --> 00:00:04.000"), found "{first[:60]}"'))
                continue
            timing_index = 1
        line_no = block_start + timing_index + 1
        match = _TIMING.match(block[timing_index].strip())
        if not match:
            faults.append(VttFault(line_no, f'malformed cue timing "{block[timing_index].strip()[:60]}" (expected "mm:ss.ttt --> mm:ss.ttt" or "hh:mm:ss.ttt --> hh:mm:ss.ttt")'))
            continue
        start = _seconds(*match.group(1, 2, 3, 4))
        end = _seconds(*match.group(5, 6, 7, 8))
        if start is None or end is None:
            faults.append(VttFault(line_no, "minutes and seconds in a timestamp must be 00 to 59"))
            continue
        body = [_plain(t) for t in block[timing_index + 1 :]]
        cue_text = "\n".join(t for t in body if t)
        if end <= start:
            faults.append(VttFault(line_no, f"the cue ends ({_clock(end)}) before it starts ({_clock(start)})"))
            continue
        if not cue_text:
            faults.append(VttFault(line_no, "the cue has no text"))
            continue
        if cues:
            prev = cues[-1]
            if start < prev.start:
                faults.append(VttFault(line_no, f"cues are out of order: this one starts at {_clock(start)}, before the cue on line {cue_lines[-1]} ({_clock(prev.start)})"))
                continue
            if start < prev.end:
                faults.append(VttFault(line_no, f"the cue starts at {_clock(start)}, before the cue on line {cue_lines[-1]} ends ({_clock(prev.end)}); cues must not overlap"))
                continue
        cues.append(Cue(start, end, cue_text))
        cue_lines.append(line_no)
    if not cues and not faults:
        faults.append(VttFault(None, "the file has no cues"))
    if faults:
        raise VttError(faults)
    return tuple(cues)


def _clock(seconds: float) -> str:
    millis = round(seconds * 1000)  # rounded whole, so 0.9996 s is 00:00:01.000, not .1000
    whole, ms = divmod(millis, 1000)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}.{ms:03d}"


def cue_at(cues: Sequence[Cue], position: float) -> int | None:
    """Index of the cue being spoken at `position` seconds, or None between or outside cues.

    `cues` must be sorted and non-overlapping (what `parse_vtt` returns): a bisect on the
    start times, O(log n) with nothing built per call, since the player asks several times a
    second.
    """
    index = bisect.bisect_right(cues, position, key=_start) - 1
    if index < 0 or position >= cues[index].end:
        return None
    return index


def _start(cue: Cue) -> float:
    return cue.start


def script_text(cues: Sequence[Cue]) -> str:
    """The exercise's script: its passages in order, a blank line between them."""
    return "\n\n".join(c.text for c in cues)


def format_vtt(cues: Sequence[Cue], notes: Sequence[str] = ()) -> str:
    """Cues as a WebVTT file that `parse_vtt` reads back to the same cues (times to the
    millisecond), each `notes` line a NOTE block after the header."""
    out = ["WEBVTT", ""]
    for note in notes:
        out += [f"NOTE {note}", ""]
    for number, cue in enumerate(cues, 1):
        # A blank line would end the cue: a paragraph break inside one becomes a line break.
        text = "\n".join(line for line in cue.text.replace("&", "&amp;").replace("<", "&lt;")
                         .replace(">", "&gt;").split("\n") if line.strip())
        out += [str(number), f"{_clock(cue.start)} --> {_clock(cue.end)}", text, ""]
    return "\n".join(out)
