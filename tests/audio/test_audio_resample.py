"""Rate conversion: accurate, aligned, and the same whatever the block sizes."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.audio.resample import Resampler, output_frames, to_stereo


def run(rs: Resampler, x: np.ndarray, blocks: list[int]) -> np.ndarray:
    parts = []
    i = 0
    k = 0
    while i < len(x):
        n = blocks[k % len(blocks)]
        parts.append(rs.push(x[i:i + n]))
        i += n
        k += 1
    parts.append(rs.flush())
    return np.concatenate(parts)


@pytest.mark.parametrize("rates", [(44100, 48000), (48000, 44100), (22050, 44100), (32000, 44100)])
def test_sine_is_converted_accurately_and_in_time(rates):
    fin, fout = rates
    f = 1000.0
    t_in = np.arange(fin) / fin  # one second
    x = np.stack([np.sin(2 * np.pi * f * t_in), np.cos(2 * np.pi * f * t_in)], 1).astype(np.float32)
    y = run(Resampler(fin, fout), x, [4096])
    assert len(y) == output_frames(fin, fin, fout) == fout
    t_out = np.arange(len(y)) / fout
    ideal = np.stack([np.sin(2 * np.pi * f * t_out), np.cos(2 * np.pi * f * t_out)], 1)
    inner = slice(200, len(y) - 200)  # away from the edges, where the stream starts/stops
    err = np.abs(y[inner] - ideal[inner]).max()
    assert err < 1e-3, f"error {err:.2e}: inaccurate or shifted in time"


def test_block_sizes_do_not_change_the_output():
    rng = np.random.default_rng(3)
    x = rng.uniform(-0.8, 0.8, (20000, 2)).astype(np.float32)
    whole = run(Resampler(22050, 44100), x, [len(x)])
    for blocks in ([1, 7, 300], [1024], [4097, 13]):
        assert np.allclose(run(Resampler(22050, 44100), x, blocks), whole, atol=1e-6)


def test_high_frequencies_above_the_new_nyquist_are_removed():
    fin, fout = 48000, 44100
    t = np.arange(fin) / fin
    x = np.repeat((0.5 * np.sin(2 * np.pi * 23000 * t))[:, None], 2, 1).astype(np.float32)
    y = run(Resampler(fin, fout), x, [2048])
    assert np.abs(y[500:-500]).max() < 0.5 * 10 ** (-60 / 20), "aliasing above -60 dB"


def test_same_rate_passes_through_untouched():
    x = np.random.default_rng(1).uniform(-1, 1, (1000, 2)).astype(np.float32)
    rs = Resampler(44100, 44100)
    assert rs.passthrough
    assert rs.push(x) is x
    assert len(rs.flush()) == 0


def test_reset_starts_a_new_stream():
    x = np.random.default_rng(2).uniform(-1, 1, (5000, 2)).astype(np.float32)
    rs = Resampler(48000, 44100)
    first = run(rs, x, [1000])
    rs.reset()
    assert np.allclose(run(rs, x, [1000]), first)


def test_channels_to_stereo():
    mono = np.arange(4, dtype=np.float32)[:, None]
    assert to_stereo(mono).tolist() == [[0, 0], [1, 1], [2, 2], [3, 3]]
    six = np.arange(12, dtype=np.float32).reshape(2, 6)
    assert to_stereo(six).tolist() == [[0, 1], [6, 7]]
