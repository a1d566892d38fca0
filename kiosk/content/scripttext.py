"""An exercise's script as passages, read from the file a clinic has: a PDF with a text layer,
plain text, or a Word document (.docx).

`read_script(path) -> Script` gives the passages in reading order, each with a kind: what the
narrator says (SPOKEN), headings (HEADING: the title, section titles; a narrator may or may not
read them), small print (NOTE: an introduction for the reader, a caption) and stage directions
(DIRECTION: "[pause]", "(pause for 30 seconds)"). What is never spoken is taken out and listed
in `Script.dropped` with the reason, so the person adding the script can check it: running
headers and footers (the title where it repeats is one), page numbers and copyright lines.
A file that cannot give a script raises `ScriptRefused`, whose `kind` says why and whose
message says what to give instead.

PDF text comes from pypdf (BSD, pure Python, so nothing to build; pypdfium2 is faster but
its text API gives no font sizes without walking characters one by one). pypdf's text visitor
gives each run of text with its position and size; lines, paragraphs, headers and footers are
worked out here from those, because every extractor writes a page's footer into the middle of
a sentence that runs over a page break. One column is assumed, top to bottom: the layout of
scripts meant to be read along.
"""

from __future__ import annotations

import logging
import math
import re
import statistics
import time
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree

from kiosk.content.faults import Fault, megabytes

if TYPE_CHECKING:
    from pypdf import PageObject

__all__ = [
    "DropReason",
    "Dropped",
    "Passage",
    "PassageKind",
    "Script",
    "ScriptErrorKind",
    "ScriptFormat",
    "ScriptRefused",
    "read_script",
    "split_long",
]

# Bounds a hostile or mistaken file meets long before it costs the station its memory: a
# script of an hour is about 60,000 characters on 20 pages.
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_PAGES = 300
MAX_TEXT_CHARS = 1_000_000
MAX_STREAM_BYTES = 16 * 1024 * 1024  # one decompressed PDF stream, or the DOCX's document part
MAX_CONTENT_OPERATIONS = 1_000_000  # what pypdf may parse in one page's content stream
# Past the bounds above, a PDF of many pages that each stay just inside them: an hour's
# script reads in well under a second.
MAX_READ_SECONDS = 60.0

# A passage longer than this is split at sentences into nearly equal parts, each at most
# TARGET_PASSAGE_CHARS where the sentences allow: a screen shows a passage at a time.
LONG_PASSAGE_CHARS = 600
TARGET_PASSAGE_CHARS = 400


class ScriptFormat(StrEnum):
    PDF = "pdf"
    TEXT = "text"
    DOCX = "docx"


class PassageKind(StrEnum):
    SPOKEN = "spoken"  # what the narrator says: the passages to time and show
    HEADING = "heading"  # larger than the body: the title, a section's title
    NOTE = "note"  # smaller than the body: an introduction for the reader, a caption
    DIRECTION = "direction"  # in brackets, or "Pause for 30 seconds": done, not said


class DropReason(StrEnum):
    HEADER = "header"  # a line repeated at the top of the pages (a running title)
    FOOTER = "footer"  # a line repeated at the bottom of the pages
    PAGE_NUMBER = "page_number"
    COPYRIGHT = "copyright"


class ScriptErrorKind(StrEnum):
    MISSING = "missing"  # no file there
    NOT_A_SCRIPT = "not_a_script"  # neither a PDF, nor text, nor a DOCX (an MP3, an image)
    NO_TEXT = "no_text"  # a PDF with no text layer: a scan
    ENCRYPTED = "encrypted"  # a PDF that needs a password to open
    DAMAGED = "damaged"  # says it is a PDF or a DOCX and cannot be read as one
    TOO_LARGE = "too_large"  # past a bound above: not a script, or a bomb
    EMPTY = "empty"  # readable, and nothing said is left


