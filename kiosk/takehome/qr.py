"""QR codes for take-home links and the clinic's guest Wi-Fi.

Error correction M (15% of the code can be lost) and the standard 4-module quiet zone: a
phone then reads the code from a screen at arm's length even with glare on part of it, while
the code stays small enough (version 3 or 4 for a LAN address) for big modules.
"""

from __future__ import annotations

import functools
import os
from typing import Any, BinaryIO

import numpy as np
import qrcode
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M

BORDER = 4

# The 1:1:3:1:1 finder-like run with 4 light modules before or after (ISO/IEC 18004 N3).
_FINDER_LIKE = np.array([[1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1]], dtype=bool)


@functools.lru_cache(maxsize=8)
def _masks(n: int) -> np.ndarray:
    """The 8 standard mask patterns for an n x n symbol (i = row, j = column)."""
    i, j = np.indices((n, n))
    return np.array([
        (i + j) % 2 == 0,
        i % 2 == 0,
        j % 3 == 0,
        (i + j) % 3 == 0,
        (i // 2 + j // 3) % 2 == 0,
        (i * j) % 2 + (i * j) % 3 == 0,
        ((i * j) % 2 + (i * j) % 3) % 2 == 0,
        ((i * j) % 3 + (i + j) % 2) % 2 == 0,
    ])


def _runs_penalty(m: np.ndarray) -> int:
    n = m.shape[0]
    # Rows laid end to end with a separator value, so no run crosses from one row to the next.
    seq = np.hstack([m.astype(np.int8), np.full((n, 1), 2, dtype=np.int8)]).ravel()
    edges = np.flatnonzero(np.diff(seq)) + 1
    lengths = np.diff(np.concatenate(([0], edges, [seq.size])))
    long_runs = lengths[lengths >= 5]
    return int((long_runs - 2).sum())


def _finder_like_count(m: np.ndarray) -> int:
    windows = sliding_window_view(m, 11, axis=1)  # (n, n - 10, 11)
    hits = (windows[..., None, :] == _FINDER_LIKE).all(axis=-1).any(axis=-1)
    return int(hits.sum())


def mask_penalty(m: np.ndarray) -> int:
    """The standard's mask penalty, equal to qrcode's util.lost_point (a test checks it)."""
    n = m.shape[0]
    score = _runs_penalty(m) + _runs_penalty(m.T)
    top_left = m[:-1, :-1]
    blocks = (top_left == m[:-1, 1:]) & (top_left == m[1:, :-1]) & (top_left == m[1:, 1:])
    score += 3 * int(blocks.sum())
    score += 40 * (_finder_like_count(m) + _finder_like_count(m.T))
    percent = float(int(m.sum())) / (n**2)
    score += int(abs(percent * 100 - 50) / 5) * 10
    return score


class _QRCode(qrcode.QRCode):
    """qrcode's QRCode with the same mask choice, made from one layout instead of eight.

    The stock best_mask_pattern lays the whole symbol out eight times in Python (about 10 ms);
    here the data modules of one layout are re-masked with numpy, and the penalty is scored
    the same way (format areas light, as qrcode's test layouts have them).
    """

    _data_positions: np.ndarray

    def map_data(self, data: Any, mask_pattern: int) -> None:
        self._data_positions = np.array([[m is None for m in row] for row in self.modules])
        super().map_data(data, mask_pattern)

    def best_mask_pattern(self) -> int:
        self.makeImpl(True, 0)
        layout = np.array(self.modules, dtype=bool)
        data = self._data_positions
        masks = _masks(layout.shape[0])
        unmasked = layout ^ (masks[0] & data)
        scores = [mask_penalty(unmasked ^ (masks[k] & data)) for k in range(8)]
        return scores.index(min(scores))


def qr_matrix(text: str, border: int = BORDER) -> list[list[bool]]:
    """Rows of modules, True for dark, quiet zone included."""
    code = _QRCode(error_correction=ERROR_CORRECT_M, border=border)
    code.add_data(text)
    code.make(fit=True)
    return [[bool(m) for m in row] for row in code.get_matrix()]


def matrix_image(matrix: list[list[bool]], box_size: int = 10) -> Image.Image:
    """Black on white, `box_size` pixels per module."""
    n = len(matrix)
    small = Image.new("1", (n, n), 1)
    small.putdata([0 if dark else 1 for row in matrix for dark in row])
    return small.resize((n * box_size, n * box_size), Image.Resampling.NEAREST)


def qr_png(text: str, out: str | os.PathLike[str] | BinaryIO, box_size: int = 10) -> None:
    """Write the code as a PNG to a path or a binary file object."""
    matrix_image(qr_matrix(text), box_size).save(out, format="PNG")


def qr_terminal(text: str, dark_background: bool = True) -> str:
    """The code drawn with half-block characters, two module rows per text line.

    Most terminals are light text on a dark background, so by default the *light* modules are
    drawn (as the phone must see dark modules on light); `dark_background=False` for the others.
    """
    matrix = qr_matrix(text)
    if len(matrix) % 2:
        matrix.append([False] * len(matrix[0]))
    glyphs = {(False, False): " ", (True, False): "\u2580", (False, True): "\u2584", (True, True): "\u2588"}
    lines = []
    for top, bottom in zip(matrix[0::2], matrix[1::2], strict=True):
        if dark_background:
            pairs = [(not t, not b) for t, b in zip(top, bottom, strict=True)]
        else:
            pairs = list(zip(top, bottom, strict=True))
        lines.append("".join(glyphs[p] for p in pairs))
    return "\n".join(lines)


def _escape(value: str) -> str:
    out = []
    for ch in value:
        if ch in '\\;,:"':
            out.append("\\")
        out.append(ch)
    return "".join(out)


def wifi_payload(ssid: str, password: str, security: str = "WPA", hidden: bool = False) -> str:
    """The `WIFI:` text that phones' cameras offer to join (ZXing's format, escaped).

    `security` is "WPA" (also WPA2/WPA3 personal), "WEP" or "nopass".
    """
    if not ssid:
        raise ValueError("the Wi-Fi network needs a name (SSID)")
    if security not in ("WPA", "WEP", "nopass"):
        raise ValueError(f"unknown Wi-Fi security {security!r}: use WPA, WEP or nopass")
    parts = [f"T:{security}", f"S:{_escape(ssid)}"]
    if security != "nopass":
        parts.append(f"P:{_escape(password)}")
    if hidden:
        parts.append("H:true")
    return "WIFI:" + ";".join(parts) + ";;"
