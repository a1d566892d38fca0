"""The client's screens, in the order of the journey. Each is a .py with its .kv beside it."""

from __future__ import annotations

from kivy.uix.screenmanager import Screen


def client_screens() -> list[tuple[str, type[Screen]]]:
    from kiosk.ui.screens.attract import AttractScreen
    from kiosk.ui.screens.browse import BrowseScreen
    from kiosk.ui.screens.exercise import ExerciseScreen
    from kiosk.ui.screens.player import PlayerScreen
    from kiosk.ui.screens.take_home import TakeHomeScreen

    return [
        ("attract", AttractScreen),
        ("browse", BrowseScreen),
        ("exercise", ExerciseScreen),
        ("player", PlayerScreen),
        ("take_home", TakeHomeScreen),
    ]


def therapist_screens() -> list[tuple[str, type[Screen]]]:
    """Reached only through the hidden corner and the PIN pad."""
    from kiosk.ui.screens.pin import PinScreen
    from kiosk.ui.screens.therapist import TherapistScreen

    return [("pin", PinScreen), ("therapist", TherapistScreen)]