# What each kind tells the person adding the script, ending with what to give instead.
_ADVICE: dict[ScriptErrorKind, str] = {
    ScriptErrorKind.MISSING: "there is no such file. Check the path.",
    ScriptErrorKind.NOT_A_SCRIPT: (
        "this is not a PDF, a plain-text file or a Word document (.docx). Give the script "
        "in one of those."
    ),
    ScriptErrorKind.NO_TEXT: (
        "this PDF has no text in it, only pictures of pages (a scan). Give a PDF with "
        "selectable text (the publisher's own, or one saved from a word processor), or the "
        "script typed as a plain-text or .docx file."
    ),
    ScriptErrorKind.ENCRYPTED: (
        "this PDF is locked with a password. Give a copy without the password (open it and "
        "print or save it to a new PDF), or the script as a plain-text or .docx file."
    ),
    ScriptErrorKind.DAMAGED: (
        "the file cannot be read. Give a copy saved again from the program that made it, "
        "or the script as a plain-text file."
    ),
    ScriptErrorKind.TOO_LARGE: (
        "this is far larger than a script. Give only the script, as a PDF, a plain-text "
        "or a .docx file."
    ),
    ScriptErrorKind.EMPTY: (
        "nothing to be spoken is left once headings, headers, footers, page numbers, "
        "copyright lines and stage directions are taken out. Give the file with the "
        "script's words in it."
    ),
}


class ScriptRefused(Exception):
    """The file gives no script. `kind` says why; `detail` (for the log) what was found."""

    def __init__(self, kind: ScriptErrorKind, path: Path, detail: str = ""):
        self.kind = kind
        self.path = path
        self.detail = detail
        super().__init__(self.message())

    def message(self) -> str:
        found = f" ({self.detail})" if self.detail else ""
        return f"{self.path.name}: {_ADVICE[self.kind]}{found}"

    def fault(self) -> Fault:
        """The refusal as the importer lists its problems."""
        found = f" ({self.detail})" if self.detail else ""
        return Fault(self.path.name, f"{_ADVICE[self.kind]}{found}")


@dataclass(frozen=True)
class Passage:
    text: str
    kind: PassageKind
    page: int | None = None  # 1-based, for a PDF


@dataclass(frozen=True)
class Dropped:
    text: str
    reason: DropReason
    page: int | None = None


@dataclass(frozen=True)
class Script:
    source: Path
    format: ScriptFormat
    passages: tuple[Passage, ...]
    dropped: tuple[Dropped, ...] = ()
    pages: int | None = None
    # Pages of a PDF with no text on them (scanned pages among typed ones), 1-based: their
    # words are not in the passages, which the person adding the script needs to know.
    textless_pages: tuple[int, ...] = ()

    def spoken(self) -> list[str]:
        """The passages the narrator says, in order: what is timed and shown."""
        return [p.text for p in self.passages if p.kind is PassageKind.SPOKEN]


