"""A real sound device for tests, with no sound card: PortAudio -> ALSA file plugin -> PulseAudio.

ALSA's `file` plugin writes everything played to `played.wav` and passes it on to a private
PulseAudio daemon's null sink, which consumes it in real time like a sound card (ALSA's own
null device has no clock: an engine fed by a thread then underruns constantly). The daemon
lives in a temporary folder with its own HOME and XDG_RUNTIME_DIR, listens on a socket
there, and is stopped by its PID. `norewinds=1` on the null sink avoids a 1.5-2 s stall at
the start of every stream.

The test process must see ALSA_CONFIG_PATH before PortAudio initialises. alsa-lib reads it
again at every PortAudio initialisation (we checked: a fresh PyAudio() after terminate()
follows a changed variable), so a fixture can set it per test as long as no PyAudio
instance outlives the test. Never point it at an empty or missing file: alsa-lib asserts
and the process aborts.

- `device.stop()` makes the device disappear (the server dies; PortAudio's stream stops and
  a new PyAudio() lists no output), `device.start()` brings it back on the same socket.
- `device.freeze()` / `thaw()` stop and continue the daemon: the stream just stops calling
  back, with no error from PortAudio (a wedged device).
- A device that was never started is the "no device" case: ALSA's default then points at
  a server that is not there, and PortAudio lists no output device (no abort).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np


def tools_available() -> str | None:
    """Why the device cannot be made here, or None."""
    if shutil.which("pulseaudio") is None:
        return "pulseaudio is not installed (apt-get install pulseaudio libasound2-plugins)"
    if not any(Path(p).exists() for p in (
        "/usr/lib/x86_64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so",
        "/usr/lib/aarch64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so",
        "/usr/lib/alsa-lib/libasound_module_pcm_pulse.so",
    )):
        return "the ALSA pulse plugin is not installed (apt-get install libasound2-plugins)"
    return None


class PulseFileDevice:
    def __init__(self, root: Path, rate: int = 44100):
        self.root = Path(root)
        self.rate = rate
        self.home = self.root / "home"
        self.run_dir = self.root / "run"
        self.socket_path = self.run_dir / "native"
        self.played_path = self.root / "played.wav"
        self.asound_conf = self.root / "asound.conf"
        self.log_path = self.root / "pulseaudio.log"
        self.home.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.run_dir, 0o700)
        self.asound_conf.write_text(
            "pcm.!default {\n"
            "  type file\n"
            f'  slave.pcm {{ type pulse; server "unix:{self.socket_path}" }}\n'
            f'  file "{self.played_path}"\n'
            '  format "wav"\n'
            "}\n"
            f'ctl.!default {{ type pulse; server "unix:{self.socket_path}" }}\n'
        )
        self._proc: subprocess.Popen[bytes] | None = None

    # -- the daemon ---------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        self.socket_path.unlink(missing_ok=True)
        env = dict(os.environ, HOME=str(self.home), XDG_RUNTIME_DIR=str(self.run_dir))
        env.pop("PULSE_SERVER", None)
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [
                    "pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1",
                    "--use-pid-file=no", "--disable-shm=yes", "--log-target=stderr",
                    # The daemon stands in for a sound card, whose clock is hardware: its
                    # null-sink thread at real-time priority (where allowed) keeps time when
                    # the machine is busy, so a late device is not counted as the engine's gap.
                    "--high-priority=yes", "--realtime=yes",
                    "-L", f"module-null-sink sink_name=test rate={self.rate} channels=2 norewinds=1",
                    "-L", f"module-native-protocol-unix auth-anonymous=1 socket={self.socket_path}",
                ],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"pulseaudio exited at start; see {self.log_path}")
            if self._answers():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"pulseaudio did not start within {timeout} s; see {self.log_path}")

    def _answers(self) -> bool:
        if not self.socket_path.exists():
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            try:
                s.connect(str(self.socket_path))
            except OSError:
                return False
        return True

    def stop(self, sig: int = signal.SIGKILL) -> None:
        """Stop the daemon by its PID (SIGKILL: the device vanishes as if unplugged)."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)  # a frozen daemon must be able to die
            os.kill(proc.pid, sig)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self._proc = None

    def freeze(self) -> None:
        """SIGSTOP the daemon: the device stops taking audio but nothing reports an error
        (what a wedged USB device looks like); only a watchdog notices."""
        if self._proc is not None:
            os.kill(self._proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self._proc is not None:
            os.kill(self._proc.pid, signal.SIGCONT)

    # -- what was played ----------------------------------------------------------------
    def read_played(self) -> tuple[np.ndarray, int]:
        """(int16 frames x channels, rate) from played.wav.

        The WAV header's sizes are only fixed when ALSA closes the file, so the header is
        parsed for the format and the data is taken to the end of the file.
        """
        return read_wav_tolerant(self.played_path)

    def env(self) -> dict[str, str]:
        return {"ALSA_CONFIG_PATH": str(self.asound_conf)}


def read_wav_tolerant(path: Path) -> tuple[np.ndarray, int]:
    raw = Path(path).read_bytes()
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError(f"{path} is not a WAV file")
    pos = 12
    channels = rate = bits = 0
    while pos + 8 <= len(raw):
        cid = raw[pos:pos + 4]
        size = int.from_bytes(raw[pos + 4:pos + 8], "little")
        body = pos + 8
        if cid == b"fmt ":
            channels = int.from_bytes(raw[body + 2:body + 4], "little")
            rate = int.from_bytes(raw[body + 4:body + 8], "little")
            bits = int.from_bytes(raw[body + 14:body + 16], "little")
        elif cid == b"data":
            if bits != 16:
                raise ValueError(f"{path}: expected 16-bit samples, found {bits}-bit")
            data = raw[body:]
            usable = len(data) // (2 * channels) * (2 * channels)
            return np.frombuffer(data[:usable], dtype="<i2").reshape(-1, channels).copy(), rate
        pos = body + size + (size & 1)
    raise ValueError(f"{path} has no data chunk")
