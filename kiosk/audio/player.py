"""The real engine: PyAudio in callback mode, a ring buffer, a feeder thread, a monitor thread.

Longer than the rest, on purpose: the feeder, the monitor and the commands share one lock
and one ring, and their rules (who may touch what, in which order, when a device is lost)
read best side by side; the parts that stand alone are already out (stage.py, decode.py,
resample.py, devices.py).

Format: the output is always 44.1 kHz, stereo, int16 (the rate of nearly every MP3 we get,
so most tracks pass bit-exact; int16 because every sound card takes it and what is played
can be compared sample for sample with the decoded source). A device that refuses 44.1 kHz
gets 48 kHz (or its own default rate) and the feeder resamples (kiosk/audio/resample.py).
Mono is doubled to both ears.

Threads:
- PortAudio's callback thread runs `OutputStage.render` (kiosk/audio/stage.py): a copy out
  of the ring, fades, gain, int16 conversion; 1024 frames (23 ms) per call. Smaller blocks
  cost more CPU (PyAudio's own overhead is ~10 us a call) for no gain here: play() and
  seeks still reach PortAudio within one block, the figure the bench measures.
- The callback thread asks for real-time priority (SCHED_FIFO 10, else nice -10) on its
  first call: on a busy two-core machine a normal thread can miss its deadline waiting
  for a CPU.
- "audio-feeder" decodes ahead of the callback (`buffer_seconds`, 1.5 s by default) and
  does seeks and loads; the ring holds twice that so a seek never overwrites what is still
  fading out. It sleeps until the callback takes the ring under the lead (the callback
  releases a lock it waits on) or a command comes, then tops the ring up in one 0.74 s read:
  about 1.4 wake-ups a second at real time, and prompt on a device that drains faster.
  A device cost per callback dominates at real time: the bench's floor row (an empty
  PyAudio callback on the paced device) is about half of what the engine spends.
- "audio-monitor" opens the device (retrying every 2 s when there is none, with a fresh
  PortAudio each time since its device list is frozen), watches the callback (a device
  that stops calling back for 1 s, or a stream PortAudio marks inactive, is lost), turns
  the callback's flags into events (position 12.5 times a second, ended) and delivers them
  through `dispatch`.

The stream stays open and running while the player lives (silence when not playing), so
play() and seeks start within one callback period and a lost device is noticed even when
idle. Position as heard = source time of the next frame to render - output latency.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from math import ceil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kiosk.audio.api import (
    Dispatch,
    ListenerSet,
    PlayerError,
    PlayerErrorKind,
    PlayerListener,
    PlayerState,
    SpeechState,
    call_now,
    engine_options,
)
from kiosk.audio.decode import DecodeError, FileMissing, Reader, open_reader, probe_duration
from kiosk.audio.devices import (
    NoAudioSystem,
    devices_of,
    new_pyaudio,
    pick_device,
    portaudio_lock,
    quiet_stderr,
    terminate_pyaudio,
)
from kiosk.audio.loudness import MAX_BOOST_DB
from kiosk.audio.resample import Resampler, output_frames, to_stereo
from kiosk.audio.stage import (
    CHANNELS,
    NEVER,
    SPEECH_PEAK,
    VOICE_FADE_SECONDS,
    Eof,
    OutputStage,
    RingBuffer,
    Segment,
    Utterance,
    release,
)

if TYPE_CHECKING:
    from kiosk.config import AudioSettings

log = logging.getLogger(__name__)

RATE = 44100
FALLBACK_RATES = (48000,)
BLOCK_FRAMES = 1024  # 23 ms per callback: PyAudio costs ~10 us a call whatever its size
# Source frames per feeder read (0.74 s): each wake-up and read has a fixed cost, so the
# feeder sleeps until the ring has room for a whole read and then does one.
FEED_FRAMES = 32768
FIRST_FEED_FRAMES = 1024  # smaller first read after a seek: sooner to the callback
RETRY_SECONDS = 2.0
STALL_SECONDS = 1.0  # no callback for this long while the stream runs: the device is lost
START_GRACE_SECONDS = 5.0  # a new stream may stay quiet this long before counting as lost
WARM_CALLS = 16  # callbacks after which a stream counts as running
MONITOR_PERIOD = 0.08  # 12.5 position events per second while playing (the UI needs 10)
MONITOR_IDLE_PERIOD = 0.2  # otherwise: still notices a lost device well within 2 s
CLOSE_TIMEOUT = 1.0
MAX_GAIN = 10 ** (MAX_BOOST_DB / 20)
FEEDER_WAIT = 0.5  # the feeder's longest sleep: the callback or a command normally wakes it
PA_INT16 = 8  # pyaudio.paInt16, without importing PyAudio at module import time
PA_CONTINUE = 0
# Talk-back's words are decoded into memory of their own (the callback only reads them); a
# screen's summary is a few seconds. Longer than this is a mistake upstream, not speech
# to hold in memory (two minutes: 21 MB at the output format).
MAX_SPEECH_SECONDS = 120.0


class PortAudioPlayer:
    """The station's player (see kiosk.audio.api.Player for the contract)."""

    def __init__(
        self,
        *,
        output_device: str = "",
        volume_cap: float = 0.8,
        start_volume: float = 0.4,
        fade_ms: float = 20,
        buffer_seconds: float = 1.5,
        dispatch: Dispatch = call_now,
        rate: int = RATE,
        block_frames: int = BLOCK_FRAMES,
        retry_seconds: float = RETRY_SECONDS,
        realtime: bool = True,
    ):
        self.volume_cap = float(min(1.0, max(0.0, volume_cap)))
        self._start_volume = float(min(self.volume_cap, max(0.0, start_volume)))
        self._device_name = output_device
        self._fade_ms = float(min(30.0, max(10.0, fade_ms)))
        self._buffer_seconds = float(max(0.25, buffer_seconds))
        self._block = int(block_frames)
        self._retry_seconds = float(retry_seconds)
        self._lock = threading.RLock()
        self._listeners = ListenerSet(dispatch)
        self._emit = self._listeners.emit
        # control state (under _lock)
        self._logical = PlayerState.IDLE
        self._device_error: PlayerError | None = None
        self._file_error: PlayerError | None = None
        self._published: PlayerState | None = None
        self._path: Path | None = None
        self._duration = 0.0
        self._volume = self._start_volume
        self._gen = 0
        self._path_gen = 0  # the gen of the current track's load
        self._seek_target = 0.0
        self._anchor = 0.0  # source time where playing last (re)started
        self._speech = SpeechState.IDLE
        self._speech_gen = 0  # the current speak()'s; a stop or a newer speak moves it on
        self._speech_published = SpeechState.IDLE
        # device (monitor thread only)
        self._pa: Any = None
        self._stream: Any = None
        self._latency = 0.0
        self._device_label = ""
        self.device_rate = 0
        self._out = np.zeros((max(8192, self._block), CHANNELS), np.int16)
        # What the callback returns for a full block, made once: no allocation per call.
        self._block_reply = (self._out[:self._block], PA_CONTINUE)
        self.callback_errors = 0
        self._calls_at_open = 0
        self._realtime = realtime
        self._raise_priority = False  # set for each new stream: its callback thread is new
        self.priority = "not started"
        self._callback_tid = 0
        # The feeder waits on this lock; the callback and the control calls release it.
        self._wake = threading.Lock()
        self._wake.acquire()
        self._stage = self._make_stage(int(rate))
        self._closing = threading.Event()
        self._feeder = _Feeder(self)
        self._monitor = threading.Thread(target=self._monitor_loop, name="audio-monitor", daemon=True)
        self._opened = threading.Event()  # first open attempt finished (either way)
        self._feeder.start()
        self._monitor.start()

    @classmethod
    def from_settings(cls, audio_settings: AudioSettings, dispatch: Dispatch = call_now, **overrides: Any) -> PortAudioPlayer:
        """From `settings.audio` (kiosk.config.AudioSettings)."""
        return cls(**{**engine_options(audio_settings), "dispatch": dispatch, **overrides})

    # ------------------------------------------------------------------ the Player API
    @property
    def state(self) -> PlayerState:
        with self._lock:
            return self._current_state()

    @property
    def duration(self) -> float:
        return self._duration

    @property
    def volume(self) -> float:
        return self._volume

    @property
    def position(self) -> float:
        with self._lock:
            logical, gen, target, duration = self._logical, self._gen, self._seek_target, self._duration
            anchor = self._anchor
        if self._path is None:
            return 0.0
        if logical == PlayerState.ENDED:
            return duration
        t, seg = self._stage.where()
        if seg.gen != gen:
            return target  # the seek or load has not reached the callback yet
        if logical == PlayerState.PLAYING:
            # What the ear hears lags the callback by the output latency; right after play()
            # the ear is still at the point where playing (re)started, never before it.
            t = max(seg.time, anchor, t - self._latency)
        return float(min(max(t, 0.0), duration))

    @property
    def output_latency(self) -> float:
        return self._latency

    @property
    def speech_state(self) -> SpeechState:
        return self._speech

    @property
    def underruns(self) -> int:
        """The ring ran dry while playing, plus PortAudio's own output underflows."""
        return self._stage.underruns + self._stage.xruns

    @property
    def stage(self) -> OutputStage:
        return self._stage

    @property
    def device_label(self) -> str:
        return self._device_label

    def load(self, path: Path, duration: float | None = None, gain: float = 1.0) -> None:
        path = Path(path)
        gain = float(gain)
        # A gain from elsewhere than track_gain (NaN, 0, a huge boost) is not trusted.
        gain = min(gain, MAX_GAIN) if gain > 0.0 else 1.0
        error: PlayerError | None = None
        if duration is None:
            try:
                duration = probe_duration(path)
            except DecodeError as exc:
                error = file_error(exc)
                duration = 0.0
        with self._lock:
            self._gen += 1
            self._path_gen = self._gen
            self._path = path
            self._duration = float(duration)
            self._file_error = error
            self._logical = PlayerState.IDLE
            self._seek_target = 0.0
            self._anchor = 0.0
            self._stage.run = False
            self._set_volume_locked(self._start_volume)
            if error is None:
                self._feeder.post(("load", self._gen, path, gain))
        if error is not None:
            log.warning("cannot load %s", error.detail)
            self._emit("on_error", error)
        self._publish_state()
        self._emit("on_position", 0.0)

    def restore(self, path: Path, duration: float | None, seconds: float, paused: bool, volume: float,
                gain: float = 1.0) -> None:
        """Load `path` (at `gain`) at `seconds` with `volume`, PAUSED (or IDLE when `paused` is
        false): how RemotePlayer puts a restarted engine back where the one before it was."""
        self.load(path, duration, gain)
        with self._lock:
            if self._file_error is not None:
                return  # load() has reported it
            self._seek_locked(seconds)
            if paused:
                self._logical = PlayerState.PAUSED
            self._set_volume_locked(volume)
        self._publish_state()

    def play(self) -> None:
        with self._lock:
            if self._path is None:
                return
            problem = self._device_error or self._file_error
            if problem is None and self._logical != PlayerState.PLAYING:
                if self._logical == PlayerState.ENDED:
                    self._seek_locked(0.0)  # also anchors at 0
                else:
                    self._anchor = self.position
                self._logical = PlayerState.PLAYING
                self._stage.run = True
        if problem is not None:
            self._emit("on_error", problem)
        self._publish_state()

    def pause(self) -> None:
        with self._lock:
            if self._logical == PlayerState.PLAYING:
                self._stage.run = False
                self._logical = PlayerState.PAUSED
        self._publish_state()
        self._emit("on_position", self.position)

    def resume(self) -> None:
        with self._lock:
            paused = self._logical == PlayerState.PAUSED
        if paused:
            self.play()

    def stop(self) -> None:
        with self._lock:
            if self._path is None:
                return
            self._stage.run = False
            self._seek_locked(0.0)
            self._logical = PlayerState.IDLE
        self._publish_state()
        self._emit("on_position", 0.0)

    def seek(self, seconds: float) -> None:
        with self._lock:
            if self._path is None:
                return
            target = self._seek_locked(seconds)
            if self._logical == PlayerState.ENDED:
                self._logical = PlayerState.PAUSED
        self._publish_state()
        self._emit("on_position", target)

    def skip(self, delta: float) -> None:
        self.seek(self.position + float(delta))

    def set_volume(self, v: float) -> None:
        with self._lock:
            self._set_volume_locked(v)

    def reset_volume(self) -> None:
        self.set_volume(self._start_volume)

    # -- talk-back's voice, over the track (stage.py mixes it; the feeder decodes it)
    def speak(self, path: Path) -> None:
        with self._lock:
            if self._device_error is not None:
                # Nobody would hear them, and they must not start by themselves when the
                # device comes back: the words are not said (IDLE, as they are).
                self._speech_lost_locked()
                unheard = True
            else:
                unheard = False
        if unheard:
            self._publish_speech()
            return
        with self._lock:
            self._speech_gen += 1
            self._speech = SpeechState.SPEAKING
            # The utterance in progress fades out now, not when the new one is decoded: the
            # newest words replace the old at once (the callback takes this None as "stop").
            self._stage.voice = None
            self._stage.voice_run = True
            self._stage.speech_on = True
            self._feeder.post(("speak", self._speech_gen, Path(path)))
        self._publish_speech()

    def stop_speaking(self) -> None:
        with self._lock:
            self._speech_gen += 1  # an utterance still being decoded is never heard
            self._stage.voice = None
            self._stage.speech_on = False
            self._speech = SpeechState.IDLE
        self._publish_speech()

    def pause_speaking(self) -> None:
        with self._lock:
            if self._speech == SpeechState.SPEAKING:
                self._stage.voice_run = False
                self._speech = SpeechState.PAUSED
        self._publish_speech()

    def resume_speaking(self) -> None:
        with self._lock:
            if self._speech == SpeechState.PAUSED:
                self._stage.voice_run = True
                self._speech = SpeechState.SPEAKING
        self._publish_speech()

    def _utterance_ready(self, gen: int, frames: np.ndarray | None, complete: bool = True) -> bool:
        """From the feeder: the decoded words so far (None: they could not be read). False
        when they are not wanted any more (stopped, or replaced): decoding them can stop."""
        with self._lock:
            if gen != self._speech_gen:
                return False
            if frames is None:
                self._speech = SpeechState.IDLE
                self._stage.speech_on = False
            else:
                # The hand-over: one reference assigned; the callback only ever reads it.
                self._stage.voice = Utterance(gen, frames, complete)
        self._publish_speech()
        return frames is not None

    def _speech_lost_locked(self) -> None:
        """The device went (or never came): the words end. When it comes back they do not
        start again by themselves, as a track does not."""
        self._speech_gen += 1
        self._stage.voice = None
        self._stage.speech_on = False
        self._speech = SpeechState.IDLE

    def _publish_speech(self) -> None:
        with self._lock:
            state = self._speech
            if state == self._speech_published:
                return
            self._speech_published = state
        log.debug("speech %s", state)
        self._emit("on_speech", state)

    def add_listener(self, listener: PlayerListener) -> None:
        self._listeners.add(listener)

    def remove_listener(self, listener: PlayerListener) -> None:
        self._listeners.remove(listener)

    def wait_ready(self, timeout: float = 5.0) -> bool:
        """Wait for the first attempt to open the device; True when it is open."""
        self._opened.wait(timeout)
        return self._stream is not None

    def close(self) -> None:
        if self._closing.is_set():
            return
        self._closing.set()
        self._stage.run = False
        self._feeder.post(("close",))
        self._feeder.join(2.0)
        self._monitor.join(3.0)
        stream, pa = self._stream, self._pa
        self._stream = self._pa = None
        if stream is not None or pa is not None:
            self._close_device(stream, pa)
        self._listeners.clear()

    # ------------------------------------------------------------------ inside: control
    def _current_state(self) -> PlayerState:
        if self._device_error is not None or self._file_error is not None:
            return PlayerState.ERROR
        return self._logical

    def _set_volume_locked(self, v: float) -> None:
        v = float(v)
        if v != v:  # NaN asks for nothing
            v = 0.0
        self._volume = min(max(v, 0.0), self.volume_cap)
        self._stage.volume = self._volume

    def _seek_locked(self, seconds: float) -> float:
        target = float(min(max(float(seconds), 0.0), self._duration))
        self._gen += 1
        self._seek_target = target
        self._anchor = target
        if self._file_error is None:
            self._feeder.post(("seek", self._gen, target))
        return target

    def _make_stage(self, rate: int) -> OutputStage:
        lead = int(self._buffer_seconds * rate)
        # Twice the lead (a seek's old frames stay readable while they fade), plus room for
        # the read that tops the lead up.
        ring = RingBuffer(2 * lead + 2 * FEED_FRAMES * rate // RATE + 4096)
        fade = int(round(self._fade_ms * rate / 1000.0))
        stage = OutputStage(ring, rate, fade, self.volume_cap, max_block=self._out.shape[0])
        stage.volume = self._volume
        stage.wake = self._wake
        return stage

    def _publish_state(self) -> None:
        with self._lock:
            state = self._current_state()
            if state == self._published:
                return
            self._published = state
        log.debug("player state %s", state)
        self._emit("on_state", state)

    def _feed_error(self, gen: int, error: PlayerError) -> None:
        """The feeder could not read the current track."""
        with self._lock:
            if gen < self._path_gen:
                return  # about a track already replaced
            self._file_error = error
            self._stage.run = False
            if self._logical == PlayerState.PLAYING:
                self._logical = PlayerState.PAUSED
        log.warning("playback error: %s", error.detail)
        self._emit("on_error", error)
        self._publish_state()

    # ------------------------------------------------------------------ inside: callback
    def _callback(self, in_data: Any, frame_count: int, time_info: Any, status: int) -> tuple[Any, int]:
        if self._raise_priority:
            self._raise_priority = False
            self.priority = raise_thread_priority()
            self._callback_tid = threading.get_native_id()  # after: the monitor may lower it
        reply = self._block_reply if frame_count == self._block else (self._out[:frame_count], PA_CONTINUE)
        out = reply[0]
        try:
            self._stage.render(out, status)
        except Exception:  # an exception here would abort the stream: never let one out
            out.fill(0)
            self.callback_errors += 1
        return reply

    # ------------------------------------------------------------------ inside: monitor
    def _monitor_loop(self) -> None:
        next_retry = 0.0
        calls_seen = -1
        last_progress = 0.0
        started = 0.0
        ended_seen_at: float | None = None
        said_seen_at: float | None = None
        last_position = 0.0
        reported_underruns = 0
        last_underrun_log = -10.0
        pace_at, pace_calls = time.monotonic(), 0
        while not self._closing.is_set():
            now = time.monotonic()
            if self._stream is None:
                if now >= next_retry:
                    if self._try_open():
                        started = last_progress = time.monotonic()
                        calls_seen = self._calls_at_open = self._stage.calls
                    else:
                        next_retry = now + self._retry_seconds
                    self._opened.set()
            else:
                calls = self._stage.calls
                if now - pace_at >= 1.0:
                    self._check_pace(calls - pace_calls, now - pace_at)
                    pace_at, pace_calls = now, calls
                if calls != calls_seen:
                    calls_seen, last_progress = calls, now
                else:
                    reason = self._stall_reason(now - last_progress, now - started)
                    if reason:
                        self._device_lost(reason)
                        next_retry = time.monotonic() + min(0.5, self._retry_seconds)
            ended_seen_at = self._check_ended(now, ended_seen_at)
            said_seen_at = self._check_said(now, said_seen_at)
            if now - last_position >= MONITOR_PERIOD * 0.9:
                with self._lock:
                    playing = self._logical == PlayerState.PLAYING and self._current_state() == PlayerState.PLAYING
                if playing:
                    last_position = now
                    self._emit("on_position", self.position)
            underruns = self.underruns
            if underruns != reported_underruns and now - last_underrun_log >= 10.0:
                log.warning("audio output underruns: %d so far (gaps in the sound)", underruns)
                reported_underruns, last_underrun_log = underruns, now
            with self._lock:
                busy = (self._logical == PlayerState.PLAYING or self._stream is None
                        or self._speech != SpeechState.IDLE)
            # A plain sleep: Event.wait makes a new lock at every call, and close() can
            # wait one period.
            time.sleep(MONITOR_PERIOD if busy else MONITOR_IDLE_PERIOD)

    def _check_pace(self, calls: int, seconds: float) -> None:
        """A device that takes audio much faster than real time (no clock, or a broken
        driver) makes a real-time callback thread spin and starve everything else: put it
        back at normal priority."""
        if not self._callback_tid or self.priority.startswith("normal") or seconds <= 0:
            return
        speed = calls * self._block / (self.device_rate or RATE) / seconds
        if speed < 2.0:
            return
        tid = self._callback_tid
        try:
            os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
            os.setpriority(os.PRIO_PROCESS, tid, 0)
        except OSError:
            log.debug("could not lower the callback thread's priority", exc_info=True)
        self.priority = f"normal priority (lowered: the device ran at {speed:.0f}x real time)"
        log.warning("the output device takes audio at %.0fx real time; the audio callback "
                    "thread is back at normal priority", speed)

    def _stall_reason(self, quiet: float, since_start: float) -> str | None:
        stream = self._stream
        try:
            active = bool(stream.is_active())
        except Exception:
            active = False
        if not active:
            return "the output stream stopped"
        warm = self._stage.calls - self._calls_at_open >= WARM_CALLS
        if warm and quiet > STALL_SECONDS:
            return f"no audio callback for {quiet:.1f} s"
        if not warm and since_start > START_GRACE_SECONDS and quiet > STALL_SECONDS:
            return "the output never started"
        return None

    def _check_ended(self, now: float, seen_at: float | None) -> float | None:
        stage = self._stage
        with self._lock:
            ended = (stage.ended_gen == self._gen and self._logical == PlayerState.PLAYING
                     and self._file_error is None)
        if not ended:
            return None
        if seen_at is None:
            return now
        if now - seen_at < self._latency:
            return seen_at  # the last frames are still on their way to the ear
        with self._lock:
            if not (stage.ended_gen == self._gen and self._logical == PlayerState.PLAYING):
                return None
            self._logical = PlayerState.ENDED
            stage.run = False
            duration = self._duration
        self._emit("on_position", duration)
        self._publish_state()
        self._emit("on_ended")
        return None

    def _check_said(self, now: float, seen_at: float | None) -> float | None:
        """Speech heard to its end: IDLE once its last frames have reached the ear."""
        stage = self._stage
        with self._lock:
            said = self._speech == SpeechState.SPEAKING and stage.voice_ended_gen == self._speech_gen
        if not said:
            return None
        if seen_at is None:
            return now
        if now - seen_at < self._latency:
            return seen_at
        with self._lock:
            if not (self._speech == SpeechState.SPEAKING and stage.voice_ended_gen == self._speech_gen):
                return None
            self._speech = SpeechState.IDLE
            stage.voice = None
            stage.speech_on = False
        self._publish_speech()
        return None

    def _try_open(self) -> bool:
        try:
            pa = new_pyaudio()
        except NoAudioSystem as exc:
            self._device_failed(str(exc))
            return False
        stream = None
        try:
            device, reason = pick_device(devices_of(pa), self._device_name)
            if device is None:
                raise _NoDevice("No audio output device found (are the headphones connected?)")
            rate = self._choose_rate(pa, device.index)
            if rate != self._stage.rate:
                self._feeder.reconfigure(rate)
            self._raise_priority = self._realtime
            self._callback_tid = 0
            self._stage.silence()  # no stream is running: the old one is gone or never was
            with portaudio_lock, quiet_stderr("opening the output stream"):
                stream = pa.open(
                    format=PA_INT16, channels=CHANNELS, rate=rate, output=True,
                    output_device_index=device.index, frames_per_buffer=self._block,
                    stream_callback=self._callback, start=False,
                )
                stream.start_stream()
            self._latency = float(stream.get_output_latency())
        except (_NoDevice, OSError, ValueError) as exc:
            if stream is not None:
                self._close_device(stream, None)
            terminate_pyaudio(pa)
            message = str(exc) if isinstance(exc, _NoDevice) else f"The audio output could not be opened ({exc})"
            self._device_failed(message)
            return False
        if self._closing.is_set():  # close() came while we were opening
            self._close_device(stream, pa)
            return False
        self._pa, self._stream = pa, stream
        self._device_label = device.name
        self.device_rate = rate
        log.info("audio output open: %s; %s, %d Hz, %d frames per callback, latency %.1f ms",
                 reason, device.host_api, rate, self._block, self._latency * 1000)
        with self._lock:
            recovered = self._device_error is not None
            self._device_error = None
        if recovered:
            log.info("audio output available")
        if self._realtime:
            timer = threading.Timer(1.0, self._log_priority)
            timer.name, timer.daemon = "audio-priority-log", True
            timer.start()
        self._publish_state()
        return True

    def _log_priority(self) -> None:
        if self.priority.startswith("normal"):
            log.warning("audio callback thread at %s", self.priority)
        else:
            log.info("audio callback thread at %s", self.priority)

    def _choose_rate(self, pa: Any, index: int) -> int:
        info = pa.get_device_info_by_index(index)
        candidates = [self._stage.rate, RATE, *FALLBACK_RATES, int(info["defaultSampleRate"])]
        for rate in candidates:
            try:
                if pa.is_format_supported(rate, output_device=index, output_channels=CHANNELS,
                                          output_format=PA_INT16):
                    return int(rate)
            except ValueError:
                continue
        return int(candidates[0])

    def _device_failed(self, message: str) -> None:
        """No device could be opened (none there, or it refused)."""
        with self._lock:
            first = self._device_error is None
            error = self._device_error = PlayerError(PlayerErrorKind.DEVICE_UNAVAILABLE, message)
            self._stage.run = False
            if self._logical == PlayerState.PLAYING:
                self._logical = PlayerState.PAUSED
            self._speech_lost_locked()
        self._publish_speech()
        if first:
            log.warning("audio output unavailable: %s (retrying every %.0f s)", message, self._retry_seconds)
            self._emit("on_error", error)
        else:
            log.debug("audio output still unavailable: %s", message)
        self._publish_state()

    def _device_lost(self, reason: str) -> None:
        stream, pa = self._stream, self._pa
        self._stream = self._pa = None
        label = self._device_label or "the output device"
        log.warning("audio output lost (%s): %s", label, reason)
        with self._lock:
            error = self._device_error = PlayerError(
                PlayerErrorKind.DEVICE_LOST, f"The audio output device was lost ({label}: {reason})")
            self._stage.run = False
            if self._logical == PlayerState.PLAYING:
                self._logical = PlayerState.PAUSED
            self._speech_lost_locked()
        self._publish_speech()
        self._emit("on_error", error)
        self._publish_state()
        self._close_device(stream, pa)

    def _close_device(self, stream: Any, pa: Any) -> None:
        """Close in a helper thread: PortAudio can hang on a device that went away."""

        def close() -> None:
            if stream is not None:
                try:
                    with quiet_stderr("closing the output stream"):
                        stream.close()
                except Exception:
                    log.debug("closing the output stream failed", exc_info=True)
            if pa is not None:
                terminate_pyaudio(pa)

        closer = threading.Thread(target=close, name="audio-closer", daemon=True)
        closer.start()
        closer.join(CLOSE_TIMEOUT)
        if closer.is_alive():
            log.error("PortAudio did not close the output within %.0f s; leaving it behind", CLOSE_TIMEOUT)


class _NoDevice(Exception):
    pass


def file_error(exc: DecodeError) -> PlayerError:
    """The error a listener hears for a track that cannot be read."""
    kind = PlayerErrorKind.FILE_MISSING if isinstance(exc, FileMissing) else PlayerErrorKind.FILE_DAMAGED
    return PlayerError(kind, str(exc), exc.path)


RT_PRIORITY = 10  # low among real-time threads (PulseAudio and JACK use 5 to 20)
NICE_FALLBACK = -10


def raise_thread_priority() -> str:
    """Ask the kernel to run the calling thread (PortAudio's callback thread) ahead of the
    UI and the take-home server, as PortAudio's own real-time option would. On a busy
    two-core station without this, the callback can wait for a CPU past its deadline.
    Needs CAP_SYS_NICE or the RLIMIT_RTPRIO / RLIMIT_NICE limits (systemd: LimitRTPRIO=,
    LimitNICE=); without them playback still works, at normal priority."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(RT_PRIORITY))
        return f"real-time priority (SCHED_FIFO {RT_PRIORITY})"
    except (OSError, AttributeError):
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, 0, NICE_FALLBACK)  # Linux: this thread only
        return f"raised priority (nice {NICE_FALLBACK})"
    except OSError:
        return ("normal priority (the station may raise it with LimitRTPRIO=20 or "
                "LimitNICE=-10 in its systemd unit)")


# The first part of an utterance handed to the callback: decoded and resampled in a few ms,
# so the words start without waiting for the rest (a screen's summary takes the resampler
# about 40 ms a second of speech on these cores, more when they are busy); each next part is
# twice the last, so it is ready long before the callback gets to it.
FIRST_SPEECH_FRAMES = 2048


def utterance_parts(path: Path, out_rate: int) -> Iterator[tuple[np.ndarray, bool]]:
    """Talk-back's words at the output rate and format, as growing views of one buffer:
    (frames so far, complete). Each view's frames are final: the callback may read them while
    the next part is made. Peak-limited to SPEECH_PEAK (so a ducked track under them keeps
    the mix in range) and faded over their last few ms (words that end abruptly do not
    click). Raises DecodeError before the first part."""
    reader = open_reader(path)
    try:
        frames_in = min(reader.frames, int(MAX_SPEECH_SECONDS * reader.samplerate))
        if frames_in < reader.frames:
            log.warning("talk-back's words are longer than %.0f s: cut short (%s)",
                        MAX_SPEECH_SECONDS, Path(path).name)
        # Reading a short WAV whole takes well under a millisecond: its peak is known up front.
        source = np.array(reader.read(frames_in), np.float32)[:, :2]
        rate = reader.samplerate
    finally:
        reader.close()
    peak = float(np.abs(source).max()) if len(source) else 0.0
    if peak > SPEECH_PEAK:
        source *= SPEECH_PEAK / peak
    total = output_frames(len(source), rate, out_rate)
    out = np.zeros((total, CHANNELS), np.float32)
    fade = min(total, int(round(VOICE_FADE_SECONDS * out_rate)))
    fade_gain = np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    # Resampled in the source's own channels (mono, mostly: half the work), then doubled.
    resampler = Resampler(rate, out_rate, channels=source.shape[1])
    if total == 0:
        yield out, True  # nothing to say: said at once
        return
    done, at, step = 0, 0, FIRST_SPEECH_FRAMES
    while done < total:
        chunk = source[at:at + step]
        at += len(chunk)
        made = resampler.push(chunk)
        if at >= len(source):
            tail = resampler.flush()
            made = np.concatenate([made, tail]) if len(tail) else made
        made = to_stereo(made)[:total - done]
        # The resampler may overshoot the limit by a little: clip, so |x| <= SPEECH_PEAK.
        np.clip(made, -SPEECH_PEAK, SPEECH_PEAK, out=out[done:done + len(made)])
        done += len(made)
        step *= 2
        complete = at >= len(source)
        if complete:
            done = total
            out[total - fade:] *= fade_gain
            yield out, True
            return
        # The last few ms are faded once the end is there: hold them back till then.
        yield out[:min(done, total - fade)], False


def decode_utterance(path: Path, out_rate: int) -> np.ndarray:
    """The whole of utterance_parts(): what the callback reads once it is all there."""
    parts = list(utterance_parts(path, out_rate))
    return parts[-1][0] if parts else np.zeros((0, CHANNELS), np.float32)


class _Feeder(threading.Thread):
    """Decodes ahead into the ring; does loads, seeks and rate changes for the player."""

    def __init__(self, player: PortAudioPlayer):
        super().__init__(name="audio-feeder", daemon=True)
        self.player = player
        self.commands: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.reader: Reader | None = None
        self.resampler: Resampler | None = None
        self.gen = 0
        self.eof = True
        self.out_index = 0  # output frame index (from the track start) of the next frame
        self.total_out = 0
        self.first_block = True
        self.gain = 1.0  # the current track's (load's `gain`)

    def post(self, command: tuple[Any, ...]) -> None:
        self.commands.put(command)
        release(self.player._wake)

    def reconfigure(self, rate: int, timeout: float = 3.0) -> None:
        done = threading.Event()
        self.post(("rate", rate, done))
        if not done.wait(timeout):
            log.error("the audio feeder did not switch to %d Hz in time", rate)

    def run(self) -> None:
        if self.player._realtime:
            # A seek waits on this thread: it should not queue behind the UI for a CPU.
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, 0, NICE_FALLBACK)  # Linux: this thread only
        try:
            self._loop()
        except Exception:
            log.exception("the audio feeder stopped")
        finally:
            if self.reader is not None:
                self.reader.close()

    def _loop(self) -> None:
        wake = self.player._wake
        while True:
            pending = []
            while True:
                try:
                    pending.append(self.commands.get_nowait())
                except queue.Empty:
                    break
            if pending:
                for i, cmd in enumerate(pending):
                    if cmd[0] == "close":
                        return
                    later = pending[i + 1:]
                    # a seek superseded by a later seek or load is skipped
                    if cmd[0] == "seek" and any(c[0] in ("seek", "load") for c in later):
                        continue
                    if cmd[0] == "load" and any(c[0] == "load" for c in later):
                        continue
                    if cmd[0] == "speak" and any(c[0] == "speak" for c in later):
                        continue  # replaced before it was decoded: never heard
                    self._do(cmd)
            if self._wants_to_feed():
                self._feed()
                continue
            # A lead's worth ahead (or nothing to read): sleep until the callback has taken
            # the ring under the lead, then one whole read tops it up; or until a command.
            stage = self.player._stage
            if self.reader is not None and not self.eof:
                stage.wake_at = stage.ring.write_index - int(self.player._buffer_seconds * stage.rate) + 1
            if self.commands.empty():
                wake.acquire(timeout=FEEDER_WAIT)
            stage.wake_at = NEVER

    def _do(self, cmd: tuple[Any, ...]) -> None:
        kind = cmd[0]
        if kind == "load":
            _, gen, path, self.gain = cmd
            if self.reader is not None:
                self.reader.close()
                self.reader = None
            try:
                self.reader = open_reader(path)
            except DecodeError as exc:
                self.eof = True
                self.player._feed_error(gen, file_error(exc))
                return
            self.resampler = None
            self._start_segment(gen, 0.0)
        elif kind == "seek":
            _, gen, seconds = cmd
            if self.reader is not None:
                self._start_segment(gen, seconds)
        elif kind == "speak":
            _, gen, path = cmd
            self._speak(gen, path)
        elif kind == "rate":
            _, rate, done = cmd
            self._switch_rate(rate)
            done.set()

    def _speak(self, gen: int, path: Path) -> None:
        """Decode the words part by part, handing each to the callback as it is made; stop
        as soon as they are not wanted (a newer speak() or a stop)."""
        player = self.player
        try:
            for frames, complete in utterance_parts(path, player._stage.rate):
                if not player._utterance_ready(gen, frames, complete):
                    return
        except DecodeError as exc:
            log.warning("talk-back's words cannot be read: %s", exc)
            player._utterance_ready(gen, None)
        except Exception:  # whatever the file holds, the feeder (the track's too) goes on
            log.exception("talk-back's words could not be decoded: %s", path)
            player._utterance_ready(gen, None)

    def _switch_rate(self, rate: int) -> None:
        """Only while no stream runs: a new ring at the new rate, refilled where we were."""
        player = self.player
        old = player._stage
        with player._lock:
            position = player.position
            stage = player._make_stage(rate)
            stage.run = old.run
            player._stage = stage
            player._gen += 1
            gen = player._gen
            player._seek_target = position
            # Words decoded at the old rate are not heard at the new one: they end here.
            player._speech_gen += 1
            player._speech = SpeechState.IDLE
        player._publish_speech()
        self.resampler = None
        if self.reader is not None:
            self._start_segment(gen, position)

    def _start_segment(self, gen: int, seconds: float) -> None:
        reader = self.reader
        assert reader is not None
        stage = self.player._stage
        out_rate = stage.rate
        if self.resampler is None or self.resampler.in_rate != reader.samplerate or self.resampler.out_rate != out_rate:
            self.resampler = Resampler(reader.samplerate, out_rate)
        self.resampler.reset()
        frame = int(round(seconds * reader.samplerate))
        frame = max(0, min(frame, reader.frames))
        try:
            reader.seek(frame)
        except DecodeError as exc:
            self.eof = True
            self.player._feed_error(gen, file_error(exc))
            return
        start_time = frame / reader.samplerate
        self.gen = gen
        self.eof = False
        self.first_block = True
        self.total_out = output_frames(reader.frames, reader.samplerate, out_rate)
        self.out_index = int(round(start_time * out_rate))
        # Publish the jump before any new frame is written (see stage.py).
        stage.jump = Segment(gen, stage.ring.write_index, start_time)

    def _wants_to_feed(self) -> bool:
        if self.reader is None or self.eof:
            return False
        stage = self.player._stage
        ring = stage.ring
        ahead = ring.write_index - max(ring.read_index, stage.jump.start)
        lead = int(self.player._buffer_seconds * stage.rate)
        return ahead < lead and ring.free() >= self._room_needed(stage.rate)

    def _room_needed(self, out_rate: int) -> int:
        reader = self.reader
        assert reader is not None
        return ceil((FEED_FRAMES + 64) * out_rate / reader.samplerate) + 64

    def _feed(self) -> None:
        reader, resampler = self.reader, self.resampler
        assert reader is not None and resampler is not None
        stage = self.player._stage
        # Small reads right after a seek or load (the callback is waiting for the first),
        # then growing: decoding takes a few thousandths of the time what it decodes lasts,
        # so reading twice what is buffered never keeps the callback waiting.
        ring = stage.ring
        ahead = ring.write_index - max(ring.read_index, stage.jump.start)
        ahead_src = ahead * reader.samplerate // stage.rate
        want = FIRST_FEED_FRAMES if self.first_block else min(FEED_FRAMES, max(FIRST_FEED_FRAMES, 2 * ahead_src))
        self.first_block = False
        try:
            block = reader.read(want)
        except DecodeError as exc:
            self.eof = True
            self.player._feed_error(self.gen, file_error(exc))
            return
        at_end = len(block) < want
        frames = resampler.push(to_stereo(block))
        if at_end:
            tail = resampler.flush()
            if len(tail):
                frames = np.concatenate([frames, tail])
        if self.gain != 1.0:
            frames *= self.gain
        # Resampling can overshoot, and a track's gain is set from its stored peak: the
        # callback's volume stage relies on |x| <= 1 to keep within the cap.
        np.clip(frames, -1.0, 1.0, out=frames)
        self._fade_track_end(frames, stage)
        if len(frames):
            stage.ring.write(frames)
            self.out_index += len(frames)
        if at_end:
            self.eof = True
            stage.eof = Eof(self.gen, stage.ring.write_index)

    def _fade_track_end(self, frames: np.ndarray, stage: OutputStage) -> None:
        """The last fade_frames of a track fade out: a track that ends loud does not click."""
        fade = stage.fade_frames
        start = self.out_index
        end = start + len(frames)
        fade_from = self.total_out - fade
        if end <= fade_from or fade <= 0:
            return
        i0 = max(0, fade_from - start)
        positions = np.arange(start + i0, end, dtype=np.float64)
        gain = np.clip((self.total_out - positions) / fade, 0.0, 1.0).astype(np.float32)
        frames[i0:] *= gain[:, None]