def read_script(path: Path, title: str | None = None) -> Script:
    """The script in `path`, whichever of PDF, plain text or DOCX it is (by its content, not
    its name). A passage that is the exercise's `title` is a heading, whatever its size.
    Raises ScriptRefused."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ScriptRefused(ScriptErrorKind.MISSING, path, "not a file")
    except FileNotFoundError:
        raise ScriptRefused(ScriptErrorKind.MISSING, path) from None
    if size > MAX_FILE_BYTES:
        raise ScriptRefused(ScriptErrorKind.TOO_LARGE, path, megabytes(size))
    with path.open("rb") as f:
        head = f.read(1024)
    # The PDF header may come after up to 1 KB of junk (the spec's own allowance).
    if b"%PDF-" in head:
        script = _read_pdf(path)
    elif head.startswith(b"PK\x03\x04"):
        script = _read_docx(path)
    elif path.suffix.lower() == ".pdf":
        raise ScriptRefused(ScriptErrorKind.NOT_A_SCRIPT, path, "named .pdf, but not a PDF")
    else:
        script = _read_text(path)
    if title and _squash(title):
        name = _squash(title).casefold().rstrip(".")
        passages = tuple(
            replace(p, kind=PassageKind.HEADING)
            if p.kind is PassageKind.SPOKEN and p.text.casefold().rstrip(".") == name else p
            for p in script.passages
        )
        script = replace(script, passages=passages)
    if not script.spoken():
        raise ScriptRefused(ScriptErrorKind.EMPTY, path)
    return script


# --- Text shared by every format -----------------------------------------------------------

_PAGE_NUMBER = re.compile(
    r"^[\W_]*(?:(?:page|p\.|pg\.?|seite|página|pagina)\s*)?\d{1,4}"
    r"(?:\s*(?:of|/|von|de|di|sur)\s*\d{1,4})?[\W_]*$",
    re.IGNORECASE,
)
# "Page 2 of 5", "2 / 5" inside a longer header or footer line.
_PAGE_NUMBER_IN_LINE = re.compile(r"\b(?:page|seite|página|pagina)\s*\d{1,4}\b|\b\d{1,4}\s*/\s*\d{1,4}\b",
                                  re.IGNORECASE)
_COPYRIGHT = re.compile(r"©|\(c\)\s*(?:19|20)\d\d|\bcopyright\b|\ball rights reserved\b", re.IGNORECASE)
# Words that make a parenthesis a stage direction; square brackets always are one.
_DIRECTION_WORDS = re.compile(
    r"\b(?:pause[sd]?|pausing|silence|silent|seconds?|secs?|minutes?|mins?|bell|chime|gong|"
    r"music|sound|beat|wait|breath(?:ing)?\s+space|long|short|gap|end of|ends?)\b",
    re.IGNORECASE,
)
_BARE_DIRECTION = re.compile(
    r"^(?:(?:a\s+)?(?:long|short|brief)\s+)?(?:pause|silence)\b[^.!?]{0,50}[.!]?$", re.IGNORECASE
)
_SQUARE = re.compile(r"\[[^\[\]]{1,200}\]")
_ROUND = re.compile(r"\([^()]{1,200}\)")
_TERMINAL = tuple(".!?…:;\"”’')]»")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"”’')\]]*\s+(?=[\"“‘'(\[]?[A-Z0-9À-ÖØ-Þ])")
_ABBREVIATIONS = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|St|Prof|e\.g|i\.e|etc|vs|cf)\.$", re.IGNORECASE)


# Typographic ligatures some producers leave in the text layer: a word with one is a word the
# aligner's dictionary does not know.
_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi",
                            "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st"})


def _squash(text: str) -> str:
    text = unicodedata.normalize("NFC", text.translate(_LIGATURES))
    text = text.replace("\u00ad", "").replace("\u00a0", " ")
    return " ".join(text.split())


def _key(text: str) -> str:
    """A line as a header or footer repeats: the page's number in it changes, nothing else."""
    return re.sub(r"\d+", "#", _squash(text).casefold())


def _is_direction(text: str) -> bool:
    t = text.strip()
    if _BARE_DIRECTION.match(t):
        return True
    if len(t) < 2 or t[0] not in "[(" or t[-1] not in "])":
        return False
    # Wholly inside one pair of brackets: "(pause) and so (pause)" is not.
    close = {"[": "]", "(": ")"}[t[0]]
    depth = 0
    for i, ch in enumerate(t):
        if ch == t[0]:
            depth += 1
        elif ch == close:
            depth -= 1
            if depth == 0:
                return i == len(t) - 1
    return False


def _split_directions(text: str) -> list[tuple[str, PassageKind]]:
    """A paragraph as spoken pieces and the stage directions between them, in order."""
    if _is_direction(text):
        return [(text, PassageKind.DIRECTION)]
    spans = [m.span() for m in _SQUARE.finditer(text)]
    spans += [m.span() for m in _ROUND.finditer(text) if _DIRECTION_WORDS.search(m.group())]
    spans.sort()
    pieces: list[tuple[str, PassageKind]] = []
    at = 0
    for start, end in spans:
        if start < at:
            continue
        pieces.append((text[at:start], PassageKind.SPOKEN))
        pieces.append((text[start:end], PassageKind.DIRECTION))
        at = end
    pieces.append((text[at:], PassageKind.SPOKEN))
    out: list[tuple[str, PassageKind]] = []
    for piece, kind in pieces:
        piece = _squash(piece)
        if not piece:
            continue
        if not any(ch.isalnum() for ch in piece):
            # What follows a direction may be only the sentence's end: "in (pause)." The
            # full stop goes back to the words it ends.
            spoken = [i for i, (_, k) in enumerate(out) if k is PassageKind.SPOKEN]
            if spoken and kind is PassageKind.SPOKEN:
                i = spoken[-1]
                out[i] = (out[i][0] + piece, PassageKind.SPOKEN)
            continue
        out.append((piece, kind))
    return out


