"""The client's screens, in the order of the journey, then therapist mode's. Each is a .py
with its .kv beside it.

Only the attract screen is built before the station's first frame; the others are imported
and built straight after it (KioskApp.build_the_other_screens), which took a fifth of the
start-up off the time to the first frame (bench/ui.py)."""

from __future__ import annotations

from kivy.uix.screenmanager import Screen


def first_screen() -> tuple[str, type[Screen]]:
    from kiosk.ui.screens.attract import AttractScreen

    return "attract", AttractScreen


def other_screens() -> list[tuple[str, type[Screen]]]:
    from kiosk.ui.screens.browse import BrowseScreen
    from kiosk.ui.screens.exercise import ExerciseScreen
    from kiosk.ui.screens.pin import PinScreen
    from kiosk.ui.screens.player import PlayerScreen
    from kiosk.ui.screens.take_home import TakeHomeScreen
    from kiosk.ui.screens.therapist import TherapistScreen

    return [
        ("browse", BrowseScreen),
        ("exercise", ExerciseScreen),
        ("player", PlayerScreen),
        ("take_home", TakeHomeScreen),
        # Reached only through the hidden corner and the PIN pad.
        ("pin", PinScreen),
        ("therapist", TherapistScreen),
    ]
