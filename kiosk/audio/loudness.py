"""Integrated loudness (ITU-R BS.1770-4) measured while the import writes the playback copy,
and the gain the engine plays a track at so that every exercise sounds equally loud.

pyloudnorm's `Meter.integrated_loudness` wants the whole track as one float64 array (a
60-minute stereo track is 1.2 GB of it, and its gating loops are pure Python). The import
already streams the audio in blocks, so the meter here takes those blocks: pyloudnorm's
own K-weighting filter coefficients, run with carried filter state, and the mean square of
each 100 ms step kept (one float per step: 36,000 for an hour). BS.1770's 400 ms gating
blocks at 75 % overlap are four consecutive steps; the absolute (-70 LUFS) and relative
(-10 LU) gates then run over those at the end, as in pyloudnorm. The filtering runs on the
meter's own thread (LoudnessMeter), so the decoder does not wait for it.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

import numpy as np

__all__ = ["MAX_BOOST_DB", "Loudness", "LoudnessMeter", "track_gain"]

ABSOLUTE_GATE = -70.0
RELATIVE_GATE = -10.0
STEP_SECONDS = 0.1  # a gating block (0.4 s) advances by a quarter of itself
STEPS_PER_BLOCK = 4
# The most a quiet track is raised: beyond this a phone recording's hiss and room noise
# come up with the voice, and the measure of a nearly silent file means little.
MAX_BOOST_DB = 24.0


@dataclass(frozen=True)
class Loudness:
    """A track's integrated loudness (None: too short or too quiet to gate, -70 LUFS and
    below) and its sample peak (0..1 of full scale)."""

    lufs: float | None
    peak: float


class _Measure:
    """The measure itself, on the meter's thread: blocks in order, then `result()`."""

    def __init__(self) -> None:
        self._rate = 0
        self._sos: np.ndarray | None = None
        self._zi: np.ndarray | None = None
        self._step = 0
        self._partial = 0.0  # sum of squares (channels summed) of the unfinished step
        self._partial_n = 0
        self._steps: list[float] = []  # mean square of each whole 100 ms step
        self._peak = 0.0

    def _start(self, rate: int, channels: int) -> None:
        import pyloudnorm  # its filter coefficients: the reference implementation's own

        filters = pyloudnorm.Meter(rate)._filters
        stages = [filters["high_shelf"], filters["high_pass"]]
        self._sos = np.array([np.concatenate([f.b * f.passband_gain, f.a]) for f in stages])
        self._zi = np.zeros((len(stages), 2, channels))
        self._rate = rate
        self._step = round(rate * STEP_SECONDS)

    def push(self, block: np.ndarray, rate: int) -> None:
        """`block`: (frames, channels), int16 or float in -1..1."""
        from scipy import signal

        if len(block) == 0:
            return
        x = block.astype(np.float64)
        if block.dtype == np.int16:
            x /= 32768.0
        if self._sos is None:
            self._start(rate, x.shape[1])
        assert self._sos is not None and self._zi is not None
        self._peak = max(self._peak, float(np.abs(x).max()))
        y, self._zi = signal.sosfilt(self._sos, x, axis=0, zi=self._zi)
        # Mono and stereo: every channel weighs 1 (BS.1770's 1.41 is for surround only).
        energy = np.einsum("ij,ij->i", y, y)
        i = 0
        n = len(energy)
        if self._partial_n:
            take = min(n, self._step - self._partial_n)
            self._partial += float(energy[:take].sum())
            self._partial_n += take
            i = take
            if self._partial_n < self._step:
                return
            self._steps.append(self._partial / self._step)
            self._partial, self._partial_n = 0.0, 0
        whole = (n - i) // self._step
        if whole:
            sums = energy[i:i + whole * self._step].reshape(whole, self._step).sum(axis=1)
            self._steps.extend((sums / self._step).tolist())
            i += whole * self._step
        if i < n:
            self._partial = float(energy[i:].sum())
            self._partial_n = n - i

    def result(self) -> Loudness:
        steps = np.asarray(self._steps)
        if len(steps) < STEPS_PER_BLOCK:
            return Loudness(None, self._peak)
        # Each 400 ms block's mean square: the mean of its four 100 ms steps.
        csum = np.concatenate([[0.0], np.cumsum(steps)])
        blocks = (csum[STEPS_PER_BLOCK:] - csum[:-STEPS_PER_BLOCK]) / STEPS_PER_BLOCK
        with np.errstate(divide="ignore"):
            levels = -0.691 + 10.0 * np.log10(blocks)
        above = blocks[levels >= ABSOLUTE_GATE]
        if len(above) == 0:
            return Loudness(None, self._peak)
        relative = -0.691 + 10.0 * np.log10(above.mean()) + RELATIVE_GATE
        gated = blocks[(levels > relative) & (levels > ABSOLUTE_GATE)]
        if len(gated) == 0:
            return Loudness(None, self._peak)
        return Loudness(round(float(-0.691 + 10.0 * np.log10(gated.mean())), 2), self._peak)


class LoudnessMeter:
    """Feed it the decoded track in order (`push`), then read `result()`; `close()` (or a
    `with` block) when the track is given up part-way.

    The filtering runs on a thread of its own, beside the decoder: scipy's filter lets go
    of the GIL, so it can use the second core. Inline it added about 65 % to a 60-minute
    track's import; on its thread, handed the blocks a few seconds' worth at a time (each
    hand-over costs both threads a GIL switch), 10 to 20 % (bench/content.py, "## loudness").
    A few batches at most wait for it, so memory stays small (a few MB).
    """

    QUEUED_BLOCKS = 4
    BATCH_FRAMES = 1 << 17  # fewer, longer hand-overs: each costs both threads a GIL switch

    def __init__(self) -> None:
        self._measure = _Measure()
        self._queue: queue.Queue[tuple[np.ndarray, int] | None] = queue.Queue(self.QUEUED_BLOCKS)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._held: list[np.ndarray] = []
        self._held_frames = 0
        self._rate_held = 0

    def __enter__(self) -> LoudnessMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def push(self, block: np.ndarray, rate: int) -> None:
        """`block`: (frames, channels), int16 or float in -1..1; copied, so the caller may
        reuse its buffer."""
        if len(block) == 0:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="loudness-meter", daemon=True)
            self._thread.start()
        self._held.append(np.array(block, copy=True))
        self._held_frames += len(block)
        self._rate_held = rate
        if self._held_frames >= self.BATCH_FRAMES:
            self._hand_over()

    def _hand_over(self) -> None:
        held, self._held, self._held_frames = self._held, [], 0
        if held:
            self._queue.put((np.concatenate(held), self._rate_held))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._measure.push(*item)
                except BaseException as exc:  # raised again by result(), on the caller's thread
                    self._error = exc

    def close(self) -> None:
        """Stop the meter's thread (once every pushed block is measured)."""
        if self._thread is not None:
            try:
                self._hand_over()
            finally:
                self._queue.put(None)
                self._thread.join()
                self._thread = None

    def result(self) -> Loudness:
        self.close()
        if self._error is not None:
            raise self._error
        return self._measure.result()


def track_gain(target_lufs: float, loudness: Loudness | None) -> float:
    """The linear gain that brings a track to `target_lufs`: never so much that its
    loudest sample would clip (so the engine's volume, at most the cap, stays the ceiling
    of what is heard), never more than MAX_BOOST_DB; unity when its loudness is unknown."""
    if loudness is None or loudness.lufs is None:
        return 1.0
    gain_db = min(target_lufs - loudness.lufs, MAX_BOOST_DB)
    gain = float(10.0 ** (gain_db / 20.0))
    if loudness.peak > 0:
        gain = min(gain, 1.0 / loudness.peak)
    return gain