def _sentences(text: str) -> list[str]:
    parts: list[str] = []
    at = 0
    for m in _SENTENCE_END.finditer(text):
        if _ABBREVIATIONS.search(text[at:m.start()]):
            continue
        parts.append(text[at:m.start()].strip())
        at = m.end()
    parts.append(text[at:].strip())
    return [p for p in parts if p]


def split_long(text: str) -> list[str]:
    """A passage over LONG_PASSAGE_CHARS as nearly equal runs of whole sentences."""
    if len(text) <= LONG_PASSAGE_CHARS:
        return [text]
    sentences = _sentences(text)
    if len(sentences) < 2:
        return [text]
    parts = max(2, math.ceil(len(text) / TARGET_PASSAGE_CHARS))
    goal = len(text) / parts
    out: list[str] = []
    current: list[str] = []
    length = 0
    for sentence in sentences:
        # Close the run when this sentence would take it further past the goal than short of it.
        if current and length + len(sentence) / 2 > goal and len(out) < parts - 1:
            out.append(" ".join(current))
            current, length = [], 0
        current.append(sentence)
        length += len(sentence) + 1
    out.append(" ".join(current))
    return out


def _passages(paragraphs: Sequence[tuple[str, PassageKind, int | None]]) -> list[Passage]:
    out: list[Passage] = []
    for text, kind, page in paragraphs:
        text = _squash(text)
        if not text:
            continue
        if kind is not PassageKind.SPOKEN:
            out.append(Passage(text, PassageKind.DIRECTION if _is_direction(text) else kind, page))
            continue
        for piece, piece_kind in _split_directions(text):
            if piece_kind is PassageKind.SPOKEN:
                out += [Passage(p, piece_kind, page) for p in split_long(piece)]
            else:
                out.append(Passage(piece, piece_kind, page))
    return out


def _join_lines(lines: list[str]) -> str:
    text = ""
    for line in lines:
        line = line.strip()
        if not text:
            text = line
        elif text.endswith("-") and line[:1].islower() and text[-2:-1].isalpha():
            text += line  # a word hyphenated at the line's end: "self-" "critical"
        else:
            text += " " + line
    return text


# --- Plain text ----------------------------------------------------------------------------


def _read_text(path: Path) -> Script:
    if path.stat().st_size > 4 * MAX_TEXT_CHARS:  # UTF-8 takes at most 4 bytes a character
        raise ScriptRefused(ScriptErrorKind.TOO_LARGE, path, megabytes(path.stat().st_size))
    data = path.read_bytes()
    text = _decode_text(data)
    if text is None:
        raise ScriptRefused(ScriptErrorKind.NOT_A_SCRIPT, path, "binary data")
    if len(text) > MAX_TEXT_CHARS:
        raise ScriptRefused(ScriptErrorKind.TOO_LARGE, path, f"{len(text):,} characters")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    lines = text.split("\n")
    # Paragraphs are separated by blank lines; a file with none has one paragraph a line.
    has_blank = any(not line.strip() for line in lines[1:-1])
    blocks: list[list[str]] = [[]]
    for line in lines:
        if not line.strip():
            blocks.append([])
        elif has_blank:
            blocks[-1].append(line)
        else:
            blocks.append([line])
    paragraphs: list[tuple[str, PassageKind, int | None]] = []
    dropped: list[Dropped] = []
    for block in blocks:
        kept = []
        for line in block:
            if _COPYRIGHT.search(line):
                dropped.append(Dropped(_squash(line), DropReason.COPYRIGHT))
            elif _PAGE_NUMBER.match(line.strip()):
                dropped.append(Dropped(_squash(line), DropReason.PAGE_NUMBER))
            else:
                kept.append(line)
        if kept:
            paragraphs.append((_join_lines(kept), PassageKind.SPOKEN, None))
    return Script(path, ScriptFormat.TEXT, tuple(_passages(paragraphs)), tuple(dropped))


