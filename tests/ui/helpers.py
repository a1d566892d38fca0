"""What several UI tests do: read a QR code back from the screen, type on the on-screen
keyboard, find a tile."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.ui.driver import StationDriver


def decode_qr(path: Path) -> list[str]:
    """Every QR code in a screenshot, decoded by zxing-cpp (and zbarimg as a second opinion)."""
    import zxingcpp
    from PIL import Image

    found = [r.text for r in zxingcpp.read_barcodes(Image.open(path))
             if r.format == zxingcpp.BarcodeFormat.QRCode]
    return found


def decode_qr_zbar(path: Path) -> list[str]:
    out = subprocess.run(["zbarimg", "--quiet", "--raw", str(path)], capture_output=True,
                         text=True, timeout=30)
    return [line for line in out.stdout.splitlines() if line]


def type_on_screen(s: StationDriver, text: str) -> None:
    keyboard = s.ids("browse").keyboard
    for char in text:
        s.tap(keyboard.key_button("space" if char == " " else char))


def tile(s: StationDriver, exercise_id: str) -> Any:
    """The exercise's tile, scrolled into view (the catalogue sorts by title: it may be low)."""
    found = next(t for t in s.ids("browse").tiles.children if t.exercise_id == exercise_id)
    s.ids("browse").tiles_scroll.scroll_to(found, animate=False)
    s.pump(0.05)  # the scroll view moves its content in the next frame
    return found


def tile_ids(s: StationDriver) -> list[str]:
    return [t.exercise_id for t in reversed(s.ids("browse").tiles.children)]


def chip(s: StationDriver, technique: str) -> Any:
    return next(c for c in s.ids("browse").chips.children if c.technique == technique)


def tap_across(s: StationDriver, widget: Any, fraction_x: float) -> None:
    """A touch at a point across a widget (e.g. the seek bar), down and up in place."""
    x, y = widget.to_window(widget.x + widget.width * fraction_x, widget.center_y)
    s.tap_at(x, y)


def player_control(s: StationDriver, name: str) -> Any:
    """A control of the player's scrolling column (skips, seek bar, volume), scrolled into
    view first, as a visitor would scroll to it on a small panel."""
    control = s.ids("player")[name]
    s.ids("player").more.scroll_to(control, padding=0, animate=False)
    s.pump(0.05)
    return control
