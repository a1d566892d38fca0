"""The station's fonts, shipped in assets/fonts/ inside the package (nothing is fetched,
nothing assumed on the system). Noto Sans replaces Kivy's default so every Label uses it without saying so."""

from __future__ import annotations

import logging

from kivy.core.text import DEFAULT_FONT, LabelBase

from kiosk.resources import FONTS_DIR

log = logging.getLogger(__name__)

REGULAR = FONTS_DIR / "NotoSans-Regular.ttf"
BOLD = FONTS_DIR / "NotoSans-Bold.ttf"


def register_fonts() -> None:
    if not (REGULAR.exists() and BOLD.exists()):
        log.warning("the station's fonts are missing from %s; using Kivy's own", FONTS_DIR)
        return
    LabelBase.register(DEFAULT_FONT, fn_regular=str(REGULAR), fn_bold=str(BOLD))
    LabelBase.register("KioskSans", fn_regular=str(REGULAR), fn_bold=str(BOLD))
