"""QR codes decoded by real decoders: zxing-cpp and zbarimg."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from kiosk.takehome import links
from kiosk.takehome.qr import matrix_image, qr_matrix, qr_png, qr_terminal, wifi_payload

URL = f"http://192.168.1.50:8080/t/{links.new_token()}"
NASTY = [
    ("Clinic Guest", "correct horse battery staple", "WPA", False),
    ('We;ird,SSID:"x"\\', 'p;a,s:s"w\\rd', "WPA", True),
    ("Café ☕ Wi-Fi", "ünïcødé;:,", "WPA", False),
    ("OpenNet;", "", "nopass", False),
    ("ABCDEF0123", "0123456789", "WEP", False),  # hex-looking values stay text
]


def _zbar(path: Path) -> list[str]:
    result = subprocess.run(["zbarimg", "--quiet", "--raw", "-Sbinary", str(path)],
                            capture_output=True, timeout=30, check=True)
    return [result.stdout.decode("utf-8").rstrip("\n")]


def _zxing(path: Path) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(path))]


def parse_wifi(payload: str) -> dict[str, str]:
    """A reference parser of the WIFI: format (backslash escapes), to check the round trip."""
    assert payload.startswith("WIFI:") and payload.endswith(";;")
    fields: dict[str, str] = {}
    key, value, escaped, in_key = "", "", False, True
    for ch in payload[5:-1]:
        if escaped:
            value += ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_key and ch == ":":
            in_key = False
        elif in_key:
            key += ch
        elif ch == ";":
            fields[key] = value
            key, value, in_key = "", "", True
        else:
            value += ch
    return fields


def test_matrix_has_quiet_zone_and_finder_patterns() -> None:
    m = qr_matrix(URL)
    n = len(m)
    assert all(len(row) == n for row in m)
    assert not any(m[0]) and not any(row[0] for row in m)  # the 4-module quiet zone
    assert all(m[4][4:11]) and not any(m[5][5:10])  # the finder pattern's dark ring, light inside
    assert (n - 8) % 4 == 1  # 17 + 4 * version modules, plus 2 * 4 of border


@pytest.mark.parametrize("decoder", ["zxing", "zbar"])
def test_url_png_decodes(tmp_path: Path, decoder: str) -> None:
    if decoder == "zbar" and not shutil.which("zbarimg"):
        pytest.skip("zbarimg (zbar-tools) is not installed")
    path = tmp_path / "url.png"
    qr_png(URL, path, box_size=6)
    assert (_zxing if decoder == "zxing" else _zbar)(path) == [URL]


def test_png_to_file_object() -> None:
    buffer = io.BytesIO()
    qr_png(URL, buffer)
    buffer.seek(0)
    assert [r.text for r in zxingcpp.read_barcodes(Image.open(buffer))] == [URL]


@pytest.mark.parametrize("ssid,password,security,hidden", NASTY)
def test_wifi_payload_round_trips_through_both_decoders(tmp_path: Path, ssid, password, security, hidden) -> None:
    payload = wifi_payload(ssid, password, security, hidden)
    fields = parse_wifi(payload)
    assert fields["T"] == security and fields["S"] == ssid
    assert fields.get("P", "") == (password if security != "nopass" else "")
    assert ("H" in fields) == hidden
    path = tmp_path / "wifi.png"
    qr_png(payload, path, box_size=6)
    assert _zxing(path) == [payload]
    if shutil.which("zbarimg"):
        assert _zbar(path) == [payload]


def test_wifi_escaping_exactly() -> None:
    assert wifi_payload('a;b,c:d"e\\f', "p:w", "WPA", True) == 'WIFI:T:WPA;S:a\\;b\\,c\\:d\\"e\\\\f;P:p\\:w;H:true;;'
    assert wifi_payload("Guest", "", "nopass") == "WIFI:T:nopass;S:Guest;;"
    with pytest.raises(ValueError):
        wifi_payload("", "x")
    with pytest.raises(ValueError):
        wifi_payload("x", "y", "WPA4")


@pytest.mark.parametrize("dark_background", [True, False])
def test_terminal_drawing_is_the_same_code(tmp_path: Path, dark_background: bool) -> None:
    drawing = qr_terminal(URL, dark_background=dark_background)
    top = {" ": False, "\u2580": True, "\u2584": False, "\u2588": True}
    bottom = {" ": False, "\u2580": False, "\u2584": True, "\u2588": True}
    rows: list[list[bool]] = []
    for line in drawing.splitlines():
        for table in (top, bottom):
            row = [table[ch] for ch in line]
            rows.append([not v for v in row] if dark_background else row)
    matrix = qr_matrix(URL)
    assert rows[: len(matrix)] == matrix
    path = tmp_path / "terminal.png"
    matrix_image(rows[: len(matrix)], 6).save(path)
    assert _zxing(path) == [URL]


def test_fast_mask_choice_equals_stock_qrcode() -> None:
    import random
    import string

    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    rng = random.Random(5)
    for length in (3, 20, 56, 90, 150, 220, 320):  # versions 1 to 10 (version info from 7)
        for _ in range(6):
            text = "".join(rng.choice(string.printable) for _ in range(length))
            stock = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4)
            stock.add_data(text)
            stock.make(fit=True)
            assert qr_matrix(text) == [[bool(m) for m in row] for row in stock.get_matrix()]


def test_mask_penalty_equals_stock_lost_point() -> None:
    import random

    import numpy as np
    from qrcode import util

    from kiosk.takehome.qr import mask_penalty

    rng = random.Random(7)
    for n in (21, 25, 41, 57):
        for density in (0.2, 0.5, 0.8):
            m = np.array([[rng.random() < density for _ in range(n)] for _ in range(n)])
            assert mask_penalty(m) == util.lost_point(m.tolist())
