"""Colours and sizes in one place, so the calm look and the high-contrast look stay consistent."""

from __future__ import annotations

from dataclasses import dataclass

RGBA = tuple[float, float, float, float]


def hex_rgba(value: str, alpha: float = 1.0) -> RGBA:
    value = value.lstrip("#")
    r, g, b = (int(value[i:i + 2], 16) / 255 for i in (0, 2, 4))
    return (r, g, b, alpha)


@dataclass(frozen=True)
class Theme:
    name: str
    background: RGBA
    surface: RGBA
    text: RGBA
    muted_text: RGBA
    accent: RGBA
    accent_text: RGBA
    highlight: RGBA
    focus_outline: RGBA


CALM = Theme(
    name="calm",
    background=hex_rgba("#1f3a45"),
    surface=hex_rgba("#2b4f5c"),
    text=hex_rgba("#f4f1ea"),
    muted_text=hex_rgba("#c9d6d9"),
    accent=hex_rgba("#e8c07d"),
    accent_text=hex_rgba("#1f2a2e"),
    highlight=hex_rgba("#e8c07d", 0.28),
    focus_outline=hex_rgba("#f4f1ea"),
)

HIGH_CONTRAST = Theme(
    name="high-contrast",
    background=hex_rgba("#000000"),
    surface=hex_rgba("#000000"),
    text=hex_rgba("#ffffff"),
    muted_text=hex_rgba("#ffffff"),
    accent=hex_rgba("#ffeb3b"),
    accent_text=hex_rgba("#000000"),
    highlight=hex_rgba("#ffeb3b", 0.45),
    focus_outline=hex_rgba("#ffeb3b"),
)
