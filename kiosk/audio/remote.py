"""The engine in its own process: the same Player API, out of reach of the UI's GIL.

Why: PyAudio's callback needs the GIL. In the station's process, Kivy (drawing through Mesa
llvmpipe on a machine with no GPU) sometimes holds it for 100 ms or more; the callback
then misses its 46 ms deadline and the listener hears a gap (bench/audio.py measured 7 in
5 minutes with a busy screen). In a child process the callback only shares the GIL with
the engine's own two threads. It also keeps the station alive if PortAudio ever aborts:
the child dies, the player reports an error and starts a new child.

`RemotePlayer` runs `PortAudioPlayer` in a child process started with "spawn" (nothing of
Kivy or OpenGL is inherited). Control calls are synchronous round trips over a pipe (a
fraction of a millisecond), so `player.state` is current when `play()` returns; events
come back over the same pipe and are delivered through `dispatch`, like the in-process
engine. The child's log records are re-logged here, prefixed with "audio process".
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from kiosk.logs import PipeLogHandler, name_process, relay

if TYPE_CHECKING:
    from kiosk.config import AudioSettings

log = logging.getLogger(__name__)

CALL_TIMEOUT = 3.0
START_TIMEOUT = 20.0
RESTART_SECONDS = 2.0


@dataclass(frozen=True)
class EngineSnapshot:
    """The engine's figures as of `at` (time.monotonic(), which is system-wide on Linux, so
    comparable with the parent's clock). It comes with every event and reply from the
    engine's process; position-only events move `position` and `at` on."""

    state: PlayerState = PlayerState.IDLE
    position: float = 0.0  # seconds as heard
    duration: float = 0.0
    volume: float = 0.0
    underruns: int = 0  # ring_underruns + xruns
    device: str = ""  # the output device's name, "" before one is open
    latency: float = 0.0  # output latency in seconds
    at: float = 0.0
    ring_underruns: int = 0  # the ring ran dry while playing
    xruns: int = 0  # PortAudio's own output underflows
    priority: str = "not started"  # what the callback thread got (see raise_thread_priority)
    calls: int = 0  # callbacks so far
    rendered: int = 0  # frames rendered so far
    rate: int = 0  # the output rate in Hz
    speech: SpeechState = SpeechState.IDLE  # talk-back's voice


# ------------------------------------------------------------------------------ the child
def _child_main(conn: multiprocessing.connection.Connection, engine_kwargs: dict[str, Any],
                log_level: int) -> None:
    import os

    from kiosk.audio.player import NICE_FALLBACK, PortAudioPlayer

    name_process("kiosk-audio")

    # The whole process is audio: its feeder and monitor (created below, inheriting this)
    # should not sit behind the UI either, or the callback waits for the GIL they hold.
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, NICE_FALLBACK)
    lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with lock:
            conn.send(message)

    root = logging.getLogger()
    root.handlers[:] = [PipeLogHandler(send)]
    root.setLevel(log_level)

    player = PortAudioPlayer(**engine_kwargs)

    def snapshot() -> EngineSnapshot:
        stage = player.stage
        return EngineSnapshot(
            state=player.state, position=player.position, duration=player.duration,
            volume=player.volume, underruns=player.underruns, device=player.device_label,
            latency=player.output_latency, at=time.monotonic(), ring_underruns=stage.underruns,
            xruns=stage.xruns, priority=player.priority, calls=stage.calls,
            rendered=stage.frames_rendered, rate=stage.rate, speech=player.speech_state)

    # Events cross the pipe as the API's own types (PlayerState, PlayerError, EngineSnapshot):
    # pickled, and rebuilt as the same types on the other side.
    class Forward:
        def on_state(self, state: PlayerState) -> None:
            send(("event", "on_state", (state,), snapshot()))

        def on_position(self, seconds: float) -> None:
            # The most frequent event (12.5 a second): just the position, not a snapshot.
            send(("position", seconds, time.monotonic()))

        def on_ended(self) -> None:
            send(("event", "on_ended", (), snapshot()))

        def on_error(self, error: PlayerError) -> None:
            send(("event", "on_error", (error,), snapshot()))

        def on_speech(self, state: SpeechState) -> None:
            send(("event", "on_speech", (state,), snapshot()))

    player.add_listener(Forward())
    opened = player.wait_ready(10.0)
    # A full garbage collection walks every object while holding the GIL (5-9 ms here for
    # this process's ~28,000 at start, longer when the CPU is contended), and the callback
    # waits for it. What exists now lives as long as the process: out of the collector's walk.
    gc.freeze()
    send(("ready", opened, snapshot()))
    allowed = {"load", "play", "pause", "resume", "stop", "seek", "skip", "set_volume",
               "reset_volume", "close", "snapshot", "restore",
               "speak", "stop_speaking", "pause_speaking", "resume_speaking"}
    try:
        while True:
            try:
                request_id, method, args = conn.recv()
            except (EOFError, OSError):
                break  # the parent went away
            error = None
            if method not in allowed:
                error = f"unknown call {method}"
            elif method != "snapshot":
                try:
                    getattr(player, method)(*args)
                except Exception as exc:
                    logging.getLogger(__name__).exception("audio call %s failed", method)
                    error = f"{type(exc).__name__}: {exc}"
            send(("reply", request_id, snapshot(), error))
            if method == "close":
                break
    finally:
        player.close()


