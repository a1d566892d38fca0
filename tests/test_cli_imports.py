"""`kiosk --help` loads only click and the command modules: every heavy library a command
uses is imported when that command runs (bench/cli.py measures what this buys)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ["aiohttp", "numpy", "sqlite_utils", "kivy", "PIL", "qrcode", "tomlkit", "psutil",
         "pyaudio", "miniaudio", "fpdf", "importlib.metadata"]

PROBE = """
import json, sys
heavy = json.loads(sys.argv[2])
sys.argv = ["kiosk", *json.loads(sys.argv[1])]
from kiosk.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
loaded = sorted(name for name in heavy if name in sys.modules)
sys.stderr.write(json.dumps({"code": code, "loaded": loaded}))
"""


def _help(args: list[str]) -> tuple[str, dict[str, object]]:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args), json.dumps(HEAVY)],
                          capture_output=True, text=True, timeout=60)
    return proc.stdout, json.loads(proc.stderr.strip().splitlines()[-1])


def test_kiosk_help_lists_every_command_without_importing_heavy_libraries() -> None:
    output, probe = _help(["--help"])
    assert probe == {"code": 0, "loaded": []}
    for command in ("run", "doctor", "import", "list", "play", "link", "serve", "set-pin", "stats"):
        assert f"  {command} " in output


@pytest.mark.parametrize("command", ["run", "doctor", "import", "play", "link", "serve", "stats"])
def test_a_commands_help_imports_none_either(command: str) -> None:
    output, probe = _help([command, "--help"])
    assert probe == {"code": 0, "loaded": []}
    assert f"Usage: kiosk {command}" in output


def test_the_version_is_still_found_when_asked_for() -> None:
    output, probe = _help(["--version"])
    assert probe["code"] == 0
    assert output.startswith("kiosk ") and output.split()[1][0].isdigit()
