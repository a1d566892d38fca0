"""The drop folder (`[content] inbox`): content put there is imported while the station runs.

An item is one entry at the top of the folder:
- a pack: a folder holding pack.toml, or a .zip; imported as `kiosk import` does;
- an exercise: a folder holding one audio file, its script (.pdf, .txt or .docx; none is
  allowed, as with `kiosk add`) and exercise.toml (title, summary, lang; optional id,
  techniques, visibility, introduction, guidance); added as `kiosk add` does.

An item is taken only once it has settled: nothing in it (names, sizes, modification
times) has changed for SETTLE_SECONDS, and no transfer's temporary file is in it. Imported,
it is removed from the folder: the station's content folder holds the checked copy, and a
second one would halve the room on an SD card (the log says what was imported). Refused, it
is moved to `refused/` beside `<name>.txt`, which lists every problem as the CLI prints
them; the catalogue is untouched (the import is all or nothing), and it is not tried again
until an item of that name is put in the folder anew. An exercise delivered again after it
was imported (the same audio, byte for byte, and the same script, for the same exercise and
language: a copy that ran twice, a sync that sent it again) is not imported twice: it goes
to `refused/` with a note saying the station already has it. One whose audio or script
differs is a new version, refused as `kiosk add` refuses it (remove the exercise first).

The folder is polled every POLL_SECONDS rather than watched with inotify: inotify sees
nothing of what another machine writes to a network file system (NFS, SMB), is unreliable
on FUSE mounts such as exFAT sticks, and its events still have to be debounced into "has it
stopped changing"; a listing every few seconds is cheap, and is the same code everywhere.

The watcher runs on a thread of its own, with its own SQLite connection, and never touches
the screen: the browse asks the catalogue again each time it is shown (BrowseScreen's
on_pre_enter), so what is imported here shows on the next visit, as the console's changes do.
"""

from __future__ import annotations

import enum
import logging
import os
import re
import shutil
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils

from kiosk.config import Settings
from kiosk.content.faults import AlreadyHeld, Fault, PackRefused
from kiosk.content.lock import ContentBusy
from kiosk.content.manifest import AUDIO_SUFFIXES, MANIFEST
from kiosk.validation import did_you_mean, expected, is_text_list

if TYPE_CHECKING:
    from kiosk.content.adding import AddRequest

log = logging.getLogger(__name__)

__all__ = [
    "EXERCISE_FILE",
    "POLL_SECONDS",
    "REFUSED",
    "SETTLE_SECONDS",
    "InboxWatcher",
    "Outcome",
    "OutcomeKind",
    "import_item",
    "make_inbox",
    "refused_items",
    "waiting_items",
]

POLL_SECONDS = 2.0
# A copy pauses: a USB stick flushing its cache blocks the writer for seconds, rsync and a
# file manager move from one file to the next, a network stalls. 20 s without any change is
# well past those pauses, and still soon for someone who has just put a pack in. (Syncthing
# and rsync --delay-updates keep temporary files while they transfer, which also hold it.)
SETTLE_SECONDS = 20.0
REFUSED = "refused"
EXERCISE_FILE = "exercise.toml"
SCRIPT_SUFFIXES = (".pdf", ".txt", ".docx")
MAX_EXERCISE_FILE_BYTES = 64 * 1024

# Syncthing's temporary files while it receives a file (Unix, Windows names), and rsync's
# folder for --delay-updates: inside an item, they mean it is still arriving.
_TRANSFER = re.compile(r"^(\.syncthing\..*\.tmp|~syncthing~.*\.tmp|\.~tmp~)$")

# An imported item on its way out (hidden, so never an item).
_IMPORTED_PREFIX = ".imported-"

# exercise.toml's keys: what each must be. title and summary are required.
_EXERCISE_KEYS = ("title", "summary", "lang", "id", "techniques", "visibility", "introduction", "guidance")


class OutcomeKind(enum.Enum):
    IMPORTED = "imported"
    REFUSED = "refused"  # the item's problems, listed in refused/<name>.txt
    FAILED = "failed"  # the station's own: the log has the details, the item is in refused/
    ALREADY_HELD = "already held"  # delivered again: the station has it; the item is in refused/


@dataclass(frozen=True)
class Outcome:
    name: str  # the item's name in the drop folder
    kind: OutcomeKind
    detail: str  # what was imported, or the first line of why not
    faults: tuple[Fault, ...] = ()


def _is_item_name(name: str) -> bool:
    """Hidden names are a copy's own (Syncthing's .stfolder, .stignore, .stversions and
    temporary files, rsync's, a Mac's .DS_Store), as are Syncthing's Windows temporaries."""
    return not (name.startswith(".") or name == REFUSED or _TRANSFER.match(name))


