"""The drop folder fed by real Syncthing: two instances on loopback, one the office PC (a
send-only folder) and one the station (a receive-only folder, which is the station's inbox),
and the station itself (the real Services, as `kiosk run` starts them) importing what the
office puts in, while Syncthing's temporary files are still arriving and after."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from kiosk.audio.fake import FakePlayer
from kiosk.config import ContentSettings, TakeHomeSettings, default_settings
from kiosk.content import Catalogue
from kiosk.services import Services
from kiosk.store import open_db
from tests.content.test_scripttext import SPOKEN
from tests.packfactory import write_pack

SYNCTHING = shutil.which("syncthing")
TOOLS = ("espeak-ng", "sox", "lame")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(SYNCTHING is None, reason="needs syncthing (deploy/system-packages.sh test installs it)"),
    pytest.mark.skipif(not all(shutil.which(t) for t in TOOLS), reason="needs espeak-ng, sox and lame"),
]
FOLDER = "kiosk-inbox"
API_KEY = "kiosk-test-api-key"
# The station's receiving side is slowed so that files take seconds to arrive (loopback is
# otherwise instant): Syncthing's temporary files are then really there while it copies.
RECEIVE_KIB_PER_S = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Syncthing:
    """One Syncthing instance with a home of its own, reachable only on loopback: no
    discovery, relays, NAT traversal, usage reports or upgrades."""

    def __init__(self, home: Path, name: str):
        self.home, self.name = home, name
        self.listen, self.gui = _free_port(), _free_port()
        self.env = {"PATH": os.environ["PATH"], "HOME": str(home), "STNOUPGRADE": "1", "STNORESTART": "1"}
        made = subprocess.run([SYNCTHING, "generate", f"--home={home}", "--no-default-folder"],
                              env=self.env, capture_output=True, text=True, timeout=60, check=True)
        self.device_id = next(line.split("Device ID:")[1].strip()
                              for line in (made.stdout + made.stderr).splitlines() if "Device ID:" in line)
        self.process: subprocess.Popen[bytes] | None = None

    def configure(self, peer: Syncthing, folder_type: str, path: Path, *, max_recv_kib: int = 0) -> None:
        config = self.home / "config.xml"
        tree = ET.parse(config)
        root = tree.getroot()
        gui = root.find("gui")
        assert gui is not None
        gui.find("address").text = f"127.0.0.1:{self.gui}"
        gui.find("apikey").text = API_KEY
        options = root.find("options")
        assert options is not None
        for key, value in {
            "listenAddress": f"tcp://127.0.0.1:{self.listen}",
            "globalAnnounceEnabled": "false", "localAnnounceEnabled": "false",
            "relaysEnabled": "false", "natEnabled": "false", "startBrowser": "false",
            "urAccepted": "-1", "autoUpgradeIntervalH": "0", "crashReportingEnabled": "false",
            "reconnectionIntervalS": "1", "maxRecvKbps": str(max_recv_kib),
            "limitBandwidthInLan": "true" if max_recv_kib else "false",
        }.items():
            element = options.find(key)
            assert element is not None, key
            element.text = value
        defaults = root.find("defaults")
        assert defaults is not None
        device = ET.fromstring(ET.tostring(defaults.find("device")))
        device.set("id", peer.device_id)
        device.set("name", peer.name)
        device.find("address").text = f"tcp://127.0.0.1:{peer.listen}"
        root.insert(1, device)
        folder = ET.fromstring(ET.tostring(defaults.find("folder")))
        folder.attrib.update(id=FOLDER, label="Station inbox", path=str(path), type=folder_type,
                             rescanIntervalS="5", fsWatcherEnabled="true", fsWatcherDelayS="1")
        for own in folder.findall("device"):
            folder.remove(own)
        for member in (self, peer):
            ET.SubElement(folder, "device", id=member.device_id, introducedBy="")
        root.insert(0, folder)
        tree.write(config)

    def start(self, log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [SYNCTHING, "serve", f"--home={self.home}", "--no-browser", "--no-restart", "--no-upgrade",
             f"--logfile={log}", "--log-max-old-files=0"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def rest(self, path: str, method: str = "GET") -> object:
        request = urllib.request.Request(f"http://127.0.0.1:{self.gui}{path}", method=method,
                                         headers={"X-API-Key": API_KEY})
        with urllib.request.urlopen(request, timeout=5) as response:
            body = response.read()
        return json.loads(body) if body.strip() else None

    def wait_connected(self, peer: Syncthing, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                connections = self.rest("/rest/system/connections")
                if connections["connections"][peer.device_id]["connected"]:
                    return
            except OSError:
                pass  # not answering yet
            assert self.process is not None and self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, f"{self.name} never connected:\n{self.log.read_text()}"
            time.sleep(0.2)


def _installed(settings, pack_id: str) -> str | None:
    db = open_db(settings.db_path)
    try:
        return Catalogue(db, settings.content_dir).installed_version(pack_id)
    finally:
        db.close()


def _exercise(settings, exercise_id: str, lang: str):
    db = open_db(settings.db_path)
    try:
        return Catalogue(db, settings.content_dir).exercise(exercise_id, lang)
    finally:
        db.close()


def test_a_pack_and_a_recording_put_in_the_office_folder_are_imported_by_the_station(tmp_path):
    from tests.cli.test_add import _espeak_track

    started = time.monotonic()
    office_folder = tmp_path / "office" / "For the stations"
    office_folder.mkdir(parents=True)
    settings = default_settings(tmp_path / "station", take_home=TakeHomeSettings(enabled=False))
    settings = replace(settings, content=ContentSettings(demo_pack="", inbox="inbox"))
    inbox = settings.inbox_path
    assert inbox is not None

    # What the office will put in: a pack as a zip, and a recording with its script.
    made = tmp_path / "made"
    made.mkdir()
    pack = write_pack(tmp_path / "pack")
    packed = made / "breathing-pack.zip"
    with zipfile.ZipFile(packed, "w") as z:
        for path in sorted(pack.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(pack).as_posix())
    track, spoken_at = _espeak_track(SPOKEN[:3], made / "calm.mp3")
    recording = made / "A calm place"
    recording.mkdir()
    # At 320 kbit/s, as an editor exports it: big enough to outlast the burst a Syncthing
    # rate limit lets through at once (512 KiB).
    subprocess.run(["lame", "--quiet", "-b", "320", str(track.with_suffix(".wav")),
                    str(recording / "A calm place.mp3")], check=True)
    (recording / "A calm place.txt").write_text("\n\n".join(SPOKEN[:3]) + "\n", encoding="utf-8")
    (recording / "exercise.toml").write_text(
        'title = "A calm place"\nsummary = "Picturing a calm place."\nlang = "en-GB"\n', encoding="utf-8")

    services = Services(settings, player_factory=lambda s: FakePlayer(), inbox_timing=(0.5, 5.0))
    services.start()  # makes the inbox, as `kiosk run` does
    office = Syncthing(tmp_path / "office-syncthing", "office-pc")
    station = Syncthing(tmp_path / "station-syncthing", "station")
    office.configure(station, "sendonly", office_folder)
    station.configure(office, "receiveonly", inbox, max_recv_kib=RECEIVE_KIB_PER_S)
    try:
        office.start(tmp_path / "office.log")
        station.start(tmp_path / "station.log")
        office.wait_connected(station)

        shutil.copy(packed, office_folder / packed.name)
        shutil.copytree(recording, office_folder / recording.name)
        office.rest(f"/rest/db/scan?folder={FOLDER}", method="POST")

        seen_temporary: set[str] = set()
        deadline = time.monotonic() + 45
        while not (_installed(settings, "test-pack") and _exercise(settings, "a-calm-place", "en-GB")):
            temporary = [p for p in _listing(inbox) if p.name.startswith((".syncthing.", "~syncthing~"))]
            if temporary:
                # Syncthing is still writing these: what they belong to must not be taken
                # (a settle time later is the soonest it can be).
                seen_temporary.update(p.name for p in temporary)
                if any(p.parent == inbox / recording.name for p in temporary):
                    assert _exercise(settings, "a-calm-place", "en-GB") is None
                if any(p.name.endswith(f"{packed.name}.tmp") for p in temporary):
                    assert _installed(settings, "test-pack") is None
            assert not (inbox / "refused").exists(), list((inbox / "refused").iterdir())
            assert time.monotonic() < deadline, (
                f"not imported; inbox: {sorted(p.name for p in _listing(inbox))}\n"
                + (tmp_path / "station.log").read_text())
            time.sleep(0.1)
        # The recording's audio was seen arriving under Syncthing's temporary name.
        assert ".syncthing.A calm place.mp3.tmp" in seen_temporary, seen_temporary

        assert _installed(settings, "test-pack") == "1.0.0"
        exercise = _exercise(settings, "a-calm-place", "en-GB")
        assert exercise is not None and exercise.variant.timed
        cues = exercise.variant.cues
        assert [" ".join(c.text.split()) for c in cues] == SPOKEN[:3]
        assert max(abs(c.start - at) for c, at in zip(cues, spoken_at, strict=True)) <= 1.0

        # Imported items leave the station's copy of the folder; the station's Syncthing
        # does not bring them back (a receive-only folder keeps local changes), and the
        # office keeps its own.
        _wait_for_removal(inbox, [packed.name, recording.name])
        station.rest(f"/rest/db/scan?folder={FOLDER}", method="POST")
        time.sleep(3)
        assert [p.name for p in inbox.iterdir() if not p.name.startswith(".")] == []
        assert (office_folder / packed.name).is_file() and (office_folder / recording.name).is_dir()
        # Nor after the station's Syncthing restarts (the station rebooted).
        station.stop()
        station.start(tmp_path / "station-again.log")
        station.wait_connected(office)
        station.rest(f"/rest/db/scan?folder={FOLDER}", method="POST")
        time.sleep(3)
        assert [p.name for p in inbox.iterdir() if not p.name.startswith(".")] == []
    finally:
        station.stop()
        office.stop()
        services.stop()
    assert time.monotonic() - started < 90


def _wait_for_removal(inbox: Path, names: list[str]) -> None:
    deadline = time.monotonic() + 10
    while any((inbox / name).exists() for name in names):
        assert time.monotonic() < deadline, sorted(p.name for p in inbox.iterdir())
        time.sleep(0.1)


def _listing(folder: Path) -> list[Path]:
    """Everything under folder, as it is while Syncthing and the station change it."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        found += [Path(dirpath) / name for name in dirnames + filenames]
    return found
