"""`kiosk set-password` as the administrator runs it, then signing in with that password
on a running console (which reads the new hash without a restart, and signs out whoever
signed in with the old one)."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

from kiosk.config import load_settings
from kiosk.console.server import ConsoleServer
from kiosk.therapist.pin import verify_pin
from tests.console.test_console import Browser
from tests.test_cli_therapist import config, invoke  # noqa: F401 (the fixture)

PASSWORD = "kettle on at four"


def test_set_password_then_sign_in_on_the_running_console(config: Path) -> None:  # noqa: F811
    settings = load_settings(config)
    settings = dataclasses.replace(settings, console=dataclasses.replace(settings.console, port=0))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    console = ConsoleServer(settings)
    console.start()
    try:
        browser = Browser(console.port)
        assert "kiosk set-password" in browser.get("/login")[2]
        before = config.read_text(encoding="utf-8")
        # Too short, then two that differ, then the real one twice.
        result = invoke(config, "set-password",
                        input=f"short\n{PASSWORD}\n{PASSWORD}!\n{PASSWORD}\n{PASSWORD}\n")
        assert result.exit_code == 0, result.output
        assert "at least 10 characters" in result.output
        assert PASSWORD not in result.output
        after = config.read_text(encoding="utf-8")
        assert PASSWORD not in after
        stored = tomllib.loads(after)["console"]["password_hash"]
        assert verify_pin(PASSWORD, stored)
        # Only that line changed: every comment kept.
        changed = [a for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
        assert changed == ['password_hash = ""']
        status, headers, _ = browser.sign_in(PASSWORD)
        assert status == 303 and headers["location"] == "/health"
        assert browser.get("/links")[0] == 200
        # A new password: the session made with the old one ends at once.
        other = Browser(console.port, source="127.0.0.2")
        assert other.sign_in(PASSWORD)[0] == 303
        again = f"{PASSWORD} and five"
        result = invoke(config, "set-password", input=f"{again}\n{again}\n")
        assert result.exit_code == 0, result.output
        for b in (browser, other):
            status, headers, _ = b.get("/links")
            assert status == 303 and headers["location"].startswith("/login"), "still signed in"
        assert browser.sign_in(PASSWORD)[0] == 401
        assert browser.sign_in(again)[0] == 303 and browser.get("/links")[0] == 200
    finally:
        console.stop()