def make_inbox(settings: Settings, inbox: Path) -> None:
    """Makes the drop folder if it is not there. Inside the data folder, with any folders
    it needs; elsewhere (a share, a stick) only its last part: a share not mounted must not
    be stood in for by an empty folder on the station's own disk, filled by nobody."""
    inbox.mkdir(parents=inbox.is_relative_to(settings.data_dir), exist_ok=True)


def waiting_items(inbox: Path) -> list[Path]:
    """The items in the drop folder, settled or not (none when it does not exist)."""
    try:
        entries = sorted(inbox.iterdir())
    except OSError:
        return []
    return [p for p in entries if _is_item_name(p.name)]


def refused_items(inbox: Path) -> list[Path]:
    """What is in refused/, each item once (not its .txt)."""
    try:
        entries = sorted((inbox / REFUSED).iterdir())
    except OSError:
        return []
    names = {p.name for p in entries}
    return [p for p in entries if not p.name.startswith(".")
            and not (p.name.endswith(".txt") and p.name.removesuffix(".txt") in names)]


Signature = tuple[tuple[str, int, int], ...]


def signature(item: Path) -> Signature | None:
    """Every path in the item with its size and modification time; None while a transfer's
    temporary file is in it, or when it cannot be read (it is then looked at again)."""
    try:
        if not item.is_dir() or item.is_symlink():
            info = item.lstat()
            return (("", info.st_size, info.st_mtime_ns),)
        found: list[tuple[str, int, int]] = []
        for dirpath, dirnames, filenames in os.walk(item, onerror=_raise):
            for name in dirnames + filenames:
                if _TRANSFER.match(name):
                    return None
                path = Path(dirpath) / name
                info = path.lstat()
                found.append((path.relative_to(item).as_posix(), info.st_size, info.st_mtime_ns))
        return tuple(sorted(found))
    except OSError:
        return None


def _raise(exc: OSError) -> None:
    raise exc


# ---------------------------------------------------------------------------------------
# One item imported


def import_item(settings: Settings, db: sqlite_utils.Database, item: Path) -> str:
    """Import one drop-folder item; returns what was imported ("pack x 1.2", "exercise y
    (en-GB)"). Raises PackRefused listing every problem (nothing changed), or ContentBusy."""
    if (item.is_file() and item.suffix.lower() == ".zip") or (item.is_dir() and (item / MANIFEST).is_file()):
        from kiosk.content.importer import import_pack

        result = import_pack(settings, db, item)
        replaced = f", replacing version {result.replaced_version}" if result.replaced_version else ""
        return f"pack {result.pack_id} {result.version} ({len(result.exercises)} exercises{replaced})"
    if item.is_dir() and (item / EXERCISE_FILE).is_file():
        from kiosk.content.adding import add_exercise

        request = exercise_request(settings, item)
        try:
            added = add_exercise(settings, db, request)
        except AlreadyHeld as exc:
            raise AlreadyHeld(item, exc.audio_name, exc.exercise_id, exc.lang) from None
        except PackRefused as exc:
            raise PackRefused(item, [_in_exercise_file(f) for f in exc.faults]) from None
        timing = "timed" if added.timed else "untimed" if added.script is not None else "no script"
        return f"exercise {added.exercise_id} ({added.lang}, read-along {timing})"
    if item.is_dir():
        raise PackRefused(item, [Fault(item.name, f"holds neither {MANIFEST} (a content pack) nor "
                                                  f"{EXERCISE_FILE} (an audio file with its script)")])
    raise PackRefused(item, [Fault(item.name, "is not a content pack (.zip): put an audio file in a folder "
                                              f"with its script and an {EXERCISE_FILE}")])


def _in_exercise_file(fault: Fault) -> Fault:
    """kiosk add names what it was given by its options ("--title"); here they are keys."""
    if fault.file.startswith("--"):
        return replace(fault, file=f"{EXERCISE_FILE} ({fault.file.removeprefix('--')})")
    return fault


