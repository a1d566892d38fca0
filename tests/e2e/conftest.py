from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.audio_device import PulseFileDevice, tools_available


@pytest.fixture
def sound_device(tmp_path: Path) -> Iterator[PulseFileDevice]:
    """A running file-backed sound device for a station process (pass it `device.env()`)."""
    why = tools_available()
    if why:
        pytest.skip(why)
    device = PulseFileDevice(tmp_path / "device")
    device.start()
    try:
        yield device
    finally:
        device.stop()
