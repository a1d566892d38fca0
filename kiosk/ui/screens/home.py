"""Home: where a visitor lands after the attract screen."""

from __future__ import annotations

import os

from kivy.lang import Builder
from kivy.uix.screenmanager import Screen

Builder.load_file(os.path.join(os.path.dirname(__file__), "home.kv"))


class HomeScreen(Screen):
    pass
