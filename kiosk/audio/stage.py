"""The audio callback's whole job, kept apart from PyAudio so it can be tested without a card.

Two threads share a ring of float32 stereo frames and never wait for each other:

- the feeder thread (one writer) decodes ahead, writes frames at `ring.write_index` and then
  advances it;
- the PortAudio callback (one reader) renders from `ring.read_index`, applies the gain, and
  advances it.

Both indices only grow (the ring position is index % capacity); each is assigned by one
thread only, and a Python attribute assignment is atomic under the GIL, so there is no lock.
A seek or a new track is a *jump*: the feeder publishes `Segment(gen, start, time)` (new
data will begin at ring index `start`, which is source time `time`) before writing the new
frames. The callback fades out what it was playing, then moves its read index to `start`
and fades in. Old frames stay readable until the jump is taken because the ring holds twice
the feeder's lead.

Ordering rules that make this safe (CPython runs one bytecode at a time, in order):
- the callback reads `write_index` before `jump`: any data it may read then is old data;
- the feeder publishes `jump` before it writes new frames, `eof` after its last ones;
- the callback sets `segment` before `read_index`; the position reader reads them in the
  opposite order, so a torn read can only clamp to the segment start.

The feeder sleeps until the callback wakes it: once `ring.read_index` reaches `wake_at`
(the ring has room for a full read), the callback releases `wake`, a plain lock the feeder
waits on. Releasing a lock never waits and, unlike a write to a pipe, keeps the GIL, so the
callback cannot be held up by it; the feeder refills within a scheduling delay of the ring
running low, whatever speed the device drains it at (ALSA's null device has no clock).

Over the track the callback mixes a second voice, talk-back's speech (`Utterance`): short,
decoded by the feeder into one buffer of its own, which the callback only reads. The feeder
hands it over by assigning `voice` (a reference swap: no copy, no lock), first a part of a
few ms and then longer views of the same buffer as it decodes the rest (same gen: the
callback goes on where it was). A new gen is a new utterance: the callback fades the one in
progress out over a few milliseconds and starts the new one from its first frame. While speech is heard the track
is ducked (DUCK_GAIN, ramped over DUCK_SECONDS) and keeps its place and its pace.

In `render` nothing large is allocated (preallocated buffers, `out=` everywhere), nothing
blocks, nothing logs. Exceptions are the caller's to swallow (see player.py).
"""

from __future__ import annotations

from math import ceil
from time import perf_counter
from typing import Any, NamedTuple

import numpy as np

CHANNELS = 2
INT16_SCALE = 32768.0
PA_OUTPUT_UNDERFLOW = 0x4  # PortAudio's paOutputUnderflow status flag
NEVER = 1 << 62  # a ring index no read reaches: nobody to wake
# While talk-back speaks, the exercise goes on about 15 dB lower: words at the visitor's
# volume stand well clear of a voice-and-music track (broadcast "voice over" ducking is
# 10-20 dB), and the exercise is still heard going on, so nothing seems to have stopped.
DUCK_DB = -15.0
DUCK_GAIN = 10 ** (DUCK_DB / 20)
# Slow enough that the exercise sinks and rises rather than jumps (a 20 ms fade would be
# heard as a cut), quick enough that the first word is not spoken over the track at full.
DUCK_SECONDS = 0.1
# An utterance that replaces another, or is stopped or paused, fades over this: long enough
# to make no click, short enough that the new words are not kept waiting.
VOICE_FADE_SECONDS = 0.005
# The loudest an utterance's samples may be: with the track ducked under it the mix stays
# within full scale, so the volume cap is kept without the final clip biting into speech.
SPEECH_PEAK = 1.0 - DUCK_GAIN


def release(lock: Any) -> None:
    """Wake the thread waiting on `lock` (a threading.Lock used as a binary semaphore).

    Never waits: a lock already released is left as it is."""
    if lock is not None and lock.locked():
        try:  # noqa: SIM105 - contextlib.suppress would allocate in the audio callback
            lock.release()
        except RuntimeError:
            pass  # another thread released it between the check and here


