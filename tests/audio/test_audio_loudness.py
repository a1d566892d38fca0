"""Loudness: the import's block meter against pyloudnorm, the gain it gives, and the real
engine playing a quiet and a hot recording at the same loudness, inside the cap."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pyloudnorm
import pytest
import soundfile

from kiosk.audio.api import PlayerState
from kiosk.audio.loudness import MAX_BOOST_DB, Loudness, LoudnessMeter, track_gain
from kiosk.audio.player import PortAudioPlayer
from kiosk.config import default_settings
from kiosk.content import Catalogue, import_pack
from kiosk.store import open_db
from tests.packfactory import edited, vtt, write_pack

RATE = 44100


def speechlike(seconds: float, lufs: float, seed: int = 3) -> np.ndarray:
    """Stereo, voice-like (a gliding 140 Hz buzz in syllables, with pauses), scaled to `lufs`
    as pyloudnorm measures it."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    phase = 2 * np.pi * np.cumsum(140 * (1 + 0.08 * np.sin(2 * np.pi * 0.7 * t))) / RATE
    voiced = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 16))
    syllables = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None) ** 0.7
    phrases = (np.sin(2 * np.pi * t / 2.5) > -0.6).astype(float)
    x = voiced * syllables * phrases + 0.01 * rng.standard_normal(len(t))
    stereo = np.stack([x, x], axis=1)
    stereo *= 10 ** ((lufs - pyloudnorm.Meter(RATE).integrated_loudness(stereo)) / 20)
    assert np.abs(stereo).max() < 1.0
    return stereo


def measure(data: np.ndarray, rate: int, blocks: int) -> Loudness:
    meter = LoudnessMeter()
    for chunk in np.array_split(data, blocks):
        meter.push(chunk, rate)
    return meter.result()


# ---- the gain ---------------------------------------------------------------------------


@pytest.mark.parametrize("loudness, expected", [
    (Loudness(-30.0, 0.1), 10 ** (10 / 20)),  # quiet: raised 10 dB
    (Loudness(-10.0, 0.9), 10 ** (-10 / 20)),  # hot: lowered 10 dB
    (Loudness(-20.0, 1.0), 1.0),  # at the target already
    (Loudness(-40.0, 0.5), 2.0),  # +20 dB would clip its peak: only up to full scale
    (Loudness(-70.0, 0.001), 10 ** (MAX_BOOST_DB / 20)),  # nearly silent: raised at most this
    (Loudness(None, 0.01), 1.0),  # too quiet to measure: as recorded
    (None, 1.0),  # imported before loudness was measured: as recorded
])
def test_track_gain(loudness, expected):
    assert track_gain(-20.0, loudness) == pytest.approx(expected, rel=1e-9)


def test_the_gain_never_takes_the_peak_past_full_scale():
    for lufs in np.linspace(-60, 0, 25):
        for peak in (0.01, 0.1, 0.5, 1.0):
            assert track_gain(-14.0, Loudness(float(lufs), peak)) * peak <= 1.0 + 1e-12


# ---- the import's meter -----------------------------------------------------------------


@pytest.mark.parametrize("rate, channels", [(44100, 2), (48000, 1), (22050, 2)])
def test_block_meter_agrees_with_pyloudnorm(rate, channels):
    rng = np.random.default_rng(7)
    t = np.arange(int(9.3 * rate)) / rate
    # A level that changes (so the relative gate has work) and a silent stretch.
    envelope = np.where(t < 3, 0.3, np.where(t < 5, 0.0, 0.05 + 0.2 * (t > 7)))
    data = (envelope[:, None] * rng.standard_normal((len(t), channels))).clip(-1, 1)
    reference = pyloudnorm.Meter(rate).integrated_loudness(data)
    for blocks in (1, 7, 333):  # whatever block sizes the decoder hands over
        got = measure(data, rate, blocks)
        assert got.lufs == pytest.approx(reference, abs=0.02)
        assert got.peak == pytest.approx(np.abs(data).max())