def _decode_text(data: bytes) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    if b"\x00" in data:
        return None
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        # cp1252 decodes nearly anything: call it text only if it reads as text.
        controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t\f")
        if controls <= len(text) // 1000:
            return text
    return None


# --- DOCX ------------------------------------------------------------------------------------

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _read_docx(path: Path) -> Script:
    # A DOCX is a zip of XML parts; the body is word/document.xml. Its headers and footers are
    # parts of their own, so they are never in the text read here.
    try:
        with zipfile.ZipFile(path) as z:
            try:
                info = z.getinfo("word/document.xml")
            except KeyError:
                raise ScriptRefused(ScriptErrorKind.NOT_A_SCRIPT, path, "a zip, not a .docx") from None
            if info.file_size > MAX_STREAM_BYTES:
                raise ScriptRefused(ScriptErrorKind.TOO_LARGE, path, f"document part {megabytes(info.file_size)}")
            with z.open(info) as f:
                xml = f.read(MAX_STREAM_BYTES + 1)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ScriptRefused(ScriptErrorKind.DAMAGED, path, str(exc)) from None
    if len(xml) > MAX_STREAM_BYTES:
        raise ScriptRefused(ScriptErrorKind.TOO_LARGE, path, "document part")
    if b"<!DOCTYPE" in xml[:4096] or b"<!ENTITY" in xml:
        # Word never writes a DTD; one here is an entity-expansion bomb.
        raise ScriptRefused(ScriptErrorKind.DAMAGED, path, "a DTD in the document part")
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        raise ScriptRefused(ScriptErrorKind.DAMAGED, path, str(exc)) from None
    body = root.find(f"{_W}body")
    if body is None:
        raise ScriptRefused(ScriptErrorKind.DAMAGED, path, "no document body")
    paragraphs: list[tuple[str, PassageKind, int | None]] = []
    dropped: list[Dropped] = []
    for p in body.iter(f"{_W}p"):
        style = p.find(f"{_W}pPr/{_W}pStyle")
        style_name = (style.get(f"{_W}val") or "") if style is not None else ""
        parts = []
        for node in p.iter():
            if node.tag == f"{_W}t" and node.text:
                parts.append(node.text)
            elif node.tag in (f"{_W}tab", f"{_W}br", f"{_W}cr"):
                parts.append(" ")
        text = _squash("".join(parts))
        if not text:
            continue
        if _COPYRIGHT.search(text):
            dropped.append(Dropped(text, DropReason.COPYRIGHT))
            continue
        heading = style_name.lower().startswith(("heading", "title", "subtitle"))
        paragraphs.append((text, PassageKind.HEADING if heading else PassageKind.SPOKEN, None))
    return Script(path, ScriptFormat.DOCX, tuple(_passages(paragraphs)), tuple(dropped))


# --- PDF -------------------------------------------------------------------------------------


@dataclass
class _Line:
    y: float  # the baseline, from the page's top (grows downwards)
    x: float
    size: float
    text: str
    page: int
    chunks: list[tuple[float, float, str]] = field(default_factory=list)  # (x, size, text)


