"""The public address, the doctor's phone-address check, and the take-home CLI commands."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from kiosk.cli import CliContext
from kiosk.cli import takehome as cli_takehome
from kiosk.config import TakeHomeSettings, default_settings
from kiosk.doctor import FAIL, OK, WARN, check_phone_address
from kiosk.store import open_db
from kiosk.takehome import address, links
from kiosk.takehome.server import wait_for_port
from tests.takehome.conftest import copy_station


def _addr(ip: str) -> SimpleNamespace:
    return SimpleNamespace(family=socket.AF_INET, address=ip)


def _settings(tmp_path: Path, **take_home) -> object:
    th = replace(TakeHomeSettings(), **take_home)
    return default_settings(tmp_path, take_home=th)


def test_candidates_prefer_up_private_wired_and_skip_virtual() -> None:
    addrs = {
        "lo": [_addr("127.0.0.1")],
        "docker0": [_addr("172.17.0.1")],
        "veth12": [_addr("10.1.0.2")],
        "virbr0": [_addr("192.168.122.1")],
        "wlan0": [_addr("192.168.1.23")],
        "eth0": [_addr("192.168.1.50"), SimpleNamespace(family=socket.AF_INET6, address="fe80::1")],
        "eth1": [_addr("169.254.3.3")],
        "eth2": [_addr("10.0.0.9")],
        "usb0": [_addr("203.0.113.5")],
    }
    stats = {name: SimpleNamespace(isup=True) for name in addrs}
    stats["eth2"] = SimpleNamespace(isup=False)
    assert address.lan_ipv4_candidates(addrs, stats) == [
        ("eth0", "192.168.1.50"), ("wlan0", "192.168.1.23"), ("usb0", "203.0.113.5"),
        ("eth2", "10.0.0.9"),
    ]


def test_public_address_from_config_and_auto(tmp_path: Path, monkeypatch) -> None:
    assert address.public_base_url(_settings(tmp_path, public_address="kiosk.lan")) == "http://kiosk.lan:8080"
    assert address.public_base_url(_settings(tmp_path, public_address="10.0.0.5:80")) == "http://10.0.0.5:80"
    assert address.public_base_url(_settings(tmp_path, public_address="[fd00::5]"), port=9000) == "http://[fd00::5]:9000"
    with pytest.raises(ValueError):
        address.public_base_url(_settings(tmp_path, public_address="http://x/y"))
    monkeypatch.setattr(address.psutil, "net_if_addrs", lambda: {"eth0": [_addr("192.168.7.7")]})
    monkeypatch.setattr(address.psutil, "net_if_stats", lambda: {"eth0": SimpleNamespace(isup=True)})
    found = address.public_address(_settings(tmp_path))
    assert (found.base_url, found.source, found.warning) == ("http://192.168.7.7:8080", "auto (eth0)", None)
    monkeypatch.setattr(address.psutil, "net_if_addrs", lambda: {"lo": [_addr("127.0.0.1")]})
    fallback = address.public_address(_settings(tmp_path))
    assert fallback.base_url == "http://127.0.0.1:8080" and fallback.warning


def test_doctor_phone_address(make_harness, tmp_path: Path) -> None:
    harness = make_harness()
    running = replace(harness.settings, take_home=replace(harness.settings.take_home, port=harness.port))
    [result] = check_phone_address(running)
    assert result.status == OK and f"http://127.0.0.1:{harness.port}" in result.detail
    assert "answers there" in result.detail
    harness.server.stop()
    [result] = check_phone_address(running)
    assert result.status == WARN and "not running" in result.detail
    with socket.socket() as other:  # something else holds the port
        other.bind(("127.0.0.1", 0))
        other.listen()
        busy = _settings(tmp_path, bind="127.0.0.1", port=other.getsockname()[1],
                         public_address="127.0.0.1")
        [result] = check_phone_address(busy)
        assert result.status == FAIL and "does not answer" in result.detail


@pytest.fixture
def cli_env(tmp_path: Path, station_template):
    data = copy_station(station_template, tmp_path / "station")
    settings = _settings(data, public_address="127.0.0.1", bind="127.0.0.1", port=0)
    obj = CliContext(None, False)
    obj._settings = settings
    return obj


def test_cli_link_links_revoke(cli_env) -> None:
    runner = CliRunner()
    result = runner.invoke(cli_takehome.link, ["soothing-rhythm", "safe-place", "--days", "3",
                                               "--downloads", "4"], obj=cli_env)
    assert result.exit_code == 0, result.output
    lines = result.output.rstrip("\n").splitlines()
    url = lines[-1]
    assert url.startswith("http://127.0.0.1:0/t/") and len(url.rsplit("/", 1)[1]) == 26
    assert "Soothing rhythm breathing" in result.output and "Your safe place" in result.output
    assert "\u2588" in result.output  # the QR drawing
    token = url.rsplit("/", 1)[1]
    db = open_db(cli_env.settings.db_path)
    view = links.resolve(db, token)
    assert isinstance(view, links.LinkView) and view.downloads_per_file == 4 and len(view.items) == 2

    listed = runner.invoke(cli_takehome.links_command, ["--json"], obj=cli_env)
    data = json.loads(listed.output)
    assert [d["short_id"] for d in data] == [view.short_id]
    assert data[0]["items"][1] == {"exercise_id": "safe-place", "lang": "en-GB",
                                   "downloads": {"audio": 0, "pdf": 0}}
    table = runner.invoke(cli_takehome.links_command, [], obj=cli_env)
    assert view.short_id in table.output and token not in table.output

    assert runner.invoke(cli_takehome.revoke, [view.short_id], obj=cli_env).exit_code == 0
    again = runner.invoke(cli_takehome.revoke, [view.short_id], obj=cli_env)
    assert again.exit_code == 1 and "no live link" in again.output
    assert "No take-home links are live." in runner.invoke(cli_takehome.links_command, [], obj=cli_env).output
    db.close()


def test_cli_link_refuses_unknown_exercise(cli_env) -> None:
    result = CliRunner().invoke(cli_takehome.link, ["nope", "--lang", "en-US"], obj=cli_env)
    assert result.exit_code == 1 and 'no exercise "nope" in en-US' in result.output
    assert "Traceback" not in result.output


def test_cli_help_texts() -> None:
    for command in cli_takehome.COMMANDS:
        result = CliRunner().invoke(command, ["--help"])
        assert result.exit_code == 0 and command.help
        first_words = " ".join(command.help.split()[:6])
        assert first_words in " ".join(result.output.split())


def test_cli_serve_runs_until_interrupted(cli_env, monkeypatch) -> None:
    seen = {}

    def interrupt_after_checking() -> None:
        port = int(seen["url"].rsplit(":", 1)[1].split()[0])
        seen["answered"] = wait_for_port("127.0.0.1", port) and address.answers_healthz(
            f"http://127.0.0.1:{port}")
        raise KeyboardInterrupt

    original_echo = cli_takehome.click.echo

    def echo(message=None, **kwargs):
        if message and str(message).startswith("Serving"):
            seen["url"] = str(message).split(" at ")[1]
        original_echo(message, **kwargs)

    monkeypatch.setattr(cli_takehome, "_wait_for_interrupt", interrupt_after_checking)
    monkeypatch.setattr(cli_takehome.click, "echo", echo)
    result = CliRunner().invoke(cli_takehome.serve, [], obj=cli_env)
    assert result.exit_code == 0, result.output
    assert seen["answered"] and "Stopping." in result.output


def test_own_addresses_are_probed_over_loopback(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(address.psutil, "net_if_addrs", lambda: {"eth0": [_addr("192.168.7.7")]})
    monkeypatch.setattr(address.psutil, "net_if_stats", lambda: {"eth0": SimpleNamespace(isup=True)})
    settings = _settings(tmp_path)
    found = address.public_address(settings)
    assert found.base_url == "http://192.168.7.7:8080"
    assert address.probe_base_url(settings, found) == "http://127.0.0.1:8080"
    proxied = _settings(tmp_path, public_address="kiosk.clinic.lan:80")
    assert address.probe_base_url(proxied, address.public_address(proxied)) == "http://kiosk.clinic.lan:80"
    bound = _settings(tmp_path, bind="192.168.7.7")
    assert address.probe_base_url(bound, address.public_address(bound)) == "http://192.168.7.7:8080"