def test_block_meter_on_int16_and_on_silence():
    data = speechlike(3.0, -23.0)
    pcm = (data * 32767).astype(np.int16)
    assert measure(pcm, RATE, 5).lufs == pytest.approx(-23.0, abs=0.05)
    assert measure(np.zeros((RATE, 2), np.int16), RATE, 3) == Loudness(None, 0.0)
    assert measure(pcm[: RATE // 4], RATE, 1).lufs is None  # shorter than one 400 ms block


def meter_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "loudness-meter"]


def test_a_meter_given_up_part_way_leaves_no_thread_and_its_errors_reach_the_caller():
    with LoudnessMeter() as meter:
        meter.push(np.zeros((4410, 2), np.int16), RATE)
        assert meter_threads()
    assert not meter_threads()
    meter = LoudnessMeter()
    meter.push(np.zeros((4410, 2), np.int16), RATE)
    meter.push(np.zeros((4410, 3), np.int16), RATE)  # a block that does not fit the first
    with pytest.raises(ValueError):
        meter.result()
    assert not meter_threads()


# ---- the real engine --------------------------------------------------------------------

LEVELS = {"quiet": -35.0, "hot": -12.0}  # a phone held far off, and a recording mastered loud
SECONDS = 5.0


@pytest.fixture(scope="module")
def station(tmp_path_factory) -> Any:
    """A station with a quiet and a hot recording imported through the real import."""
    root = tmp_path_factory.mktemp("loudness")

    def two_exercises(m: dict[str, Any]) -> None:
        template = m["exercises"][0]
        m["exercises"] = [
            dict(template, id=name, title=f"The {name} one",
                 variants={"en-GB": {"audio": f"{name}.wav", "cues": f"{name}.vtt"}})
            for name in LEVELS
        ]

    pack = write_pack(root / "pack", edited(two_exercises))
    for name, lufs in LEVELS.items():
        soundfile.write(str(pack / f"{name}.wav"), speechlike(SECONDS, lufs), RATE, subtype="PCM_16")
        (pack / f"{name}.vtt").write_text(vtt([(0.0, 4.0, "Let your breathing settle.")]))
    settings = default_settings(root / "data")
    db = open_db(settings.db_path)
    import_pack(settings, db, pack)
    assert not meter_threads()
    yield settings, Catalogue(db, settings.content_dir)
    db.close()


def test_import_stores_each_recordings_loudness(station):
    _, catalogue = station
    for name, lufs in LEVELS.items():
        exercise = catalogue.exercise(name, "en-GB")
        assert exercise is not None and exercise.variant.loudness is not None
        assert exercise.variant.loudness.lufs == pytest.approx(lufs, abs=0.1)  # 16-bit rounding


@pytest.mark.audio
@pytest.mark.parametrize("name", list(LEVELS))
def test_engine_plays_every_recording_at_the_target_inside_the_cap(audio_device, station, name):
    settings, catalogue = station
    target = settings.audio.loudness_target
    cap = settings.audio.volume_cap
    variant = catalogue.exercise(name, "en-GB").variant
    player = PortAudioPlayer(volume_cap=cap, start_volume=cap, fade_ms=20, retry_seconds=0.5)
    try:
        assert player.wait_ready(5.0), "the output did not open"
        player.load(variant.playback_path, variant.duration_seconds,
                    gain=track_gain(target, variant.loudness))
        player.set_volume(float("inf"))  # the volume at its most: the cap
        player.play()
        deadline = time.monotonic() + SECONDS + 10
        while player.state != PlayerState.ENDED and time.monotonic() < deadline:
            time.sleep(0.05)
        assert player.state == PlayerState.ENDED
    finally:
        player.close()
    pcm, rate = audio_device.read_played()
    played = pcm.astype(np.float64) / 32768.0
    heard = pyloudnorm.Meter(rate).integrated_loudness(played)
    # What the listener hears is the target, lowered by the volume (here the cap).
    assert heard - 20 * np.log10(cap) == pytest.approx(target, abs=1.5), \
        f"{name} ({LEVELS[name]} LUFS) played at {heard:.2f} LUFS"
    assert np.abs(played).max() <= cap + 1 / 32768