def _read_pdf(path: Path) -> Script:
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError, PyPdfError

    limits = apply_configuration(
        zlib_maximum_output_length=MAX_STREAM_BYTES,
        lzw_maximum_output_length=MAX_STREAM_BYTES,
        run_length_maximum_output_length=MAX_STREAM_BYTES,
        array_based_stream_maximum_output_length=MAX_STREAM_BYTES,
        stream_parsing_work_maximum_count=MAX_CONTENT_OPERATIONS,
    )
    # pypdf logs every repair it makes to a damaged file as a warning; the refusal or the
    # script is what counts, and `kiosk add` must not print a page of them.
    pypdf_log = logging.getLogger("pypdf")
    level = pypdf_log.level
    pypdf_log.setLevel(logging.ERROR)
    try:
        with limits:
            reader = PdfReader(path)
            if reader.is_encrypted:
                # A PDF locked only against editing opens with the empty password, as it
                # does in any reader; one that asks for a password is refused.
                try:
                    opened = reader.decrypt("")
                except DependencyError as exc:
                    raise ScriptRefused(ScriptErrorKind.ENCRYPTED, path, str(exc)) from None
                if not opened:
                    raise ScriptRefused(ScriptErrorKind.ENCRYPTED, path)
            count = len(reader.pages)
            if count > MAX_PAGES:
                raise ScriptRefused(ScriptErrorKind.TOO_LARGE, path, f"{count} pages")
            pages: list[list[_Line]] = []
            heights: list[float] = []
            images = 0
            chars = 0
            deadline = time.monotonic() + MAX_READ_SECONDS
            for number, page in enumerate(reader.pages, start=1):
                if time.monotonic() > deadline:
                    raise ScriptRefused(ScriptErrorKind.TOO_LARGE, path,
                                        f"not read in {MAX_READ_SECONDS:.0f} s, at page {number} of {count}")
                box = page.mediabox
                top = float(box.top)
                heights.append(float(box.height))
                lines = _page_lines(page, top, number)
                chars += sum(len(line.text) for line in lines)
                if chars > MAX_TEXT_CHARS:
                    raise ScriptRefused(ScriptErrorKind.TOO_LARGE, path, f"over {MAX_TEXT_CHARS:,} characters")
                if not lines:
                    images += _has_images(page)
                pages.append(lines)
    except ScriptRefused:
        raise
    except FileNotDecryptedError:
        raise ScriptRefused(ScriptErrorKind.ENCRYPTED, path) from None
    except LimitReachedError as exc:
        raise ScriptRefused(ScriptErrorKind.TOO_LARGE, path, str(exc)) from None
    except MemoryError:
        raise ScriptRefused(ScriptErrorKind.TOO_LARGE, path, "out of memory") from None
    except Exception as exc:  # noqa: BLE001
        # pypdf raises far more than its own errors on a broken file (KeyError, TypeError,
        # NotImplementedError for a mangled filter name...): anything raised while reading
        # is the file's, and the person adding it gets a refusal, never a traceback.
        kind = "" if isinstance(exc, PyPdfError) else f"{type(exc).__name__}: "
        raise ScriptRefused(ScriptErrorKind.DAMAGED, path, f"{kind}{exc}"[:200]) from None
    finally:
        pypdf_log.setLevel(level)
    if not any(pages):
        detail = f"{count} page{'s' if count != 1 else ''}" + (f", {images} with images only" if images else "")
        raise ScriptRefused(ScriptErrorKind.NO_TEXT, path, detail)
    script = _assemble(path, pages, heights)
    # (_assemble has taken the headers, footers and page numbers out of `pages`: a scanned
    # page under a typed running title has no text of its own.)
    textless = tuple(i for i, lines in enumerate(pages, start=1) if not lines)
    if len(textless) == count:
        raise ScriptRefused(ScriptErrorKind.NO_TEXT, path, f"{count} pages with only headers or footers")
    return replace(script, textless_pages=textless)


def _has_images(page: PageObject) -> int:
    try:
        return int(bool(page.images))
    except Exception:  # noqa: BLE001 - only a hint for the message; the refusal stands anyway
        return 0


