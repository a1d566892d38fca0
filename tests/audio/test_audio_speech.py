"""Talk-back's voice in the real engine (issue 15): mixed over the track, which is ducked and
keeps playing; replaced, stopped, paused and resumed; never above the cap. Real PortAudio
into the paced file-backed device; every assertion is about what the device was fed."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import write_wav
from signals import find_lag, max_step, to_int16
from test_audio_player import RATE, Recorder, make_player, wait_for
from test_audio_remote import make_remote

from kiosk.audio.api import SpeechState
from kiosk.audio.decode import make_playback_copy
from kiosk.audio.player import BLOCK_FRAMES, decode_utterance
from kiosk.audio.resample import Resampler, to_stereo
from kiosk.audio.stage import DUCK_DB, DUCK_GAIN, VOICE_FADE_SECONDS

pytestmark = pytest.mark.audio

SPEECH_RATE = 22050  # espeak-ng's: the engine resamples it
VOICE_FADE = int(round(VOICE_FADE_SECONDS * RATE))
WINDOW = 2205  # 50 ms analysis windows: a whole number of cycles of every tone below


class Speeches(Recorder):
    def on_speech(self, state: SpeechState) -> None:
        assert isinstance(state, SpeechState)
        self._add("on_speech", state)

    def speech(self) -> list[SpeechState]:
        return [v for _, v in self.of("on_speech")]  # type: ignore[misc]


def tone(seconds: float, freq: float, level: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1)


def chirp(seconds: float, level: float, rate: int = SPEECH_RATE, seed: int = 3) -> np.ndarray:
    """Speech-like test words: a sweep plus a little noise, every stretch unlike the rest."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    x = np.sin(2 * np.pi * (300 * t + 900 * t * t / seconds)) + 0.1 * rng.standard_normal(len(t))
    return (level * x / np.abs(x).max()).astype(np.float32)[:, None]


def level(x: np.ndarray, freq: float) -> np.ndarray:
    """Amplitude (0..1 of full scale) of `freq` in each 50 ms window of int16 channel `x`."""
    n = len(x) // WINDOW * WINDOW
    w = x[:n].astype(np.float64).reshape(-1, WINDOW) / 32768
    t = np.arange(WINDOW) / RATE
    c, s = np.cos(2 * np.pi * freq * t), np.sin(2 * np.pi * freq * t)
    return 2 * np.hypot(w @ c, w @ s) / WINDOW


def sine_track(tmp_path: Path, seconds: float = 8.0, freq: float = 440.0, amplitude: float = 0.5) -> Path:
    wav = write_wav(tmp_path / "track.wav", tone(seconds, freq, amplitude, RATE, channels=2))
    flac = tmp_path / "track.flac"
    make_playback_copy(wav, flac)
    return flac


def speaker(**kw: object):
    player, _ = make_player(**kw)
    rec = Speeches()
    player.add_listener(rec)
    return player, rec


