"""A QR code drawn from a matrix of modules.

The matrix is computed on the worker thread (it can take tens of milliseconds for a long
URL); the texture is made here, on the UI thread, because GL objects created on another
thread corrupt memory (kivy-garden/qrcode learnt this the hard way). Dark modules are always
black on white, whatever the theme: phone cameras expect that, and the quiet zone of four
modules is part of the texture so the code reads on any background.
"""

from __future__ import annotations

import os
from typing import Any

from kivy.graphics.texture import Texture
from kivy.lang import Builder
from kivy.properties import ListProperty, NumericProperty, ObjectProperty
from kivy.uix.widget import Widget

QUIET_ZONE = 4


def matrix_to_rgb(matrix: list[list[bool]], quiet: int = QUIET_ZONE) -> tuple[int, bytes]:
    """(side in modules, RGB bytes bottom row first, as GL textures are laid out)."""
    n = len(matrix)
    side = n + 2 * quiet
    white, black = b"\xff\xff\xff", b"\x00\x00\x00"
    rows = []
    blank = white * side
    for _ in range(quiet):
        rows.append(blank)
    for row in matrix:
        rows.append(white * quiet + b"".join(black if cell else white for cell in row) + white * quiet)
    for _ in range(quiet):
        rows.append(blank)
    rows.reverse()
    return side, b"".join(rows)


class QRCode(Widget):
    matrix = ObjectProperty(None, allownone=True)
    texture = ObjectProperty(None, allownone=True)
    modules = NumericProperty(0)
    # The drawn square: a whole number of pixels per module keeps every module sharp.
    square = ListProperty([0, 0, 0, 0])

    def on_matrix(self, _instance: Any, matrix: list[list[bool]] | None) -> None:
        if not matrix:
            self.texture = None
            self.modules = 0
            return
        side, data = matrix_to_rgb(matrix)
        texture = Texture.create(size=(side, side), colorfmt="rgb")
        texture.mag_filter = "nearest"
        texture.min_filter = "nearest"
        texture.blit_buffer(data, colorfmt="rgb", bufferfmt="ubyte")
        self.modules = side
        self.texture = texture
        self._layout()

    def on_size(self, *_args: Any) -> None:
        self._layout()

    def on_pos(self, *_args: Any) -> None:
        self._layout()

    def _layout(self) -> None:
        if not self.modules:
            self.square = [self.x, self.y, 0, 0]
            return
        available = min(self.width, self.height)
        per_module = max(1, int(available // self.modules))
        side = per_module * self.modules
        self.square = [int(self.center_x - side / 2), int(self.center_y - side / 2), side, side]


Builder.load_file(os.path.join(os.path.dirname(__file__), "qr_code.kv"))
