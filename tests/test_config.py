import re
from pathlib import Path

import pytest

from kiosk.config import (
    DEFAULT_CONFIG_PATH,
    ConfigError,
    load_settings,
    schema_keys,
    settings_from_mapping,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_config_loads_and_matches_the_defaults():
    settings = load_settings(DEFAULT_CONFIG_PATH)
    assert settings.data_dir == DEFAULT_CONFIG_PATH.parent / "data"
    assert settings.take_home.port == 8080
    assert settings.audio.start_volume <= settings.audio.volume_cap
    assert settings.audio.loudness_target == -20.0


def test_every_key_is_documented_in_the_shipped_config():
    text = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
    section = ""
    present = set()
    for line in text.splitlines():
        if m := re.match(r"^\[(\w+)\]", line):
            section = m.group(1)
        elif m := re.match(r"^(\w+)\s*=", line):
            present.add(f"{section}.{m.group(1)}" if section else m.group(1))
    assert present == set(schema_keys())
    # each key line is preceded by a comment line (possibly after other keys of the same comment)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^\w+\s*=", line):
            j = i - 1
            while j >= 0 and re.match(r"^\w+\s*=", lines[j]):
                j -= 1
            assert lines[j].startswith("#"), f"key without an explanation: {line}"


def test_three_mistakes_are_reported_together(tmp_path):
    path = write(tmp_path, """
[display]
fullscreen = "yes"
[audio]
volume_cap = 1.5
[take_home]
prot = 8080
""")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = caught.value.message()
    assert "3 problems" in message
    assert 'display.fullscreen: expected true or false, found "yes"' in message
    assert "audio.volume_cap: expected a number from 0.0 to 1.0, found 1.5" in message
    assert 'take_home.prot: unknown key; did you mean "port"?' in message
    assert str(path) in message


def test_relative_data_dir_resolves_against_the_config_folder(tmp_path):
    settings = load_settings(write(tmp_path, 'data_dir = "var/kiosk"\n'))
    assert settings.data_dir == tmp_path / "var" / "kiosk"


def test_syntax_error_names_the_line(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, "[audio]\nvolume_cap = \n"))
    assert "line 2" in caught.value.message()


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({"audio": {"start_volume": 0.9, "volume_cap": 0.5}}, "audio.start_volume: must not be above"),
        ({"languages": {"default": "fr-FR"}}, "languages.default: expected one of"),
        ({"take_home": {"port": 0}}, "take_home.port: expected a whole number from 1 to 65535, found 0"),
        ({"take_home": {"port": True}}, "take_home.port: expected a whole number"),
        ({"take_home": {"wifi_security": "WPA9"}}, 'take_home.wifi_security: expected one of "WPA"'),
        ({"audio": "loud"}, "audio: expected a table"),
        ({"audio": {"loudness_target": -5}}, "audio.loudness_target: expected a number from -40.0 to -10.0, found -5"),
        ({"audio": {"loudness_target": "-20"}}, "audio.loudness_target: expected a number from -40.0 to -10.0"),
        ({"dta_dir": "x"}, 'dta_dir: unknown key; did you mean "data_dir"?'),
        ({"languages": {"available": ["en-GB", 3]}}, "languages.available: expected a list of text"),
    ],
)
def test_each_kind_of_mistake_has_a_clear_message(raw, expected, tmp_path):
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(raw, tmp_path / "config.toml")
    assert expected in caught.value.message()


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'station_name = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(bad)


def test_kiosk_config_variable_picks_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, 'station_name = "room-2"\n')
    monkeypatch.setenv("KIOSK_CONFIG", str(path))
    assert load_settings().station_name == "room-2"


def test_the_inbox_is_in_the_data_folder_unless_told_otherwise(tmp_path):
    settings = load_settings(write(tmp_path, 'data_dir = "data"\n'))
    assert settings.inbox_path == tmp_path / "data" / "inbox"
    settings = load_settings(write(tmp_path, '[content]\ninbox = "drop/here"\n'))
    assert settings.inbox_path == tmp_path / "data" / "drop" / "here"
    settings = load_settings(write(tmp_path, f'[content]\ninbox = "{tmp_path / "share"}"\n'))
    assert settings.inbox_path == tmp_path / "share"
    assert load_settings(write(tmp_path, '[content]\ninbox = ""\n')).inbox_path is None


@pytest.mark.parametrize("value, expected", [
    (".", "content.inbox: must not be the data folder or hold it"),
    ("..", "content.inbox: must not be the data folder or hold it"),
    ("content/new", "content.inbox: must not be inside the data folder's content folder"),
    ("logs", "content.inbox: must not be inside the data folder's logs folder"),
    (" inbox", 'content.inbox: expected a folder, found " inbox" (with spaces at its ends)'),
    (3, "content.inbox: expected text, found 3"),
])
def test_an_inbox_that_would_take_the_stations_own_files_is_refused(tmp_path, value, expected):
    shown = f'"{value}"' if isinstance(value, str) else value
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, f"[content]\ninbox = {shown}\n"))
    assert expected in caught.value.message()


def test_talk_back_is_offered_by_default_and_takes_true_false_or_offer(tmp_path):
    settings = load_settings(write(tmp_path, ""))
    assert settings.accessibility.talk_back == "offer"
    assert settings.accessibility.speech_rate == 160
    for value, toml in ((True, "true"), (False, "false"), ("offer", '"offer"')):
        chosen = load_settings(write(tmp_path, f"[accessibility]\ntalk_back = {toml}\nspeech_rate = 200\n"))
        assert chosen.accessibility.talk_back == value
        assert chosen.accessibility.speech_rate == 200


def test_talk_back_mistakes_are_reported_with_the_others(tmp_path):
    path = write(tmp_path, """
[accessibility]
talk_back = "yes"
speech_rate = 400
[audio]
volume_cap = 1.5
""")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = caught.value.message()
    assert "3 problems" in message
    assert 'accessibility.talk_back: expected true, false or "offer", found "yes"' in message
    assert "accessibility.speech_rate: expected a whole number from 80 to 300, found 400" in message
