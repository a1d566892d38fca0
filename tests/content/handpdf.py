"""PDFs written byte by byte around one content stream: the shapes no PDF library will make
(a bomb, a page of endless operations), for the script reader's tests and bench/scripttext.py."""

from __future__ import annotations

import zlib
from pathlib import Path


def pdf_with_content(out: Path, content: bytes) -> None:
    """A one-page PDF whose page draws `content` (compressed), with Helvetica as /F1."""
    pdf_with_stream(out, zlib.compress(content, 9))


def pdf_with_stream(out: Path, stream: bytes) -> None:
    """The same around a content stream already compressed with zlib."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    data = bytearray(b"%PDF-1.7\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(data))
        data += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(data)
    data += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    data += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    data += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    out.write_bytes(data)


def pdf_bomb(out: Path) -> None:
    """200 MB of content stream in a file of about 200 KB, made a megabyte at a time (so the
    benchmark's process never holds the 200 MB that would count in its children's peak)."""
    z = zlib.compressobj(9)
    parts = [z.compress(b"BT /F1 12 Tf 72 700 Td (Hi) Tj ET\n")]
    spaces = b" " * 1_000_000
    parts += [z.compress(spaces) for _ in range(200)]
    parts.append(z.flush())
    pdf_with_stream(out, b"".join(parts))