def _page_lines(page: PageObject, top: float, number: int) -> list[_Line]:
    chunks: list[tuple[float, float, float, str]] = []  # (y from the top, x, size, text)

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if not text.strip():
            return
        # Where the run starts on the page, and its size there: the text matrix, then the CTM.
        a = tm[0] * cm[0] + tm[1] * cm[2]
        b = tm[0] * cm[1] + tm[1] * cm[3]
        c = tm[2] * cm[0] + tm[3] * cm[2]
        d = tm[2] * cm[1] + tm[3] * cm[3]
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        scale = math.sqrt(abs(a * d - b * c)) or 1.0
        eff = float(size) * scale
        # A run holding line breaks: the later lines are below, at a line's usual pitch.
        for i, piece in enumerate(text.split("\n")):
            if piece.strip():
                chunks.append((top - y + i * eff * 1.2, x, eff, piece))

    page.extract_text(visitor_text=visit)
    chunks.sort(key=lambda c: (round(c[0], 1), c[1]))
    lines: list[_Line] = []
    for y, x, size, text in chunks:
        line = lines[-1] if lines else None
        if line is not None and abs(line.y - y) <= 0.35 * max(size, line.size):
            line.chunks.append((x, size, text))
        else:
            lines.append(_Line(y, x, size, "", number, [(x, size, text)]))
    for line in lines:
        line.chunks.sort()
        text = ""
        end_estimate = -1e9
        for x, size, piece in line.chunks:
            # Runs far apart on one line (a footer's left and right cells) need a space;
            # runs that continue each other do not. Widths are estimated from the size.
            if text and not text.endswith(" ") and not piece.startswith(" ") and x > end_estimate + size:
                text += " "
            text += piece
            end_estimate = x + len(piece) * size * 0.6
        line.text = _squash(text)
        line.x = line.chunks[0][0]
        # The line's size is that of most of its characters.
        sizes: Counter[float] = Counter()
        for _, size, piece in line.chunks:
            sizes[round(size, 1)] += len(piece)
        line.size = sizes.most_common(1)[0][0]
    return [line for line in lines if line.text]


def _assemble(path: Path, pages: list[list[_Line]], heights: list[float]) -> Script:
    dropped: list[Dropped] = []
    body_size = _body_size(pages)
    _drop_running(pages, heights, dropped)
    for lines in pages:
        kept = []
        for line in lines:
            if _COPYRIGHT.search(line.text):
                dropped.append(Dropped(line.text, DropReason.COPYRIGHT, line.page))
            else:
                kept.append(line)
        lines[:] = kept

    pitch = _line_pitch(pages, body_size)
    body = [line for lines in pages for line in lines if _kind(line, body_size) is PassageKind.SPOKEN]
    gap = 1.4 * max(pitch, body_size * 1.1)
    # A script set with no space between paragraphs (and no indent) still shows where one
    # ends: its last line stops short, after a sentence.
    gapless = not any(b.y - a.y > gap for a, b in zip(body, body[1:], strict=False)
                      if a.page == b.page)
    full_line = _percentile([len(line.text) for line in body], 0.9)
    # Paragraphs, page by page: a new one where the gap between lines opens, the size class
    # changes, or a line is indented (or, with no gaps, the line before stopped short) after
    # a sentence ends.
    paragraphs: list[tuple[list[_Line], PassageKind]] = []
    for lines in pages:
        left = min((line.x for line in lines if _kind(line, body_size) is PassageKind.SPOKEN),
                   default=0.0)
        previous: _Line | None = None
        for line in lines:
            kind = _kind(line, body_size)
            starts = (
                previous is None
                or paragraphs[-1][1] is not kind
                or line.y - previous.y > max(gap, 1.4 * previous.size * 1.1)
                or (kind is PassageKind.SPOKEN and previous.text.endswith(_TERMINAL)
                    and (line.x > left + 0.8 * line.size
                         or (gapless and len(previous.text) < 0.85 * full_line)))
            )
            if previous is None and paragraphs and _continues(paragraphs[-1], line, kind):
                starts = False  # the paragraph runs on from the page before
            if starts:
                paragraphs.append(([line], kind))
            else:
                paragraphs[-1][0].append(line)
            previous = line

    texts = [(_join_lines([line.text for line in lines]), kind, lines[0].page)
             for lines, kind in paragraphs]
    return Script(path, ScriptFormat.PDF, tuple(_passages(texts)), tuple(dropped), len(pages))


