"""Builds small valid content packs for the content tests, and helpers to compare states.

The MP3s are the committed fixtures in tests/data (made by tests/data/make_fixtures.sh);
cues are written to fit their durations. Tests break a copy of this pack in one way each.
"""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import tomlkit

DATA = Path(__file__).parent / "data"

# name -> seconds, as measured by the decoder
FIXTURES = {
    "tone-cbr.mp3": 10.057,
    "tone-cbr44.mp3": 3.0,
    "tone-vbr.mp3": 10.0,
    "tone-vbr-stereo.mp3": 6.0,
}

MINIMAL_PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def vtt(passages: list[tuple[float, float, str]]) -> str:
    def clock(t: float) -> str:
        ms = round(t * 1000)
        return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"

    blocks = ["WEBVTT", ""]
    for n, (start, end, text) in enumerate(passages, start=1):
        blocks += [str(n), f"{clock(start)} --> {clock(end)}", text, ""]
    return "\n".join(blocks)


BREATH_GB = [
    (0.0, 3.0, "Settle into a comfortable position and let your breathing find its own pace."),
    (3.5, 6.5, "Notice the breath slowing a little, soothing and steady."),
    (7.0, 9.8, "Stay with this rhythm for as long as feels right."),
]
BREATH_US = [
    (0.0, 4.0, "Get comfortable and let your breathing settle at its own pace."),
    (4.5, 9.5, "Notice the rhythm slowing, calm and even."),
]
PLACE_GB = [
    (0.0, 2.5, "Imagine a place where you feel safe and at ease."),
    (2.5, 5.9, "Notice its colours, its sounds, and the warmth of the light."),
]


def manifest() -> dict[str, Any]:
    return {
        "format": 1,
        "pack": {"id": "test-pack", "title": "Test collection", "version": "1.0.0", "publisher": "kiosk tests"},
        "exercises": [
            {
                "id": "soothing-breath",
                "title": "Soothing rhythm breathing",
                "summary": "Slowing the breath to settle body and mind.",
                "introduction": "A short breathing exercise.",
                "guidance": "Test guidance for therapists.",
                "references": ["Author, A. (2020). A paper. A Journal, 1(1), 1-2."],
                "techniques": ["breathing", "self-compassion"],
                "visibility": "public",
                "variants": {
                    "en-GB": {"audio": "breath/en-GB.mp3", "cues": "breath/en-GB.vtt"},
                    "en-US": {"audio": "breath/en-US.mp3", "cues": "breath/en-US.vtt",
                              "title": "Soothing rhythm breathing (US)"},
                },
            },
            {
                "id": "safe-place",
                "title": "A safe place",
                "summary": "Imagery of a place of calm.",
                "techniques": ["imagery"],
                "visibility": "therapist",
                "variants": {
                    "en-GB": {"audio": "place/en-GB.mp3", "cues": "place/en-GB.vtt",
                              "script_pdf": "place/en-GB.pdf"},
                },
            },
        ],
    }


def write_pack(root: Path, data: dict[str, Any] | None = None) -> Path:
    """A valid pack in `root` (created); `data` replaces the manifest when given."""
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "breath/en-GB.mp3": (DATA / "tone-vbr.mp3").read_bytes(),
        "breath/en-US.mp3": (DATA / "tone-cbr.mp3").read_bytes(),
        "place/en-GB.mp3": (DATA / "tone-vbr-stereo.mp3").read_bytes(),
        "breath/en-GB.vtt": vtt(BREATH_GB).encode(),
        "breath/en-US.vtt": vtt(BREATH_US).encode(),
        "place/en-GB.vtt": vtt(PLACE_GB).encode(),
        "place/en-GB.pdf": MINIMAL_PDF,
    }
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    write_manifest(root, manifest() if data is None else data)
    return root


def write_manifest(root: Path, data: dict[str, Any]) -> None:
    (root / "pack.toml").write_text(tomlkit.dumps(data), encoding="utf-8")


def edited(change: Any) -> dict[str, Any]:
    """A copy of the valid manifest after `change(manifest)`."""
    data = copy.deepcopy(manifest())
    change(data)
    return data


def tree_digest(root: Path) -> dict[str, str]:
    """Every path under root (files hashed, links and folders named), for before/after checks."""
    if not root.exists():
        return {}
    result: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                result[rel] = "link:" + os.readlink(path)
            elif path.is_dir():
                result[rel] = "dir"
            else:
                result[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return result


def db_dump(db: Any) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """Every catalogue table's rows, in a stable order."""
    tables = ["packs", "exercises", "exercise_techniques", "variants", "hidden_exercises", "catalogue_meta"]
    return [(t, sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr)) for t in tables]


def copy_pack(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst
