"""config.toml -> typed, frozen settings.

The schema is the dataclasses below: each field's type and default is the key's type and
default, and its metadata holds the range check. The loader reports every problem at once
(key path, what was expected, what was found, "did you mean ...?") because an administrator
edits this file by hand and should not have to fix it one error per restart.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.resources import CONFIG_TEMPLATE, checkout_config
from kiosk.resources import DEMO_PACK as BUILTIN_DEMO_PACK
from kiosk.validation import (
    describe_value,
    did_you_mean,
    expected,
    is_number,
    is_text_list,
    is_whole_number,
    one_of,
)

# The shipped config with every key commented (in a checkout, the project's config.toml).
DEFAULT_CONFIG_PATH = CONFIG_TEMPLATE.resolve()


class ConfigError(Exception):
    """The config file cannot be used; `problems` lists every reason, one line each."""

    def __init__(self, path: Path, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__(self.message())

    def message(self) -> str:
        count = len(self.problems)
        head = f"{self.path} has {count} problem{'s' if count != 1 else ''}:"
        lines = [head] + [f"  - {p}" for p in self.problems]
        lines.append("Nothing was started. Fix the file (every key is explained in it) and try again.")
        return "\n".join(lines)


def _range(low: float | None = None, high: float | None = None) -> dict[str, Any]:
    return {"range": (low, high)}


def _choice(*options: str) -> dict[str, Any]:
    return {"choices": options}


@dataclass(frozen=True)
class DisplaySettings:
    fullscreen: bool = False
    lockdown: bool = False
    width: int = field(default=1280, metadata=_range(320, 7680))
    height: int = field(default=800, metadata=_range(240, 4320))
    diagonal_inches: float = field(default=0.0, metadata=_range(0.0, 100.0))


@dataclass(frozen=True)
class LanguageSettings:
    available: tuple[str, ...] = ("en-GB", "en-US")
    default: str = "en-GB"


@dataclass(frozen=True)
class SessionSettings:
    idle_timeout_seconds: int = field(default=90, metadata=_range(10, 3600))
    # Resting with eyes closed is what the exercises ask for: a visit paused part-way waits
    # longer (never less than idle_timeout_seconds, see kiosk.ui.idle).
    paused_timeout_seconds: int = field(default=600, metadata=_range(10, 7200))
    # WCAG 2.2.1: at least 20 s to answer a time limit.
    still_there_seconds: int = field(default=30, metadata=_range(20, 600))


@dataclass(frozen=True)
class HelpSettings:
    title: str = "Need help now?"
    text: str = (
        "Please speak to a member of staff at reception. "
        "If you are in danger or need urgent help, tell them straight away."
    )


@dataclass(frozen=True)
class AudioSettings:
    output_device: str = ""
    volume_cap: float = field(default=0.8, metadata=_range(0.0, 1.0))
    start_volume: float = field(default=0.4, metadata=_range(0.0, 1.0))
    fade_ms: int = field(default=20, metadata=_range(10, 30))
    buffer_seconds: float = field(default=1.5, metadata=_range(0.5, 10.0))
    # LUFS (ITU-R BS.1770): every exercise is played at this loudness, below the cap.
    loudness_target: float = field(default=-20.0, metadata=_range(-40.0, -10.0))


@dataclass(frozen=True)
class ContentSettings:
    demo_pack: str = "builtin"
    max_pack_mb: int = field(default=2048, metadata=_range(1, 100_000))
    max_file_mb: int = field(default=500, metadata=_range(1, 100_000))
    max_audio_minutes: int = field(default=120, metadata=_range(1, 1440))
    max_zip_entries: int = field(default=2000, metadata=_range(1, 1_000_000))
    max_zip_ratio: int = field(default=100, metadata=_range(2, 100_000))
    inbox: str = "inbox"  # the drop folder (kiosk.content.inbox); "" for none


@dataclass(frozen=True)
class TakeHomeSettings:
    enabled: bool = True
    bind: str = "0.0.0.0"
    port: int = field(default=8080, metadata=_range(1, 65535))
    public_address: str = "auto"
    link_days: int = field(default=7, metadata=_range(1, 365))
    downloads_per_file: int = field(default=5, metadata=_range(1, 1000))
    max_connections_per_client: int = field(default=64, metadata=_range(1, 1000))
    wifi_ssid: str = ""
    wifi_password: str = ""
    wifi_security: str = field(default="WPA", metadata=_choice("WPA", "WEP", "nopass"))
    wifi_hidden: bool = False


@dataclass(frozen=True)
class TherapistSettings:
    pin_hash: str = ""
    auto_lock_minutes: int = field(default=5, metadata=_range(1, 240))


@dataclass(frozen=True)
class ConsoleSettings:
    enabled: bool = True
    bind: str = "127.0.0.1"
    port: int = field(default=8081, metadata=_range(1, 65535))
    password_hash: str = ""


@dataclass(frozen=True)
class UsageSettings:
    # A yearly report on the calendar year just gone can be asked for up to 731 days after
    # that year began (late in the next December); 800 keeps it whole, with two months to spare.
    keep_days: int = field(default=800, metadata=_range(30, 3660))


@dataclass(frozen=True)
class AccessibilitySettings:
    # true: on for every visitor; false: never; "offer": the attract screen tells how to
    # turn it on (kiosk/speech.py speaks, kiosk/ui/talkback.py decides what).
    talk_back: bool | str = field(default="offer", metadata=_choice("offer"))
    speech_rate: int = field(default=160, metadata=_range(80, 300))  # words per minute


@dataclass(frozen=True)
class Settings:
    config_path: Path
    data_dir: Path
    station_name: str
    display: DisplaySettings
    languages: LanguageSettings
    session: SessionSettings
    help: HelpSettings
    audio: AudioSettings
    content: ContentSettings
    take_home: TakeHomeSettings
    therapist: TherapistSettings
    usage: UsageSettings
    console: ConsoleSettings
    accessibility: AccessibilitySettings = AccessibilitySettings()

    @property
    def db_path(self) -> Path:
        return self.data_dir / "kiosk.sqlite3"

    @property
    def content_dir(self) -> Path:
        return self.data_dir / "content"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def speech_cache_dir(self) -> Path:
        return self.data_dir / "cache" / "speech"

    @property
    def inbox_path(self) -> Path | None:
        """The drop folder, or None when there is none (a relative path is the data folder's)."""
        return _inbox_path(self.data_dir, self.content.inbox)

    @property
    def demo_pack_path(self) -> Path | None:
        value = self.content.demo_pack
        if value == "":
            return None
        if value == "builtin":
            return BUILTIN_DEMO_PACK
        path = Path(value)
        return path if path.is_absolute() else (self.config_path.parent / path).resolve()


def _inbox_path(data_dir: Path, value: str) -> Path | None:
    if value == "":
        return None
    path = Path(value).expanduser()
    return (path if path.is_absolute() else data_dir / path).resolve()


def _inbox_problem(data_dir: Path, value: str) -> str | None:
    """Why the drop folder cannot be where content.inbox puts it: the watcher takes whatever
    is inside it, so it must hold nothing of the station's own."""
    if value.strip() != value:
        return f'content.inbox: expected a folder, found "{value}" (with spaces at its ends)'
    inbox = _inbox_path(data_dir, value)
    if inbox is None:
        return None
    if inbox == data_dir or data_dir.is_relative_to(inbox):
        return (f"content.inbox: must not be the data folder or hold it ({data_dir}); "
                'use a folder of its own, such as "inbox"')
    for own in ("content", "logs"):
        if inbox.is_relative_to(data_dir / own):
            return f"content.inbox: must not be inside the data folder's {own} folder ({data_dir / own})"
    return None


# What a running station takes from a changed config.toml without a restart (the screen's
# kiosk.ui.config_watch and KioskApp.apply_settings; the console's Settings page says which).
LIVE_KEYS = frozenset({
    "help.title", "help.text", "take_home.link_days", "take_home.downloads_per_file",
    "take_home.wifi_ssid", "take_home.wifi_password", "session.idle_timeout_seconds",
})

# Top-level keys and their section classes; `data_dir` and `station_name` are plain values.
SECTIONS: dict[str, type] = {
    "display": DisplaySettings,
    "languages": LanguageSettings,
    "session": SessionSettings,
    "help": HelpSettings,
    "audio": AudioSettings,
    "content": ContentSettings,
    "take_home": TakeHomeSettings,
    "therapist": TherapistSettings,
    "usage": UsageSettings,
    "console": ConsoleSettings,
    "accessibility": AccessibilitySettings,
}
TOP_LEVEL_DEFAULTS: dict[str, str] = {"data_dir": "data", "station_name": "station-1"}


def schema_keys() -> list[str]:
    """Every key path the loader understands, e.g. "audio.volume_cap" (used by the docs test)."""
    keys = list(TOP_LEVEL_DEFAULTS)
    for section, cls in SECTIONS.items():
        keys += [f"{section}.{f.name}" for f in dataclasses.fields(cls)]
    return keys


def _expected(kind: Any, meta: typing.Mapping[str, Any]) -> str:
    if kind is bool:
        return "true or false"
    if kind == bool | str:
        return "true, false or " + " or ".join(f'"{c}"' for c in meta["choices"])
    if "choices" in meta:
        return one_of(meta["choices"])
    low, high = meta.get("range", (None, None))
    noun = {int: "a whole number", float: "a number", str: "text"}.get(kind, "a list of text")
    if low is not None and high is not None:
        return f"{noun} from {low} to {high}"
    return noun


def _check_value(path: str, kind: Any, meta: typing.Mapping[str, Any], value: Any) -> tuple[Any, str | None]:
    """Returns (converted value, problem or None)."""
    wrong = f"{path}: {expected(_expected(kind, meta), value)}"
    if kind is bool:
        return (value, None) if isinstance(value, bool) else (None, wrong)
    if kind == bool | str:  # true, false, or one of the words in `choices`
        ok = isinstance(value, bool) or (isinstance(value, str) and value in meta["choices"])
        return (value, None) if ok else (None, wrong)
    if kind is int:
        if not is_whole_number(value):
            return None, wrong
    elif kind is float:
        if not is_number(value):
            return None, wrong
        value = float(value)
    elif kind is str:
        if not isinstance(value, str):
            return None, wrong
        if "choices" in meta and value not in meta["choices"]:
            return None, wrong
    else:  # tuple[str, ...]
        if not is_text_list(value):
            return None, wrong
        value = tuple(value)
    low, high = meta.get("range", (None, None))
    if low is not None and not (low <= value <= high):
        return None, wrong
    return value, None


def _unknown(path: str, key: str, known: list[str]) -> str:
    return f"{path}: unknown key{did_you_mean(key, known)}"


def _build_section(name: str, cls: type, raw: Any, problems: list[str]) -> Any:
    if not isinstance(raw, dict):
        problems.append(f"{name}: expected a table ([{name}]), found {describe_value(raw)}")
        return cls()
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        path = f"{name}.{key}"
        if key not in fields:
            problems.append(_unknown(path, key, list(fields)))
            continue
        converted, problem = _check_value(path, hints[key], fields[key].metadata, value)
        if problem:
            problems.append(problem)
        else:
            values[key] = converted
    return cls(**values)


def settings_from_mapping(raw: dict[str, Any], config_path: Path) -> Settings:
    """Validate a parsed config; raises ConfigError listing every problem."""
    problems: list[str] = []
    known_top = list(TOP_LEVEL_DEFAULTS) + list(SECTIONS)
    top: dict[str, str] = dict(TOP_LEVEL_DEFAULTS)
    sections: dict[str, Any] = {}
    for key, value in raw.items():
        if key in TOP_LEVEL_DEFAULTS:
            if isinstance(value, str) and value.strip():
                top[key] = value
            else:
                problems.append(f"{key}: expected non-empty text, found {describe_value(value)}")
        elif key in SECTIONS:
            sections[key] = _build_section(key, SECTIONS[key], value, problems)
        else:
            problems.append(_unknown(key, key, known_top))
    for name, cls in SECTIONS.items():
        sections.setdefault(name, cls())

    audio: AudioSettings = sections["audio"]
    if audio.start_volume > audio.volume_cap:
        problems.append(
            f"audio.start_volume: must not be above audio.volume_cap ({audio.volume_cap}), "
            f"found {audio.start_volume}"
        )
    languages: LanguageSettings = sections["languages"]
    if not languages.available:
        problems.append("languages.available: expected at least one language, found an empty list")
    elif languages.default not in languages.available:
        problems.append(
            f'languages.default: expected one of languages.available ({", ".join(languages.available)}), '
            f'found "{languages.default}"'
        )
    data_dir = Path(top["data_dir"]).expanduser()
    if not data_dir.is_absolute():
        data_dir = config_path.parent / data_dir
    data_dir = data_dir.resolve()
    inbox_problem = _inbox_problem(data_dir, sections["content"].inbox)
    if inbox_problem:
        problems.append(inbox_problem)
    if problems:
        raise ConfigError(config_path, problems)
    return Settings(
        config_path=config_path,
        data_dir=data_dir,
        station_name=top["station_name"],
        **sections,
    )


def config_path_from_env(explicit: str | os.PathLike[str] | None = None) -> Path:
    """--config wins, then KIOSK_CONFIG, then the checkout's config.toml when kiosk runs from
    a source checkout, else config.toml in the current folder (an installed kiosk)."""
    chosen = explicit or os.environ.get("KIOSK_CONFIG") or checkout_config() or "config.toml"
    return Path(chosen).expanduser().resolve()


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    config_path = config_path_from_env(path)
    try:
        text = config_path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(config_path, [
            f"the file does not exist (to make one, copy the commented template {DEFAULT_CONFIG_PATH})"
        ]) from None
    except OSError as exc:
        raise ConfigError(config_path, [f"cannot be read: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(config_path, [f"is not UTF-8 text (byte {exc.start})"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(config_path, [f"is not valid TOML: {exc}"]) from None
    return settings_from_mapping(raw, config_path)


def config_stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells that config.toml changed since it was last read (None: not readable now).
    The inode is in it because the writers replace the file atomically: a rewrite within the
    same clock tick with the same size is still a new file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def default_settings(data_dir: Path, **sections: Any) -> Settings:
    """Settings with the shipped defaults, for tests: default_settings(tmp, audio=AudioSettings(...))."""
    values: dict[str, Any] = {name: cls() for name, cls in SECTIONS.items()}
    # A test's station opens no console on the shared port 8081 unless the test asks for one.
    values["console"] = ConsoleSettings(enabled=False)
    values.update(sections)
    return Settings(
        config_path=Path(data_dir) / "config.toml",
        data_dir=Path(data_dir),
        station_name="test-station",
        **values,
    )


def update_config(config_path: Path, values: dict[str, dict[str, Any]],
                  comments: dict[str, str] | None = None, *, check_only: bool = False) -> Settings:
    """Sets `values` ({section: {key: value}}) in the config file, keeping its comments,
    layout, permissions and owner (a section that has to be added is headed by its
    `comments` line). Checked whole by the loader first, so a refusal (ConfigError, every
    problem at once) leaves the file as it was; written atomically, so a crash leaves the
    old file or the new one. Returns the new settings (with `check_only`, only checks)."""
    import stat

    import tomlkit

    from kiosk.files import write_atomically

    text = config_path.read_text(encoding="utf-8")
    doc = tomlkit.parse(text)
    for section_name, keys in values.items():
        section = doc.get(section_name)
        if section is None:
            section = tomlkit.table()
            if comments and section_name in comments:
                section.add(tomlkit.comment(comments[section_name]))
            doc.add(tomlkit.nl())
            doc.add(section_name, section)
        for key, value in keys.items():
            section[key] = value
    new_text = tomlkit.dumps(doc)
    settings = settings_from_mapping(tomllib.loads(new_text), config_path)
    if check_only:
        return settings
    info = config_path.stat()
    owner = (info.st_uid, info.st_gid) if os.geteuid() == 0 else None
    write_atomically(config_path, new_text.encode("utf-8"), mode=stat.S_IMODE(info.st_mode),
                     owner=owner)
    return settings
