import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kiosk import __version__
from kiosk.cli import cli


def all_commands(group: click.Group):
    for name, command in group.commands.items():
        yield name, command
        if isinstance(command, click.Group):
            yield from all_commands(command)


def test_every_command_has_help_text():
    assert cli.help
    for name, command in all_commands(cli):
        assert command.help and len(command.help) > 15, f"`kiosk {name}` has no help text"
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.help, f"`kiosk {name} {param.opts[0]}` has no help text"


def test_version_and_help():
    runner = CliRunner()
    assert runner.invoke(cli, ["--version"]).output.strip() == f"kiosk {__version__}"
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0 and "doctor" in result.output and "run" in result.output


@pytest.fixture
def bad_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text('[display]\nfullscreen = "yes"\n[audio]\nvolume_cap = 2\n[take_home]\nprot = 1\n')
    return path


@pytest.mark.parametrize("command", [["run"], ["doctor"]])
def test_a_bad_config_stops_every_command_with_one_message(bad_config, command):
    result = CliRunner().invoke(cli, ["--config", str(bad_config), *command])
    assert result.exit_code == 2
    assert "3 problems" in result.output
    assert "Traceback" not in result.output


def test_the_installed_command_never_prints_a_traceback(bad_config, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "kiosk", "--config", str(bad_config), "doctor"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "did you mean" in proc.stderr


def test_run_without_a_display_says_so_and_exits_non_zero(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('data_dir = "data"\n')
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "kiosk", "--config", str(config), "run"],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert proc.returncode == 3
    assert "xvfb-run -a make run" in proc.stderr
    assert proc.stderr.count("\n") == 1
