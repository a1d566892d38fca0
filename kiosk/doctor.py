"""`kiosk doctor`: one line per check of what the station needs, for the administrator.

Each check is a function of the settings that returns CheckResults; a check that raises is
reported as a failure of that check, so one broken part never hides the others.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import re
import shutil
import socket
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kiosk.config import Settings
from kiosk.store import StoreError, integrity_problems, open_db

log = logging.getLogger(__name__)

OK, WARN, FAIL = "ok", "warn", "FAIL"
MIN_FREE_BYTES = 500 * 1024 * 1024


@dataclass(frozen=True)
class CheckResult:
    status: str
    name: str
    detail: str


Check = Callable[[Settings], Iterable[CheckResult]]


def check_config(settings: Settings) -> Iterable[CheckResult]:
    # Reaching here means the loader accepted the file.
    yield CheckResult(OK, "config", f"{settings.config_path} is valid")


def display_available(env: dict[str, str] | None = None) -> tuple[bool, str]:
    """Whether a screen can be opened: an X display whose socket answers, or Wayland."""
    env = dict(os.environ) if env is None else env
    wayland = env.get("WAYLAND_DISPLAY")
    if wayland:
        runtime = env.get("XDG_RUNTIME_DIR", "")
        path = Path(wayland) if wayland.startswith("/") else Path(runtime) / wayland
        if path.exists():
            return True, f"Wayland display {wayland}"
    display = env.get("DISPLAY", "")
    if not display:
        return False, "no display: DISPLAY is not set"
    host, _, rest = display.partition(":")
    number = rest.split(".")[0]
    if host in ("", "unix") and number.isdigit():
        sock_path = f"/tmp/.X11-unix/X{number}"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(1.0)
                s.connect(sock_path)
        except OSError:
            return False, f"no display: nothing answers on DISPLAY={display}"
    return True, f"X display {display}"


def check_display(settings: Settings) -> Iterable[CheckResult]:
    ok, detail = display_available()
    yield CheckResult(OK if ok else FAIL, "display", detail)


def check_database(settings: Settings) -> Iterable[CheckResult]:
    try:
        db = open_db(settings.db_path)
    except StoreError as exc:
        yield CheckResult(FAIL, "database", str(exc))
        return
    try:
        problems = integrity_problems(db)
    finally:
        db.close()
    if problems:
        yield CheckResult(FAIL, "database", f"{settings.db_path}: integrity check failed: {problems[0]}")
    else:
        yield CheckResult(OK, "database", f"{settings.db_path} opens, integrity check ok")


def check_disk(settings: Settings) -> Iterable[CheckResult]:
    folder = settings.data_dir
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    status = OK if free >= MIN_FREE_BYTES else FAIL
    yield CheckResult(status, "disk", f"{free / 1e9:.1f} GB free for {folder}")
    if folder.exists() and not os.access(folder, os.W_OK):
        yield CheckResult(FAIL, "disk", f"{folder} is not writable")


def port_state(bind: str, port: int) -> str:
    """"free", "in use", or an error text for the take-home port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((bind, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "in use"
            return exc.strerror or str(exc)
    return "free"


def healthz_answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/healthz", timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def check_take_home_port(settings: Settings) -> Iterable[CheckResult]:
    th = settings.take_home
    if not th.enabled:
        yield CheckResult(OK, "take-home", "disabled in config.toml")
        return
    state = port_state(th.bind, th.port)
    local = f"http://127.0.0.1:{th.port}"
    if state == "free":
        yield CheckResult(OK, "take-home", f"port {th.port} is free (the station is not running)")
    elif state == "in use":
        if healthz_answers(local):
            yield CheckResult(OK, "take-home", f"the take-home server answers on port {th.port}")
        else:
            yield CheckResult(FAIL, "take-home", f"port {th.port} is used by another program")
    else:
        yield CheckResult(FAIL, "take-home", f"cannot listen on {th.bind}:{th.port}: {state}")


def check_console(settings: Settings) -> Iterable[CheckResult]:
    """The clinic console: its port, whether it answers, and whether a password is set."""
    c = settings.console
    if not c.enabled:
        yield CheckResult(OK, "console", "disabled in config.toml")
        return
    where = f"http://{'127.0.0.1' if c.bind in ('0.0.0.0', '::') else c.bind}:{c.port}"
    state = port_state(c.bind, c.port)
    if state == "free":
        yield CheckResult(OK, "console", f"port {c.port} is free (the station is not running); "
                                         f"it will be at {where}/")
    elif state == "in use":
        try:
            with urllib.request.urlopen(where + "/login", timeout=2.0) as response:
                ours = response.headers.get("Server") == "kiosk"
        except OSError:
            ours = False
        if ours:
            yield CheckResult(OK, "console", f"the clinic console answers at {where}/")
        else:
            yield CheckResult(FAIL, "console", f"port {c.port} is used by another program; "
                                               "set console.port in config.toml")
    else:
        yield CheckResult(FAIL, "console", f"cannot listen on {c.bind}:{c.port}: {state}")
    if not c.password_hash:
        yield CheckResult(WARN, "console", "no password is set: run `kiosk set-password`")
    else:
        yield CheckResult(OK, "console", "a password is set")


def check_phone_address(settings: Settings) -> Iterable[CheckResult]:
    """The address written into QR codes, and whether the take-home server answers there."""
    from kiosk.takehome.address import answers_healthz, probe_base_url, public_address

    th = settings.take_home
    if not th.enabled:
        yield CheckResult(OK, "phone-address", "take-home is disabled in config.toml")
        return
    try:
        address = public_address(settings)
    except ValueError as exc:
        yield CheckResult(FAIL, "phone-address", f"take_home.public_address in config.toml: {exc}")
        return
    where = f"phones will use {address.base_url} ({address.source})"
    if address.warning:
        yield CheckResult(WARN, "phone-address", f"{where}: {address.warning}")
    if answers_healthz(probe_base_url(settings, address)):
        yield CheckResult(OK, "phone-address", f"{where}; the take-home server answers there")
    elif port_state(th.bind, th.port) == "free":
        yield CheckResult(WARN, "phone-address",
                          f"{where}; the take-home server is not running, so it was not tried")
    else:
        yield CheckResult(FAIL, "phone-address",
                          f"{where}, but the take-home server does not answer there: check "
                          "take_home.public_address in config.toml and the station's firewall")


# No station can be running this software before it existed. Raise it at each release.
RELEASED = dt.date(2026, 11, 25)
# Nor, realistically, this long after: a clock set decades ahead expires every link at once.
CLOCK_PLAUSIBLE_YEARS = 30


def clock_problem(now: dt.datetime) -> str | None:
    """Why the wall clock looks wrong, or None. Links expire and usage is dated by it."""
    today = now.date()
    if today < RELEASED:
        return (f"the clock says {today.isoformat()}, before this software was released "
                f"({RELEASED.isoformat()}): set the date and time, or take-home links will "
                "expire at the wrong moment")
    if today.year > RELEASED.year + CLOCK_PLAUSIBLE_YEARS:
        return f"the clock says {today.isoformat()}, which looks wrong: set the date and time"
    return None


def check_clock(settings: Settings) -> Iterable[CheckResult]:
    now = dt.datetime.now().astimezone()
    problem = clock_problem(now)
    if problem:
        yield CheckResult(WARN, "clock", problem)
    else:
        yield CheckResult(OK, "clock", f"{now:%Y-%m-%d %H:%M %Z} (check it is right)")


def check_therapist_pin(settings: Settings) -> Iterable[CheckResult]:
    from kiosk.therapist.pin import needs_rehash, parse_pin_hash

    stored = settings.therapist.pin_hash
    if not stored:
        yield CheckResult(WARN, "therapist-pin", "not set: therapist mode is unavailable (kiosk set-pin)")
    elif parse_pin_hash(stored) is None:
        yield CheckResult(FAIL, "therapist-pin",
                          f"therapist.pin_hash in {settings.config_path} is not a valid hash: "
                          "set the PIN again with kiosk set-pin")
    elif needs_rehash(stored):
        yield CheckResult(WARN, "therapist-pin", "set with weaker hashing than today's: run kiosk set-pin again")
    else:
        yield CheckResult(OK, "therapist-pin", "set (salted scrypt hash)")


# File systems whose contents are gone at the next power-off.
VOLATILE_FS = ("overlay", "tmpfs", "ramfs")


def mount_of(path: Path, mountinfo: str) -> tuple[str, str] | None:
    """(mount point, file system type) of the mount that holds `path`, from the text of
    /proc/self/mountinfo; the last mount wins when several share a mount point."""
    target = str(path)
    best: tuple[str, str] | None = None
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if not sep or len(fields) < 5 or not rest:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best[0])):
            best = (point, rest[0])
    return best


