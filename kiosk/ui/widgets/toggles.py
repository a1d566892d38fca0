"""Two on/off controls drawn as shapes (the station's font has no star or tick glyphs): a
star for favourites and a tick box for choosing. On is told by a fill and a mark, not by
colour alone; each is at least 48 dp square with its words beside it for the reader."""

from __future__ import annotations

import math
import os

from kivy.lang import Builder
from kivy.metrics import dp
from kivy.properties import BooleanProperty, ListProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout

import kiosk.ui.widgets.common  # noqa: F401  (KLabel used by the kv)


def star_points(cx: float, cy: float, outer: float, inner: float) -> list[float]:
    """A five-pointed star's outline, first point on top, as x, y pairs."""
    points: list[float] = []
    for i in range(10):
        radius = outer if i % 2 == 0 else inner
        angle = math.pi / 2 + i * math.pi / 5
        points += [cx + radius * math.cos(angle), cy + radius * math.sin(angle)]
    return points


def star_mesh(points: list[float]) -> tuple[list[float], list[int]]:
    """Vertices and indices for a triangle fan from the star's centre (it is star-convex)."""
    xs, ys = points[0::2], points[1::2]
    cx, cy = sum(xs) / len(xs), sum(ys) / len(ys)
    vertices = [cx, cy, 0, 0]
    for x, y in zip(xs, ys, strict=True):
        vertices += [x, y, 0, 0]
    vertices += [xs[0], ys[0], 0, 0]
    return vertices, list(range(len(xs) + 2))


class ToggleMark(ButtonBehavior, BoxLayout):
    """A mark and a word; touching it flips `active`."""

    active = BooleanProperty(False)
    kind = StringProperty("tick")  # "star" or "tick"
    text = StringProperty("")
    spoken = StringProperty("")  # its name for talk-back where `text` is ""; on/off is added
    star_outline = ListProperty([])
    star_vertices = ListProperty([])
    star_indices = ListProperty([])

    def on_kv_post(self, base_widget: object) -> None:
        self.ids.mark.bind(pos=self._draw_star, size=self._draw_star)
        self._draw_star()

    def _draw_star(self, *_args: object) -> None:
        mark = self.ids.mark
        self.star_outline = star_points(mark.center_x, mark.center_y, dp(20), dp(8.5))
        self.star_vertices, self.star_indices = star_mesh(self.star_outline)

    def on_release(self) -> None:
        self.active = not self.active


Builder.load_file(os.path.join(os.path.dirname(__file__), "toggles.kv"))