def exercise_request(settings: Settings, folder: Path) -> AddRequest:
    """The `kiosk add` request an exercise folder makes; raises PackRefused listing every
    problem with its files and exercise.toml."""
    from kiosk.content.adding import AddRequest

    faults: list[Fault] = []
    audio: list[Path] = []
    scripts: list[Path] = []
    for path in sorted(folder.iterdir()):
        name, suffix = path.name, path.suffix.lower()
        if name.startswith(".") or name == EXERCISE_FILE:
            continue
        if not path.is_file():
            faults.append(Fault(name, "is not a file: only an audio file, its script and "
                                      f"{EXERCISE_FILE} belong in an exercise's folder"))
        elif suffix in AUDIO_SUFFIXES:
            audio.append(path)
        elif suffix in SCRIPT_SUFFIXES:
            scripts.append(path)
        else:
            faults.append(Fault(name, f"is neither audio ({', '.join(AUDIO_SUFFIXES)}) nor a script "
                                      f"({', '.join(SCRIPT_SUFFIXES)}), and nothing else belongs here"))
    if not audio:
        faults.append(Fault(folder.name, f"has no audio file ({', '.join(AUDIO_SUFFIXES)})"))
    elif len(audio) > 1:
        faults.append(Fault(folder.name, "has more than one audio file ("
                                         f"{', '.join(p.name for p in audio)}): one exercise a folder"))
    if len(scripts) > 1:
        faults.append(Fault(folder.name, "has more than one script ("
                                         f"{', '.join(p.name for p in scripts)}): give one"))
    values = _read_exercise_file(folder / EXERCISE_FILE, faults)
    if faults:
        raise PackRefused(folder, faults)
    techniques = values.get("techniques")
    return AddRequest(
        audio=audio[0], title=values["title"], summary=values["summary"],
        lang=values.get("lang") or settings.languages.available[0],
        script=scripts[0] if scripts else None, exercise_id=values.get("id"),
        techniques=tuple(techniques) if techniques is not None else None,
        visibility=values.get("visibility"), introduction=values.get("introduction"),
        guidance=values.get("guidance"))


def _read_exercise_file(path: Path, faults: list[Fault]) -> dict[str, Any]:
    name = EXERCISE_FILE
    try:
        if path.stat().st_size > MAX_EXERCISE_FILE_BYTES:
            faults.append(Fault(name, f"is larger than {MAX_EXERCISE_FILE_BYTES // 1024} KB: it holds "
                                      "only a few lines (title, summary, lang)"))
            return {}
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        faults.append(Fault(name, f"cannot be read: {exc.strerror or exc}"))
        return {}
    except UnicodeDecodeError as exc:
        faults.append(Fault(name, f"is not UTF-8 text (byte {exc.start})"))
        return {}
    except tomllib.TOMLDecodeError as exc:
        faults.append(Fault(name, f"is not valid TOML: {exc}"))
        return {}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _EXERCISE_KEYS:
            faults.append(Fault(name, f"{key}: unknown key{did_you_mean(key, list(_EXERCISE_KEYS))}"))
        elif key == "techniques":
            if is_text_list(value):
                values[key] = value
            else:
                faults.append(Fault(name, f"{key}: {expected('a list of text', value)}"))
        elif isinstance(value, str):
            values[key] = value
        else:
            faults.append(Fault(name, f"{key}: {expected('text', value)}"))
    for key in ("title", "summary"):
        if key not in raw:
            faults.append(Fault(name, f'{key}: missing (for example {key} = "...")'))
    return values


# ---------------------------------------------------------------------------------------
# The watcher


@dataclass
class _Seen:
    signature: Signature | None
    since: float  # monotonic time it was last seen changing


