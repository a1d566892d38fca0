"""Fixtures for the take-home tests: real files, a stand-in catalogue, a real server on loopback."""

from __future__ import annotations

import http.client
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kiosk.config import TakeHomeSettings, default_settings
from kiosk.store import open_db
from kiosk.takehome import links
from kiosk.takehome.server import Limits, TakeHomeServer


@dataclass(frozen=True)
class FakeVariant:
    """The fields of kiosk.content.catalogue.Variant that the take-home part uses."""

    exercise_id: str
    lang: str
    title: str
    summary: str
    duration_seconds: float
    audio_path: Path
    audio_bytes: int
    script_pdf_path: Path
    script_pdf_bytes: int


class FakeCatalogue:
    """Stand-in for kiosk.content.catalogue.Catalogue until it lands: variant(exercise_id, lang)."""

    def __init__(self, variants: list[FakeVariant]):
        self._variants = {(v.exercise_id, v.lang): v for v in variants}

    def variant(self, exercise_id: str, lang: str) -> FakeVariant | None:
        return self._variants.get((exercise_id, lang))


def _make_mp3(path: Path, seconds: int) -> None:
    if shutil.which("sox") and shutil.which("lame"):
        wav = path.with_suffix(".wav")
        subprocess.run(["sox", "-n", "-r", "22050", "-c", "1", str(wav), "synth", str(seconds),
                        "sine", "220", "vol", "0.3"], check=True, capture_output=True)
        subprocess.run(["lame", "--quiet", "-b", "64", str(wav), str(path)], check=True)
        wav.unlink()
    else:  # the server never decodes it: bytes are enough for the download tests
        path.write_bytes(b"ID3" + bytes(range(256)) * (seconds * 32))


def _make_pdf(path: Path, text: str) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=14)
    pdf.multi_cell(0, 8, text)
    pdf.output(str(path))


@pytest.fixture(scope="session")
def content(tmp_path_factory: pytest.TempPathFactory) -> FakeCatalogue:
    root = tmp_path_factory.mktemp("content")
    specs = [
        ("soothing-rhythm", "en-GB", "Soothing rhythm breathing",
         "Slow, even breathing to settle a busy mind & body.", 60),
        ("soothing-rhythm", "en-US", "Soothing rhythm breathing",
         "Slow, even breathing to settle a busy mind and body.", 60),
        ("safe-place", "en-GB", "Your safe place",
         "Imagine a place where you feel calm, \"safe\" and welcome.", 40),
    ]
    variants = []
    for exercise_id, lang, title, summary, seconds in specs:
        folder = root / exercise_id
        folder.mkdir(exist_ok=True)
        mp3, pdf = folder / f"{lang}.mp3", folder / f"{lang}.pdf"
        _make_mp3(mp3, seconds)
        _make_pdf(pdf, f"{title}\n\n{summary}")
        variants.append(FakeVariant(exercise_id, lang, title, summary, float(seconds), mp3,
                                    mp3.stat().st_size, pdf, pdf.stat().st_size))
    return FakeCatalogue(variants)


class Clock:
    """A settable wall clock for expiry tests."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class Harness:
    server: TakeHomeServer
    db: Any
    clock: Clock
    settings: Any

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port

    def issue(self, items: list[tuple[str, str]] | None = None, days: int = 7,
              downloads: int = 3) -> links.IssuedLink:
        return links.issue_link(self.db, items or [("soothing-rhythm", "en-GB")], days, downloads,
                                now=self.clock(), station=self.settings.station_name)

    def path(self, token: str, rest: str = "") -> str:
        return f"/t/{token}{rest}"

    def request(self, path: str, method: str = "GET", headers: dict[str, str] | None = None,
                timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            body = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, body
        finally:
            conn.close()


@pytest.fixture
def make_harness(tmp_path: Path, content: FakeCatalogue) -> Iterator[Callable[..., Harness]]:
    started: list[Harness] = []

    def make(limits: Limits | None = None, **take_home: Any) -> Harness:
        th = replace(TakeHomeSettings(), bind="127.0.0.1", port=0, public_address="127.0.0.1",
                     **take_home)
        settings = default_settings(tmp_path / f"data{len(started)}", take_home=th)
        clock = Clock()
        server = TakeHomeServer(settings, lookup_factory=lambda db, s: content.variant,
                                clock=clock, limits=limits, tz=UTC)
        server.start()
        harness = Harness(server, open_db(settings.db_path), clock, settings)
        started.append(harness)
        return harness

    yield make
    for harness in started:
        harness.server.stop()
        harness.db.close()


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    return make_harness()