def test_words_alone_are_heard_exactly_as_decoded(audio_device, tmp_path):
    words = write_wav(tmp_path / "words.wav", chirp(1.2, 0.6), SPEECH_RATE)
    player, rec = speaker()
    try:
        assert player.wait_ready(5.0)
        player.speak(words)
        assert player.speech_state == SpeechState.SPEAKING
        assert wait_for(lambda: player.speech_state == SpeechState.IDLE, 5.0), "the words never ended"
        time.sleep(0.2)
    finally:
        player.close()
    assert rec.speech() == [SpeechState.SPEAKING, SpeechState.IDLE]
    # A starved device (PortAudio's underflow: the machine too busy) breaks the exact match.
    assert player.stage.xruns == 0, "the device underflowed"
    played, _ = audio_device.read_played()
    expected = to_int16(decode_utterance(words, RATE))
    # The engine's decode is the source resampled to the output rate, no more.
    rs = Resampler(SPEECH_RATE, RATE)
    source = soundfile.read(str(words), dtype="float32", always_2d=True)[0]
    ref = np.concatenate([rs.push(to_stereo(source)), rs.flush()])
    assert len(expected) == len(ref) == 2 * int(1.2 * SPEECH_RATE)
    assert np.abs(expected[:-VOICE_FADE].astype(int) - to_int16(ref)[:-VOICE_FADE]).max() <= 1
    lag = find_lag(played[:, 0], expected[:, 0], at=RATE // 2)
    start = lag - RATE // 2
    got = played[start:start + len(expected)]
    inner = slice(VOICE_FADE, len(expected))
    assert np.abs(got[inner].astype(int) - expected[inner].astype(int)).max() <= 1
    assert not played[start + len(expected):].any(), "nothing after the words"


def test_a_playing_track_is_ducked_under_the_words_and_comes_back(audio_device, tmp_path):
    track = sine_track(tmp_path)
    words = write_wav(tmp_path / "words.wav", tone(1.5, 1500.0, 0.4, SPEECH_RATE), SPEECH_RATE)
    player, rec = speaker(start_volume=0.8, volume_cap=1.0)
    try:
        assert player.wait_ready(5.0)
        player.load(track)
        player.play()
        t0 = time.monotonic()
        time.sleep(1.5)
        player.speak(words)
        assert wait_for(lambda: player.speech_state == SpeechState.IDLE, 5.0)
        time.sleep(1.5)
        elapsed = time.monotonic() - t0
        position = player.position
        player.pause()
        time.sleep(0.2)
    finally:
        player.close()
    assert player.underruns == 0, "the machine starved the engine: levels cannot be judged"
    assert abs(position - elapsed) < 0.25, "the track kept its pace under the words"
    played, _ = audio_device.read_played()
    music, voice = level(played[:, 0], 440.0), level(played[:, 0], 1500.0)
    speaking = np.flatnonzero(voice > 0.5 * 0.4 * 0.8)
    assert len(speaking), "the words were not heard"
    first, last = speaking[0], speaking[-1]
    assert (last - first + 1) * WINDOW / RATE == pytest.approx(1.5, abs=0.11)
    assert np.allclose(voice[first + 1:last], 0.4 * 0.8, rtol=0.03), "the words at the visitor's volume"
    full = 0.5 * 0.8
    # The duck starts at speak(), the words once decoded (a few ms, more on a busy machine).
    before = music[first - 20:first - 3]
    during = music[first + 3:last - 1]  # the 100 ms duck is done by then
    after = music[last + 4:last + 20]  # and back up
    assert np.allclose(before, full, rtol=0.02), before
    assert np.allclose(after, full, rtol=0.02), after
    ducked_db = 20 * np.log10(during / full)
    assert np.allclose(ducked_db, DUCK_DB, atol=0.5), ducked_db
    # The duck ramps: no window jumps from full to ducked.
    edge = 20 * np.log10(music[first - 3:first + 3] / full)
    assert edge[0] > -1 and edge[-1] < DUCK_DB + 1 and np.all(np.diff(edge) > -12), edge
    assert max_step(played) < 0.1 * 32768, "a click"


def test_a_new_utterance_replaces_the_one_in_progress(audio_device, tmp_path):
    first = write_wav(tmp_path / "first.wav", tone(3.0, 1500.0, 0.4, SPEECH_RATE), SPEECH_RATE)
    second = write_wav(tmp_path / "second.wav", tone(1.0, 2500.0, 0.4, SPEECH_RATE), SPEECH_RATE)
    player, rec = speaker()
    try:
        assert player.wait_ready(5.0)
        player.speak(first)
        time.sleep(0.6)
        player.speak(second)
        assert player.speech_state == SpeechState.SPEAKING
        assert wait_for(lambda: player.speech_state == SpeechState.IDLE, 5.0)
        time.sleep(0.3)
    finally:
        player.close()
    played, _ = audio_device.read_played()
    one, two = level(played[:, 0], 1500.0), level(played[:, 0], 2500.0)
    heard_one, heard_two = np.flatnonzero(one > 0.1), np.flatnonzero(two > 0.1)
    assert len(heard_one) and len(heard_two)
    # The first's tail is never heard after the switch: it stops within the window of the
    # switch (a 5 ms fade), the second's first window is that one or the next.
    assert heard_one[-1] <= heard_two[0]
    assert (heard_one[-1] - heard_one[0] + 1) * WINDOW / RATE < 0.9, "the first was not cut short"
    assert (heard_two[-1] - heard_two[0] + 1) * WINDOW / RATE == pytest.approx(1.0, abs=0.11)
    assert not (one[heard_two[0] + 1:] > 0.01).any()
    own = 2 * np.pi * 2500 / RATE * 0.4 * 32768  # the faster tone's own largest step
    assert max_step(played) < 1.1 * own, "a click at the switch"
    assert rec.speech() == [SpeechState.SPEAKING, SpeechState.IDLE]  # one utterance for the ear


def positions_while(player, seconds: float) -> list[int]:
    out, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        out.append(player.stage.voice_pos)
        time.sleep(0.005)
    return out


def test_pause_holds_the_words_and_resume_goes_on_from_there(audio_device, tmp_path):
    source = chirp(3.0, 0.6)
    words = write_wav(tmp_path / "words.wav", source, SPEECH_RATE)
    player, rec = speaker()
    try:
        assert player.wait_ready(5.0)
        player.speak(words)
        time.sleep(0.8)
        at_pause = player.stage.voice_pos
        player.pause_speaking()
        assert player.speech_state == SpeechState.PAUSED
        held = positions_while(player, 0.7)
        player.resume_speaking()
        assert player.speech_state == SpeechState.SPEAKING
        assert wait_for(lambda: player.speech_state == SpeechState.IDLE, 5.0)
        time.sleep(0.2)
    finally:
        player.close()
    assert rec.speech() == [SpeechState.SPEAKING, SpeechState.PAUSED, SpeechState.SPEAKING, SpeechState.IDLE]
    # Silent within the block being rendered plus the fade, and held there.
    assert held[-1] - at_pause <= BLOCK_FRAMES + VOICE_FADE, (at_pause, held[-1])
    assert len(set(held[len(held) // 4:])) == 1, "the words moved on while paused"
    stop_at = held[-1]
    played, _ = audio_device.read_played()
    expected = to_int16(decode_utterance(words, RATE))
    first = find_lag(played[:, 0], expected[:, 0], at=RATE // 4) - RATE // 4
    # Before the pause: the words exactly; then silence for about the pause's 0.7 s.
    inner = slice(VOICE_FADE, stop_at - VOICE_FADE)
    assert np.abs(played[first:first + stop_at][inner].astype(int) - expected[inner].astype(int)).max() <= 1
    gap = played[first + stop_at: first + stop_at + int(0.5 * RATE)]
    assert not gap.any(), "sound while paused"
    # After it: the words from where they stopped, exactly, to their end.
    at = stop_at + RATE // 4
    resumed = find_lag(played[:, 0], expected[:, 0], at=at) - at
    assert resumed - first == pytest.approx(0.7 * RATE, abs=0.15 * RATE)
    rest = slice(stop_at + VOICE_FADE, len(expected))
    assert np.abs(played[resumed:resumed + len(expected)][rest].astype(int)
                  - expected[rest].astype(int)).max() <= 1


def test_stop_silences_the_words_within_a_block_and_a_fade(audio_device, tmp_path):
    track = sine_track(tmp_path, seconds=5.0)
    words = write_wav(tmp_path / "words.wav", tone(3.0, 1500.0, 0.4, SPEECH_RATE), SPEECH_RATE)
    player, rec = speaker(start_volume=0.8)
    try:
        assert player.wait_ready(5.0)
        player.load(track)
        player.play()
        time.sleep(0.5)
        player.speak(words)
        time.sleep(0.6)
        at_stop = player.stage.voice_pos
        player.stop_speaking()
        assert player.speech_state == SpeechState.IDLE
        held = positions_while(player, 0.3)
        time.sleep(0.5)
        player.stop()
        time.sleep(0.2)
    finally:
        player.close()
    assert rec.speech() == [SpeechState.SPEAKING, SpeechState.IDLE]
    assert held[-1] - at_stop <= BLOCK_FRAMES + VOICE_FADE
    played, _ = audio_device.read_played()
    music, voice = level(played[:, 0], 440.0), level(played[:, 0], 1500.0)
    heard = np.flatnonzero(voice > 0.05)
    assert (heard[-1] - heard[0] + 1) * WINDOW / RATE == pytest.approx(0.6, abs=0.12)
    after = music[heard[-1] + 4: heard[-1] + 12]
    assert np.allclose(after, 0.5 * 0.8, rtol=0.02), "the track came back up"
    assert max_step(played) < 0.1 * 32768


def test_the_mix_never_exceeds_the_volume_cap(audio_device, tmp_path, tracks):
    flac = tmp_path / "loud.flac"
    make_playback_copy(tracks["loud"], flac)  # a square wave at 0.999
    words = write_wav(tmp_path / "words.wav", np.sign(tone(1.0, 700.0, 1.0, SPEECH_RATE)), SPEECH_RATE)
    cap = 0.5
    player, _ = speaker(volume_cap=cap, start_volume=0.9)
    try:
        assert player.wait_ready(5.0)
        player.load(flac)
        player.play()
        time.sleep(0.3)
        player.speak(words)  # full-scale words over a full-scale track, at the cap
        for v in (5.0, 0.3, float("inf"), 1.0):
            time.sleep(0.2)
            player.set_volume(v)
        assert wait_for(lambda: player.speech_state == SpeechState.IDLE, 5.0)
        player.speak(words)
        player.pause()  # words alone, at the cap
        assert wait_for(lambda: player.speech_state == SpeechState.IDLE, 5.0)
    finally:
        player.close()
    played, _ = audio_device.read_played()
    peak = int(np.abs(played.astype(int)).max())
    assert peak > 0.45 * 32768, "nothing loud was played"
    assert peak <= cap * 32768 + 1, f"peak {peak / 32768:.4f} above the cap {cap}"


def test_words_that_cannot_be_read_are_reported_idle_and_the_track_plays_on(audio_device, tmp_path):
    track = sine_track(tmp_path, seconds=3.0)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really" * 10)
    player, rec = speaker()
    try:
        assert player.wait_ready(5.0)
        player.load(track)
        player.play()
        player.speak(bad)
        assert wait_for(lambda: player.speech_state == SpeechState.IDLE, 2.0)
        player.speak(tmp_path / "gone.wav")
        assert wait_for(lambda: player.speech_state == SpeechState.IDLE, 2.0)
        time.sleep(0.3)
        assert player.state.value == "playing" and not rec.errors()
    finally:
        player.close()


def test_speech_goes_through_the_engines_process(audio_device, tmp_path):
    track = sine_track(tmp_path, seconds=6.0)
    words = write_wav(tmp_path / "words.wav", tone(1.0, 1500.0, 0.4, SPEECH_RATE), SPEECH_RATE)
    player, _ = make_remote(start_volume=0.8)
    rec = Speeches()
    player.add_listener(rec)
    seen = threading.Event()
    try:
        assert player.wait_ready(15.0)
        player.load(track)
        player.play()
        time.sleep(1.0)
        player.speak(words)
        assert player.speech_state == SpeechState.SPEAKING  # current when the call returns
        time.sleep(0.3)
        player.pause_speaking()
        assert player.speech_state == SpeechState.PAUSED
        time.sleep(0.3)
        player.resume_speaking()
        assert wait_for(lambda: player.speech_state == SpeechState.IDLE, 5.0)
        seen.set()
        player.speak(words)
        time.sleep(0.2)
        player.stop_speaking()
        assert player.speech_state == SpeechState.IDLE
        time.sleep(0.5)
    finally:
        player.close()
    assert rec.speech() == [SpeechState.SPEAKING, SpeechState.PAUSED, SpeechState.SPEAKING,
                            SpeechState.IDLE, SpeechState.SPEAKING, SpeechState.IDLE]
    played, _ = audio_device.read_played()
    music, voice = level(played[:, 0], 440.0), level(played[:, 0], 1500.0)
    heard = np.flatnonzero(voice > 0.5 * 0.4 * 0.8)
    assert len(heard) * WINDOW / RATE == pytest.approx(1.2, abs=0.15)  # 1 s, then 0.2 s stopped
    assert np.min(music[heard[0] + 3:heard[0] + 5]) < 0.5 * 0.8 * DUCK_GAIN * 1.1, "ducked"
    assert max(music) == pytest.approx(0.5 * 0.8, rel=0.02)


def test_words_end_with_a_lost_device_and_do_not_start_again_when_it_is_back(audio_device, tmp_path):
    words = write_wav(tmp_path / "words.wav", tone(4.0, 1500.0, 0.4, SPEECH_RATE), SPEECH_RATE)
    player, rec = speaker()
    try:
        assert player.wait_ready(5.0)
        player.speak(words)
        time.sleep(0.5)
        audio_device.stop()
        assert wait_for(lambda: player.state.value == "error", 3.0)
        assert player.speech_state == SpeechState.IDLE
        player.speak(words)  # asked while there is no device: not said, then or later
        assert player.speech_state == SpeechState.IDLE
        audio_device.start()
        assert wait_for(lambda: player.state.value != "error", 6.0), "did not recover"
        time.sleep(1.0)
        assert player.speech_state == SpeechState.IDLE
    finally:
        player.close()
    assert rec.speech() == [SpeechState.SPEAKING, SpeechState.IDLE]
    played, _ = audio_device.read_played()  # the file the device wrote since it came back
    assert not played.any(), "the words came back by themselves"