class InboxWatcher:
    """Polls the drop folder on its own thread and imports each item once it has settled.
    `listener` hears each outcome, on that thread."""

    def __init__(self, settings: Settings, open_db: Callable[[], sqlite_utils.Database], *,
                 poll_seconds: float = POLL_SECONDS, settle_seconds: float = SETTLE_SECONDS,
                 listener: Callable[[Outcome], object] | None = None):
        inbox = settings.inbox_path
        if inbox is None:
            raise ValueError("content.inbox is empty: there is no drop folder to watch")
        self.inbox = inbox
        self._settings = settings
        self._open_db = open_db
        self._poll = poll_seconds
        self._settle = settle_seconds
        self._listener = listener
        self._seen: dict[str, _Seen] = {}
        # Items left where they are because they could not be removed or moved (a read-only
        # folder): not taken again until they change.
        self._left: dict[str, Signature] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._db: sqlite_utils.Database | None = None

    def start(self) -> None:
        try:
            make_inbox(self._settings, self.inbox)
        except OSError as exc:
            # A stick or share not there yet: it is looked for at every poll.
            log.warning("the drop folder %s cannot be made: %s", self.inbox, exc.strerror or exc)
        self._clear_imported()
        self._thread = threading.Thread(target=self._run, name="inbox", daemon=True)
        self._thread.start()
        log.info("watching the drop folder %s", self.inbox)

    def stop(self, timeout: float = 10.0) -> None:
        """Stops after the item in hand (an import is all or nothing, so one cut short by
        the process ending is simply not there, and its staging folder is cleaned at start)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._poll):
                try:
                    self.poll()
                except Exception:
                    log.exception("the drop folder %s could not be looked at", self.inbox)
        finally:
            if self._db is not None:
                self._db.close()

    def poll(self) -> None:
        """One look at the folder: note what changed, import what has settled."""
        now = time.monotonic()
        items = waiting_items(self.inbox)
        names = {p.name for p in items}
        for gone in set(self._seen) - names:
            del self._seen[gone]
        for gone in set(self._left) - names:
            del self._left[gone]
        ready: list[tuple[Path, Signature]] = []
        for item in items:
            sig = signature(item)
            seen = self._seen.get(item.name)
            if seen is None or sig is None or seen.signature != sig:
                self._seen[item.name] = _Seen(sig, now)
            elif now - seen.since >= self._settle and self._left.get(item.name) != sig:
                ready.append((item, sig))
        for item, sig in ready:
            if self._stop.is_set():
                return
            self._take(item, sig)

    def _take(self, item: Path, sig: Signature) -> None:
        if self._db is None:
            self._db = self._open_db()
        log.info("importing %s from the drop folder", item.name)
        try:
            what = import_item(self._settings, self._db, item)
        except ContentBusy:
            log.info("%s waits: another import or removal is under way", item.name)
            return
        except PackRefused as exc:
            if signature(item) != sig:
                log.info("%s changed while it was checked: it is taken again once it settles", item.name)
                return
            if isinstance(exc, AlreadyHeld):
                held = f"exercise {exc.exercise_id} ({exc.lang})"
                log.info("%s from the drop folder is already on the station as %s: not imported again",
                         item.name, held)
                advice = (f"\n\nNothing needs doing: this copy and this note can be deleted. To replace the "
                          f"recording, remove the exercise first (kiosk remove {exc.exercise_id}), then put "
                          f"the item in {self.inbox} again.\n")
                self._refuse(item, sig, exc.message() + advice,
                             Outcome(item.name, OutcomeKind.ALREADY_HELD, held, tuple(exc.faults)))
                return
            log.warning("%s from the drop folder was refused:\n%s", item.name, exc.message())
            self._refuse(item, sig, exc.message() + self._fix_advice(),
                         Outcome(item.name, OutcomeKind.REFUSED, _problems(len(exc.faults)), tuple(exc.faults)))
            return
        except Exception as exc:
            log.exception("%s from the drop folder could not be imported", item.name)
            text = (f"{item} could not be imported because of a fault in the station, not one it "
                    f"could name in the item ({exc}). Nothing was changed. The station's log has "
                    "the details.")
            self._refuse(item, sig, text + self._fix_advice(), Outcome(item.name, OutcomeKind.FAILED, str(exc)))
            return
        log.info("imported %s from the drop folder: %s", item.name, what)
        if signature(item) != sig:
            # Newer files arrived while it was imported: they are imported in their turn
            # (the same or a newer version replaces what was just imported).
            log.info("%s changed while it was imported: it is taken again once it settles", item.name)
        else:
            try:
                self._remove_imported(item)
            except OSError as exc:
                log.error("%s was imported but cannot be removed from the drop folder: %s",
                          item.name, exc.strerror or exc)
                self._left[item.name] = sig
        self._tell(Outcome(item.name, OutcomeKind.IMPORTED, what))

    def _remove_imported(self, item: Path) -> None:
        """Renamed aside first, in one step: removing a folder takes many, and one cut short
        by a power cut would leave half an item, taken again and refused as incomplete."""
        aside = self.inbox / f"{_IMPORTED_PREFIX}{item.name}"
        if aside.exists() or aside.is_symlink():
            _remove(aside)
        item.rename(aside)
        _remove(aside)

    def _clear_imported(self) -> None:
        """What a stop in the middle of _remove_imported left: already in the catalogue."""
        for path in self.inbox.glob(f"{_IMPORTED_PREFIX}*"):
            try:
                _remove(path)
            except OSError as exc:
                log.warning("%s cannot be removed: %s", path, exc.strerror or exc)

    def _fix_advice(self) -> str:
        return (f"\n\nFix what is listed, then put the item in {self.inbox} again (this copy "
                "and this note can then be deleted).\n")

    def _refuse(self, item: Path, sig: Signature, text: str, outcome: Outcome) -> None:
        """Moves the item to refused/ (in place of an earlier refusal of the same name)
        beside <name>.txt, which holds `text`: why, and what to do."""
        from kiosk.files import write_atomically

        refused = self.inbox / REFUSED
        target = refused / item.name
        note = refused / f"{item.name}.txt"
        try:
            refused.mkdir(exist_ok=True)
            if target.exists() or target.is_symlink():
                _remove(target)
            item.rename(target)
            write_atomically(note, text.encode("utf-8"))
        except OSError as exc:
            log.error("%s was refused but cannot be moved to %s: %s", item.name, refused,
                      exc.strerror or exc)
            self._left[item.name] = sig
        self._tell(outcome)

    def _tell(self, outcome: Outcome) -> None:
        if self._listener is not None:
            try:
                self._listener(outcome)
            except Exception:
                log.exception("a drop-folder listener failed")


def _problems(count: int) -> str:
    return f"{count} problem{'s' if count != 1 else ''}"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
