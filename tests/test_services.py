"""The composition root without a window: what Services starts, in which order, and what it
does at start (old usage events pruned) and at stop (every part stopped, plays written)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from pathlib import Path

import pytest

from kiosk.audio.fake import FakePlayer
from kiosk.config import ContentSettings, TakeHomeSettings, UsageSettings, default_settings
from kiosk.services import Services
from kiosk.store import open_db
from kiosk.usage import counts, record


def settings_for(tmp_path: Path, keep_days: int = 800):
    return default_settings(tmp_path / "data", take_home=TakeHomeSettings(enabled=False),
                            content=ContentSettings(demo_pack=""),
                            usage=UsageSettings(keep_days=keep_days))


def test_old_usage_events_are_pruned_at_start(tmp_path):
    settings = settings_for(tmp_path, keep_days=30)
    settings.data_dir.mkdir(parents=True)
    now = dt.datetime.now(dt.UTC)
    db = open_db(settings.db_path)
    record(db, "play_started", "old", "en-GB", "s", at=now - dt.timedelta(days=31))
    record(db, "play_started", "recent", "en-GB", "s", at=now - dt.timedelta(days=29))
    db.close()
    services = Services(settings, player_factory=lambda s: FakePlayer())
    services.start()
    services.stop()
    db = open_db(settings.db_path)
    try:
        left = [r[0] for r in db.execute("SELECT exercise_id FROM usage_events")]
    finally:
        db.close()
    assert left == ["recent"]


def test_the_player_is_started_with_the_play_counter_and_stopped_after_it_is_written(tmp_path):
    settings = settings_for(tmp_path)
    players: list[FakePlayer] = []

    def factory(s):
        players.append(FakePlayer(volume_cap=s.audio.volume_cap, start_volume=s.audio.start_volume, speed=0))
        return players[-1]

    services = Services(settings, player_factory=factory)
    services.start()
    assert services.player is players[0]
    track = tmp_path / "breath.mp3"
    track.write_bytes(b"")
    services.player.load(track, 20.0)
    services.plays.track("breath", "en-GB", 20.0)
    services.player.play()
    services.player.advance(20.0)  # heard to the end
    services.stop()
    assert players[0].commands[-1] == "close"
    db = open_db(settings.db_path)
    try:
        rows = counts(db, 1)
    finally:
        db.close()
    assert [(r.exercise_id, r.plays_started, r.plays_completed) for r in rows] == [("breath", 1, 1)]


def test_a_station_whose_engine_cannot_start_still_starts(tmp_path, caplog):
    def broken(_settings):
        raise OSError("no such device")

    services = Services(settings_for(tmp_path), player_factory=broken)
    services.start()
    try:
        assert services.player is None
        assert "the audio engine could not start" in caplog.text
    finally:
        services.stop()


def test_usage_keep_days_is_read_and_checked(tmp_path):
    from kiosk.config import ConfigError, settings_from_mapping

    path = tmp_path / "config.toml"
    assert settings_from_mapping({"usage": {"keep_days": 400}}, path).usage.keep_days == 400
    assert settings_from_mapping({}, path).usage.keep_days == 800
    try:
        settings_from_mapping({"usage": {"keep_days": 5}}, path)
    except ConfigError as exc:
        assert "usage.keep_days: expected a whole number from 30 to 3660, found 5" in exc.problems
    else:
        raise AssertionError("keep_days = 5 was accepted")
    assert dataclasses.fields(UsageSettings)[0].name == "keep_days"


def _with_take_home(tmp_path: Path, port: int):
    s = settings_for(tmp_path)
    return dataclasses.replace(s, take_home=dataclasses.replace(
        default_settings(tmp_path / "data").take_home, enabled=True, bind="127.0.0.1", port=port,
        public_address=f"127.0.0.1:{port}"))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_take_home_server_can_start_after_the_rest_and_is_waited_for(tmp_path):
    import urllib.request

    from kiosk.services import TakeHomeState

    port = _free_port()
    services = Services(_with_take_home(tmp_path, port), player_factory=lambda s: FakePlayer())
    services.start(take_home_later=True)
    try:
        assert services.take_home is None and services.take_home_state is TakeHomeState.NOT_STARTED
        settled: list[TakeHomeState] = []
        services.start_take_home_soon(then=settled.append)
        server = services.wait_for_take_home()  # what a take-home asked for meanwhile does
        assert server is not None and services.take_home_state is TakeHomeState.RUNNING
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as reply:
            assert reply.read().strip() == b"ok"
    finally:
        services.stop()
    assert settled == [TakeHomeState.RUNNING]
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_a_take_home_server_that_cannot_start_is_unavailable_not_a_crash(tmp_path):
    import socket

    from kiosk.services import TakeHomeState

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        services = Services(_with_take_home(tmp_path, port), player_factory=lambda s: FakePlayer())
        services.start(take_home_later=True)
        try:
            assert services.wait_for_take_home() is None
            assert services.take_home_state is TakeHomeState.UNAVAILABLE
        finally:
            services.stop()


def test_the_station_serves_the_clinic_console_on_its_own_port(tmp_path):
    import urllib.request

    from kiosk.config import ConsoleSettings

    port, console_port = _free_port(), _free_port()
    settings = dataclasses.replace(_with_take_home(tmp_path, port),
                                   console=ConsoleSettings(port=console_port))
    services = Services(settings, player_factory=lambda s: FakePlayer())
    services.start(take_home_later=True)
    try:
        services.wait_for_take_home()
        deadline = time.monotonic() + 10
        while services.console is None and time.monotonic() < deadline:
            time.sleep(0.05)  # started right after the phones' server, on the same thread
        with urllib.request.urlopen(f"http://127.0.0.1:{console_port}/login", timeout=10) as reply:
            assert b"kiosk set-password" in reply.read()  # no password set yet
            assert reply.headers["Server"] == "kiosk"
    finally:
        services.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{console_port}/login", timeout=2)


def _installed(settings, pack_id: str) -> str | None:
    from kiosk.content import Catalogue

    db = open_db(settings.db_path)
    try:
        return Catalogue(db, settings.content_dir).installed_version(pack_id)
    finally:
        db.close()


def _wait_for(what, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "waited too long"
        time.sleep(0.1)


def test_the_station_imports_its_drop_folder_and_a_restart_neither_repeats_nor_loses_an_item(tmp_path):
    import shutil

    from tests.packfactory import db_dump, edited, tree_digest, write_pack

    settings = settings_for(tmp_path)
    timing = (0.2, 1.5)  # poll, settle: the station's are 2 s and 20 s
    services = Services(settings, player_factory=lambda s: FakePlayer(), inbox_timing=timing)
    services.start()
    inbox = settings.inbox_path
    assert services.inbox is not None and inbox.is_dir()  # made at start
    shutil.copytree(write_pack(tmp_path / "first"), inbox / "first")
    (inbox / "notes.docx").write_bytes(b"PK\x03\x04 not a pack")
    _wait_for(lambda: _installed(settings, "test-pack") == "1.0.0" and not (inbox / "first").exists()
              and (inbox / "refused" / "notes.docx.txt").exists())

    # A second item arrives and the station stops before it has settled.
    def second(m):
        m["pack"]["id"] = "second-pack"
        for exercise in m["exercises"]:
            exercise["id"] = "second-" + exercise["id"]

    shutil.copytree(write_pack(tmp_path / "second", edited(second)), inbox / "second")
    services.stop()
    assert _installed(settings, "second-pack") is None and (inbox / "second").is_dir()
    # And a power cut while an imported item was being removed left this:
    shutil.copytree(write_pack(tmp_path / "third"), inbox / ".imported-third")
    refused_before = tree_digest(inbox / "refused")

    services = Services(settings, player_factory=lambda s: FakePlayer(), inbox_timing=timing)
    services.start()
    try:
        _wait_for(lambda: _installed(settings, "second-pack") == "1.0.0" and not (inbox / "second").exists())
        db = open_db(settings.db_path)
        try:
            after = db_dump(db)
        finally:
            db.close()
        time.sleep(4 * timing[1])  # time enough for anything to be taken again
        db = open_db(settings.db_path)
        try:
            assert db_dump(db) == after
        finally:
            db.close()
        assert sorted(p.name for p in inbox.iterdir()) == ["refused"]
        assert tree_digest(inbox / "refused") == refused_before  # the refused item not tried again
    finally:
        services.stop()
    assert not [t for t in threading.enumerate() if t.name == "inbox"]  # stopped with the rest
