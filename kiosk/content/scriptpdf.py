"""Render an exercise's script (its passages) as a clean, readable A4 PDF.

Used by the demo generator and by the content importer for packs that ship no PDF, so the
API stays small: `render_script_pdf(title, passages, lang, out, subtitle=None)`.

The fonts (DejaVu Sans, regular and bold) ship with the repository in `assets/fonts/`:
the station is offline and must not depend on whatever fonts the system happens to have,
and the core PDF fonts cannot show text beyond Latin-1 (curly quotes, dashes, accents in
other languages).
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, cast

from fpdf import FPDF

from kiosk.resources import FONTS_DIR as FONT_DIR

logger = logging.getLogger(__name__)

FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
FAMILY = "DejaVuSans"
STATION = "Kiosk listening station"

# fpdf2 replaces this alias with the page count wherever it appears, reserving the width of
# one digit per alias character: one private-use character, which no script contains.
_PAGES_ALIAS = "\ue000"

_MARGIN_MM = 22.0
_BOTTOM_MM = 20.0
_TITLE_PT = 20.0
_SUBTITLE_PT = 11.0
_BODY_PT = 12.5
_BODY_LINE_MM = 7.0  # about 1.6 times the body size: easy to follow while listening
_PARAGRAPH_GAP_MM = 5.5
_FOOTER_PT = 8.5
_INK = (33, 33, 33)
_MUTED = (110, 110, 110)
_SUBTITLE_INK = (80, 80, 80)  # quieter than the script, still easy to read
_RULE = (200, 200, 200)


class FontMissingError(FileNotFoundError):
    """A font file the script PDF needs is not where the repository keeps it."""


def _font_paths() -> dict[str, Path]:
    paths = {style: FONT_DIR / name for style, name in FONT_FILES.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise FontMissingError(
            f"script PDF font missing: {', '.join(missing)}. The fonts ship inside the "
            "kiosk package (kiosk/_assets/fonts); reinstall kiosk with pip."
        )
    return paths


def _page_label(lang: str) -> str:
    # Page words only where we know the language; digits read the same everywhere else.
    if lang.lower().split("-")[0] == "en":
        return "Page %d of " + _PAGES_ALIAS
    return "%d / " + _PAGES_ALIAS


def _creation_date() -> datetime:
    # Reproducible builds convention: lets the demo generator write byte-identical PDFs.
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        return datetime.fromtimestamp(int(epoch), UTC)
    return datetime.now(UTC)


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    # Other control characters have no glyph and would show as boxes.
    return "".join(ch for ch in text if ch == "\n" or ch >= " ").strip()


def _surely_fits(pdf: FPDF, text: str, width: float, bottom: float) -> bool:
    # A cheap upper bound on the wrapped height (wrapping wastes well under a quarter of a
    # line here), so the exact but slow dry-run layout is only needed near a page's end.
    lines = pdf.get_string_width(text) / (width * 0.75) + text.count("\n") + 1
    return pdf.get_y() + lines * _BODY_LINE_MM <= bottom


class _ScriptDocument(FPDF):
    def __init__(self, title: str, lang: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._running_title = title
        self._page_label = _page_label(lang)

    def header(self) -> None:
        if self.page_no() == 1:
            return
        # A quiet running title so a loose page still says which script it belongs to.
        self.set_font(FAMILY, "", _FOOTER_PT)
        self.set_text_color(*_MUTED)
        self.set_y(10)
        self.cell(0, 5, self._running_title, align="L")
        self.set_y(_MARGIN_MM)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(FAMILY, "", _FOOTER_PT)
        self.set_text_color(*_MUTED)
        width = self.w - self.l_margin - self.r_margin
        self.cell(width / 2, 5, STATION, align="L")
        self.cell(width / 2, 5, self._page_label % self.page_no(), align="R")


def render_script_pdf(
    title: str,
    passages: list[str],
    lang: str,
    out: Path | BinaryIO,
    subtitle: str | None = None,
) -> None:
    """Write the script as an A4 PDF to `out` (a path, or a binary file opened for writing).

    Each passage becomes one paragraph, in order, with space between them. Raises
    FontMissingError when the shipped fonts cannot be found.
    """
    fonts = _font_paths()
    title = _clean(title) or "Script"

    pdf = _ScriptDocument(title, lang)
    pdf.set_title(title)
    pdf.set_lang(lang)
    pdf.set_creator("kiosk")
    pdf.set_creation_date(_creation_date())
    pdf.alias_nb_pages(_PAGES_ALIAS)
    for style, path in fonts.items():
        pdf.add_font(FAMILY, style, str(path))
    pdf.set_margins(_MARGIN_MM, _MARGIN_MM, _MARGIN_MM)
    pdf.set_auto_page_break(True, margin=_BOTTOM_MM)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    pdf.set_text_color(*_INK)
    pdf.set_font(FAMILY, "B", _TITLE_PT)
    pdf.multi_cell(width, 9.5, title, align="L", new_x="LMARGIN", new_y="NEXT")

    if subtitle and _clean(subtitle):
        pdf.ln(3)
        pdf.set_text_color(*_SUBTITLE_INK)
        pdf.set_font(FAMILY, "", _SUBTITLE_PT)
        pdf.multi_cell(width, 5.8, _clean(subtitle), align="L", new_x="LMARGIN", new_y="NEXT")

    pdf.ln(5)
    pdf.set_draw_color(*_RULE)
    pdf.set_line_width(0.3)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(8)

    pdf.set_text_color(*_INK)
    pdf.set_font(FAMILY, "", _BODY_PT)
    bottom = pdf.h - pdf.b_margin
    for passage in passages:
        text = _clean(passage)
        if not text:
            continue
        # Keep a short passage whole on one page: splitting it mid-thought is harder to
        # follow when reading along. Long passages still flow across pages.
        if not _surely_fits(pdf, text, width, bottom):
            # (a dry run still breaks pages when auto page break is on)
            pdf.set_auto_page_break(False)
            lines = cast(
                list[str],
                pdf.multi_cell(width, _BODY_LINE_MM, text, dry_run=True, output="LINES"),
            )
            pdf.set_auto_page_break(True, margin=_BOTTOM_MM)
            height = len(lines) * _BODY_LINE_MM
            if pdf.get_y() + height > bottom and height < (bottom - pdf.t_margin) / 2:
                pdf.add_page()
        pdf.multi_cell(width, _BODY_LINE_MM, text, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(_PARAGRAPH_GAP_MM)

    data = bytes(pdf.output())
    if isinstance(out, (str, os.PathLike)):
        Path(out).write_bytes(data)
    else:
        out.write(data)
    logger.debug("rendered script PDF %r: %d passages, %d pages", title, len(passages), pdf.pages_count)
