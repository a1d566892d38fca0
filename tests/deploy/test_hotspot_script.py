"""deploy/hotspot.sh: what it asks NetworkManager for, and that what it prints is config the
station accepts.

This machine has no Wi-Fi radio (and no mac80211_hwsim), so NetworkManager cannot really
bring an access point up here; a stand-in `nmcli` records the commands instead.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kiosk.config import load_settings

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "hotspot.sh"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the script insists on root")


def run_hotspot(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "nmcli-calls"
    nmcli = bin_dir / "nmcli"
    # One line per call, arguments separated by a unit separator so spaces survive.
    nmcli.write_text(f"#!/bin/sh\n(IFS=$(printf '\\037'); echo \"$*\") >> {calls}\n")
    nmcli.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                            env=env, timeout=30)
    lines = calls.read_text().splitlines() if calls.exists() else []
    return result, lines


def test_makes_a_wpa2_access_point_and_prints_config_the_station_accepts(tmp_path):
    ssid, passphrase = 'Clinic "calm" audio', "back\\slash pass"
    result, calls = run_hotspot(tmp_path, ssid, passphrase)
    assert result.returncode == 0, result.stderr
    add = next(call.split("\x1f") for call in calls if call.startswith("connection\x1fadd"))
    settings = dict(zip(add[::2], add[1::2], strict=False))
    assert settings["ssid"] == ssid
    assert settings["802-11-wireless.mode"] == "ap"
    assert settings["ipv4.method"] == "shared"
    assert settings["wifi-sec.key-mgmt"] == "wpa-psk"
    assert settings["wifi-sec.psk"] == passphrase
    assert calls[-1].split("\x1f") == ["connection", "up", "kiosk-hotspot"]

    printed = result.stdout.split("restart kiosk):", 1)[1]
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[take_home]\n{printed}')
    take_home = load_settings(config).take_home
    assert take_home.public_address == "10.42.0.1:8080"
    assert take_home.wifi_ssid == ssid
    assert take_home.wifi_password == passphrase


@pytest.mark.parametrize("ssid, passphrase, message", [
    ("Clinic", "short", "8 to 63 characters"),
    ("x" * 33, "long enough", "1 to 32 bytes"),
])
def test_refuses_what_phones_could_not_join_and_changes_nothing(tmp_path, ssid, passphrase,
                                                               message):
    result, calls = run_hotspot(tmp_path, ssid, passphrase)
    assert result.returncode == 2
    assert message in result.stderr
    assert calls == []


def test_remove_deletes_only_its_own_connection(tmp_path):
    result, calls = run_hotspot(tmp_path, "--remove")
    assert result.returncode == 0
    assert calls == ["connection\x1fdelete\x1fkiosk-hotspot"]
