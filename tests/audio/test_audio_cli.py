"""`kiosk play` through the real engine, and device listing for `kiosk doctor`."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from kiosk.audio.decode import make_playback_copy
from kiosk.audio.devices import (
    alsa_config_problem,
    describe_choice,
    find_output_device,
    list_output_devices,
)
from kiosk.cli.audio import play, progress_line
from kiosk.config import AudioSettings, default_settings

pytestmark = pytest.mark.audio


def obj_for(tmp_path, **audio):
    settings = default_settings(tmp_path / "data", audio=AudioSettings(**audio))
    return SimpleNamespace(settings=settings)


def test_play_a_file_for_a_second(audio_device, tmp_path, tracks):
    flac = tmp_path / "prog.flac"
    make_playback_copy(tracks["wav"], flac)
    result = CliRunner().invoke(
        play, ["--file", str(flac), "--start", "1", "--seconds", "1"], obj=obj_for(tmp_path, volume_cap=0.5)
    )
    assert result.exit_code == 0, result.output
    assert "Playing prog.flac" in result.output
    assert "output underruns: 0" in result.output
    played, _ = audio_device.read_played()
    peak = np.abs(played.astype(int)).max()
    assert 0 < peak <= 0.5 * 32768 + 1


def test_play_an_mp3_directly_to_the_end(audio_device, tmp_path, tracks):
    result = CliRunner().invoke(play, ["--file", str(tracks["vbr"]), "--start", "3"], obj=obj_for(tmp_path))
    assert result.exit_code == 0, result.output
    assert "to the end" in result.output


def test_play_without_a_device_says_so_in_one_line(absent_audio_device, tmp_path, tracks):
    result = CliRunner().invoke(play, ["--file", str(tracks["wav"]), "--seconds", "1"], obj=obj_for(tmp_path))
    assert result.exit_code != 0
    assert "cannot play" in result.output and "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0


def test_play_refuses_a_start_past_the_end(audio_device, tmp_path, tracks):
    result = CliRunner().invoke(play, ["--file", str(tracks["wav"]), "--start", "99"], obj=obj_for(tmp_path))
    assert result.exit_code != 0 and "past the end" in result.output


def test_play_needs_an_id_or_a_file(tmp_path):
    result = CliRunner().invoke(play, [], obj=obj_for(tmp_path))
    assert result.exit_code != 0 and "exercise ID" in result.output


def test_progress_line():
    assert progress_line(61, 600, 0.4, width=10) == "1:01 / 10:00 [#---------] volume 40%"
    assert progress_line(3700, 7200, 1.0, width=4).startswith("1:01:40 / 2:00:00 [##--]")


def test_devices_are_listed_and_found(audio_device):
    devices = list_output_devices()
    assert [d.name for d in devices] == ["default"]
    assert devices[0].is_default and devices[0].max_output_channels >= 2
    assert find_output_device("DEF").name == "default"
    assert find_output_device("USB headphones").name == "default"  # falls back
    ok, lines = describe_choice("USB headphones")
    assert not ok and "no output device matches" in lines[0]
    ok, lines = describe_choice("")
    assert ok


def test_no_devices_is_an_empty_list_not_a_crash(absent_audio_device):
    assert list_output_devices() == []
    assert find_output_device("") is None
    ok, lines = describe_choice("")
    assert not ok and "no audio output device" in lines[0]


def test_dangerous_alsa_config_is_refused_before_portaudio_starts(tmp_path):
    empty = tmp_path / "empty.conf"
    empty.write_text("")
    assert "empty or missing" in (alsa_config_problem({"ALSA_CONFIG_PATH": str(empty)}) or "")
    assert alsa_config_problem({"ALSA_CONFIG_PATH": str(tmp_path / "missing.conf")})
    assert alsa_config_problem({}) is None
