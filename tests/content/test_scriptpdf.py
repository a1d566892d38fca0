"""The script PDF: read back with poppler's pdftotext, as a person's PDF reader would."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import pytest

from kiosk.content import scriptpdf
from kiosk.content.scriptpdf import FontMissingError, render_script_pdf

PASSAGES = [
    "Welcome. If it feels okay, let your eyes close, or rest your gaze on the floor.",
    "Notice the places where your body meets the chair, and where your feet meet the floor.",
    "When you are ready, open your eyes and come back to the room.",
]


def pdf_text(path: Path) -> str:
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True,
                         capture_output=True).stdout.decode("utf-8")
    return out


def pdf_pages(path: Path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True)
    line = next(x for x in info.stdout.splitlines() if x.startswith("Pages:"))
    return int(line.split()[1])


def flat(text: str) -> str:
    return " ".join(text.split())


def test_title_subtitle_and_every_passage_in_order(tmp_path: Path) -> None:
    out = tmp_path / "script.pdf"
    render_script_pdf("Your compassionate other", PASSAGES, "en-GB", out,
                      subtitle="A short introduction to the exercise.")
    text = flat(pdf_text(out))
    assert text.startswith("Your compassionate other A short introduction to the exercise.")
    positions = [text.index(flat(p)) for p in PASSAGES]
    assert positions == sorted(positions)
    assert "Kiosk listening station" in text
    assert "Page 1 of 1" in text


def test_non_ascii_text_survives(tmp_path: Path) -> None:
    out = tmp_path / "script.pdf"
    odd = "café — ‘quotes’ and “double”, naïve Grüße, œuvre, 10 € … {nb} {kiosk}"
    render_script_pdf("Señal – ‘calm’", [odd], "en-US", out, subtitle="Ça va — “yes”")
    text = pdf_text(out)
    assert "Señal – ‘calm’" in text
    assert "Ça va — “yes”" in text
    assert odd in flat(text)


def test_writes_to_a_binary_file(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    render_script_pdf("Title", PASSAGES, "en-GB", buffer)
    data = buffer.getvalue()
    assert data.startswith(b"%PDF-")
    (tmp_path / "x.pdf").write_bytes(data)
    assert flat(PASSAGES[0]) in flat(pdf_text(tmp_path / "x.pdf"))


def test_long_script_has_numbered_pages_and_a_running_title(tmp_path: Path) -> None:
    out = tmp_path / "long.pdf"
    passages = [f"Passage {i}. " + "Breathing in, and slowly breathing out. " * 6 for i in range(40)]
    render_script_pdf("A long script", passages, "en-GB", out)
    pages = pdf_pages(out)
    assert pages >= 3
    text = pdf_text(out)
    assert f"Page 1 of {pages}" in text and f"Page {pages} of {pages}" in text
    assert text.count("A long script") == pages  # the title, then a running title per page
    flat_text = flat(text)
    for i in range(40):
        assert f"Passage {i}. Breathing in" in flat_text


def test_other_languages_get_plain_page_numbers(tmp_path: Path) -> None:
    out = tmp_path / "fr.pdf"
    render_script_pdf("Respiration", ["Inspirez doucement."], "fr-FR", out)
    # (pdftotext drops the spaces around the slash; the page shows "1 / 1")
    assert re.search(r"\b1 ?/ ?1\b", pdf_text(out))


def test_blank_passages_are_skipped_and_empty_scripts_still_render(tmp_path: Path) -> None:
    out = tmp_path / "empty.pdf"
    render_script_pdf("Only a title", ["", "  \n ", "Real words.\tAfter a tab."], "en-GB", out)
    assert "Real words. After a tab." in flat(pdf_text(out))
    render_script_pdf("Nothing else", [], "en-GB", out)
    assert "Nothing else" in pdf_text(out)


def test_same_input_same_bytes_when_the_date_is_fixed(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1735689600")
    a, b = io.BytesIO(), io.BytesIO()
    render_script_pdf("Same", PASSAGES, "en-GB", a, subtitle="twice")
    render_script_pdf("Same", PASSAGES, "en-GB", b, subtitle="twice")
    assert a.getvalue() == b.getvalue()


def test_missing_font_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scriptpdf, "FONT_DIR", tmp_path / "no-fonts")
    with pytest.raises(FontMissingError, match="DejaVuSans.ttf") as err:
        render_script_pdf("Title", PASSAGES, "en-GB", tmp_path / "x.pdf")
    assert "assets/fonts" in str(err.value)
    assert not (tmp_path / "x.pdf").exists()


def test_fonts_ship_with_their_licence() -> None:
    for name in scriptpdf.FONT_FILES.values():
        assert (scriptpdf.FONT_DIR / name).is_file()
    assert "Bitstream" in (scriptpdf.FONT_DIR / "DejaVu-LICENSE.txt").read_text()