class Segment(NamedTuple):
    gen: int  # which load/seek this data belongs to
    start: int  # ring index of its first frame
    time: float  # source time of its first frame, seconds


class Eof(NamedTuple):
    gen: int
    end: int  # ring index just past the segment's last frame


class Utterance(NamedTuple):
    """Words for the callback. The feeder hands over a first part at once and then longer
    views of the same buffer (same gen): the callback goes on where it was in them."""

    gen: int  # which speak() this is
    frames: np.ndarray  # (frames, 2) float32 at the output rate, |x| <= SPEECH_PEAK
    complete: bool = True  # False: more of the same words is being decoded


class RingBuffer:
    def __init__(self, capacity: int, channels: int = CHANNELS):
        self.capacity = int(capacity)
        self.data = np.zeros((self.capacity, channels), np.float32)
        self.write_index = 0  # owned by the feeder
        self.read_index = 0  # owned by the callback

    def free(self) -> int:
        """Room for the writer (conservative: read_index only grows)."""
        return self.capacity - (self.write_index - self.read_index)

    def write(self, frames: np.ndarray) -> None:
        """Copy at write_index and publish; the caller has checked `free()`."""
        n = len(frames)
        w = self.write_index
        i = w % self.capacity
        first = min(n, self.capacity - i)
        self.data[i:i + first] = frames[:first]
        if first < n:
            self.data[:n - first] = frames[first:]
        self.write_index = w + n  # publish only after the copy

    def read_into(self, start: int, dest: np.ndarray, scale: float | None = None) -> None:
        """Copy frames from ring index `start` into `dest`, optionally multiplied by `scale`."""
        n = len(dest)
        i = start % self.capacity
        first = min(n, self.capacity - i)
        if scale is None:
            np.copyto(dest[:first], self.data[i:i + first])
            if first < n:
                np.copyto(dest[first:], self.data[:n - first])
        else:
            np.multiply(self.data[i:i + first], scale, out=dest[:first])
            if first < n:
                np.multiply(self.data[:n - first], scale, out=dest[first:])


