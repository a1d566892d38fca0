"""Fixtures for the take-home tests: a real pack in the real catalogue, a real server on loopback."""

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
from kiosk.content import Catalogue, import_pack
from kiosk.store import open_db
from kiosk.takehome import links
from kiosk.takehome.server import Limits, TakeHomeServer
from tests.packfactory import vtt, write_manifest


def _make_mp3(path: Path, seconds: int) -> None:
    # Long enough (about 480 KB) that a paced download outlives the connection timeouts.
    wav = path.with_suffix(".wav")
    subprocess.run(["sox", "-n", "-r", "22050", "-c", "1", str(wav), "synth", str(seconds),
                    "sine", "220", "vol", "0.3"], check=True, capture_output=True)
    subprocess.run(["lame", "--quiet", "-b", "64", str(wav), str(path)], check=True)
    wav.unlink()


def _make_pdf(path: Path, text: str) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=14)
    pdf.multi_cell(0, 8, text)
    pdf.output(str(path))


SPECS = [
    ("soothing-rhythm", "en-GB", "Soothing rhythm breathing",
     "Slow, even breathing to settle a busy mind & body.", 60),
    ("soothing-rhythm", "en-US", "Soothing rhythm breathing",
     "Slow, even breathing to settle a busy mind and body.", 60),
    ("safe-place", "en-GB", "Your safe place",
     "Imagine a place where you feel calm, \"safe\" and welcome.", 40),
]


def _manifest() -> dict[str, Any]:
    exercises: dict[str, dict[str, Any]] = {}
    for exercise_id, lang, title, summary, _seconds in SPECS:
        exercise = exercises.setdefault(exercise_id, {
            "id": exercise_id, "title": title, "summary": summary,
            "introduction": "A short exercise.", "guidance": "Test guidance for therapists.",
            "techniques": ["breathing"], "visibility": "public", "variants": {},
        })
        exercise["variants"][lang] = {"audio": f"{exercise_id}/{lang}.mp3",
                                      "cues": f"{exercise_id}/{lang}.vtt",
                                      "script_pdf": f"{exercise_id}/{lang}.pdf",
                                      "title": title, "summary": summary}
    return {"format": 1,
            "pack": {"id": "takehome-tests", "title": "Take-home tests", "version": "1.0.0",
                     "publisher": "kiosk tests"},
            "exercises": list(exercises.values())}


@pytest.fixture(scope="session")
def station_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A station's data folder with a real pack imported by the real importer (once)."""
    if not (shutil.which("sox") and shutil.which("lame")):
        pytest.skip("sox and lame (apt) are needed to make the test MP3s")
    root = tmp_path_factory.mktemp("takehome-content")
    pack = root / "pack"
    for exercise_id, lang, title, summary, seconds in SPECS:
        folder = pack / exercise_id
        folder.mkdir(parents=True, exist_ok=True)
        _make_mp3(folder / f"{lang}.mp3", seconds)
        _make_pdf(folder / f"{lang}.pdf", f"{title}\n\n{summary}")
        (folder / f"{lang}.vtt").write_text(
            vtt([(0.0, seconds / 2, title), (seconds / 2, seconds - 1.0, summary)]), encoding="utf-8")
    write_manifest(pack, _manifest())
    data = root / "station"
    settings = default_settings(data)
    db = open_db(settings.db_path)
    try:
        import_pack(settings, db, pack)
    finally:
        db.close()
    return data


def copy_station(template: Path, data_dir: Path) -> Path:
    """A station data folder of one's own: the imported catalogue and its files."""
    shutil.copytree(template, data_dir)
    return data_dir


@pytest.fixture(scope="session")
def content(station_template: Path) -> Iterator[Catalogue]:
    """The real catalogue (read from the main thread), for what the tests expect to be served."""
    db = open_db(station_template / "kiosk.sqlite3")
    yield Catalogue(db, station_template / "content")
    db.close()


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
                timeout: float = 10.0, source: str = "127.0.0.1") -> tuple[int, dict[str, str], bytes]:
        """One request from a phone at `source` (any address in 127.0.0.0/8)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout,
                                          source_address=(source, 0))
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            body = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, body
        finally:
            conn.close()


@pytest.fixture
def make_harness(tmp_path: Path, station_template: Path) -> Iterator[Callable[..., Harness]]:
    started: list[Harness] = []

    def make(limits: Limits | None = None, **take_home: Any) -> Harness:
        th = replace(TakeHomeSettings(), bind="127.0.0.1", port=0, public_address="127.0.0.1",
                     **take_home)
        data = copy_station(station_template, tmp_path / f"data{len(started)}")
        settings = default_settings(data, take_home=th)
        clock = Clock()
        server = TakeHomeServer(settings, clock=clock, limits=limits, tz=UTC)
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
