"""The script's passages from the files clinics have: PDFs made by two different producers
(fpdf2, and Ghostscript from PostScript), with running headers, footers, page numbers, a
copyright line, a sentence cut by a page break and stage directions; plain text; DOCX from
python-docx; and the files that must be refused, each with its kind and what to give instead.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from fpdf import FPDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw
from pypdf import PdfReader

from kiosk.content import Fault
from kiosk.content.cues import parse_vtt
from kiosk.content.scripttext import (
    LONG_PASSAGE_CHARS,
    DropReason,
    Passage,
    PassageKind,
    ScriptErrorKind,
    ScriptFormat,
    ScriptRefused,
    read_script,
    split_long,
)
from kiosk.resources import DEMO_PACK, FONTS_DIR
from tests.content.handpdf import pdf_bomb, pdf_with_content

TITLE = "A place of calm"
SPOKEN = [
    "Welcome. In this exercise you are invited to picture a place where you feel calm and safe. "
    "It can be somewhere you know, or somewhere you make up as you go.",
    "Settle into the chair, and let your feet rest on the floor. If it feels okay, let your eyes "
    "close, or lower your gaze to a spot in front of you.",
    "Let your breathing find its own pace. With each breath out, you might let your shoulders "
    "drop a little, and let the chair hold a little more of your weight.",
    "Now begin to picture your place. Notice what you can see there: the colours, the light, "
    "the shapes near you and far away. There is no need for the picture to be sharp.",
    "Notice what you can hear in your place, near and far. Perhaps there is the sound of water, "
    "or of leaves moving, or a deep, quiet stillness that is restful to be in.",
    "Notice the temperature of the air on your skin, and what is under your feet. You might "
    "reach out and touch something there, and notice how it feels to your fingers.",
    "This place welcomes you. It is glad you are here, just as you are, and you can stay as "
    "long as you like. Let yourself rest in it for a while.",
    "When you are ready, let the picture fade, knowing that you can come back whenever you "
    "wish. Notice the chair under you again, and the sounds of the room, and open your eyes.",
]
DIRECTIONS = ["[Pause for 30 seconds]", "(long pause)"]


def _fpdf_script(out: Path, *, body_pt: float = 12.0, filler: int = 0) -> None:
    """A publisher-style PDF: the title on page 1, the title again as a running header, a
    footer with a copyright line and "Page N of M", paragraphs run over page breaks."""

    class Doc(FPDF):
        def header(self) -> None:
            if self.page_no() > 1:
                self.set_font("DejaVu", "", 9)
                self.set_y(10)
                self.cell(0, 5, f"Example Press · {TITLE}", align="C")
                self.set_y(25)

        def footer(self) -> None:
            self.set_y(-18)
            self.set_font("DejaVu", "", 8)
            self.cell(0, 4, "© 2026 Example Press. All rights reserved.", align="L")
            self.set_y(-12)
            self.cell(0, 4, f"Page {self.page_no()} of {{nb}}", align="R")

    pdf = Doc(format=(148, 210))  # A5
    pdf.add_font("DejaVu", "", str(FONTS_DIR / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(True, margin=24)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 18)
    pdf.multi_cell(0, 9, TITLE, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("DejaVu", "", body_pt)
    paragraphs = SPOKEN[:3] + [DIRECTIONS[0]] + SPOKEN[3:6]
    paragraphs += [DIRECTIONS[1]] + SPOKEN[6:]
    paragraphs[8] = paragraphs[8].replace("for a while.", "for a while (pause).")
    for _ in range(filler):
        paragraphs.insert(1, "Breathing in slowly, and breathing out slowly.")
    for paragraph in paragraphs:
        pdf.multi_cell(0, body_pt * 0.5, paragraph, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(body_pt * 0.35)
    pdf.output(str(out))


def _ps_string(text: str) -> str:
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def _ghostscript_script(out: Path, style: str = "gaps") -> None:
    """The same script set by hand in PostScript (Times and Helvetica, Latin-1) and made a
    PDF by Ghostscript: another producer, other fonts, another way of writing text. `style`
    is how paragraphs are told apart: "gaps" between them, "indent" on their first lines, or
    "flush": neither, only their short last lines."""
    import textwrap

    lines_per_page = 20  # page 1 ends inside a paragraph, in the middle of a sentence
    body: list[str | None] = []  # None: a paragraph gap; a leading tab: an indent
    for paragraph in SPOKEN[:2] + [DIRECTIONS[0]] + SPOKEN[2:]:
        lines = textwrap.wrap(paragraph, 70)
        if style == "indent":
            lines[0] = "\t" + lines[0]
        body += lines + ([None] if style == "gaps" else [])
    pages = [body[i:i + lines_per_page] for i in range(0, len(body), lines_per_page)]
    ps = ["%!PS-Adobe-3.0", "%%Pages: " + str(len(pages))]
    for n, page in enumerate(pages, start=1):
        ps += [f"%%Page: {n} {n}",
               "/Helvetica findfont 8 scalefont setfont",
               f"72 800 moveto {_ps_string(TITLE + ' - a script for clinics')} show",
               f"290 40 moveto {_ps_string(str(n))} show",
               f"72 28 moveto {_ps_string('Copyright 2026 Example Press')} show"]
        y = 760.0
        if n == 1:
            ps += ["/Helvetica-Bold findfont 16 scalefont setfont",
                   f"72 {y} moveto {_ps_string(TITLE)} show"]
            y -= 34
        ps.append("/Times-Roman findfont 12 scalefont setfont")
        for line in page:
            if line is not None:
                x = 90 if line.startswith("\t") else 72
                ps.append(f"{x} {y:.1f} moveto {_ps_string(line.lstrip())} show")
            y -= 15 if line is not None else 9
        ps.append("showpage")
    ps.append("%%EOF")
    src = out.with_suffix(".ps")
    src.write_text("\n".join(ps) + "\n", encoding="latin-1")
    subprocess.run(["ps2pdf", str(src), str(out)], check=True, capture_output=True)


def flat(text: str) -> str:
    return " ".join(text.split())


def test_fpdf_script_passages_in_order_with_what_is_not_spoken_taken_out(tmp_path: Path) -> None:
    pdf = tmp_path / "script.pdf"
    _fpdf_script(pdf, filler=5)
    raw = [page.extract_text() for page in PdfReader(pdf).pages]
    # What the page breaks did: a paragraph runs over a page, its footer in between.
    assert len(raw) >= 2
    cut = [p for p in SPOKEN if not any(flat(p) in flat(page) for page in raw)]
    assert cut and cut[0].endswith("restful to be in.")

    script = read_script(pdf)
    assert script.format is ScriptFormat.PDF and script.pages == len(raw)
    expected = list(SPOKEN)
    spoken = script.spoken()
    filler = "Breathing in slowly, and breathing out slowly."
    assert spoken.count(filler) == 5
    assert [s for s in spoken if s != filler] == expected
    assert script.passages[0].text == TITLE and script.passages[0].kind is PassageKind.HEADING
    directions = [p.text for p in script.passages if p.kind is PassageKind.DIRECTION]
    assert directions == ["[Pause for 30 seconds]", "(long pause)", "(pause)"]

    reasons = {(d.reason, d.text) for d in script.dropped}
    for page in range(1, len(raw) + 1):
        assert (DropReason.PAGE_NUMBER, f"Page {page} of {len(raw)}") in reasons
    assert (DropReason.COPYRIGHT, "© 2026 Example Press. All rights reserved.") in reasons
    assert (DropReason.HEADER, f"Example Press · {TITLE}") in reasons
    assert not any("Example Press" in s or "Page " in s for s in spoken)


@pytest.mark.parametrize("body_pt", [10.0, 14.0])
def test_a_sentence_cut_by_a_page_break_is_joined_again(tmp_path: Path, body_pt: float) -> None:
    pdf = tmp_path / "script.pdf"
    _fpdf_script(pdf, body_pt=body_pt, filler=3)
    spoken = read_script(pdf).spoken()
    for paragraph in SPOKEN:
        assert paragraph in spoken


@pytest.mark.parametrize("style", ["indent", "flush"])
def test_paragraphs_without_gaps_between_them(tmp_path: Path, style: str) -> None:
    pdf = tmp_path / "script.pdf"
    _ghostscript_script(pdf, style)
    expected = list(SPOKEN)
    if style == "flush":
        # Its last line is full: nothing on the page says the paragraph ends there.
        assert SPOKEN[6].endswith("Let yourself rest in it for a while.")
        expected[6:8] = [SPOKEN[6] + " " + SPOKEN[7]]
    assert read_script(pdf).spoken() == expected


def test_ghostscript_script(tmp_path: Path) -> None:
    pdf = tmp_path / "script.pdf"
    _ghostscript_script(pdf)
    assert b"Ghostscript" in pdf.read_bytes()
    raw = [page.extract_text() for page in PdfReader(pdf).pages]
    # What a bare extractor gives: the sentence cut by the next page's header and number.
    assert flat(raw[0]).endswith("or a deep, quiet stillness")
    assert flat(raw[1]).startswith(f"{TITLE} - a script for clinics 2 Copyright 2026 Example Press that is")
    script = read_script(pdf)
    assert script.pages == 2
    assert script.spoken() == SPOKEN
    assert [p.text for p in script.passages if p.kind is PassageKind.DIRECTION] == [DIRECTIONS[0]]
    assert script.passages[0].text == TITLE and script.passages[0].kind is PassageKind.HEADING
    reasons = [d.reason for d in script.dropped]
    assert reasons.count(DropReason.PAGE_NUMBER) == 2
    assert reasons.count(DropReason.COPYRIGHT) == 2
    assert reasons.count(DropReason.HEADER) == 2


def test_every_demo_script_gives_back_its_cues() -> None:
    # The demo's PDFs are made from its cues, with a title, an introduction in small print,
    # a running title and a footer: the passages read back are the cues, word for word.
    pdfs = sorted(DEMO_PACK.glob("*/*.pdf"))
    assert pdfs
    for pdf in pdfs:
        script = read_script(pdf)
        cues = parse_vtt(pdf.with_suffix(".vtt").read_text(encoding="utf-8"))
        assert script.spoken() == [c.text for c in cues], pdf
        assert [p.kind for p in script.passages[:2]] == [PassageKind.HEADING, PassageKind.NOTE]


def test_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "script.txt"
    text = (
        f"{TITLE}\r\n\r\n"
        + "\r\n\r\n".join(
            # paragraphs wrapped by hand, as an editor saves them
            "\r\n".join([p[: len(p) // 2], p[len(p) // 2 :].lstrip()]) if i == 1 else p
            for i, p in enumerate(SPOKEN[:3])
        )
        + "\r\n\r\n[Pause for 30 seconds]\r\n\r\nCopyright 2026 Example Press\r\n"
    )
    path.write_bytes(text.encode("utf-8-sig"))
    script = read_script(path)
    assert script.format is ScriptFormat.TEXT
    assert script.spoken() == [TITLE] + SPOKEN[:3]
    assert script.passages[-1].kind is PassageKind.DIRECTION
    assert [d.reason for d in script.dropped] == [DropReason.COPYRIGHT]
    # Told the exercise's title, the reader knows the first line for a heading.
    titled = read_script(path, title=TITLE.upper())
    assert titled.spoken() == SPOKEN[:3]
    assert titled.passages[0] == Passage(TITLE, PassageKind.HEADING)


def test_ligatures_become_letters(tmp_path: Path) -> None:
    path = tmp_path / "lig.txt"
    path.write_text("The \ufb01rst breath, and the \ufb02ow of the next, with no e\ufb00ort.\n",
                    encoding="utf-8")
    assert read_script(path).spoken() == ["The first breath, and the flow of the next, with no effort."]


def test_plain_text_in_other_encodings_and_one_line_a_paragraph(tmp_path: Path) -> None:
    cp1252 = tmp_path / "old.txt"
    cp1252.write_bytes("Let the breath be “soft” – and slow.\nAnd rest.\n".encode("cp1252"))
    assert read_script(cp1252).spoken() == ["Let the breath be “soft” – and slow.", "And rest."]
    utf16 = tmp_path / "word.txt"
    utf16.write_bytes("Café, naïve.\n\nSecond.\n".encode("utf-16"))
    assert read_script(utf16).spoken() == ["Café, naïve.", "Second."]


def test_docx(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading(TITLE, level=1)
    document.sections[0].header.paragraphs[0].text = "Example Press"
    document.sections[0].footer.paragraphs[0].text = "© 2026 Example Press"
    for paragraph in SPOKEN[:2]:
        document.add_paragraph(paragraph)
    document.add_paragraph("(Pause for a minute)")
    run = document.add_paragraph("Breathe in, ").add_run("and breathe out.")
    run.bold = True
    document.add_paragraph("Copyright 2026 Example Press")
    path = tmp_path / "script.docx"
    document.save(str(path))

    script = read_script(path)
    assert script.format is ScriptFormat.DOCX
    assert script.spoken() == SPOKEN[:2] + ["Breathe in, and breathe out."]
    assert script.passages[0].kind is PassageKind.HEADING
    assert [p.text for p in script.passages if p.kind is PassageKind.DIRECTION] == ["(Pause for a minute)"]
    assert [d.reason for d in script.dropped] == [DropReason.COPYRIGHT]


def test_a_very_long_paragraph_is_split_at_sentences() -> None:
    sentences = [f"This is sentence number {i}, said slowly and kindly to the listener." for i in range(30)]
    text = " ".join(sentences)
    parts = split_long(text)
    assert len(parts) >= 2
    assert " ".join(parts) == text
    assert all(len(p) <= LONG_PASSAGE_CHARS for p in parts)
    assert all(p.endswith(".") for p in parts)
    assert split_long(sentences[0]) == [sentences[0]]


def test_stage_directions_are_told_from_spoken_brackets(tmp_path: Path) -> None:
    path = tmp_path / "s.txt"
    path.write_text(
        "Rest your hands (palms up or down) on your lap.\n\n"
        "Breathe in. [bell] And out. (Pause for 10 seconds.) And again.\n\n"
        "Pause for a few breaths.\n\n"
        "(This part is optional) You can stay here (pause) as long as you like.\n",
        encoding="utf-8",
    )
    script = read_script(path)
    assert [(p.kind.value, p.text) for p in script.passages] == [
        ("spoken", "Rest your hands (palms up or down) on your lap."),
        ("spoken", "Breathe in."),
        ("direction", "[bell]"),
        ("spoken", "And out."),
        ("direction", "(Pause for 10 seconds.)"),
        ("spoken", "And again."),
        ("direction", "Pause for a few breaths."),
        ("spoken", "(This part is optional) You can stay here"),
        ("direction", "(pause)"),
        ("spoken", "as long as you like."),
    ]


# --- Refusals ------------------------------------------------------------------------------


def _refusal(path: Path) -> ScriptRefused:
    with pytest.raises(ScriptRefused) as info:
        read_script(path)
    return info.value


def _page_image() -> bytes:
    image = Image.new("L", (800, 1100), 255)
    draw = ImageDraw.Draw(image)
    for row in range(40):
        draw.rectangle((80, 80 + row * 24, 700 - (row % 3) * 60, 92 + row * 24), fill=30)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _scan(out: Path, *, typed_pages: int = 0, running_title: bool = False) -> None:
    """Two scanned pages (pictures only), after `typed_pages` pages of text; with
    `running_title`, every page has a typed header and page number, as scanning software
    stamps them."""
    picture = _page_image()
    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.set_font("helvetica", size=9)
    for n in range(typed_pages + 2):
        pdf.add_page()
        if running_title:
            pdf.set_xy(10, 8)
            pdf.cell(0, 5, TITLE)
            pdf.set_xy(10, 285)
            pdf.cell(0, 5, str(n + 1), align="C")
        if n < typed_pages:
            pdf.set_font("helvetica", size=12)
            pdf.set_xy(20, 30)
            pdf.multi_cell(0, 6, SPOKEN[n])
            pdf.set_font("helvetica", size=9)
        else:
            pdf.image(io.BytesIO(picture), x=0, y=15, w=210)
    pdf.output(str(out))


def test_a_scan_is_refused_as_having_no_text(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    _scan(path)
    refusal = _refusal(path)
    assert refusal.kind is ScriptErrorKind.NO_TEXT
    message = refusal.message()
    assert message.startswith("scan.pdf: ") and "scan" in message and "selectable text" in message
    assert "2 pages, 2 with images only" in message


def _encrypted(out: Path, user_password: str | None) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 6, SPOKEN[0])
    pdf.set_encryption(owner_password="owner", user_password=user_password)
    pdf.output(str(out))


def test_a_scan_under_a_typed_running_title_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "stamped.pdf"
    _scan(path, running_title=True)
    assert _refusal(path).kind is ScriptErrorKind.NO_TEXT


def test_scanned_pages_among_typed_ones_are_named(tmp_path: Path) -> None:
    path = tmp_path / "mixed.pdf"
    _scan(path, typed_pages=2, running_title=True)
    script = read_script(path)
    assert script.spoken() == SPOKEN[:2]
    assert script.textless_pages == (3, 4)


def test_a_pdf_locked_with_a_password_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked.pdf"
    _encrypted(locked, "secret")
    refusal = _refusal(locked)
    assert refusal.kind is ScriptErrorKind.ENCRYPTED
    assert "password" in refusal.message() and "without the password" in refusal.message()


def test_a_pdf_locked_only_against_editing_is_read(tmp_path: Path) -> None:
    # Any PDF reader opens it without asking: so does the station.
    path = tmp_path / "restricted.pdf"
    _encrypted(path, None)
    assert PdfReader(path).is_encrypted
    assert read_script(path).spoken() == [SPOKEN[0]]


def test_files_that_are_not_scripts_are_refused(tmp_path: Path) -> None:
    audio = tmp_path / "track.mp3"
    shutil.copy(next(DEMO_PACK.glob("*/en-GB.mp3")), audio)
    assert _refusal(audio).kind is ScriptErrorKind.NOT_A_SCRIPT
    image = tmp_path / "page.png"
    Image.new("RGB", (50, 50)).save(image)
    assert _refusal(image).kind is ScriptErrorKind.NOT_A_SCRIPT
    renamed = tmp_path / "script.pdf"
    renamed.write_text("Hello, this is not a PDF at all.\n", encoding="utf-8")
    refusal = _refusal(renamed)
    assert refusal.kind is ScriptErrorKind.NOT_A_SCRIPT
    assert "not a PDF, a plain-text file or a Word document (.docx)" in refusal.message()
    zipped = tmp_path / "pack.zip"
    shutil.make_archive(str(zipped.with_suffix("")), "zip", tmp_path, "page.png")
    assert _refusal(zipped).kind is ScriptErrorKind.NOT_A_SCRIPT
    assert _refusal(tmp_path / "absent.pdf").kind is ScriptErrorKind.MISSING


def test_damaged_and_empty_files_are_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.pdf"
    _fpdf_script(good)
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(good.read_bytes()[:400])
    assert _refusal(cut).kind in (ScriptErrorKind.DAMAGED, ScriptErrorKind.NO_TEXT)
    docx_like = tmp_path / "broken.docx"
    docx_like.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    assert _refusal(docx_like).kind is ScriptErrorKind.DAMAGED
    only_directions = tmp_path / "d.txt"
    only_directions.write_text("[music]\n\n(pause for 20 seconds)\n\nPage 3\n", encoding="utf-8")
    refusal = _refusal(only_directions)
    assert refusal.kind is ScriptErrorKind.EMPTY and "stage directions" in refusal.message()


def test_a_pdf_bomb_is_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.pdf"
    pdf_bomb(bomb)
    assert bomb.stat().st_size < 1_000_000
    refusal = _refusal(bomb)
    assert refusal.kind is ScriptErrorKind.TOO_LARGE
    assert "far larger than a script" in refusal.message()


def test_a_page_of_endless_operations_is_refused(tmp_path: Path) -> None:
    # Small once decompressed, but more for pypdf to parse than any script has.
    busy = tmp_path / "busy.pdf"
    pdf_with_content(busy, b"BT /F1 12 Tf " + b"1 0 Td " * 1_500_000 + b"ET\n")
    assert _refusal(busy).kind is ScriptErrorKind.TOO_LARGE


def test_the_hand_written_pdf_is_read(tmp_path: Path) -> None:
    # The two tests above rely on this writer making PDFs that are read when they are small.
    path = tmp_path / "small.pdf"
    pdf_with_content(path, b"BT /F1 12 Tf 72 700 Td (Breathe in, and out.) Tj ET\n")
    assert read_script(path).spoken() == ["Breathe in, and out."]


def test_a_refusal_is_a_fault_for_the_importer(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    _scan(path)
    fault = _refusal(path).fault()
    assert isinstance(fault, Fault)
    assert fault.file == "scan.pdf" and "selectable text" in fault.message


# --- Whatever the bytes, a script or a refusal ---------------------------------------------

_DEMO_PDF = (DEMO_PACK / "compassionate-other" / "en-GB.pdf").read_bytes()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.tuples(st.integers(0, len(_DEMO_PDF) - 1), st.binary(min_size=1, max_size=8)),
                     min_size=1, max_size=6),
       truncate=st.one_of(st.none(), st.integers(16, len(_DEMO_PDF))))
def test_a_damaged_pdf_gives_a_script_or_a_refusal(tmp_path: Path, cuts: list[tuple[int, bytes]],
                                                   truncate: int | None) -> None:
    data = bytearray(_DEMO_PDF)
    for at, junk in cuts:
        data[at:at + len(junk)] = junk
    path = tmp_path / "damaged.pdf"
    path.write_bytes(bytes(data[:truncate]))
    try:
        script = read_script(path)
    except ScriptRefused as refusal:
        assert refusal.kind in ScriptErrorKind and refusal.message().startswith("damaged.pdf: ")
    else:
        assert script.spoken() and all(p.text.strip() for p in script.passages)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2000), name=st.sampled_from(["s.txt", "s.pdf", "s.docx", "s"]))
def test_any_bytes_give_a_script_or_a_refusal(tmp_path: Path, data: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    try:
        read_script(path)
    except ScriptRefused as refusal:
        assert refusal.kind in ScriptErrorKind
