"""Output devices as PortAudio sees them; safe to call from the CLI (`kiosk doctor`).

PortAudio prints JACK and ALSA probing noise straight onto file descriptor 2 every time it
initialises. We point fd 2 at a temporary file for that moment and log a one-line summary
instead, so neither a person at a terminal nor the log sees a wall of "Cannot connect to
server". PortAudio's device list is frozen from initialisation to termination, so every
look-up here makes a fresh `PyAudio()` and terminates it.

Never point ALSA_CONFIG_PATH at an empty or missing file: alsa-lib then hits an assertion and
the whole process aborts (nothing Python can catch). `alsa_config_problem` checks for that.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# Only one thread at a time may swap fd 2 (and initialise PortAudio).
portaudio_lock = threading.Lock()
_summarised = False  # the first summary of PortAudio's noise goes to the log at INFO


@dataclass(frozen=True)
class DeviceInfo:
    index: int
    name: str
    host_api: str
    max_output_channels: int
    default_sample_rate: float
    is_default: bool

    def describe(self) -> str:
        mark = " (default)" if self.is_default else ""
        return f"{self.name}{mark}: {self.max_output_channels} channels, {self.default_sample_rate:.0f} Hz"


class NoAudioSystem(Exception):
    """PortAudio itself cannot start, or the ALSA configuration would abort the process."""


def alsa_config_problem(env: dict[str, str] | None = None) -> str | None:
    """Why PortAudio must not be started with this environment, or None when it is safe."""
    env = dict(os.environ) if env is None else env
    value = env.get("ALSA_CONFIG_PATH")
    if value is None:
        return None
    for part in value.split(":"):
        try:
            if not part or os.path.getsize(part) == 0:
                return f"ALSA_CONFIG_PATH names an empty or missing file ({part or '(empty)'})"
        except OSError:
            return f"ALSA_CONFIG_PATH names a file that cannot be read ({part})"
    return None


@contextlib.contextmanager
def quiet_stderr(what: str) -> Iterator[None]:
    """Send fd 2 to a temporary file while PortAudio talks; log how much it said."""
    with contextlib.suppress(AttributeError, ValueError, OSError):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            noise = sink.read(65536).decode("utf-8", "replace").splitlines()
            if noise:
                global _summarised
                first = next((line for line in noise if "jack" not in line.lower()), noise[0])
                level = logging.DEBUG if _summarised else logging.INFO
                _summarised = True
                log.log(level, "%s: PortAudio printed %d lines (kept off the terminal), e.g. %r",
                        what, len(noise), first[:200])


def new_pyaudio() -> Any:
    """A fresh PortAudio instance (device list read now), with its noise kept off stderr."""
    problem = alsa_config_problem()
    if problem:
        raise NoAudioSystem(problem)
    import pyaudio

    with portaudio_lock, quiet_stderr("PortAudio initialisation"):
        try:
            return pyaudio.PyAudio()
        except Exception as exc:  # PortAudio's own failure, not a missing device
            raise NoAudioSystem(f"the audio system did not start: {exc}") from exc


def terminate_pyaudio(pa: Any) -> None:
    with portaudio_lock, quiet_stderr("PortAudio termination"):
        try:
            pa.terminate()
        except Exception:
            log.exception("PortAudio termination failed")


def devices_of(pa: Any) -> list[DeviceInfo]:
    try:
        default_index = pa.get_default_output_device_info()["index"]
    except OSError:
        default_index = None
    found = []
    for i in range(pa.get_device_count()):
        try:
            info = pa.get_device_info_by_index(i)
        except OSError:
            continue
        if int(info.get("maxOutputChannels", 0)) <= 0:
            continue
        try:
            api = pa.get_host_api_info_by_index(info["hostApi"])["name"]
        except (OSError, KeyError):
            api = "?"
        found.append(DeviceInfo(
            index=i,
            name=str(info["name"]),
            host_api=str(api),
            max_output_channels=int(info["maxOutputChannels"]),
            default_sample_rate=float(info["defaultSampleRate"]),
            is_default=i == default_index,
        ))
    return found


def pick_device(devices: list[DeviceInfo], name: str) -> tuple[DeviceInfo | None, str]:
    """The device for a configured name (a case-insensitive substring; "" = the default).

    Returns (device or None, a sentence saying what was chosen and why).
    """
    default = next((d for d in devices if d.is_default), None)
    wanted = name.strip().lower()
    if wanted:
        matches = [d for d in devices if wanted in d.name.lower()]
        if matches:
            return matches[0], f'using "{matches[0].name}" (matches "{name}")'
        if default is not None:
            return default, f'no output device matches "{name}"; using the default "{default.name}"'
        if devices:
            return devices[0], f'no output device matches "{name}"; using "{devices[0].name}"'
        return None, f'no output device matches "{name}", and there is no other'
    if default is not None:
        return default, f'using the default output "{default.name}"'
    if devices:
        return devices[0], f'no default output; using "{devices[0].name}"'
    return None, "no audio output device found"


def list_output_devices() -> list[DeviceInfo]:
    """Every output device PortAudio can see right now (empty when there is none)."""
    pa = new_pyaudio()
    try:
        return devices_of(pa)
    finally:
        terminate_pyaudio(pa)


def find_output_device(name: str) -> DeviceInfo | None:
    """The device the engine would use for a configured name (fallback to the default)."""
    device, reason = pick_device(list_output_devices(), name)
    log.info("audio output: %s", reason)
    return device


def describe_choice(name: str) -> tuple[bool, list[str]]:
    """For `kiosk doctor`: (configured device usable, lines to print)."""
    try:
        devices = list_output_devices()
    except NoAudioSystem as exc:
        return False, [str(exc)]
    device, reason = pick_device(devices, name)
    lines = [d.describe() for d in devices] or ["(PortAudio lists no output device)"]
    exact = device is not None and (not name.strip() or name.strip().lower() in device.name.lower())
    return device is not None and exact, [reason, *lines]
