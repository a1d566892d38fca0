"""Rate and channel conversion into the engine's one output format, in the feeder thread.

Most exercises are 44.1 kHz stereo, the engine's own format, and pass through untouched
(bit-exact). Other rates go through a streaming polyphase windowed-sinc resampler: exact
rational ratio (44100/48000 = 147/160), 80 taps per phase, Kaiser window (about -80 dB
stop band), -6 dB at 93% of the lower Nyquist, so flat to about 19 kHz and silent from the
new Nyquist up (at 48 -> 44.1 kHz: pass band to ~19 kHz, stop band from ~22 kHz). Chunked input gives the same samples as
one whole-file pass, and the output is aligned (the filter delay is compensated), so the
position in seconds means the same thing before and after conversion.
"""

from __future__ import annotations

from math import ceil, gcd

import numpy as np

TAPS_PER_PHASE = 80
KAISER_BETA = 8.0  # about 81 dB stop band
CUTOFF = 0.93  # -6 dB point, as a fraction of the lower Nyquist


def to_stereo(block: np.ndarray) -> np.ndarray:
    """(frames, channels) float -> (frames, 2): mono is doubled, beyond two the first two are kept."""
    channels = block.shape[1]
    if channels == 2:
        return block
    if channels == 1:
        return np.repeat(block, 2, axis=1)
    return block[:, :2]


def design_filter(up: int, down: int, taps_per_phase: int = TAPS_PER_PHASE) -> np.ndarray:
    """The prototype low-pass at the up-sampled rate, as (up phases, taps) with gain `up`."""
    length = up * taps_per_phase
    cutoff = CUTOFF * 0.5 / max(up, down)  # cycles per up-sampled sample
    # Centred on a whole sample (length // 2): a half-sample offset would shift the output
    # by up to half an output sample, which matters when `up` is small (22.05 -> 44.1 kHz).
    n = np.arange(length) - length // 2
    h = 2 * cutoff * np.sinc(2 * cutoff * n) * np.kaiser(length + 1, KAISER_BETA)[:length]
    h *= up / h.sum()
    # phases[p, k] = h[p + k * up]: the taps that meet real input samples at phase p
    return np.ascontiguousarray(h.reshape(taps_per_phase, up).T)


class Resampler:
    """Streaming sample-rate conversion of (frames, channels) float32 blocks.

    Output frame n sits at input time n * in_rate / out_rate (seconds since the stream
    start); `push` returns every output frame whose input neighbourhood is complete, `flush`
    the rest, so the total is ceil(frames_in * out_rate / in_rate).
    """

    def __init__(self, in_rate: int, out_rate: int, channels: int = 2,
                 taps_per_phase: int = TAPS_PER_PHASE):
        g = gcd(in_rate, out_rate)
        self.up = out_rate // g
        self.down = in_rate // g
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.channels = channels
        self.passthrough = self.up == self.down
        self.taps = taps_per_phase
        self._phases = design_filter(self.up, self.down, taps_per_phase).astype(np.float32)
        # taps oldest-first, to meet the input windows in their natural order
        self._phases_rev = np.ascontiguousarray(self._phases[:, ::-1])
        # Centre of the filter, in up-sampled samples: output n uses up-sampled index
        # n * down + centre, so it lands on input time n * down / up exactly.
        self._centre = self.up * taps_per_phase // 2
        self.reset()

    SLICE = 2048  # outputs computed per step

    def reset(self) -> None:
        """Start a new stream (after a seek): empty history, counters at zero."""
        self._history = np.zeros((self.taps, self.channels), np.float32)
        self._in_count = 0  # input frames received
        self._out_count = 0  # output frames produced
        self._flushed = False

    def push(self, block: np.ndarray) -> np.ndarray:
        if self.passthrough:
            self._in_count += len(block)
            return block
        block = np.asarray(block, np.float32)
        self._in_count += len(block)
        # ext[j] is input frame (in_count - len(ext) + j); the history keeps the last taps.
        ext = np.concatenate([self._history, block]) if len(block) else self._history
        out = self._produce(ext, self._in_count)
        self._history = ext[-self.taps:].copy()
        return out

    def flush(self) -> np.ndarray:
        """The tail: pads with silence, stops at ceil(in * out_rate / in_rate) frames."""
        if self.passthrough or self._flushed:
            return np.zeros((0, self.channels), np.float32)
        self._flushed = True
        pad = np.zeros((self.taps, self.channels), np.float32)
        ext = np.concatenate([self._history, pad])
        total = ceil(self._in_count * self.up / self.down)
        out = self._produce(ext, self._in_count + self.taps, limit=total)
        return out

    def _produce(self, ext: np.ndarray, ext_end: int, limit: int | None = None) -> np.ndarray:
        up, down, taps = self.up, self.down, self.taps
        # Output n needs input frames up to base(n) = (n*down + centre) // up: it can be
        # made once that frame is here. Largest such n, exclusive:
        newest = ext_end - 1
        n_end = ((newest + 1) * up - self._centre + down - 1) // down
        if limit is not None:
            n_end = min(n_end, limit)
        n0 = self._out_count
        if n_end <= n0:
            return np.zeros((0, self.channels), np.float32)
        ext_start = ext_end - len(ext)
        # rows[s] = ext[s : s + taps] for every start s (a view, no copy)
        rows = np.lib.stride_tricks.sliding_window_view(ext, taps, axis=0)  # (starts, channels, taps)
        out = np.empty((n_end - n0, self.channels), np.float32)
        # In slices, so the gathered windows stay around a megabyte whatever the block.
        for a in range(n0, n_end, self.SLICE):
            b = min(n_end, a + self.SLICE)
            t = np.arange(a, b, dtype=np.int64) * down + self._centre
            base = t // up  # newest input frame under the filter for each output
            start = base - (taps - 1) - ext_start  # its window's first frame, in ext
            window = rows[start]  # (outputs, channels, taps): oldest .. newest
            np.einsum("nk,nck->nc", self._phases_rev[t % up], window, out=out[a - n0:b - n0])
        self._out_count = n_end
        return out


def output_frames(in_frames: int, in_rate: int, out_rate: int) -> int:
    """How many output frames a whole track of `in_frames` becomes."""
    if in_rate == out_rate:
        return in_frames
    g = gcd(in_rate, out_rate)
    return ceil(in_frames * (out_rate // g) / (in_rate // g))
