"""The committed demo pack (assets/demo/pack): complete, well-formed, and honest about timing.

These read the files the station ships; they need neither espeak-ng nor lame, except the
last test (marked slow), which re-runs the generator to prove the committed pack is what
generate.py makes from scripts.toml.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "assets" / "demo"
PACK = DEMO / "pack"
LANGS = ("en-GB", "en-US")
SLUG = re.compile(r"[a-z0-9][a-z0-9-]*")
TIMING = re.compile(r"^(\d{2,}):(\d{2}):(\d{2})\.(\d{3}) --> (\d{2,}):(\d{2}):(\d{2})\.(\d{3})$")


def load_pack() -> dict:
    return tomllib.loads((PACK / "pack.toml").read_text(encoding="utf-8"))


def variants() -> list[tuple[str, str]]:
    return [(ex["id"], lang) for ex in load_pack()["exercises"] for lang in ex["variants"]]


def parse_vtt(path: Path) -> list[tuple[float, float, str]]:
    text = path.read_bytes().decode("utf-8")  # must be UTF-8
    blocks = text.replace("\r\n", "\n").split("\n\n")
    assert blocks[0].strip() == "WEBVTT"
    cues = []
    for block in blocks[1:]:
        lines = [x for x in block.split("\n") if x]
        if not lines:
            continue
        if "-->" not in lines[0]:
            lines = lines[1:]  # a cue identifier
        m = TIMING.match(lines[0])
        assert m, f"{path.name}: bad cue timing {lines[0]!r}"
        g = [int(x) for x in m.groups()]
        start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
        end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
        cues.append((start, end, " ".join(lines[1:])))
    return cues


@functools.cache
def decoded(ex_id: str, lang: str) -> tuple[np.ndarray, int]:
    # One whole-file read: chunked reads of VBR MP3s through soundfile return wrong samples.
    data, rate = sf.read(PACK / ex_id / f"{lang}.mp3", dtype="float32", always_2d=False)
    return data, rate


def mp3_kind(path: Path) -> str:
    """'Xing' for a VBR file, 'Info' for CBR (the tag lame writes into the first frame)."""
    data = path.read_bytes()[:64 * 1024]
    pos = 0
    if data[:3] == b"ID3":
        size = data[6] << 21 | data[7] << 14 | data[8] << 7 | data[9]
        pos = 10 + size
    assert data[pos] == 0xFF and data[pos + 1] & 0xE0 == 0xE0, f"{path.name}: no MPEG frame"
    head = data[pos : pos + 200]
    for kind in ("Xing", "Info"):
        if kind.encode() in head:
            return kind
    return "none"


def test_pack_toml_parses_and_describes_the_collection() -> None:
    pack = load_pack()
    assert pack["format"] == 1
    assert SLUG.fullmatch(pack["pack"]["id"])
    for key in ("title", "version", "publisher"):
        assert pack["pack"][key].strip()
    ids = [ex["id"] for ex in pack["exercises"]]
    assert len(ids) == len(set(ids))
    assert {"compassionate-other", "soothing-rhythm-breathing", "compassionate-self",
            "safe-place"} <= set(ids)
    assert sum(ex["visibility"] == "public" for ex in pack["exercises"]) >= 4
    for ex in pack["exercises"]:
        assert SLUG.fullmatch(ex["id"])
        for key in ("title", "summary", "introduction", "guidance"):
            assert isinstance(ex[key], str) and ex[key].strip(), (ex["id"], key)
        assert "\n" not in ex["summary"]
        assert ex["visibility"] in ("public", "therapist")
        assert ex["references"] and all(re.search(r"\(\d{4}\)", r) for r in ex["references"])
        assert ex["techniques"] and all(SLUG.fullmatch(t) for t in ex["techniques"])
        assert set(ex["variants"]) == set(LANGS)


def test_every_file_exists_inside_the_pack() -> None:
    root = PACK.resolve()
    for ex in load_pack()["exercises"]:
        for lang, variant in ex["variants"].items():
            for key, suffix in (("audio", ".mp3"), ("cues", ".vtt"), ("script_pdf", ".pdf")):
                rel = variant[key]
                assert rel == f"{ex['id']}/{lang}{suffix}"
                path = (PACK / rel).resolve()
                assert path.is_relative_to(root) and path.is_file(), rel
    on_disk = {p.relative_to(PACK).as_posix() for p in PACK.rglob("*") if p.is_file()}
    named = {v[k] for ex in load_pack()["exercises"] for v in ex["variants"].values()
             for k in ("audio", "cues", "script_pdf")}
    assert on_disk == named | {"pack.toml"}, "stray or missing files in the pack"


@pytest.mark.parametrize(("ex_id", "lang"), variants())
def test_variant_lasts_3_to_8_minutes_and_every_cue_fits(ex_id: str, lang: str) -> None:
    audio, rate = decoded(ex_id, lang)
    assert audio.ndim == 1 and rate in (22050, 44100)
    duration = len(audio) / rate
    assert 180 <= duration <= 480, f"{duration:.1f} s"
    cues = parse_vtt(PACK / ex_id / f"{lang}.vtt")
    assert len(cues) >= 5
    previous_end = 0.0
    for start, end, text in cues:
        assert text.strip()
        assert previous_end <= start < end < duration
        previous_end = end


@pytest.mark.parametrize(("ex_id", "lang"), variants())
def test_speech_is_inside_cues_and_the_pauses_are_silent(ex_id: str, lang: str) -> None:
    audio, rate = decoded(ex_id, lang)
    cues = parse_vtt(PACK / ex_id / f"{lang}.vtt")
    peak = float(np.abs(audio).max())
    assert 0.5 < peak < 0.8, "speech is normalised to about -3 dBFS, never clipped"
    edges = [0.0] + [t for s, e, _ in cues for t in (s, e)] + [len(audio) / rate]
    gaps = list(zip(edges[0::2], edges[1::2], strict=True))
    margin = int(0.03 * rate)  # the MP3 codec smears a few ms around every edge
    for a, b in gaps:
        gap = audio[int(a * rate) + margin : int(b * rate) - margin]
        assert gap.size == 0 or np.abs(gap).max() < 0.003, f"sound in the pause {a:.2f}-{b:.2f} s"
    for start, end, text in cues:
        speech = audio[int(start * rate) : int(end * rate)]
        assert np.sqrt(np.mean(speech**2)) > 0.02, f"no speech in cue {start:.2f} s: {text[:30]}"
        # The cue starts where its speech starts, not somewhere before.
        onset = np.flatnonzero(np.abs(speech) > 0.02)[0] / rate
        assert onset < 0.1, f"cue at {start:.2f} s starts {onset:.2f} s before its speech"
    # Several imagining pauses of many seconds, as the guidelines ask.
    assert sum(b - a >= 10 for a, b in gaps) >= 3


def test_en_gb_and_en_us_differ_in_words_and_voice() -> None:
    for ex in load_pack()["exercises"]:
        gb = [t for *_, t in parse_vtt(PACK / ex["id"] / "en-GB.vtt")]
        us = [t for *_, t in parse_vtt(PACK / ex["id"] / "en-US.vtt")]
        assert len(gb) == len(us)
        assert gb != us, f"{ex['id']}: en-GB and en-US scripts are identical"
        a, rate = decoded(ex["id"], "en-GB")
        b, _ = decoded(ex["id"], "en-US")
        assert len(a) != len(b)  # a different voice speaks at its own pace


def test_at_least_one_mp3_is_vbr_and_one_cbr() -> None:
    kinds = {mp3_kind(PACK / ex / f"{lang}.mp3") for ex, lang in variants()}
    assert {"Xing", "Info"} <= kinds


@pytest.mark.parametrize(("ex_id", "lang"), variants())
def test_script_pdf_holds_the_script(ex_id: str, lang: str) -> None:
    pdf = PACK / ex_id / f"{lang}.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], check=True,
                          capture_output=True).stdout.decode("utf-8")
    flat = " ".join(text.split())
    for *_, passage in parse_vtt(PACK / ex_id / f"{lang}.vtt"):
        assert " ".join(passage.split()) in flat


def test_texts_follow_the_content_guidelines() -> None:
    for ex in load_pack()["exercises"]:
        assert "demonstration" in ex["guidance"] and "not a clinical resource" in ex["guidance"]
        for lang in LANGS:
            script = " ".join(t for *_, t in parse_vtt(PACK / ex["id"] / f"{lang}.vtt"))
            everything = " ".join([script, ex["introduction"], ex["summary"], ex["guidance"]])
            assert not re.search(r"\d[\d ()-]{5,}\d", everything), "no phone numbers"
            first, last = script[:400], script[-300:]
            assert "at any moment" in first or "at any point" in first, "a way out, up front"
            assert "room" in last or "open your eyes" in last, "a return at the end"


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("lame")),
                    reason="needs espeak-ng and lame (make test installs them)")
def test_generator_reproduces_the_committed_files(tmp_path: Path) -> None:
    out = tmp_path / "pack"
    subprocess.run([sys.executable, str(DEMO / "generate.py"), "--out", str(out),
                    "--only", "three-breaths-check-in"], check=True, capture_output=True)
    for name in ("en-GB.vtt", "en-US.vtt", "en-GB.mp3", "en-US.mp3", "en-GB.pdf", "en-US.pdf"):
        made = (out / "three-breaths-check-in" / name).read_bytes()
        committed = (PACK / "three-breaths-check-in" / name).read_bytes()
        assert made == committed, (
            f"{name} differs from the committed pack: scripts.toml or generate.py changed "
            "(or espeak-ng/lame did) without regenerating; run assets/demo/generate.py")
    made_entry = tomllib.loads((out / "pack.toml").read_text())["exercises"]
    assert made_entry == [e for e in load_pack()["exercises"] if e["id"] == "three-breaths-check-in"]