# ------------------------------------------------------------------------------ the parent
class RemotePlayer:
    """kiosk.audio.api.Player, with the engine (PortAudioPlayer) in a child process."""

    def __init__(self, *, dispatch: Dispatch = call_now, restart_seconds: float = RESTART_SECONDS,
                 **engine_kwargs: Any):
        self._engine_kwargs = engine_kwargs
        self._restart_seconds = restart_seconds
        self._listeners = ListenerSet(dispatch)
        self._emit = self._listeners.emit
        self._lock = threading.RLock()
        self._call_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._replies: dict[int, tuple[threading.Event, list[Any]]] = {}
        self._snap = EngineSnapshot(volume=float(engine_kwargs.get("start_volume", 0.4)),
                                    at=time.monotonic())
        self.volume_cap = float(min(1.0, max(0.0, engine_kwargs.get("volume_cap", 0.8))))
        self._closing = False
        self._ready = threading.Event()
        self._opened = False
        self._loaded: tuple[Path, float | None, float] | None = None  # load()'s arguments
        # While a new engine is being put back where the dead one was: its state, position
        # and volume then. The UI hears ERROR until the new engine is in place.
        self._dead: tuple[PlayerState, float, float] | None = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._proc: Any = None
        self.restarts = 0
        self._start_child()

    @classmethod
    def from_settings(cls, audio_settings: AudioSettings, dispatch: Dispatch = call_now, **overrides: Any) -> RemotePlayer:
        return cls(dispatch=dispatch, **{**engine_options(audio_settings), **overrides})

    # -- child management ------------------------------------------------------------
    def _start_child(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe()
        proc = ctx.Process(target=_child_main, name="kiosk-audio",
                           args=(child_conn, self._engine_kwargs, logging.getLogger().getEffectiveLevel()),
                           daemon=True)
        self._ready.clear()
        proc.start()
        child_conn.close()
        self._conn, self._proc = parent_conn, proc
        reader = threading.Thread(target=self._read_loop, args=(parent_conn, proc), name="audio-events",
                                  daemon=True)
        reader.start()
        log.info("audio engine process started (pid %s)", proc.pid)

    def _read_loop(self, conn: multiprocessing.connection.Connection, proc: Any) -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            # While a new engine is being put back in place, the UI hears only its errors.
            restoring = self._dead is not None
            if kind == "position":
                _, seconds, at = message
                self._snap = replace(self._snap, position=seconds, at=at)
                if not restoring:
                    self._emit("on_position", seconds)
            elif kind == "event":
                _, name, args, snap = message
                self._snap = snap
                if not restoring or name == "on_error":
                    self._emit(name, *args)
            elif kind == "reply":
                _, request_id, snap, error = message
                self._snap = snap
                waiter = self._replies.pop(request_id, None)
                if waiter is not None:
                    waiter[1].append(error)
                    waiter[0].set()
            elif kind == "ready":
                _, opened, snap = message
                self._snap = snap
                self._opened = bool(opened)
                self._ready.set()
            elif kind == "log":
                relay(message, "audio")
        if not self._closing and proc is self._proc:
            self._child_died(proc)

    def _child_died(self, proc: Any) -> None:
        proc.join(1.0)
        code = proc.exitcode
        log.error("the audio engine process stopped (exit code %s); starting a new one", code)
        with self._lock:
            was = self._snap.state
            was_speaking = self._snap.speech != SpeechState.IDLE
            self._dead = (was, self.position, self.volume)
            # The words went with the engine: a new one starts with nothing to say.
            self._snap = replace(self._snap, state=PlayerState.ERROR, speech=SpeechState.IDLE,
                                 at=time.monotonic())
        for waiter in list(self._replies.values()):
            waiter[1].append("the audio engine process stopped")
            waiter[0].set()
        self._replies.clear()
        self._ready.set()
        # As the engine reports a lost device: the error, then the state.
        self._emit("on_error", PlayerError(PlayerErrorKind.ENGINE_RESTARTING,
                                           f"The audio engine stopped unexpectedly (exit code {code}); "
                                           "restarting it"))
        if was != PlayerState.ERROR:
            self._emit("on_state", PlayerState.ERROR)
        if was_speaking:
            self._emit("on_speech", SpeechState.IDLE)
        threading.Thread(target=self._restart, name="audio-restart", daemon=True).start()

    def _restart(self) -> None:
        time.sleep(self._restart_seconds)
        if self._closing or self._dead is None:
            return
        self.restarts += 1
        was, position, volume = self._dead
        if was == PlayerState.ENDED:
            position = 0.0  # play() after the end starts again from the beginning
        self._start_child()
        self._ready.wait(START_TIMEOUT)
        loaded = self._loaded
        if loaded is not None:
            # Playing or paused: back PAUSED at the same place; the client presses play.
            paused = was in (PlayerState.PLAYING, PlayerState.PAUSED)
            self._call("restore", str(loaded[0]), loaded[1], position, paused, volume, loaded[2])
        self._dead = None
        self._emit("on_state", self.state)
        self._emit("on_position", self.position)

    def _call(self, method: str, *args: Any) -> None:
        if self._closing and method != "close":
            return
        conn = self._conn
        if conn is None:
            return
        request_id = next(self._ids)
        waiter: tuple[threading.Event, list[Any]] = (threading.Event(), [])
        self._replies[request_id] = waiter
        try:
            with self._call_lock:
                conn.send((request_id, method, args))
        except (OSError, ValueError):
            self._replies.pop(request_id, None)
            return  # the child is gone; the reader reports it
        if not waiter[0].wait(CALL_TIMEOUT):
            self._replies.pop(request_id, None)
            log.error("the audio engine did not answer %s within %.0f s", method, CALL_TIMEOUT)
            return
        if waiter[1] and waiter[1][0]:
            log.warning("audio call %s: %s", method, waiter[1][0])

    # -- the Player API --------------------------------------------------------------
    @property
    def state(self) -> PlayerState:
        if self._dead is not None:
            return PlayerState.ERROR  # until a new engine has the track back in place
        return self._snap.state

    @property
    def position(self) -> float:
        """The last position event's (at most 80 ms old), moved on by the time since then
        while playing, so the UI can ask at any frame."""
        snap = self._snap
        position = snap.position
        if self.state == PlayerState.PLAYING:
            position = min(position + max(0.0, time.monotonic() - snap.at), snap.duration)
        return position

    @property
    def duration(self) -> float:
        return self._snap.duration

    @property
    def volume(self) -> float:
        return self._snap.volume

    @property
    def underruns(self) -> int:
        return self._snap.underruns

    @property
    def output_latency(self) -> float:
        return self._snap.latency

    @property
    def device_label(self) -> str:
        return self._snap.device

    def snapshot(self) -> EngineSnapshot:
        """The engine's last report (with each event, at most 80 ms old while playing);
        refresh() first for figures of this moment."""
        return self._snap

    def refresh(self) -> None:
        """Fetch the engine's figures now (they otherwise arrive with each event)."""
        self._call("snapshot")

    def wait_ready(self, timeout: float = 5.0) -> bool:
        """Wait for the engine process to try its device; True when it is open."""
        self._ready.wait(timeout)
        return self._opened and self.state != PlayerState.ERROR

    def load(self, path: Path, duration: float | None = None, gain: float = 1.0) -> None:
        self._loaded = (Path(path), duration, float(gain))
        self._call("load", str(path), duration, float(gain))

    def play(self) -> None:
        self._call("play")

    def pause(self) -> None:
        self._call("pause")

    def resume(self) -> None:
        self._call("resume")

    def stop(self) -> None:
        self._call("stop")

    @property
    def speech_state(self) -> SpeechState:
        return self._snap.speech

    def speak(self, path: Path) -> None:
        # The child decodes the file (on its feeder thread): only the path crosses the pipe.
        self._call("speak", str(path))

    def stop_speaking(self) -> None:
        self._call("stop_speaking")

    def pause_speaking(self) -> None:
        self._call("pause_speaking")

    def resume_speaking(self) -> None:
        self._call("resume_speaking")

    def seek(self, seconds: float) -> None:
        self._call("seek", float(seconds))

    def skip(self, delta: float) -> None:
        self._call("skip", float(delta))

    def set_volume(self, v: float) -> None:
        self._call("set_volume", float(v))

    def reset_volume(self) -> None:
        self._call("reset_volume")

    def add_listener(self, listener: PlayerListener) -> None:
        self._listeners.add(listener)

    def remove_listener(self, listener: PlayerListener) -> None:
        self._listeners.remove(listener)

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True  # first: the child's exit must not look like a crash
        self._call("close")
        proc = self._proc
        if proc is not None:
            proc.join(3.0)
            if proc.is_alive():
                log.error("the audio engine process did not stop; killing it")
                proc.kill()
                proc.join(2.0)
        if self._conn is not None:
            self._conn.close()
        self._listeners.clear()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None
