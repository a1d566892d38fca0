"""QR codes for take-home links and the clinic's guest Wi-Fi.

Error correction M (15% of the code can be lost) and the standard 4-module quiet zone: a
phone then reads the code from a screen at arm's length even with glare on part of it, while
the code stays small enough (version 3 or 4 for a LAN address) for big modules.
"""

from __future__ import annotations

import os
from typing import BinaryIO

import qrcode
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M

BORDER = 4


def qr_matrix(text: str, border: int = BORDER) -> list[list[bool]]:
    """Rows of modules, True for dark, quiet zone included."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=border)
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
