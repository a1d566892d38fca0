"""Fuzzing the parsers that read what a clinic's content pack brings in: pack.toml, WebVTT
cues and zip files. No input may crash them, and each is handled within a second."""

from __future__ import annotations

import contextlib
import io
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.config import default_settings
from kiosk.content import PackRefused, import_pack
from kiosk.content.cues import VttError, parse_vtt
from kiosk.content.manifest import parse_manifest
from kiosk.store import open_db

FAST = settings(  # each example must finish well inside the 1 s the issue allows
    max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])

toml_keys = st.sampled_from(["format", "id", "title", "version", "summary", "audio", "cues",
                             "visibility", "techniques", "references", "variants", "en-GB",
                             "exercises", "pack", "script_pdf", "x"])
toml_values = st.recursive(
    st.one_of(st.integers(), st.booleans(), st.text(max_size=30), st.floats(allow_nan=False)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(toml_keys, inner, max_size=4)),
    max_leaves=20,
)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f'"{k}" = {_toml_value(v)}' for k, v in value.items()) + "}"


@FAST
@given(st.binary(max_size=2000))
def test_pack_toml_bytes_never_crash(data):
    started = time.monotonic()
    spec, faults = parse_manifest(data)
    assert spec is not None or faults
    assert all(str(f) for f in faults)
    assert time.monotonic() - started < 1.0


@FAST
@given(st.dictionaries(toml_keys, toml_values, max_size=6),
       st.lists(st.dictionaries(toml_keys, toml_values, max_size=8), max_size=3))
def test_structured_pack_toml_never_crashes(top, exercises):
    lines = [f'"{k}" = {_toml_value(v)}' for k, v in top.items() if k not in ("exercises", "pack")]
    for exercise in exercises:
        lines.append("[[exercises]]")
        lines += [f'"{k}" = {_toml_value(v)}' for k, v in exercise.items()]
    started = time.monotonic()
    spec, faults = parse_manifest("\n".join(lines).encode())
    assert time.monotonic() - started < 1.0
    # Without a [pack] table the manifest can never be accepted.
    assert faults


vtt_lines = st.one_of(
    st.just("WEBVTT"), st.just(""), st.just("NOTE a note"),
    st.builds(lambda a, b: f"{a} --> {b}", st.from_regex(r"\A(\d\d:)?\d\d:\d\d\.\d{3}\Z"),
              st.from_regex(r"\A(\d\d:)?\d\d:\d\d\.\d{3}\Z")),
    st.text(max_size=40),
)


@FAST
@given(st.lists(vtt_lines, max_size=30))
def test_webvtt_never_crashes(lines):
    started = time.monotonic()
    try:
        cues = parse_vtt("\n".join(lines))
    except VttError as exc:
        assert str(exc)
    else:
        assert all(c.start < c.end and c.text for c in cues)
        assert all(a.end <= b.start for a, b in zip(cues, cues[1:], strict=False))
    assert time.monotonic() - started < 1.0


zip_names = st.one_of(
    st.sampled_from(["pack.toml", "../evil", "/etc/passwd", "a/../../b", "ok/file.mp3",
                     "C:\\x", "link", "a//b", ".", "pack.toml/"]),
    st.text(min_size=1, max_size=20),
)


@pytest.fixture(scope="module")
def zip_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("zipfuzz")
    return root, default_settings(root / "data")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@pytest.mark.filterwarnings("ignore:Duplicate name")
@given(st.lists(st.tuples(zip_names, st.binary(max_size=300)), min_size=0, max_size=8))
def test_zip_packs_never_crash_and_change_nothing(zip_env, entries):
    root, conf = zip_env
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries:
            # Some names zipfile itself refuses to write; those cannot reach a clinic either.
            with contextlib.suppress(ValueError, OSError, IndexError):
                zf.writestr(name, data)
    path = root / "fuzz.zip"
    path.write_bytes(buffer.getvalue())
    db = open_db(conf.db_path)
    try:
        before = sorted(p.relative_to(conf.content_dir).as_posix() for p in conf.content_dir.rglob("*")) \
            if conf.content_dir.exists() else []
        started = time.monotonic()
        with pytest.raises(PackRefused) as refused:
            import_pack(conf, db, path)
        assert time.monotonic() - started < 1.0
        assert refused.value.faults and all(str(f) for f in refused.value.faults)
        assert db.execute("SELECT count(*) FROM exercises").fetchone()[0] == 0
        after = sorted(p.relative_to(conf.content_dir).as_posix() for p in conf.content_dir.rglob("*"))
        assert [p for p in after if not p.startswith(".")] == [p for p in before if not p.startswith(".")]
        assert not (Path(root).parent / "evil").exists()
    finally:
        db.close()
