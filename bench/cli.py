"""The `kiosk` command's start-up: `kiosk --help` against importing click alone.

Run: .venv/bin/python bench/cli.py   (prints a markdown table; about 10 s)

`kiosk --help` is what an administrator types first and what every command pays before it
does anything. Peer, measured in the same run and alternating with ours so that the load of
a shared machine falls on both: `python -c "import click"`, the floor for a click program
(the interpreter's own start and click). Each figure is the median of RUNS runs, wall time
from Popen to exit. The command is the installed console script beside this interpreter
(`.venv/bin/kiosk`), as the administrator runs it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 21
HEAVY = ("aiohttp", "numpy", "sqlite_utils", "kivy", "PIL", "qrcode", "tomlkit", "psutil")

WHAT_WAS_IMPORTED = """
import sys
sys.argv = ["kiosk", "--help"]
from kiosk.cli import main
try:
    main()
except SystemExit:
    pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
sys.stderr.write(" ".join(heavy))
""".replace("HEAVY", repr(HEAVY))


def kiosk_command() -> list[str]:
    script = Path(sys.executable).parent / "kiosk"
    return [str(script)] if script.exists() else [sys.executable, "-m", "kiosk"]


def wall(cmd: list[str], cwd: str) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> int:
    ours_cmd = [*kiosk_command(), "--help"]
    version_cmd = [*kiosk_command(), "--version"]
    peer_cmd = [sys.executable, "-c", "import click"]
    # Outside the source tree, as an installed command runs; no config file is read by --help.
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-cli-") as cwd:
        for cmd in (ours_cmd, peer_cmd):  # warm the page cache once
            wall(cmd, cwd)
        ours, version, peer = [], [], []
        for _ in range(RUNS):
            ours.append(wall(ours_cmd, cwd))
            peer.append(wall(peer_cmd, cwd))
            version.append(wall(version_cmd, cwd))
        heavy = subprocess.run([sys.executable, "-c", WHAT_WAS_IMPORTED], cwd=cwd,
                               capture_output=True, text=True, check=True).stderr.strip()
    ms = 1000.0
    ours_m, peer_m, version_m = (statistics.median(v) for v in (ours, peer, version))
    print("| figure | target | measured | peer | ratio |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| `kiosk --help` wall time, median of {RUNS} (max) | ratio <= 2 | "
          f"{ours_m * ms:.0f} ms ({max(ours) * ms:.0f} ms) | "
          f"{peer_m * ms:.0f} ms (`python -c \"import click\"`) | {ours_m / peer_m:.2f} |")
    print(f"| `kiosk --version` wall time, median of {RUNS} (max) | - | "
          f"{version_m * ms:.0f} ms ({max(version) * ms:.0f} ms) | {peer_m * ms:.0f} ms (same peer) | "
          f"{version_m / peer_m:.2f} |")
    print()
    print(f"Heavy libraries imported by `kiosk --help`: {heavy or 'none'} (of {', '.join(HEAVY)}). "
          f"Load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
          f"runs alternate ours and the peer's.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
