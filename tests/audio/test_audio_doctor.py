"""`kiosk doctor` on audio: a real PortAudio device found, and a clear failure with none."""

import pytest
from click.testing import CliRunner

from kiosk.cli import cli
from kiosk.doctor import FAIL, OK, check_audio

pytestmark = pytest.mark.audio


def test_doctor_lists_the_device_and_accepts_it(audio_device, settings):
    results = list(check_audio(settings))
    assert results[0].status == OK, results
    assert any(r.detail.strip().startswith("device:") for r in results)


def test_doctor_fails_clearly_with_no_audio_device(absent_audio_device, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('data_dir = "data"\n[take_home]\nport = 18767\n')
    result = CliRunner().invoke(cli, ["--config", str(config), "doctor"])
    assert result.exit_code == 1
    line = next(x for x in result.output.splitlines() if x.split()[1:2] == ["audio"])
    assert line.startswith(FAIL) and "no audio output device found" in line
