"""Watching a station process from outside: its log, and what it shows."""

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path


def wait_for_log(log: Path, text: str, proc: subprocess.Popen, seconds: float = 60,
                 after: int = 0) -> None:
    """Waits for `text` in the log (past character `after`), failing if the station exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text()[after:]:
            return
        assert proc.poll() is None, f"the station exited ({proc.returncode}) waiting for {text!r}"
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} in the log within {seconds} s:\n" + log.read_text()[-3000:])


def screenshot_root(path: Path) -> None:
    subprocess.run(["import", "-window", "root", str(path)], check=True, timeout=30,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextlib.contextmanager
def station_process(command: list[str], env: Mapping[str, str]) -> Iterator[subprocess.Popen]:
    """The station as a process; when the block ends, SIGTERM, which must stop it cleanly."""
    station = subprocess.Popen(command, env=dict(env), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        yield station
    finally:
        station.send_signal(signal.SIGTERM)
        try:
            code = station.wait(timeout=20)
        except subprocess.TimeoutExpired:
            station.kill()
            raise
    assert code == 0, f"the station exited with {code} on SIGTERM"
    errors = station.stderr.read() if station.stderr else ""
    assert "Traceback" not in errors, errors[-3000:]
