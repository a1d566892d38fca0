"""The engine in its own process: same behaviour, plus surviving the engine's death."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
from signals import find_lag, to_int16
from test_audio_player import FADE, RATE, Recorder, wait_for

from kiosk.audio.api import Player, PlayerErrorKind, PlayerState
from kiosk.audio.decode import decode_whole, make_playback_copy
from kiosk.audio.remote import EngineSnapshot, RemotePlayer
from kiosk.audio.resample import to_stereo

pytestmark = pytest.mark.audio


def make_remote(**kw: object) -> tuple[RemotePlayer, Recorder]:
    args: dict = dict(volume_cap=1.0, start_volume=1.0, fade_ms=20, retry_seconds=0.5, restart_seconds=0.2)
    args.update(kw)
    player = RemotePlayer(**args)
    rec = Recorder()
    player.add_listener(rec)
    return player, rec


def test_is_a_player_and_plays_exactly(audio_device, tmp_path, tracks):
    flac = tmp_path / "copy.flac"
    make_playback_copy(tracks["vbr"], flac)
    player, rec = make_remote()
    try:
        assert isinstance(player, Player)
        assert player.wait_ready(15.0)
        player.load(flac)
        assert player.state == PlayerState.IDLE and player.duration == pytest.approx(4.0)
        player.play()
        assert player.state == PlayerState.PLAYING  # current as soon as the call returns
        assert wait_for(lambda: player.state == PlayerState.ENDED, 10.0)
        assert player.underruns == 0
        assert rec.of("on_ended") and len(rec.of("on_position")) > 30
        player.refresh()
        snap = player.snapshot()
        assert isinstance(snap, EngineSnapshot) and snap.state is PlayerState.ENDED
        assert snap.rate == RATE and snap.calls > 0 and snap.rendered >= 4 * RATE
        assert not rec.errors()
    finally:
        player.close()
    played, _ = audio_device.read_played()
    expected = to_int16(to_stereo(decode_whole(tracks["vbr"])))
    lag = find_lag(played[:, 0], expected[:, 0], at=RATE)
    got = played[lag - RATE: lag - RATE + len(expected)]
    inner = slice(FADE, len(expected) - FADE)
    assert np.abs(got[inner].astype(int) - expected[inner].astype(int)).max() <= 1


def test_engine_process_killed_mid_play_comes_back_paused_where_it_was(audio_device, tmp_path, tracks):
    flac = tmp_path / "prog.flac"
    make_playback_copy(tracks["wav"], flac)
    player, rec = make_remote()
    try:
        assert player.wait_ready(15.0)
        player.load(flac)
        player.set_volume(0.3)
        player.play()
        time.sleep(1.2)
        first_pid = player.pid
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)  # as if PortAudio aborted
        before = player.position
        assert wait_for(lambda: player.state == PlayerState.ERROR, 2.0)
        assert wait_for(lambda: player.state == PlayerState.PAUSED and player.pid != first_pid, 20.0)
        assert player.restarts == 1
        assert abs(player.position - before) < 0.3, "the track is back where it was"
        assert player.volume == pytest.approx(0.3), "the client's volume too"
        # What the UI heard: an error, then ERROR, then PAUSED (nothing of the restore's steps).
        kinds = [(k, v) for _, k, v in rec.events if k in ("on_state", "on_error")]
        dead = next(i for i, (k, v) in enumerate(kinds)
                    if k == "on_error" and getattr(v, "kind", None) == PlayerErrorKind.ENGINE_RESTARTING)
        assert rec.error_kinds() == [PlayerErrorKind.ENGINE_RESTARTING]
        assert kinds[dead + 1:] == [("on_state", PlayerState.ERROR), ("on_state", PlayerState.PAUSED)]
        player.play()
        time.sleep(0.6)
        assert player.state == PlayerState.PLAYING and player.position > before + 0.3
    finally:
        t0 = time.monotonic()
        player.close()
        assert time.monotonic() - t0 < 5.0


def test_the_tracks_gain_crosses_the_pipe_and_survives_a_restart(audio_device, tmp_path, tracks):
    flac = tmp_path / "tone.flac"
    make_playback_copy(tracks["tone"], flac)  # 220 Hz at 0.9 of full scale
    player, _ = make_remote()
    try:
        assert player.wait_ready(15.0)
        player.load(flac, None, 0.5)
        player.play()
        time.sleep(0.8)
        first_pid = player.pid
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)
        assert wait_for(lambda: player.state == PlayerState.PAUSED and player.pid != first_pid, 20.0)
        player.play()
        time.sleep(0.8)
    finally:
        player.close()
    # The ALSA file plugin lives in the engine's process: what the new engine played is at
    # the gain too, whatever the capture holds of the first one.
    played, _ = audio_device.read_played()
    peak = np.abs(played.astype(int)).max() / 32768
    assert 0.9 * 0.5 * 0.98 < peak <= 0.9 * 0.5 + 2 / 32768


def test_no_device_then_device_lost_and_back(absent_audio_device, tmp_path, tracks):
    flac = tmp_path / "prog.flac"
    make_playback_copy(tracks["wav"], flac)
    player, rec = make_remote()
    try:
        assert not player.wait_ready(15.0)
        assert player.state == PlayerState.ERROR
        assert rec.error_kinds() == [PlayerErrorKind.DEVICE_UNAVAILABLE]
        absent_audio_device.start()
        assert wait_for(lambda: player.state == PlayerState.IDLE, 5.0)
        player.load(flac)
        player.play()
        time.sleep(0.8)
        absent_audio_device.stop()
        assert wait_for(lambda: player.state == PlayerState.ERROR, 2.0)
        assert rec.error_kinds() == [PlayerErrorKind.DEVICE_UNAVAILABLE, PlayerErrorKind.DEVICE_LOST]
        absent_audio_device.start()
        assert wait_for(lambda: player.state == PlayerState.PAUSED, 5.0)
    finally:
        player.close()


def test_events_go_through_dispatch(audio_device, tmp_path, tracks):
    flac = tmp_path / "prog.flac"
    make_playback_copy(tracks["wav"], flac)
    queued: list = []
    player = RemotePlayer(dispatch=queued.append, volume_cap=0.5, start_volume=0.9)
    rec = Recorder()
    player.add_listener(rec)
    try:
        assert player.wait_ready(15.0)
        player.load(flac)
        assert player.volume == 0.5  # the cap holds in the engine process too
        player.set_volume(3.0)
        assert player.volume == 0.5
        player.play()
        time.sleep(0.3)
        assert not rec.events and queued
        for deliver in list(queued):
            deliver()
        assert rec.of("on_state") and rec.of("on_position")
    finally:
        player.close()


@pytest.mark.parametrize("separate", [True, False])
def test_open_player_from_settings(audio_device, separate):
    from kiosk.audio import open_player
    from kiosk.config import AudioSettings

    player = open_player(AudioSettings(volume_cap=0.6, start_volume=0.3), separate_process=separate)
    try:
        assert isinstance(player, Player)
        assert player.volume_cap == 0.6 and player.volume == 0.3
        assert player.wait_ready(15.0)  # type: ignore[attr-defined]
        assert player.state == PlayerState.IDLE
    finally:
        player.close()


def test_file_errors_cross_the_pipe_as_their_kinds(audio_device, tmp_path, tracks):
    """A missing file, and a file damaged in the middle (met while playing, as a bad sector
    would be), each arrive from the engine's process as their own kind, naming the file."""
    gone = tmp_path / "gone.flac"
    damaged = tmp_path / "damaged.flac"
    make_playback_copy(tracks["wav"], damaged)
    data = bytearray(damaged.read_bytes())
    # Three quarters in: past what the engine reads ahead (1.5 s of these 4 s) before play().
    start = len(data) * 3 // 4
    data[start:start + 4000] = np.random.default_rng(3).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    damaged.write_bytes(bytes(data))
    player, rec = make_remote()
    try:
        assert player.wait_ready(15.0)
        player.load(gone, 4.0)  # with a duration, as the station loads: the engine finds out
        assert wait_for(lambda: player.state == PlayerState.ERROR, 3.0)
        player.load(damaged, 4.0)
        player.play()
        assert player.state == PlayerState.PLAYING
        assert wait_for(lambda: player.state == PlayerState.ERROR, 6.0), "the damage went unnoticed"
        assert [(e.kind, e.path) for e in rec.errors()] == [
            (PlayerErrorKind.FILE_MISSING, gone), (PlayerErrorKind.FILE_DAMAGED, damaged)]
    finally:
        player.close()
