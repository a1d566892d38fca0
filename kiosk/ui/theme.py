"""Colours and sizes in one place, so the calm look and the high-contrast look stay consistent."""

from __future__ import annotations

from dataclasses import dataclass, fields

from kivy.event import EventDispatcher
from kivy.properties import ColorProperty

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
    outline: RGBA  # every button has a visible edge, so shape and not colour marks it
    banner: RGBA
    banner_text: RGBA
    scrim: RGBA  # behind a dialog: dims the screen without hiding it


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
    outline=hex_rgba("#8fb3bd"),
    banner=hex_rgba("#f4e3c1"),
    banner_text=hex_rgba("#1f2a2e"),
    scrim=hex_rgba("#0b1518", 0.8),
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
    outline=hex_rgba("#ffffff"),
    banner=hex_rgba("#ffeb3b"),
    banner_text=hex_rgba("#000000"),
    scrim=hex_rgba("#000000", 0.9),
)


class Palette(EventDispatcher):
    """The current theme's colours as Kivy properties, for the kv rules to bind to.

    (A kv expression such as `app.theme.text` does not follow a change of `app.theme` when
    the theme is a plain object, so the screens read `app.colors.text` instead.)
    """

    background = ColorProperty(CALM.background)
    surface = ColorProperty(CALM.surface)
    text = ColorProperty(CALM.text)
    muted_text = ColorProperty(CALM.muted_text)
    accent = ColorProperty(CALM.accent)
    accent_text = ColorProperty(CALM.accent_text)
    highlight = ColorProperty(CALM.highlight)
    focus_outline = ColorProperty(CALM.focus_outline)
    outline = ColorProperty(CALM.outline)
    banner = ColorProperty(CALM.banner)
    banner_text = ColorProperty(CALM.banner_text)
    scrim = ColorProperty(CALM.scrim)

    def apply(self, theme: Theme) -> None:
        for f in fields(theme):
            if f.name != "name":
                setattr(self, f.name, getattr(theme, f.name))


# -- physical sizes ----------------------------------------------------------------------------
# Kivy's dp is 1/160 inch when its density matches the panel: the station sets that density
# from the panel's diagonal (config.toml [display] diagonal_inches), so every dp in the kv is a
# physical length and the sizes below hold on a 7-inch panel and a 22-inch one alike.
KIVY_DPI = 160.0
MM_PER_INCH = 25.4
MIN_TARGET_MM = 9.0  # EN 301 549 / Section 508 402.4 reach and touch
CAP_HEIGHT = 0.714  # Noto Sans: a capital letter's height, as a fraction of the font size
# The body text (base_size 20 in the kv) at each text size: its capitals 2.8 mm high at
# "Normal", 4.8 mm at "Larger" (Section 508 402.4's minimum), 5.6 mm at "Largest" (200%).
BODY_BASE_SP = 20.0
BODY_CAP_MM = 2.8
TEXT_STEPS = (1.0, 4.8 / 2.8, 2.0)


def density_for(diagonal_inches: float, width_px: int, height_px: int) -> float:
    """Kivy's density for a panel of this diagonal and resolution (1.0 when not known)."""
    if diagonal_inches <= 0 or width_px <= 0 or height_px <= 0:
        return 1.0
    return (width_px ** 2 + height_px ** 2) ** 0.5 / diagonal_inches / KIVY_DPI


def text_scale_for(step: int) -> float:
    """What the kv's base sizes (in sp) are multiplied by at text step `step`."""
    normal = BODY_CAP_MM / (BODY_BASE_SP * CAP_HEIGHT * MM_PER_INCH / KIVY_DPI)
    return normal * TEXT_STEPS[max(0, min(step, len(TEXT_STEPS) - 1))]


def min_target_dp() -> float:
    return MIN_TARGET_MM / MM_PER_INCH * KIVY_DPI
