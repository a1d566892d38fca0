"""The drop folder: the real watcher on its own thread, a real database and content folder,
items copied in slowly as a USB stick or a network does, refused items with every problem,
and an audio file with its script added through the real script reader and aligner."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from kiosk.config import ContentSettings, default_settings
from kiosk.content import Catalogue, PackRefused, import_pack
from kiosk.content.inbox import (
    REFUSED,
    InboxWatcher,
    Outcome,
    OutcomeKind,
    signature,
    waiting_items,
)
from kiosk.content.manifest import AUDIO_SUFFIXES
from kiosk.doctor import FAIL, OK, WARN, check_inbox
from kiosk.store import open_db
from tests.content.test_scripttext import SPOKEN
from tests.packfactory import DATA, db_dump, edited, tree_digest, write_pack

POLL = 0.3
SETTLE = 2.0  # the station's is 20 s; each copy below pauses far less than this between writes


class Watching:
    """A started watcher whose outcomes arrive on a queue."""

    def __init__(self, settings, settle: float = SETTLE):
        self.settings = settings
        self.inbox = settings.inbox_path
        self.outcomes: queue.Queue[Outcome] = queue.Queue()
        self.watcher = InboxWatcher(settings, lambda: open_db(settings.db_path), poll_seconds=POLL,
                                    settle_seconds=settle, listener=self.outcomes.put)
        self.watcher.start()

    def next(self, timeout: float = 120.0) -> Outcome:
        return self.outcomes.get(timeout=timeout)

    def catalogue_dump(self):
        db = open_db(self.settings.db_path)
        try:
            return db_dump(db)
        finally:
            db.close()

    def pack_version(self, pack_id: str) -> str | None:
        db = open_db(self.settings.db_path)
        try:
            return Catalogue(db, self.settings.content_dir).installed_version(pack_id)
        finally:
            db.close()


@pytest.fixture
def watching(tmp_path):
    settings = default_settings(tmp_path / "data")
    settings.data_dir.mkdir(parents=True)
    watching = Watching(settings)
    yield watching
    watching.watcher.stop()


def _slow_copy(files: list[tuple[Path, Path]], chunk: int, pause: float, done: threading.Event) -> None:
    """Copies each (source, target) a chunk at a time with a pause between: a copy that
    takes several seconds and never stops for as long as the watcher waits."""
    for src, dst in files:
        dst.parent.mkdir(parents=True, exist_ok=True)
        data = src.read_bytes()
        with dst.open("wb") as f:
            for at in range(0, max(len(data), 1), chunk):
                f.write(data[at:at + chunk])
                f.flush()
                time.sleep(pause)
    done.set()


def _watch_copy(watching: Watching, files: list[tuple[Path, Path]], chunk: int) -> float:
    """Runs the slow copy and checks, all the while, that nothing was taken; returns how long
    the copy took."""
    done = threading.Event()
    started = time.monotonic()
    copier = threading.Thread(target=_slow_copy, args=(files, chunk, 0.25, done))
    copier.start()
    while not done.is_set():
        assert watching.outcomes.empty(), watching.outcomes.get()
        assert watching.pack_version("test-pack") is None
        assert not (watching.inbox / REFUSED).exists()
        time.sleep(0.2)
    copier.join()
    return time.monotonic() - started


def test_a_pack_folder_copied_slowly_is_taken_only_once_it_has_stopped_changing(watching, tmp_path):
    source = write_pack(tmp_path / "source")
    item = watching.inbox / "breathing-pack"
    # pack.toml first, as a copy of a folder may well do: an eager watcher would import a
    # pack whose audio has not arrived (and refuse it).
    rels = ["pack.toml"] + sorted(p.relative_to(source).as_posix() for p in source.rglob("*")
                                  if p.is_file() and p.name != "pack.toml")
    took = _watch_copy(watching, [(source / rel, item / rel) for rel in rels], chunk=4 * 1024)
    assert took > 5, took  # several seconds, many times the settle time
    outcome = watching.next()
    assert outcome.kind is OutcomeKind.IMPORTED, outcome
    assert outcome.name == "breathing-pack" and "pack test-pack 1.0.0" in outcome.detail
    assert watching.pack_version("test-pack") == "1.0.0"
    assert not item.exists()  # imported: removed from the drop folder
    assert not (watching.inbox / REFUSED).exists()


def test_a_zip_copied_slowly_is_taken_only_once_complete(watching, tmp_path):
    source = write_pack(tmp_path / "source")
    packed = tmp_path / "pack.zip"
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_STORED) as z:  # stored: a big file, slowly
        for path in sorted(source.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(source).as_posix())
    took = _watch_copy(watching, [(packed, watching.inbox / "test-pack.zip")], chunk=4 * 1024)
    assert took > 5, took
    outcome = watching.next()
    assert outcome.kind is OutcomeKind.IMPORTED, outcome
    assert watching.pack_version("test-pack") == "1.0.0"
    assert waiting_items(watching.inbox) == []


def test_a_refused_pack_moves_aside_with_every_problem_and_changes_nothing(watching, tmp_path):
    settings = watching.settings
    db = open_db(settings.db_path)
    try:
        import_pack(settings, db, write_pack(tmp_path / "good"))
    finally:
        db.close()
    before_db, before_files = watching.catalogue_dump(), tree_digest(settings.content_dir)

    def break_it(m):
        m["pack"]["version"] = "2.0.0"
        m["exercises"][0]["id"] = "Not A Slug"
        m["exercises"][1]["variants"]["en-GB"]["cues"] = "place/missing.vtt"

    broken = write_pack(tmp_path / "broken", edited(break_it))
    (broken / "breath" / "en-GB.mp3").write_bytes(b"ID3" + bytes(50))  # not audio at all
    # What `kiosk import` says of it, for comparison.
    db = open_db(settings.db_path)
    try:
        with pytest.raises(PackRefused) as refused:
            import_pack(settings, db, broken, check_only=True)
    finally:
        db.close()
    expected = [str(f) for f in refused.value.faults]
    assert len(expected) >= 2, expected

    shutil.copytree(broken, watching.inbox / "broken-pack")
    outcome = watching.next()
    assert outcome.kind is OutcomeKind.REFUSED, outcome
    assert [str(f) for f in outcome.faults] == expected
    moved = watching.inbox / REFUSED / "broken-pack"
    note = (watching.inbox / REFUSED / "broken-pack.txt").read_text(encoding="utf-8")
    for line in expected:
        assert f"  - {line}" in note, note
    assert "nothing was changed" in note
    assert tree_digest(moved) == tree_digest(broken)  # moved whole
    assert not (watching.inbox / "broken-pack").exists()
    assert watching.catalogue_dump() == before_db
    assert tree_digest(settings.content_dir) == before_files
    assert not list(settings.content_dir.glob(".staging-*"))

    # Not tried again: several settle times pass with nothing heard.
    time.sleep(3 * SETTLE)
    assert watching.outcomes.empty()

    # Put in again, mended, under the same name: imported, and the refused copy stays.
    shutil.copytree(write_pack(tmp_path / "mended", edited(lambda m: m["pack"].update(version="2.0.0"))),
                    watching.inbox / "broken-pack")
    outcome = watching.next()
    assert outcome.kind is OutcomeKind.IMPORTED, outcome
    assert "replacing version 1.0.0" in outcome.detail
    assert watching.pack_version("test-pack") == "2.0.0"
    assert moved.is_dir()


def test_an_exercise_folder_with_problems_lists_them_all(watching, tmp_path):
    item = watching.inbox / "my-recording"
    item.mkdir()
    shutil.copy(write_pack(tmp_path / "p") / "breath" / "en-GB.mp3", item / "take1.mp3")
    shutil.copy(tmp_path / "p" / "breath" / "en-US.mp3", item / "take2.mp3")
    (item / "notes.doc").write_bytes(b"\xd0\xcf\x11\xe0")
    (item / "exercise.toml").write_text('title = "Calm"\nsumary = "typo"\nlang = 3\n', encoding="utf-8")
    before = watching.catalogue_dump()
    outcome = watching.next()
    assert outcome.kind is OutcomeKind.REFUSED, outcome
    found = [str(f) for f in outcome.faults]
    assert found == [
        f"notes.doc: is neither audio ({', '.join(AUDIO_SUFFIXES)}) nor a script (.pdf, .txt, .docx), "
        "and nothing else belongs here",
        "my-recording: has more than one audio file (take1.mp3, take2.mp3): one exercise a folder",
        'exercise.toml: sumary: unknown key; did you mean "summary"?',
        "exercise.toml: lang: expected text, found 3",
        'exercise.toml: summary: missing (for example summary = "...")',
    ], found
    note = (watching.inbox / REFUSED / "my-recording.txt").read_text(encoding="utf-8")
    assert all(f"  - {line}" in note for line in found)
    assert watching.catalogue_dump() == before

    # kiosk add's own checks, worded as its options are, named here by the key.
    item = watching.inbox / "second"
    item.mkdir()
    shutil.copy(tmp_path / "p" / "breath" / "en-GB.mp3", item / "audio.mp3")
    (item / "exercise.toml").write_text(
        'title = " "\nsummary = "S"\nlang = "english"\ntechniques = ["Deep Breathing"]\n', encoding="utf-8")
    outcome = watching.next()
    assert outcome.kind is OutcomeKind.REFUSED, outcome
    found = [str(f) for f in outcome.faults]
    assert "exercise.toml (title): must not be empty" in found
    assert 'exercise.toml (lang): "english" is not a language tag like "en-GB" or "en-US"' in found
    assert any(f.startswith("exercise.toml (techniques):") for f in found), found
    assert watching.catalogue_dump() == before


def test_an_audio_file_with_its_script_is_added_timed(watching, tmp_path):
    from tests.cli.test_add import _espeak_track

    if not all(shutil.which(t) for t in ("espeak-ng", "sox", "lame")):
        pytest.skip("needs espeak-ng, sox and lame")
    made = tmp_path / "made"
    made.mkdir()
    track, spoken_at = _espeak_track(SPOKEN[:3], made / "calm.mp3")
    item = tmp_path / "calm-place"
    item.mkdir()
    shutil.copy(track, item / "A place of calm.mp3")
    (item / "script.txt").write_text("A place of calm\n\n" + "\n\n".join(SPOKEN[:3]) + "\n", encoding="utf-8")
    (item / "exercise.toml").write_text(
        'title = "A place of calm"\nsummary = "Picturing a calm place."\nlang = "en-GB"\n'
        'techniques = ["imagery"]\nvisibility = "therapist"\n', encoding="utf-8")
    # Copied in under a hidden name and renamed, as the README says to do with rsync.
    shutil.copytree(item, watching.inbox / ".calm-place.partial")
    (watching.inbox / ".calm-place.partial").rename(watching.inbox / "calm-place")
    outcome = watching.next()
    assert outcome.kind is OutcomeKind.IMPORTED, outcome
    assert outcome.detail == "exercise a-place-of-calm (en-GB, read-along timed)"
    assert not (watching.inbox / "calm-place").exists()
    db = open_db(watching.settings.db_path)
    try:
        exercise = Catalogue(db, watching.settings.content_dir).exercise("a-place-of-calm", "en-GB")
    finally:
        db.close()
    assert exercise is not None and exercise.visibility == "therapist"
    assert exercise.techniques == ("imagery",)
    variant = exercise.variant
    assert variant.timed and [" ".join(c.text.split()) for c in variant.cues] == SPOKEN[:3]
    assert max(abs(c.start - at) for c, at in zip(variant.cues, spoken_at, strict=True)) <= 1.0


def test_what_a_copy_leaves_is_not_an_item_and_its_temporary_files_hold_an_item(tmp_path):
    inbox = tmp_path / "inbox"
    for name in (".stfolder", ".stversions", "refused"):
        (inbox / name).mkdir(parents=True)
    for name in (".stignore", ".syncthing.pack.zip.tmp", "~syncthing~pack.zip.tmp", ".DS_Store"):
        (inbox / name).write_bytes(b"x")
    (inbox / "pack").mkdir()
    (inbox / "pack" / "pack.toml").write_text("format = 1\n")
    assert [p.name for p in waiting_items(inbox)] == ["pack"]
    assert signature(inbox / "pack") is not None
    (inbox / "pack" / ".syncthing.en-GB.mp3.tmp").write_bytes(b"half")
    assert signature(inbox / "pack") is None  # still arriving
    (inbox / "pack" / ".syncthing.en-GB.mp3.tmp").rename(inbox / "pack" / "en-GB.mp3")
    assert signature(inbox / "pack") is not None


def test_the_watcher_leaves_hidden_files_and_transfers_alone_and_waits_for_a_transfer_inside(watching, tmp_path):
    inbox = watching.inbox
    (inbox / ".stfolder").mkdir()
    (inbox / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (inbox / ".syncthing.other.zip.tmp").write_bytes(b"PK\3\4 half")  # Syncthing on Linux, a Mac
    (inbox / "~syncthing~other.zip.tmp").write_bytes(b"PK\3\4 half")  # Syncthing on Windows
    # A pack whose last file is still arriving under Syncthing's temporary name.
    pack = shutil.copytree(write_pack(tmp_path / "source"), inbox / "arriving")
    (pack / "place" / "en-GB.mp3").rename(pack / "place" / ".syncthing.en-GB.mp3.tmp")
    time.sleep(4 * SETTLE)
    assert watching.outcomes.empty(), watching.outcomes.get()
    assert not (inbox / REFUSED).exists()
    assert watching.pack_version("test-pack") is None
    (pack / "place" / ".syncthing.en-GB.mp3.tmp").rename(pack / "place" / "en-GB.mp3")
    outcome = watching.next()
    assert outcome.kind is OutcomeKind.IMPORTED and outcome.name == "arriving", outcome
    assert sorted(p.name for p in inbox.iterdir()) == [
        ".DS_Store", ".stfolder", ".syncthing.other.zip.tmp", "~syncthing~other.zip.tmp"]
    time.sleep(2 * SETTLE)
    assert watching.outcomes.empty(), watching.outcomes.get()


def test_doctor_reports_the_inbox(tmp_path):
    settings = default_settings(tmp_path / "data")
    inbox = settings.inbox_path
    # Not made yet: made, as `kiosk run` would.
    assert [(r.status, r.detail) for r in check_inbox(settings)] == [(OK, f"{inbox}: 0 items waiting")]
    assert inbox.is_dir()
    (inbox / REFUSED).mkdir(parents=True)
    (inbox / "new-pack.zip").write_bytes(b"PK")
    (inbox / ".stfolder").mkdir()
    (inbox / "~syncthing~other.zip.tmp").write_bytes(b"PK")
    (inbox / REFUSED / "old").mkdir()
    (inbox / REFUSED / "old.txt").write_text("why")
    results = list(check_inbox(settings))
    assert [(r.status, r.detail) for r in results] == [
        (OK, f"{inbox}: 1 item waiting (new-pack.zip; imported once copied, while the station runs)"),
        (WARN, f"1 item refused, in {inbox / REFUSED}: each has a .txt saying why"),
    ]
    off = default_settings(tmp_path / "d2", content=type(settings.content)(inbox=""))
    assert [r.detail for r in check_inbox(off)] == ["no drop folder (content.inbox is empty in config.toml)"]


def test_doctor_fails_an_inbox_that_is_missing_and_cannot_be_made_or_is_a_file(tmp_path):
    (tmp_path / "share").write_text("a file where a folder should be")
    settings = default_settings(tmp_path / "data", content=ContentSettings(inbox=str(tmp_path / "share" / "inbox")))
    [result] = check_inbox(settings)
    assert result.status == FAIL
    assert result.detail == (f"{tmp_path / 'share' / 'inbox'} does not exist and cannot be made (Not a directory): "
                             "make it, writable by the station's user, or set content.inbox in config.toml")
    # A share that is not mounted: not stood in for by an empty folder on the station's disk.
    settings = default_settings(tmp_path / "data", content=ContentSettings(inbox=str(tmp_path / "mnt" / "inbox")))
    [result] = check_inbox(settings)
    assert result.status == FAIL and not (tmp_path / "mnt").exists()
    assert result.detail.startswith(f"{tmp_path / 'mnt' / 'inbox'} does not exist and cannot be made "
                                    "(No such file or directory)")
    settings = default_settings(tmp_path / "data", content=ContentSettings(inbox=str(tmp_path / "share")))
    assert [(r.status, r.detail) for r in check_inbox(settings)] == [
        (FAIL, f"{tmp_path / 'share'} is not a folder: remove it, or set content.inbox in config.toml to a folder")]


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder the running user cannot write in: for root (who writes past permissions), one
    marked immutable, as chattr does; for another user, one without write permission."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() == 0:
        made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
        if made.returncode != 0:
            pytest.skip(f"chattr +i is not possible here: {made.stderr.strip()}")
        yield folder
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)


def test_kiosk_doctor_fails_an_inbox_it_cannot_write_in_plainly(tmp_path, read_only_folder):
    """The real `kiosk doctor`, in a process of its own, as the station's administrator runs it."""
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "data"\n[content]\ninbox = "{read_only_folder}"\ndemo_pack = ""\n'
                      '[take_home]\nenabled = false\n', encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "kiosk", "--config", str(config), "doctor"],
                         cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in run.stdout + run.stderr, run.stdout + run.stderr
    lines = [line for line in run.stdout.splitlines() if line.split()[1:2] == ["inbox"]]
    assert len(lines) == 1, run.stdout
    assert lines[0].split()[0] == FAIL, lines
    assert (f"{read_only_folder} is not writable by the station's user: what is imported cannot be removed "
            "from it, nor what is refused moved aside (give that user write access to it)") in lines[0]
    assert run.returncode != 0


