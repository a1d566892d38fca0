"""Shared fixtures. UI tests get a real Kivy window on the Xvfb display that pytest-xvfb
starts for the session; domain tests need neither a window nor a sound card."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from kiosk.config import Settings, default_settings

SCREENSHOT_DIR = Path(__file__).resolve().parent / "screenshots"

# Kivy reads these when first imported; set them before any test imports it.
os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
os.environ.setdefault("KIVY_NO_FILELOG", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kiosk-test-kivy-"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return default_settings(tmp_path / "data")


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR
