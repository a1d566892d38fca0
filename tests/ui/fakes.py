"""Stand-ins for the parts of the station that a test wants to control: a small catalogue
with exercises of chosen lengths and cues, and the one fake player (kiosk.audio.fake), whose
clock runs on a named thread like the real engine's.

FakeBackend is the real StationBackend, on the real catalogue: its exercises are written as
rows into the station's own database (the schema kiosk.store creates), with stand-in files in
the content folder, so browsing, filtering, search and lookups are the catalogue's own and a
test cannot pass on a filter the station does not have. Take-home links are issued into the
same database, QR matrices come from kiosk.takehome.qr, and the real TakeHomeServer serves
the files through its real catalogue lookup.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any

from kiosk.audio.api import call_now
from kiosk.audio.fake import FakePlayer
from kiosk.audio.loudness import Loudness
from kiosk.config import Settings
from kiosk.content import Catalogue
from kiosk.content.catalogue import insert_exercise
from kiosk.content.cues import Cue
from kiosk.content.manifest import ExerciseSpec
from kiosk.content.models import VariantRow
from kiosk.store import open_db, write_transaction
from kiosk.ui.backend import StationBackend, TakeHomeCode

PASSAGES = [
    "Find a comfortable way to sit, with your feet resting on the floor.",
    "Let your eyes close, or rest your gaze softly on a spot in front of you.",
    "Notice the breath as it comes in, and as it goes out, without changing it.",
    "If your mind wanders, that is what minds do. Gently come back to the breath.",
    "Imagine a presence beside you that is kind, wise and strong, and wholly on your side.",
    "Notice how it feels to be met with warmth, just as you are, right now.",
    "Let a slightly slower rhythm settle into your breathing, in and out.",
    "Stay with this for a few more breaths, at your own pace.",
    "When you are ready, bring your attention back to the room around you.",
    "Open your eyes, and take a moment before you carry on with your day.",
]


# Every stand-in track is 6 dB under the default target: the screen plays it at a gain of 2.
FAKE_LOUDNESS = Loudness(-26.0, 0.25)


@dataclass
class FakeExerciseSpec:
    id: str
    titles: dict[str, str]
    summary: str
    introduction: str
    techniques: tuple[str, ...]
    duration: float
    timed: bool = True
    languages: tuple[str, ...] = ("en-GB", "en-US")
    visibility: str = "public"


DEMO = [
    FakeExerciseSpec(
        "compassionate-other", {"en-GB": "Your compassionate other", "en-US": "Your Compassionate Other"},
        "Imagine a presence that is wholly kind to you.",
        "An imagery exercise in which you picture a companion who is kind, wise and strong. "
        "It takes about ten minutes. Sit somewhere comfortable; there is nothing to get right.",
        ("self-compassion", "imagery"), 600.0),
    FakeExerciseSpec(
        "soothing-breath", {"en-GB": "Soothing rhythm breathing", "en-US": "Soothing Rhythm Breathing"},
        "Slow the breath to settle the body.",
        "A breathing exercise that gently slows the breath to a soothing rhythm.",
        ("breathing",), 300.0),
    FakeExerciseSpec(
        "safe-place", {"en-GB": "A safe place", "en-US": "A Safe Place"},
        "Build a calm place in your mind's eye, in your own colours and sounds.",
        "An imagery exercise: you build a place in your imagination where you feel safe and calm.",
        ("imagery",), 480.0, timed=False),
    FakeExerciseSpec(
        "grounding-senses", {"en-GB": "Grounding through the senses", "en-US": "Grounding Through the Senses"},
        "Notice five things you can see, four you can hear, and more.",
        "A short grounding exercise for moments when everything feels too much.",
        ("grounding", "mindfulness"), 240.0),
    FakeExerciseSpec(
        "compassionate-self", {"en-GB": "The compassionate self", "en-US": "The Compassionate Self"},
        "Step into the kind, wise and confident part of yourself.",
        "An exercise in imagining yourself at your most compassionate.",
        ("self-compassion",), 720.0),
]


def _cues(duration: float, timed: bool) -> tuple[Cue, ...]:
    step = duration / len(PASSAGES)
    if not timed:
        return tuple(Cue(0.0, 0.0, text) for text in PASSAGES)
    return tuple(Cue(round(i * step, 3), round((i + 1) * step - 0.5, 3), text)
                 for i, text in enumerate(PASSAGES))


FAKE_PACK = "ui-test-exercises"


class FakeBackend(StationBackend):
    """StationBackend on the real catalogue, holding these exercises; `calls` records which
    thread asked what."""

    def __init__(self, settings: Settings, exercises: list[FakeExerciseSpec] | None = None,
                 services: Any = None):
        super().__init__(settings, services)
        self.specs = list(exercises or DEMO)
        self.calls: list[tuple[str, str]] = []
        db = open_db(settings.db_path)
        try:
            with write_transaction(db):
                self._write_catalogue(db)
            catalogue = Catalogue(db, settings.content_dir)
            self.variants: dict[tuple[str, str], Any] = {
                (spec.id, lang): catalogue.variant(spec.id, lang)
                for spec in self.specs for lang in spec.languages}
        finally:
            db.close()

    @property
    def player(self) -> Any:
        """The player the services started (a FakePlayer in the UI tests' launch fixture)."""
        return self.services.player if self.services is not None else None

    def _write_catalogue(self, db: Any) -> None:
        """The rows an import of these exercises would leave (kiosk.content.catalogue.insert_exercise), with
        stand-in files: an MP3 of random bytes and a one-line PDF per variant."""
        folder = f"{FAKE_PACK}-files"
        files = self.settings.content_dir / folder
        files.mkdir(parents=True, exist_ok=True)
        db.execute("INSERT INTO packs (id, title, version, publisher, folder, source, imported_at) "
                   "VALUES (?, 'UI test exercises', '1', '', ?, 'tests/ui/fakes.py', "
                   "strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))", [FAKE_PACK, folder])
        for position, spec in enumerate(self.specs):
            rows = []
            for lang in spec.languages:
                audio = files / f"{spec.id}-{lang}.mp3"
                audio.write_bytes(b"ID3" + secrets.token_bytes(4000))
                pdf = files / f"{spec.id}-{lang}.pdf"
                pdf.write_bytes(b"%PDF-1.4\n% a stand-in script\n%%EOF\n")
                rows.append(VariantRow(
                    lang=lang, title=spec.titles[lang], summary=spec.summary,
                    introduction=spec.introduction, cues=_cues(spec.duration, spec.timed),
                    duration=spec.duration, audio_path=f"{folder}/{audio.name}",
                    audio_bytes=audio.stat().st_size, playback_path=f"{folder}/{audio.name}",
                    cues_path="", script_pdf_path=f"{folder}/{pdf.name}",
                    script_pdf_bytes=pdf.stat().st_size, loudness=FAKE_LOUDNESS))
            exercise = ExerciseSpec(id=spec.id, title=spec.titles[spec.languages[0]],
                                    summary=spec.summary, introduction=spec.introduction,
                                    guidance="", references=[], techniques=list(spec.techniques),
                                    visibility=spec.visibility)
            insert_exercise(db, FAKE_PACK, position, exercise, rows)

    def _record(self, what: str) -> None:
        self.calls.append((what, threading.current_thread().name))

    def cards(self, db: Any, lang: str, technique: str | None, query: str | None) -> list[Any]:
        self._record("cards")
        return super().cards(db, lang, technique, query)

    def therapist_cards(self, db: Any, lang: str, query: str | None) -> list[Any]:
        self._record("therapist_cards")
        return super().therapist_cards(db, lang, query)

    def techniques(self, db: Any) -> list[str]:
        self._record("techniques")
        return super().techniques(db)

    def exercise(self, db: Any, exercise_id: str, lang: str) -> Any:
        self._record("exercise")
        return super().exercise(db, exercise_id, lang)

    def qr_matrix(self, text: str) -> list[list[bool]]:
        self._record("qr_matrix")
        return super().qr_matrix(text)

    def take_home(self, db: Any, exercise_id: str, lang: str) -> TakeHomeCode:
        self._record("take_home")
        return super().take_home(db, exercise_id, lang)



def fake_player(settings: Settings) -> FakePlayer:
    """A Services player factory: the fake, delivering its events on its own thread as the
    real engine does."""
    return FakePlayer(call_now, volume_cap=settings.audio.volume_cap,
                      start_volume=settings.audio.start_volume)
