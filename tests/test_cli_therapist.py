"""`kiosk set-pin` and `kiosk stats` through click's CliRunner, on a copy of the shipped config."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import stat
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiosk.cli import cli
from kiosk.cli import therapist as therapist_cli
from kiosk.config import DEFAULT_CONFIG_PATH, load_settings
from kiosk.store import open_db
from kiosk.therapist.pin import LOCKOUT_FILE_NAME, verify_pin
from kiosk.usage import record

# The lead registers these in kiosk/cli/__init__.py; adding them again is harmless.
for _command in (therapist_cli.set_pin, therapist_cli.stats):
    cli.add_command(_command)

PIN = "482915"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    text = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
    assert 'data_dir = "data"\n' in text
    path = tmp_path / "station" / "config.toml"
    path.parent.mkdir()
    path.write_text(text.replace('data_dir = "data"\n', f'data_dir = "{tmp_path / "data"}"\n'))
    path.chmod(0o640)
    return path


def invoke(config: Path, *args: str, input: str | None = None):
    return CliRunner().invoke(cli, ["--config", str(config), *args], input=input,
                              catch_exceptions=False)


def log_text(config: Path) -> str:
    log = load_settings(config).log_dir / "kiosk.log"
    return log.read_text(encoding="utf-8") if log.exists() else ""


def test_set_pin_writes_only_the_hash_and_keeps_comments(config: Path) -> None:
    before = config.read_text(encoding="utf-8")
    lockout = load_settings(config).data_dir / LOCKOUT_FILE_NAME
    lockout.parent.mkdir(parents=True, exist_ok=True)
    lockout.write_text('{"failures": 5}')

    # An obvious PIN, then two that differ, then the real one twice.
    result = invoke(config, "set-pin", input=f"123456\n{PIN}\n{PIN}9\n{PIN}\n{PIN}\n")
    assert result.exit_code == 0, result.output
    assert "count up or down" in result.output
    assert "do not match" in result.output.lower()
    assert "The therapist PIN is set" in result.output

    after = config.read_text(encoding="utf-8")
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert len(changed) == 1
    assert changed[0][0] == 'pin_hash = ""'
    assert changed[0][1].startswith('pin_hash = "scrypt$n=131072,r=8,p=1$')

    settings = load_settings(config)
    assert verify_pin(PIN, settings.therapist.pin_hash)
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert not lockout.exists()
    assert not [p for p in config.parent.iterdir() if p.name != "config.toml"]  # no temp files

    assert PIN not in result.output
    log = log_text(config)
    assert "therapist PIN changed" in log
    assert PIN not in log and "123456" not in log


def test_set_pin_adds_a_missing_section(config: Path) -> None:
    text = config.read_text(encoding="utf-8")
    head = text[: text.index("[therapist]")]
    config.write_text(head)
    result = invoke(config, "set-pin", input=f"{PIN}\n{PIN}\n")
    assert result.exit_code == 0, result.output
    parsed = tomllib.loads(config.read_text(encoding="utf-8"))
    assert parsed["therapist"]["pin_hash"].startswith("scrypt$")
    assert config.read_text(encoding="utf-8").startswith(head)


def test_set_pin_gives_up_cleanly_without_input(config: Path) -> None:
    before = config.read_bytes()
    result = invoke(config, "set-pin", input="")
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert config.read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_set_pin_refuses_a_read_only_config(config: Path) -> None:
    config.chmod(0o440)
    result = invoke(config, "set-pin", input=f"{PIN}\n{PIN}\n")
    assert result.exit_code == 1
    assert "cannot be changed" in result.output


def test_set_pin_refuses_a_read_only_folder_even_as_root(config: Path, monkeypatch) -> None:
    real_access = os.access

    def no_write(path, mode, *args, **kwargs):
        if mode == os.W_OK and Path(path) == config.parent:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(therapist_cli.os, "access", no_write)
    result = invoke(config, "set-pin", input=f"{PIN}\n{PIN}\n")
    assert result.exit_code == 1
    assert "cannot be changed" in result.output
    assert 'pin_hash = ""' in config.read_text(encoding="utf-8")


def _scripted_events(config: Path) -> None:
    settings = load_settings(config)
    now = dt.datetime.now(dt.UTC)
    db = open_db(settings.db_path)
    try:
        for minutes, kind, exercise, lang in [
            (1, "play_started", "breathing", "en-GB"),
            (2, "play_completed", "breathing", "en-GB"),
            (3, "play_started", "breathing", "en-US"),
            (4, "link_issued", "safe-place", "en-GB"),
            (5, "file_downloaded", "safe-place", "en-GB"),
            (2 * 24 * 60, "play_started", "safe-place", "en-GB"),
            (40 * 24 * 60, "play_started", "compassionate-other", "en-GB"),
        ]:
            record(db, kind, exercise, lang, settings.station_name,
                   at=now - dt.timedelta(minutes=minutes))
    finally:
        db.close()


def test_stats_table(config: Path) -> None:
    _scripted_events(config)
    result = invoke(config, "stats")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Usage on station-1, last 30 days (")
    header = next(line for line in lines if line.startswith("exercise"))
    assert header.split("  ")[0].strip() == "exercise"
    table = {line.split()[0]: line.split()[1:] for line in lines[lines.index(header) + 1:]}
    assert table["breathing"] == ["2", "1", "0", "0"]
    assert table["safe-place"] == ["1", "0", "1", "1"]
    assert table["total"] == ["3", "1", "1", "1"]
    assert "compassionate-other" not in result.output  # 40 days ago

    longer = invoke(config, "stats", "--days", "45")
    assert "compassionate-other" in longer.output


def test_stats_with_nothing_recorded(config: Path) -> None:
    result = invoke(config, "stats", "--days", "7")
    assert result.exit_code == 0
    assert "last 7 days" in result.output
    assert "Nothing was played" in result.output


def test_stats_csv(config: Path) -> None:
    _scripted_events(config)
    result = invoke(config, "stats", "--csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert list(rows[0]) == ["date", "station", "exercise_id", "lang", "plays_started",
                             "plays_completed", "links_issued", "downloads"]
    totals: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        dt.date.fromisoformat(row["date"])
        assert row["station"] == "station-1"
        key = (row["exercise_id"], row["lang"])
        values = [int(row[c]) for c in ("plays_started", "plays_completed", "links_issued", "downloads")]
        totals[key] = [a + b for a, b in zip(totals.get(key, [0, 0, 0, 0]), values, strict=True)]
    assert totals == {
        ("breathing", "en-GB"): [1, 1, 0, 0],
        ("breathing", "en-US"): [1, 0, 0, 0],
        ("safe-place", "en-GB"): [1, 0, 1, 1],
    }


def test_stats_days_must_be_sensible(config: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(config), "stats", "--days", "0"])
    assert result.exit_code == 2
    assert "--days" in result.output


@pytest.mark.parametrize("name", ["set-pin", "stats"])
def test_commands_have_help(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0
    command = cli.commands[name]
    assert command.help and len(command.help.strip()) > 40
    for param in command.params:
        if param.name != "help" and hasattr(param, "help"):
            assert param.help, f"{name} {param.name} has no help"
