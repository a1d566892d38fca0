"""Comparing what was played with what should have been: alignment and checks."""

from __future__ import annotations

import numpy as np


def find_lag(captured: np.ndarray, reference: np.ndarray, at: int, width: int = 4096) -> int:
    """Index in `captured` (1-D) where reference[at:at+width] sits, by FFT cross-correlation."""
    window = reference[at:at + width].astype(np.float64)
    data = captured.astype(np.float64)
    n = len(data) + width
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(data, size) * np.conj(np.fft.rfft(window, size)), size)
    corr = corr[: len(data) - width + 1]
    # Normalised by the captured signal's energy under the window: otherwise a loud
    # stretch of quasi-periodic audio (a voice) can outscore the true position.
    energy = np.concatenate([[0.0], np.cumsum(data * data)])
    local = energy[width:] - energy[:-width]
    return int(np.argmax(corr / np.sqrt(np.maximum(local, 1e-9))))


def first_exact_run(a: np.ndarray, b: np.ndarray, run: int = 256, tolerance: int = 1) -> int:
    """First index i where a[i:i+run] equals b[i:i+run] (within tolerance), or -1."""
    ok = np.all(np.abs(a.astype(np.int64) - b.astype(np.int64)) <= tolerance, axis=1)
    bad = np.flatnonzero(~ok)
    # a run of `run` good samples starts right after a bad one (or at 0)
    starts = np.concatenate([[-1], bad]) + 1
    ends = np.concatenate([bad, [len(ok)]])
    long_runs = np.flatnonzero(ends - starts >= run)
    return int(starts[long_runs[0]]) if len(long_runs) else -1


def max_step(x: np.ndarray) -> int:
    """The biggest sample-to-sample jump in any channel (int16 units)."""
    if len(x) < 2:
        return 0
    return int(np.abs(np.diff(x.astype(np.int64), axis=0)).max())


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 32768.0), -32768, 32767).astype(np.int16)