def test_a_recording_delivered_twice_is_imported_once(watching, tmp_path):
    """The same audio, script and exercise.toml put in again after they were imported (a copy
    run twice, a sync sending it again): one exercise, one variant, and a note that says the
    station has it. A different recording for the same exercise and language is a new version:
    refused as kiosk add refuses it."""
    item = tmp_path / "calm-place"
    item.mkdir()
    shutil.copy(DATA / "tone-vbr.mp3", item / "calm.mp3")
    (item / "script.txt").write_text("Breathe in slowly.\n\nAnd let the breath go.\n", encoding="utf-8")
    (item / "exercise.toml").write_text('title = "Calm"\nsummary = "A calm place."\nlang = "en-GB"\n',
                                        encoding="utf-8")

    def deliver(name: str) -> Outcome:
        shutil.copytree(item, watching.inbox / f".{name}.partial")  # renamed in whole, as rsync does
        (watching.inbox / f".{name}.partial").rename(watching.inbox / name)
        return watching.next()

    outcome = deliver("calm-place")
    assert outcome.kind is OutcomeKind.IMPORTED, outcome
    imported = watching.catalogue_dump()

    outcome = deliver("calm-place")
    assert outcome.kind is OutcomeKind.ALREADY_HELD, outcome
    assert outcome.detail == "exercise calm (en-GB)"
    assert watching.catalogue_dump() == imported  # not imported again: the same version, rows, ids
    assert watching.pack_version("local") == "1"
    db = open_db(watching.settings.db_path)
    try:
        catalogue = Catalogue(db, watching.settings.content_dir)
        assert catalogue.exercise_ids() == ["calm"]
        assert catalogue.pack_variants("local") == {"calm": ["en-GB"]}
    finally:
        db.close()
    refused = watching.inbox / REFUSED
    assert (refused / "calm-place" / "calm.mp3").read_bytes() == (DATA / "tone-vbr.mp3").read_bytes()
    note = (refused / "calm-place.txt").read_text(encoding="utf-8")
    assert ('calm.mp3: the station already has this recording, with the same script, as exercise "calm" '
            "(en-GB): it was not added again") in note, note
    assert "Nothing needs doing" in note and "kiosk remove calm" in note
    assert not (watching.inbox / "calm-place").exists()

    # Another recording for the same exercise and language: a new version, not a copy.
    shutil.copy(DATA / "tone-cbr.mp3", item / "calm.mp3")
    outcome = deliver("calm-place-take-2")
    assert outcome.kind is OutcomeKind.REFUSED, outcome
    assert any('already has a en-GB variant: remove it first' in str(f) for f in outcome.faults), outcome
    # The same recording with its script corrected is a new version too.
    shutil.copy(DATA / "tone-vbr.mp3", item / "calm.mp3")
    (item / "script.txt").write_text("Breathe in slowly.\n\nAnd gently let the breath go.\n", encoding="utf-8")
    outcome = deliver("calm-place-corrected")
    assert outcome.kind is OutcomeKind.REFUSED, outcome
    assert watching.catalogue_dump() == imported
