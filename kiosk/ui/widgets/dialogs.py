"""The two dialogs: "Need help now?" (the clinic's own words) and "Still there?"."""

from __future__ import annotations

import os

from kivy.lang import Builder
from kivy.properties import NumericProperty
from kivy.uix.modalview import ModalView

import kiosk.ui.widgets.common  # noqa: F401  (KLabel, KButton used by the kv)


class HelpView(ModalView):
    pass


class DisplayView(ModalView):
    pass


class StillThereView(ModalView):
    seconds_left = NumericProperty(0)


Builder.load_file(os.path.join(os.path.dirname(__file__), "dialogs.kv"))


class LeaveStationView(ModalView):
    """Therapist mode's "Leave the station": asked once more, since clients lose the station."""