def check_data_persists(settings: Settings) -> Iterable[CheckResult]:
    """On a read-only root with a RAM overlay, the data folder must be on a real partition,
    or everything (catalogue, links, usage, the PIN lockout) is lost at each power-off."""
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text(encoding="utf-8")
    except OSError:
        return
    for label, path in (("data folder", settings.data_dir), ("config file", settings.config_path)):
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        found = mount_of(probe.resolve(), mountinfo)
        if found and found[1] in VOLATILE_FS:
            yield CheckResult(WARN, "storage",
                              f"the {label} {path} is on a {found[1]} file system mounted at "
                              f"{found[0]}: what is written there is lost at power-off "
                              "(see deploy/README.md, read-only root)")
            return
    yield CheckResult(OK, "storage", "the data folder and config file are on persistent storage")


def check_audio(settings: Settings) -> Iterable[CheckResult]:
    from kiosk.audio.devices import describe_choice

    wanted = settings.audio.output_device.strip()
    usable, lines = describe_choice(wanted)
    reason, listed = lines[0], lines[1:]
    if usable:
        status = OK
    elif "no audio output device" in reason or not listed or listed[0].startswith("("):
        status = FAIL
    else:
        status = WARN  # the configured name is not there, but another output will play
    label = f'"{wanted}"' if wanted else "the default output"
    yield CheckResult(status, "audio", f"{reason} (configured: {label})")
    for line in listed:
        if not line.startswith("("):
            yield CheckResult(OK, "audio", f"  device: {line}")