class OutputStage:
    """Renders int16 stereo blocks for PortAudio from the ring, with fades and the volume cap.

    Control inputs, written by other threads: `run` (play or hold), `volume`, `jump`, `eof`,
    `wake` and `wake_at`; for speech, `voice` (the utterance to be heard, None for none),
    `voice_run` (speak or hold, for pause) and `speech_on` (words asked for: duck).
    Outputs, read by other threads: `segment`, `ring.read_index`, `calls`, `underruns`,
    `xruns`, `ended_gen`, `silent`, `frames_rendered`, `first_frame_calls` (see player);
    for speech, `voice_pos`, `voice_ended_gen`, `voice_started_gen`, `voice_start_time`,
    `duck`.
    """

    def __init__(self, ring: RingBuffer, rate: int, fade_frames: int, volume_cap: float,
                 max_block: int = 8192):
        self.ring = ring
        self.rate = rate
        self.fade_frames = max(1, int(fade_frames))
        self.cap = float(min(1.0, max(0.0, volume_cap)))
        limit = float(np.floor(self.cap * INT16_SCALE))
        self._low, self._high = -min(32768.0, limit), min(32767.0, limit)
        self.max_block = max_block
        # control inputs
        self.run = False
        self.volume = 0.0
        self.jump = Segment(0, 0, 0.0)
        self.eof: Eof | None = None
        self.wake: Any = None  # the feeder's lock, released once read_index reaches wake_at
        self.wake_at = NEVER
        self.voice: Utterance | None = None
        self.voice_run = True
        # Words asked for: the track is ducked, also while the newest are still being decoded
        # (None in `voice` then), so it does not rise between one utterance and the next.
        self.speech_on = False
        # callback-owned state, readable by others
        self.segment = Segment(0, 0, 0.0)
        self.segment_frames = 0  # frames consumed since the segment started
        self.envelope = 0.0  # fade envelope, 0..1
        self.gain_volume = 0.0  # smoothed volume, 0..cap
        self.calls = 0
        self.underruns = 0  # the ring ran dry while playing
        self.xruns = 0  # PortAudio reported an output underflow
        self.ended_gen = -1
        self.silent = True
        self.frames_rendered = 0  # source frames handed to PortAudio (not silence)
        self.handoff_gen = -1  # gen of the last segment whose first frame went out
        self.handoff_time = 0.0  # perf_counter() when that block was handed over
        self.fade_in_time = 0.0  # perf_counter() when the last fade in from silence went out
        # speech: the callback's own view of it
        self._voice_now: Utterance | None = None  # the utterance being heard (or fading out)
        self.voice_pos = 0  # frames of it consumed
        self.voice_env = 0.0  # its fade envelope, 0..1
        self.voice_volume = 0.0  # its smoothed volume, 0..cap
        self.voice_ended_gen = -1  # gen of the last utterance heard to its end
        self.voice_started_gen = -1  # gen of the last utterance whose first frame went out
        self.voice_start_time = 0.0  # perf_counter() when that block was handed over
        self.duck = 1.0  # the track's ducking gain now, DUCK_GAIN..1
        self.voice_gaps = 0  # the words ran ahead of their decoding (should stay 0)
        self.voice_fade_frames = max(1, int(round(VOICE_FADE_SECONDS * rate)))
        # frames for a full-scale (0..1) swing of the duck, so the 1 -> DUCK_GAIN ramp lasts DUCK_SECONDS
        self.duck_frames = DUCK_SECONDS * rate / (1.0 - DUCK_GAIN)
        # preallocated work buffers
        self._work = np.zeros((max_block, CHANNELS), np.float32)
        self._voice_work = np.zeros((max_block, CHANNELS), np.float32)
        self._duck = np.zeros(max_block, np.float64)
        self._venv = np.zeros(max_block, np.float64)
        self._vvol = np.zeros(max_block, np.float64)
        # Gains in float64: float32 steps would drift a frame per fade over many blocks.
        self._env = np.zeros(max_block, np.float64)
        self._vol = np.zeros(max_block, np.float64)
        # unit ramp: step k (1-based) of a full-scale fade
        self._unit = np.arange(1, max_block + 1, dtype=np.float64) / self.fade_frames
        self._voice_unit = np.arange(1, max_block + 1, dtype=np.float64) / self.voice_fade_frames
        self._duck_unit = np.arange(1, max_block + 1, dtype=np.float64) / self.duck_frames

    # -- helpers for the monitor -----------------------------------------------------
    def where(self) -> tuple[float, Segment]:
        """(source time of the next frame to render, its segment); no latency correction."""
        r = self.ring.read_index  # read before segment (see the module's ordering rules)
        seg = self.segment
        return seg.time + max(0, r - seg.start) / self.rate, seg

    def source_time(self) -> float:
        return self.where()[0]

    def silence(self) -> None:
        """Only while no stream renders: the next stream starts silent. A fade-out that a lost
        device cut short is not finished on the device that comes back (a burst of the old
        sound when the headphones are plugged in again, with nobody pressing play)."""
        self.envelope = 0.0
        self.voice_env = 0.0

    # -- the callback ----------------------------------------------------------------
    def render(self, out: np.ndarray, status: int = 0) -> None:
        """Fill `out` (frames, 2) int16. Called by PortAudio's thread only."""
        n = len(out)
        self.calls += 1
        was_silent = self.envelope == 0.0
        if status & PA_OUTPUT_UNDERFLOW and not was_silent:
            self.xruns += 1  # a gap in sound (one in silence, e.g. at stream start, is not heard)
        work = self._work[:n]
        ring = self.ring
        filled = 0
        new_segment = False
        while filled < n:
            w = ring.write_index  # before jump: see the ordering rules
            jump = self.jump
            seg = self.segment
            r = ring.read_index
            pending = jump.gen != seg.gen
            if pending and self.envelope == 0.0:
                # Silent: take the jump now, nothing to fade.
                self.segment = jump
                self.segment_frames = 0
                ring.read_index = jump.start
                continue
            limit = jump.start if pending else w
            avail = limit - r
            vol_target = min(max(self.volume, 0.0), self.cap)
            env_target = 1.0 if (self.run and not pending) else 0.0
            if self.envelope == 0.0 and env_target == 0.0:
                break  # holding (paused, stopped, idle): silence, read index stays
            m = min(n - filled, avail)
            if env_target == 0.0:
                # Fading out: consume only as far as the fade goes, so pause keeps its place.
                m = min(m, ceil(self.envelope * self.fade_frames - 1e-6))
            if m <= 0:
                if pending:
                    self.envelope = 0.0  # no old frames left to fade: jump at once
                    continue
                eof = self.eof
                if eof is not None and eof.gen == seg.gen and r >= eof.end:
                    self.ended_gen = seg.gen
                elif self.segment_frames > 0 and self.run:
                    self.underruns += 1
                # After a gap the sound comes back with a fade in, not a click.
                self.envelope = 0.0
                break
            chunk = work[filled:filled + m]
            if self.envelope == 1.0 and env_target == 1.0 and self.gain_volume == vol_target:
                # Steady playing (nearly every call): one scaled copy out of the ring.
                ring.read_into(r, chunk, vol_target * INT16_SCALE)
            else:
                ring.read_into(r, chunk)
                if self.envelope == 0.0:
                    self.gain_volume = vol_target  # silent: a volume change needs no smoothing
                self.envelope = self._ramp(self._env, m, self.envelope, env_target)
                self.gain_volume = self._ramp(self._vol, m, self.gain_volume, vol_target)
                gain = self._env[:m]
                np.multiply(gain, self._vol[:m], out=gain)
                np.minimum(gain, self.cap, out=gain)
                np.multiply(gain, INT16_SCALE, out=gain)
                np.multiply(chunk, gain[:, None], out=chunk)
            if self.segment_frames == 0:
                self.handoff_gen = seg.gen
                new_segment = True
            self.segment_frames += m
            self.frames_rendered += m
            ring.read_index = r + m
            filled += m
        self.silent = self.envelope == 0.0
        if ring.read_index >= self.wake_at:
            release(self.wake)
        # Ducking applies to the track's frames only, and moves whether or not it plays, so
        # a track that starts during speech starts lowered.
        duck_target = DUCK_GAIN if self._speaking() else 1.0
        if self.duck != duck_target or duck_target != 1.0:
            self.duck = self._ramp_by(self._duck, n, self.duck, duck_target, self._duck_unit,
                                      self.duck_frames)
            if filled:
                np.multiply(work[:filled], self._duck[:filled, None], out=work[:filled])
        if filled < n:
            work[filled:].fill(0.0)
        spoke = self._render_voice(work)
        if not filled and not spoke:
            out.fill(0)
            return
        if filled and was_silent:
            self.fade_in_time = perf_counter()
        if new_segment:
            self.handoff_time = perf_counter()
        # work holds gain * x * 32768: exact integers at unity gain for int16-sourced audio.
        # The clip is the last word on the cap, whatever reached the ring.
        np.rint(work, out=work)
        np.clip(work, self._low, self._high, out=work)
        np.copyto(out, work, casting="unsafe")

    # -- speech ----------------------------------------------------------------------
    def _speaking(self) -> bool:
        """Words are (or are about to be) in the headphones: the track is ducked. Paused
        speech is not: a pause may last, and the exercise should not stay lowered for it."""
        if not (self.speech_on and self.voice_run):
            return False
        voice = self.voice
        return voice is None or self.voice_ended_gen != voice.gen

    def _render_voice(self, work: np.ndarray) -> bool:
        """Add the utterance into `work` (already gain * 32768 scaled); True if any was added."""
        n = len(work)
        done = 0
        spoke = False
        while done < n:
            want = self.voice
            now = self._voice_now
            if want is not None and now is not None and want is not now and want.gen == now.gen:
                self._voice_now = now = want  # more of the same words: on from where we are
            elif want is not now and (now is None or self.voice_env == 0.0):
                # Nothing heard of the old one (or it has faded out): the new one from its start.
                self._voice_now = now = want
                self.voice_pos = 0
                self.voice_env = 0.0
            if now is None:
                break
            frames = now.frames
            remaining = len(frames) - self.voice_pos
            target = 1.0 if (self.voice_run and want is now) else 0.0
            if remaining <= 0 and not now.complete and want is now:
                # The rest is not decoded yet (never seen: each part is twice the last): a gap,
                # after which the words come back with a fade in.
                if self.voice_env > 0.0:
                    self.voice_gaps += 1
                self.voice_env = 0.0
                break
            if remaining <= 0:
                # Heard to its end; it stays `_voice_now` (so it is not started again) until
                # another is asked for.
                self.voice_env = 0.0
                if want is now:
                    self.voice_ended_gen = now.gen
                    break
                continue  # a newer one waits
            if self.voice_env == 0.0 and target == 0.0:
                break  # paused: holds its place, silent
            m = min(n - done, remaining)
            if target == 0.0:
                # Fading out: only as far as the fade goes, so a pause resumes where it was.
                m = min(m, ceil(self.voice_env * self.voice_fade_frames - 1e-6))
                if m <= 0:
                    self.voice_env = 0.0
                    continue
            vol_target = min(max(self.volume, 0.0), self.cap)
            if self.voice_env == 0.0:
                self.voice_volume = vol_target
            self.voice_env = self._ramp_by(self._venv, m, self.voice_env, target, self._voice_unit,
                                           self.voice_fade_frames)
            self.voice_volume = self._ramp(self._vvol, m, self.voice_volume, vol_target)
            gain = self._venv[:m]
            np.multiply(gain, self._vvol[:m], out=gain)
            np.minimum(gain, self.cap, out=gain)
            np.multiply(gain, INT16_SCALE, out=gain)
            chunk = self._voice_work[:m]
            pos = self.voice_pos
            np.multiply(frames[pos:pos + m], gain[:, None], out=chunk)
            np.add(work[done:done + m], chunk, out=work[done:done + m])
            if pos == 0:
                self.voice_started_gen = now.gen
                self.voice_start_time = perf_counter()
            self.voice_pos = pos + m
            done += m
            spoke = True
        return spoke

    def _ramp(self, buf: np.ndarray, m: int, start: float, target: float) -> float:
        """buf[:m] = linear ramp from `start` toward `target` at full scale per fade; returns the end."""
        return self._ramp_by(buf, m, start, target, self._unit, self.fade_frames)

    @staticmethod
    def _ramp_by(buf: np.ndarray, m: int, start: float, target: float, unit: np.ndarray,
                 full_frames: float) -> float:
        """buf[:m] = linear ramp from `start` toward `target`, a full-scale swing taking
        `full_frames` (`unit[k-1]` = k / full_frames); returns the end."""
        if start == target:
            buf[:m].fill(target)
            return target
        diff = target - start
        steps = ceil(abs(diff) * full_frames - 1e-6)
        k = min(m, steps)
        ramp = buf[:k]
        if diff > 0:
            np.add(unit[:k], start, out=ramp)
            np.minimum(ramp, target, out=ramp)
        else:
            np.subtract(start, unit[:k], out=ramp)
            np.maximum(ramp, target, out=ramp)
        if k < m:
            buf[k:m].fill(target)
            return target
        end = float(ramp[k - 1])
        return target if k == steps else end