def _continues(paragraph: tuple[list[_Line], PassageKind], line: _Line, kind: PassageKind) -> bool:
    """Whether a page's first line goes on with the last paragraph of the page before."""
    lines, previous_kind = paragraph
    if previous_kind is not PassageKind.SPOKEN or kind is not PassageKind.SPOKEN:
        return False
    last = lines[-1].text
    return not last.endswith(_TERMINAL) or line.text[:1].islower()


def _percentile(values: list[int], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def _body_size(pages: list[list[_Line]]) -> float:
    sizes: Counter[float] = Counter()
    for lines in pages:
        for line in lines:
            sizes[line.size] += len(line.text)
    return sizes.most_common(1)[0][0] if sizes else 12.0


def _kind(line: _Line, body_size: float) -> PassageKind:
    if line.size > body_size * 1.15:
        return PassageKind.HEADING
    if line.size < body_size * 0.93:
        return PassageKind.NOTE
    return PassageKind.SPOKEN


def _line_pitch(pages: list[list[_Line]], body_size: float) -> float:
    gaps = []
    for lines in pages:
        for a, b in zip(lines, lines[1:], strict=False):
            if abs(a.size - body_size) < 0.5 and abs(b.size - body_size) < 0.5 and b.y > a.y:
                gaps.append(b.y - a.y)
    # The commonest gap is the line pitch; paragraph gaps are the fewer, larger ones.
    return statistics.median_low(gaps) if gaps else body_size * 1.2


def _drop_running(pages: list[list[_Line]], heights: list[float], dropped: list[Dropped]) -> None:
    """Take out running headers, footers and page numbers: the first and last lines of each
    page that repeat across pages at the same place, or are a page number."""
    # (edge, key) -> the pages it is found on, at about which height
    seen: dict[tuple[str, str], list[float]] = {}
    edges: list[list[tuple[str, _Line]]] = []
    for lines, height in zip(pages, heights, strict=True):
        # A page's first two lines and its last two, each by the half of the page it is on
        # (a page with little on it has its footer among its first two lines).
        ends = lines[:2] + [line for line in lines[-2:] if line not in lines[:2]]
        candidates = [("top" if line.y < height / 2 else "bottom", line) for line in ends]
        edges.append(candidates)
        for edge, line in candidates:
            seen.setdefault((edge, _key(line.text)), []).append(line.y)
    many = len(pages) >= 2
    body_size = _body_size(pages)
    pitch = _line_pitch(pages, body_size)
    for lines, candidates, height in zip(pages, edges, heights, strict=True):
        outer = {
            id(line) for edge, line in candidates
            if (line.y < height * 0.15 if edge == "top" else line.y > height * 0.85)
        }
        drop: list[tuple[_Line, DropReason]] = []
        for edge, line in candidates:
            if id(line) not in outer:
                continue
            places = seen[(edge, _key(line.text))]
            repeated = many and sum(1 for y in places if abs(y - line.y) < 6) >= 2
            header_or_footer = DropReason.HEADER if edge == "top" else DropReason.FOOTER
            if _COPYRIGHT.search(line.text):
                drop.append((line, DropReason.COPYRIGHT))
            elif _PAGE_NUMBER.match(line.text):
                drop.append((line, DropReason.PAGE_NUMBER))
            elif (repeated or _PAGE_NUMBER_IN_LINE.search(line.text)
                  or _set_apart(line, lines, edge, body_size, pitch)):
                drop.append((line, header_or_footer))
        for line, reason in drop:
            dropped.append(Dropped(line.text, reason, line.page))
        gone = {id(line) for line, _ in drop}
        lines[:] = [line for line in lines if id(line) not in gone]


def _set_apart(line: _Line, lines: list[_Line], edge: str, body_size: float, pitch: float) -> bool:
    """A header or footer on one page only: small print at the page's edge, set apart from
    the text by more than a paragraph's gap."""
    if _kind(line, body_size) is not PassageKind.NOTE:
        return False
    i = lines.index(line)
    if len(lines) < 2 or i != (0 if edge == "top" else len(lines) - 1):
        return False
    neighbour = lines[1] if edge == "top" else lines[-2]
    return abs(neighbour.y - line.y) > 1.5 * pitch