def check_content(settings: Settings) -> Iterable[CheckResult]:
    from kiosk.content import content_problems

    try:
        db = open_db(settings.db_path)
    except StoreError as exc:
        yield CheckResult(FAIL, "content", f"cannot be checked: {exc}")
        return
    try:
        count, problems = content_problems(settings, db)
    finally:
        db.close()
    if not problems:
        status = OK if count else WARN
        yield CheckResult(status, "content", f"{count} exercises, every file present and unchanged"
                          if count else "no exercises yet: import a content pack (kiosk import PATH)")
    for problem in problems:
        yield CheckResult(FAIL, "content", problem)


def check_inbox(settings: Settings) -> Iterable[CheckResult]:
    """The drop folder: there and writable (an imported item is removed from it, a refused
    one moved within it), what waits in it, and what it refused."""
    from kiosk.content.inbox import REFUSED, make_inbox, refused_items, waiting_items

    inbox = settings.inbox_path
    if inbox is None:
        yield CheckResult(OK, "inbox", "no drop folder (content.inbox is empty in config.toml)")
        return
    if inbox.exists() and not inbox.is_dir():
        yield CheckResult(FAIL, "inbox", f"{inbox} is not a folder: remove it, or set content.inbox in "
                                         "config.toml to a folder")
        return
    try:
        # As `kiosk run` does (InboxWatcher.start): a drop folder that cannot be made is one
        # nobody can put anything in.
        make_inbox(settings, inbox)
    except OSError as exc:
        yield CheckResult(FAIL, "inbox", f"{inbox} does not exist and cannot be made "
                                         f"({exc.strerror or exc}): make it, writable by the station's "
                                         "user, or set content.inbox in config.toml")
        return
    if not os.access(inbox, os.W_OK | os.X_OK):
        yield CheckResult(FAIL, "inbox", f"{inbox} is not writable by the station's user: what is "
                                         "imported cannot be removed from it, nor what is refused moved "
                                         "aside (give that user write access to it)")
        return
    waiting = waiting_items(inbox)
    names = ", ".join(p.name for p in waiting[:5]) + (", ..." if len(waiting) > 5 else "")
    yield CheckResult(OK, "inbox", f"{inbox}: {len(waiting)} item{'s' if len(waiting) != 1 else ''} waiting"
                      + (f" ({names}; imported once copied, while the station runs)" if waiting else ""))
    refused = refused_items(inbox)
    if refused:
        yield CheckResult(WARN, "inbox", f"{len(refused)} item{'s' if len(refused) != 1 else ''} refused, in "
                                         f"{inbox / REFUSED}: each has a .txt saying why")


CHECKS: list[Check] = [
    check_config,
    check_display,
    check_audio,
    check_database,
    check_content,
    check_inbox,
    check_disk,
    check_take_home_port,
    check_console,
    check_phone_address,
    check_clock,
    check_therapist_pin,
    check_data_persists,
]


def run_checks(settings: Settings, checks: list[Check] | None = None) -> list[CheckResult]:
    results: list[CheckResult] = []
    for check in checks or CHECKS:
        name = check.__name__.removeprefix("check_").replace("_", "-")
        try:
            results.extend(check(settings))
        except Exception as exc:  # one broken check must not hide the others
            log.exception("doctor check %s failed", name)
            results.append(CheckResult(FAIL, name, f"the check itself failed: {exc}"))
    return results
