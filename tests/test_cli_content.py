"""The content commands through click's CliRunner, on a real database and content folder.

The commands are registered on a test-local group (the lead wires them into `kiosk`);
settings are handed in through the CliContext, as `kiosk --config` would load them.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kiosk.cli import CliContext
from kiosk.cli.content import COMMANDS
from kiosk.config import default_settings
from kiosk.store import open_db
from tests.packfactory import db_dump, edited, tree_digest, write_pack


@click.group()
def group() -> None:
    """Test-local stand-in for `kiosk`."""


for _command in COMMANDS:
    group.add_command(_command)


@pytest.fixture
def run(tmp_path):
    settings = default_settings(tmp_path / "data")

    def invoke(*args: str):
        obj = CliContext(None, False)
        obj._settings = settings
        return CliRunner().invoke(group, list(args), obj=obj, catch_exceptions=False)

    invoke.settings = settings  # type: ignore[attr-defined]
    invoke.tmp = tmp_path  # type: ignore[attr-defined]
    return invoke


def test_command_names_and_help():
    assert sorted(c.name for c in COMMANDS) == ["hide", "import", "list", "remove", "search", "show"]
    for command in COMMANDS:
        assert command.help and len(command.help) > 20, command.name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{command.name} {param.name}"


def test_import_list_search(run):
    pack = write_pack(run.tmp / "pack")
    result = run("import", str(pack))
    assert result.exit_code == 0, result.output
    assert "Imported test-pack 1.0.0 (2 exercises, 0:26 of audio)" in result.output

    listing = run("list")
    assert listing.exit_code == 0
    lines = listing.output.splitlines()
    assert lines[0].split() == ["ID", "TITLE", "LANGUAGES", "LENGTH", "LOUDNESS", "PACK", "SHOWN", "TO"]
    assert any(line.startswith("soothing-breath") and "en-GB en-US" in line and "0:10 / 0:10" in line for line in lines)
    assert any(line.startswith("safe-place") and line.endswith("therapist") for line in lines)

    as_json = json.loads(run("list", "--json").output)
    assert [e["id"] for e in as_json] == ["soothing-breath", "safe-place"]
    assert as_json[0]["durations"]["en-GB"] == pytest.approx(10.0, abs=0.01)
    # Each variant's loudness as measured at import, in the table as in the JSON.
    loudness = as_json[0]["loudness_lufs"]
    assert set(loudness) == {"en-GB", "en-US"} and all(-70 < v < 0 for v in loudness.values())
    breath = next(line for line in lines if line.startswith("soothing-breath"))
    assert f"{loudness['en-GB']:.1f} LUFS / {loudness['en-US']:.1f} LUFS" in breath

    found = json.loads(run("search", "colours", "--json").output)
    assert [e["id"] for e in found] == ["safe-place"]  # therapists' listing: hidden ones too
    assert "No exercise matches" in run("search", "zebra").output
    assert run("search", '"NEAR(').exit_code == 0


def test_refused_import_lists_every_fault_and_exits_1(run):
    pack = write_pack(run.tmp / "pack")
    run("import", str(pack))
    before = tree_digest(run.settings.content_dir), db_dump(open_db(run.settings.db_path))
    broken = write_pack(run.tmp / "broken", edited(lambda m: m["exercises"][0].update(visibility="all")))
    (broken / "place" / "en-GB.mp3").write_bytes(b"junk" * 100)
    outcome = run("import", str(broken))
    assert outcome.exit_code == 1
    assert "was refused (2 problems); nothing was changed" in outcome.stderr
    assert "pack.toml:17: exercise 1 (\"soothing-breath\"): visibility" in outcome.stderr
    assert "place/en-GB.mp3: not an MP3" in outcome.stderr
    assert "Traceback" not in outcome.output
    assert (tree_digest(run.settings.content_dir), db_dump(open_db(run.settings.db_path))) == before


def test_import_check_only(run):
    pack = write_pack(run.tmp / "pack")
    result = run("import", "--check", str(pack))
    assert result.exit_code == 0
    assert "is fine: it can be imported. Nothing was changed." in result.output
    assert json.loads(run("list", "--json").output) == []


def test_import_force_goes_back_a_version(run):
    run("import", str(write_pack(run.tmp / "new", edited(lambda m: m["pack"].update(version="2.0")))))
    old = write_pack(run.tmp / "old")
    refused = run("import", str(old))
    assert refused.exit_code == 1 and "import with --force to go back" in refused.stderr
    forced = run("import", "--force", str(old))
    assert forced.exit_code == 0 and "replacing version 2.0" in forced.output


def test_hide_show_remove(run):
    run("import", str(write_pack(run.tmp / "pack")))
    assert run("hide", "soothing-breath").exit_code == 0
    assert json.loads(run("list", "--json").output)[0]["hidden"] is True
    assert "SHOWN TO" in run("list").output and "public, hidden" in run("list").output
    shown = run("show", "soothing-breath")
    assert shown.exit_code == 0 and "shown in the public browse again" in shown.output
    therapist = run("show", "safe-place")
    assert "for therapists only" in therapist.output
    removed = run("remove", "safe-place")
    assert removed.exit_code == 0 and "Removed safe-place." in removed.output
    assert [e["id"] for e in json.loads(run("list", "--json").output)] == ["soothing-breath"]


@pytest.mark.parametrize("command", ["remove", "hide", "show"])
def test_unknown_id_exits_1(run, command):
    result = run(command, "no-such")
    assert result.exit_code == 1
    assert result.stderr.strip() == "no exercise with id no-such"


def test_list_says_unknown_for_variants_imported_before_loudness_was_measured(run):
    run("import", str(write_pack(run.tmp / "pack")))
    db = open_db(run.settings.db_path)
    with db.conn:  # as migration m003 leaves the variants imported before it
        db.execute("UPDATE variants SET loudness_lufs = NULL, peak = NULL WHERE lang = 'en-US'")
    db.close()
    breath = next(line for line in run("list").output.splitlines() if line.startswith("soothing-breath"))
    assert "LUFS / unknown" in breath
    assert json.loads(run("list", "--json").output)[0]["loudness_lufs"]["en-US"] is None


def test_list_when_empty(run):
    assert run("list").output.strip() == "No exercises."


def test_missing_path(run):
    result = run("import", str(Path(run.tmp) / "nowhere"))
    assert result.exit_code == 1 and "does not exist" in result.stderr
