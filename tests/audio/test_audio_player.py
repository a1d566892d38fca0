"""The real engine, through real PortAudio into an ALSA file device paced by PulseAudio."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from signals import find_lag, first_exact_run, max_step, to_int16

from kiosk.audio.api import BaseListener, PlayerError, PlayerErrorKind, PlayerState
from kiosk.audio.decode import decode_whole, make_playback_copy
from kiosk.audio.player import PortAudioPlayer
from kiosk.audio.resample import Resampler, to_stereo

pytestmark = pytest.mark.audio

RATE = 44100
FADE_MS = 20
FADE = int(RATE * FADE_MS / 1000)


class Recorder(BaseListener):
    def __init__(self) -> None:
        self.events: list[tuple[float, str, object]] = []
        self.lock = threading.Lock()

    def _add(self, kind: str, value: object) -> None:
        with self.lock:
            self.events.append((time.monotonic(), kind, value))

    def on_state(self, state: PlayerState) -> None:
        self._add("on_state", state)

    def on_position(self, seconds: float) -> None:
        self._add("on_position", seconds)

    def on_ended(self) -> None:
        self._add("on_ended", None)

    def on_error(self, error: PlayerError) -> None:
        assert isinstance(error, PlayerError), f"an error event carried {error!r}"
        self._add("on_error", error)

    def of(self, kind: str) -> list[tuple[float, object]]:
        with self.lock:
            return [(t, v) for t, k, v in self.events if k == kind]

    def errors(self) -> list[PlayerError]:
        return [v for _, v in self.of("on_error") if isinstance(v, PlayerError)]

    def error_kinds(self) -> list[PlayerErrorKind]:
        return [e.kind for e in self.errors()]


def wait_for(cond: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def make_player(**kw: object) -> tuple[PortAudioPlayer, Recorder]:
    args: dict = dict(volume_cap=1.0, start_volume=1.0, fade_ms=FADE_MS, retry_seconds=0.5)
    args.update(kw)
    player = PortAudioPlayer(**args)
    rec = Recorder()
    player.add_listener(rec)
    return player, rec


def play_to_end(player: PortAudioPlayer, path: Path, timeout: float = 15.0) -> None:
    assert player.wait_ready(5.0), "the output did not open"
    player.load(path)
    player.play()
    assert wait_for(lambda: player.state == PlayerState.ENDED, timeout), player.state


def assert_plays_exactly(audio_device, tmp_path: Path, source: Path) -> None:
    flac = tmp_path / "copy.flac"
    make_playback_copy(source, flac)
    player, rec = make_player()
    try:
        play_to_end(player, flac)
        assert player.underruns == 0
    finally:
        player.close()
    played, rate = audio_device.read_played()
    assert rate == RATE and played.shape[1] == 2
    expected = to_int16(to_stereo(decode_whole(source)))  # the MP3 itself, decoded whole
    lag = find_lag(played[:, 0], expected[:, 0], at=RATE)
    got = played[lag - RATE: lag - RATE + len(expected)]
    assert len(got) == len(expected), "the capture is shorter than the track"
    inner = slice(FADE, len(expected) - FADE)
    diff = np.abs(got[inner].astype(int) - expected[inner].astype(int))
    assert diff.max() <= 1, f"{np.count_nonzero(diff > 1)} samples differ"
    # Only the fades differ: never louder than the source there.
    head = np.abs(got[:FADE].astype(int)) <= np.abs(expected[:FADE].astype(int)) + 1
    tail = np.abs(got[-FADE:].astype(int)) <= np.abs(expected[-FADE:].astype(int)) + 1
    assert head.all() and tail.all()
    assert rec.of("on_ended"), "no ended event"


def test_plays_cbr_mp3_exactly(audio_device, tmp_path, tracks):
    assert_plays_exactly(audio_device, tmp_path, tracks["cbr"])


def test_plays_vbr_mp3_exactly(audio_device, tmp_path, tracks):
    assert_plays_exactly(audio_device, tmp_path, tracks["vbr"])


def test_other_rates_and_mono_are_converted(audio_device, tmp_path, tracks):
    flac = tmp_path / "mono22.flac"
    make_playback_copy(tracks["mono22"], flac)
    player, _ = make_player()
    try:
        play_to_end(player, flac)
        assert player.underruns == 0
    finally:
        player.close()
    played, rate = audio_device.read_played()
    source = decode_whole(tracks["mono22"])
    assert source.shape[1] == 1
    rs = Resampler(22050, RATE)
    whole = np.concatenate([rs.push(to_stereo(source)), rs.flush()])
    expected = to_int16(np.clip(whole, -1, 1))
    assert len(expected) == 2 * len(source)
    lag = find_lag(played[:, 0], expected[:, 0], at=RATE)
    got = played[lag - RATE: lag - RATE + len(expected)]
    inner = slice(FADE, len(expected) - FADE)
    assert np.abs(got[inner].astype(int) - expected[inner].astype(int)).max() <= 1
    assert np.array_equal(got[:, 0], got[:, 1]), "mono goes to both ears"


def test_seek_lands_within_one_buffer(audio_device, tmp_path, tracks):
    flac = tmp_path / "prog.flac"
    make_playback_copy(tracks["wav"], flac)
    player, rec = make_player()
    try:
        assert player.wait_ready(5.0)
        player.load(flac)
        player.play()
        time.sleep(0.6)
        player.seek(2.5)
        assert abs(player.position - 2.5) < 0.05  # reported at once
        time.sleep(0.6)
        heard = player.position
        player.pause()
        time.sleep(0.2)
    finally:
        player.close()
    assert 2.9 < heard < 3.3, heard
    played, _ = audio_device.read_played()
    expected = to_int16(decode_whole(flac))
    # After the seek, capture index i holds source frame i + offset.
    probe = int(2.9 * RATE)
    lag = find_lag(played[:, 0], expected[:, 0], at=probe)
    offset = probe - lag
    # Before the jump the capture is other audio; the fade in lasts exactly FADE frames,
    # so the jump is FADE frames before the first run that matches the source exactly.
    search = lag - int(0.5 * RATE)
    window = played[search:lag]
    aligned = expected[search + offset: lag + offset]
    exact_from = search + first_exact_run(window, aligned, run=512)
    landed = (exact_from - FADE + offset) / RATE
    assert abs(landed - 2.5) <= 512 / RATE, f"landed at {landed:.4f} s"


def test_fades_no_clicks_on_start_pause_resume_seek_stop(audio_device, tmp_path, tracks):
    flac = tmp_path / "tone.flac"
    make_playback_copy(tracks["tone"], flac)
    player, _ = make_player()
    try:
        assert player.wait_ready(5.0)
        player.load(flac)
        player.play()
        time.sleep(0.4)
        player.pause()
        time.sleep(0.3)
        player.resume()
        time.sleep(0.4)
        player.seek(1.2345)  # lands mid-cycle of the tone
        time.sleep(0.4)
        player.set_volume(0.2)  # volume changes are smoothed too
        time.sleep(0.2)
        player.set_volume(1.0)
        time.sleep(0.2)
        player.stop()
        time.sleep(0.3)
    finally:
        player.close()
    played, _ = audio_device.read_played()
    loud = np.abs(played[:, 0]) > 0.8 * 0.9 * 32768
    assert loud.sum() > 0.3 * RATE, "too little of the tone was played"
    # The tone itself moves at most 2*pi*220/44100*0.9 of full scale per sample: 0.028.
    limit = int(0.035 * 32768)
    assert max_step(played) <= limit, f"a jump of {max_step(played)} (a click)"
    # There were silences (pause and after stop) and each fade took its 20 ms.
    silent = np.abs(played[:, 0]) < 2
    assert silent.sum() > 0.3 * RATE


def test_peak_never_exceeds_the_cap(audio_device, tmp_path, tracks):
    flac = tmp_path / "loud.flac"
    make_playback_copy(tracks["loud"], flac)
    cap = 0.5
    player, _ = make_player(volume_cap=cap, start_volume=0.9)  # start above the cap
    try:
        assert player.wait_ready(5.0)
        player.load(flac)
        assert player.volume == cap
        player.play()
        for v in (5.0, 1.0, float("inf"), 0.7, -3.0, float("nan"), 2.0):
            player.set_volume(v)
            assert 0.0 <= player.volume <= cap
            time.sleep(0.1)
        player.reset_volume()
        time.sleep(0.2)
    finally:
        player.close()
    played, _ = audio_device.read_played()
    peak = int(np.abs(played.astype(int)).max())
    assert peak > 0.45 * 32768, "nothing loud was played"
    assert peak <= cap * 32768 + 1, f"peak {peak / 32768:.4f} above the cap {cap}"


def test_no_device_at_start_then_it_appears(absent_audio_device, tmp_path, tracks):
    flac = tmp_path / "prog.flac"
    make_playback_copy(tracks["wav"], flac)
    t0 = time.monotonic()
    player, rec = make_player()
    try:
        assert not player.wait_ready(5.0)
        assert time.monotonic() - t0 < 3.0, "creating the player hung"
        assert player.state == PlayerState.ERROR
        assert rec.error_kinds() == [PlayerErrorKind.DEVICE_UNAVAILABLE]
        player.load(flac)  # the station keeps working: loading, controls
        player.play()
        assert player.state == PlayerState.ERROR
        absent_audio_device.start()
        assert wait_for(lambda: player.state != PlayerState.ERROR, 5.0), "did not recover"
        assert player.state == PlayerState.IDLE
        player.play()
        time.sleep(1.0)
        assert player.state == PlayerState.PLAYING
        assert player.position > 0.5
    finally:
        t1 = time.monotonic()
        player.close()
        assert time.monotonic() - t1 < 3.0, "close hung"
    played, _ = absent_audio_device.read_played()
    assert np.abs(played).max() > 0.3 * 32768, "nothing was played after recovery"


def test_device_lost_while_playing_then_back(audio_device, tmp_path, tracks):
    flac = tmp_path / "prog.flac"
    make_playback_copy(tracks["wav"], flac)
    player, rec = make_player()
    try:
        assert player.wait_ready(5.0)
        player.load(flac)
        player.play()
        time.sleep(1.0)
        before = player.position
        lost_at = time.monotonic()
        audio_device.stop()  # the server dies: like pulling the cable
        assert wait_for(lambda: player.state == PlayerState.ERROR, 2.0), "no error within 2 s"
        errors = rec.of("on_error")
        assert errors and errors[-1][0] - lost_at <= 2.0
        assert rec.error_kinds()[-1] == PlayerErrorKind.DEVICE_LOST
        player.play()  # asking to play without a device: an error, not a hang
        assert player.state == PlayerState.ERROR
        audio_device.start()
        assert wait_for(lambda: player.state != PlayerState.ERROR, 5.0), "did not recover"
        assert player.state == PlayerState.PAUSED  # never starts sound by itself
        assert abs(player.position - before) < 0.3
        player.play()
        time.sleep(0.8)
        assert player.state == PlayerState.PLAYING
        assert player.position > before + 0.5
    finally:
        t1 = time.monotonic()
        player.close()
        assert time.monotonic() - t1 < 3.0, "close hung"
    played, _ = audio_device.read_played()
    assert np.abs(played).max() > 0.3 * 32768


def test_device_that_stops_calling_back_is_declared_lost(audio_device, tmp_path, tracks):
    flac = tmp_path / "prog.flac"
    make_playback_copy(tracks["wav"], flac)
    player, rec = make_player()
    try:
        assert player.wait_ready(5.0)
        player.load(flac)
        player.play()
        time.sleep(0.8)
        frozen_at = time.monotonic()
        audio_device.freeze()  # PortAudio reports nothing: only the watchdog can tell
        assert wait_for(lambda: player.state == PlayerState.ERROR, 2.0), "no error within 2 s"
        assert rec.of("on_error")[-1][0] - frozen_at <= 2.0
        assert rec.error_kinds()[-1] == PlayerErrorKind.DEVICE_LOST
        audio_device.thaw()
        assert wait_for(lambda: player.state == PlayerState.PAUSED, 5.0), "did not recover"
        player.play()
        time.sleep(0.5)
        assert player.state == PlayerState.PLAYING
    finally:
        audio_device.thaw()
        t1 = time.monotonic()
        player.close()
        assert time.monotonic() - t1 < 3.0, "close hung"


def test_position_events_track_what_is_heard(audio_device, tmp_path, tracks):
    flac = tmp_path / "prog.flac"
    make_playback_copy(tracks["wav"], flac)
    player, rec = make_player()
    try:
        assert player.wait_ready(5.0)
        player.load(flac)
        assert player.duration == pytest.approx(4.0, abs=0.01)
        t0 = time.monotonic()
        player.play()
        time.sleep(1.5)
        elapsed = time.monotonic() - t0
        pos = player.position
        player.pause()
        time.sleep(0.3)
        player.resume()
        time.sleep(0.8)
    finally:
        player.close()
    positions = [(t, v) for t, v in rec.of("on_position") if t >= t0]
    assert len(positions) >= 2.3 * 10, f"only {len(positions)} position events in 2.3 s of playing"
    values = [float(v) for _, v in positions]  # type: ignore[arg-type]
    back = [(a, b) for a, b in zip(values, values[1:], strict=False) if b < a]
    assert not back, f"position went backwards: {back[:3]}"
    # As heard: behind the wall clock by about the output latency, never ahead of it.
    assert elapsed - 0.25 < pos <= elapsed + 0.02
    assert values[-1] == pytest.approx(2.3, abs=0.25)


def test_bad_file_gives_an_error_not_a_crash(audio_device, tmp_path, tracks):
    bad = tmp_path / "bad.flac"
    bad.write_bytes(b"not audio at all" * 100)
    player, rec = make_player()
    try:
        assert player.wait_ready(5.0)
        player.load(bad)
        assert player.state == PlayerState.ERROR
        assert [(e.kind, e.path) for e in rec.errors()] == [(PlayerErrorKind.FILE_DAMAGED, bad)]
        good = tmp_path / "good.flac"
        make_playback_copy(tracks["wav"], good)
        player.load(good)  # the next track plays
        assert player.state == PlayerState.IDLE
        player.play()
        time.sleep(0.5)
        assert player.state == PlayerState.PLAYING
    finally:
        player.close()


def test_play_after_the_end_starts_again(audio_device, tmp_path, tracks):
    flac = tmp_path / "prog.flac"
    make_playback_copy(tracks["wav"], flac)
    player, rec = make_player()
    try:
        assert player.wait_ready(5.0)
        player.load(flac)
        player.seek(3.5)
        player.play()
        assert wait_for(lambda: player.state == PlayerState.ENDED, 3.0)
        assert player.position == pytest.approx(4.0)
        assert len(rec.of("on_ended")) == 1
        player.play()
        time.sleep(0.5)
        assert player.state == PlayerState.PLAYING
        assert 0.2 < player.position < 0.6
        player.stop()
        assert player.state == PlayerState.IDLE and player.position == 0.0
    finally:
        player.close()


def test_clockless_device_does_not_keep_a_real_time_spin(tmp_path, monkeypatch, tracks):
    """ALSA's null device takes audio as fast as it comes: the callback then runs flat out,
    and must not do so at real-time priority (it would starve the feeder and the UI)."""
    conf = tmp_path / "null.conf"
    conf.write_text("pcm.!default { type null }\n")
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(conf))
    flac = tmp_path / "prog.flac"
    make_playback_copy(tracks["wav"], flac)
    player, rec = make_player()
    try:
        assert player.wait_ready(5.0)
        player.load(flac)
        player.play()
        assert wait_for(lambda: player.priority.startswith("normal"), 4.0), player.priority
        assert wait_for(lambda: player.state == PlayerState.ENDED, 10.0)  # and it still plays through
    finally:
        t0 = time.monotonic()
        player.close()
        assert time.monotonic() - t0 < 3.0


@pytest.mark.parametrize("told_duration", [None, 4.0])
def test_a_missing_file_is_reported_as_missing(audio_device, tmp_path, told_duration):
    """Without a duration the load's probe finds it; with one (the station's way) the feeder."""
    gone = tmp_path / "gone.flac"
    player, rec = make_player()
    try:
        assert player.wait_ready(5.0)
        player.load(gone, told_duration)
        assert wait_for(lambda: player.state == PlayerState.ERROR, 2.0)
        assert [(e.kind, e.path) for e in rec.errors()] == [(PlayerErrorKind.FILE_MISSING, gone)]
    finally:
        player.close()
