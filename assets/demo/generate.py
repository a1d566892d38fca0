#!/usr/bin/env python3
"""Generate the kiosk demo collection from scripts.toml.

    .venv/bin/python assets/demo/generate.py [--out DIR] [--only ID ...] [--keep-wav DIR]

Reads `scripts.toml` (beside this file: every exercise's metadata and passages, written by
this project) and writes a complete content pack to `assets/demo/pack/` (or `--out`):

    pack.toml
    <exercise id>/<lang>.mp3   speech from espeak-ng, with real silences between passages
    <exercise id>/<lang>.vtt   WebVTT, one cue per passage, timed from the synthesis itself
    <exercise id>/<lang>.pdf   the script, rendered by kiosk.content.scriptpdf

Needs espeak-ng and lame on PATH (Debian: `apt-get install espeak-ng lame`) and the
project's venv (numpy, soundfile, fpdf2, and the kiosk package for the PDFs).
The output is committed, so the station works offline without either tool; run this only
after changing scripts.toml or the way the audio is made, then commit the new pack.

How a variant is made: each passage is synthesised on its own to a WAV, trimmed to its
speech, and placed on a timeline with the passage's pause after it. A cue runs from the
first to the last sample of its passage's speech, so the read-along highlighting is exact;
the pauses fall between cues. The whole variant is scaled once so its loudest sample sits at
`peak_dbfs`, written as 16-bit PCM and encoded by lame: en-GB as constant bitrate, en-US as
variable bitrate, so both kinds of MP3 go through the importer.

Deterministic: with the same scripts.toml and the same espeak-ng, lame and fpdf2 versions
the output is byte-identical (the PDFs' creation date comes from SOURCE_DATE_EPOCH, which
this script fixes unless it is already set).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCRIPTS = HERE / "scripts.toml"
DEFAULT_OUT = HERE / "pack"
# 2025-01-01T00:00:00Z: only stamps the PDFs; any fixed value keeps rebuilds identical.
FIXED_EPOCH = "1735689600"
# content-guidelines.md: each exercise lasts 3 to 8 minutes.
MIN_SECONDS, MAX_SECONDS = 180, 480

_CHOICE = re.compile(r"\{([^{}|]*)\|([^{}|]*)\}")
# espeak-ng reads typographic punctuation unevenly; it gets plain ASCII equivalents.
_SPOKEN = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "…": "...", "—": ", ", "–": ", "})


@dataclass(frozen=True)
class Voice:
    lang: str
    spelling: int
    voice: str
    rate: int
    pitch: int
    mp3: str
    bitrate: int
    quality: int


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def choose(text: str, side: int) -> str:
    """Resolve every {en-GB|en-US} choice in `text` to one side."""
    out = _CHOICE.sub(lambda m: m.group(side + 1), text)
    if "{" in out or "}" in out:
        raise SystemExit(f"scripts.toml: unbalanced {{a|b}} choice in: {text!r}")
    return out


def spoken(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(_SPOKEN)).strip()


def run(cmd: list[str], stdin: bytes | None = None) -> None:
    try:
        subprocess.run(cmd, input=stdin, check=True, capture_output=True)
    except FileNotFoundError:
        raise SystemExit(f"{cmd[0]} is not installed: apt-get install espeak-ng lame") from None
    except subprocess.CalledProcessError as err:
        raise SystemExit(f"{' '.join(cmd)} failed: {err.stderr.decode(errors='replace')}") from None


def synthesise(text: str, voice: Voice, sample_rate: int, work: Path) -> np.ndarray:
    wav = work / "passage.wav"
    run(
        ["espeak-ng", "-v", voice.voice, "-s", str(voice.rate), "-p", str(voice.pitch),
         "-z", "--stdin", "-w", str(wav)],
        stdin=spoken(text).encode("utf-8"),
    )
    data, rate = sf.read(wav, dtype="float64", always_2d=False)
    if rate != sample_rate:
        raise SystemExit(f"espeak-ng wrote {rate} Hz, scripts.toml expects {sample_rate} Hz")
    return trim(data, rate)


def trim(x: np.ndarray, rate: int) -> np.ndarray:
    """Cut the synthesiser's leading and trailing near-silence, with soft 5 ms edges."""
    level = np.abs(x)
    loud = np.flatnonzero(level > max(level.max() * 0.003, 1e-4))
    if loud.size == 0:
        raise SystemExit("espeak-ng produced silence")
    margin = int(0.020 * rate)
    x = x[max(0, loud[0] - margin) : loud[-1] + margin + 1].copy()
    fade = min(int(0.005 * rate), len(x) // 2)
    ramp = np.linspace(0.0, 1.0, fade, endpoint=False)
    x[:fade] *= ramp
    x[len(x) - fade :] *= ramp[::-1]
    return x


def build_variant(
    passages: list[tuple[str, float]], voice: Voice, audio: dict, work: Path
) -> tuple[np.ndarray, list[Cue]]:
    rate = int(audio["sample_rate"])
    pieces: list[np.ndarray] = [np.zeros(round(audio["lead_in"] * rate))]
    at = len(pieces[0])
    spans: list[tuple[int, int, str]] = []
    for i, (text, pause) in enumerate(passages):
        speech = synthesise(text, voice, rate, work)
        spans.append((at, at + len(speech), text))
        if i == len(passages) - 1:
            pause = max(pause, audio["min_tail"])
        gap = np.zeros(round(pause * rate))
        pieces += [speech, gap]
        at += len(speech) + len(gap)
    signal = np.concatenate(pieces)
    signal *= 10 ** (audio["peak_dbfs"] / 20) / np.abs(signal).max()
    # Rounded outwards to whole milliseconds so every cue covers all of its speech.
    cues = [
        Cue(math.floor(a * 1000 / rate) / 1000, math.ceil(b * 1000 / rate) / 1000, text)
        for a, b, text in spans
    ]
    return signal, cues


def vtt_time(t: float) -> str:
    ms = round(t * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def write_vtt(cues: list[Cue], path: Path) -> None:
    lines = ["WEBVTT", ""]
    for n, cue in enumerate(cues, 1):
        text = cue.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        lines += [str(n), f"{vtt_time(cue.start)} --> {vtt_time(cue.end)}", text, ""]
    path.write_text("\n".join(lines), encoding="utf-8", newline="\n")


def encode_mp3(signal: np.ndarray, rate: int, voice: Voice, title: str, pack_title: str,
               publisher: str, path: Path, work: Path) -> None:
    wav = work / "variant.wav"
    sf.write(wav, signal, rate, subtype="PCM_16")
    if voice.mp3 == "cbr":
        mode = ["--cbr", "-b", str(voice.bitrate)]
    elif voice.mp3 == "vbr":
        mode = ["-V", str(voice.quality)]
    else:
        raise SystemExit(f"scripts.toml: mp3 must be 'cbr' or 'vbr', not {voice.mp3!r}")
    run(["lame", "--quiet", "--noreplaygain", "-m", "m", *mode,
         "--tt", title, "--ta", publisher, "--tl", pack_title, "--tg", "Speech",
         "--tc", f"Synthesised speech ({voice.lang}); kiosk demo", "--add-id3v2",
         str(wav), str(path)])


def load_voices(data: dict) -> dict[str, Voice]:
    return {
        lang: Voice(lang=lang, spelling=int(v["spelling"]), voice=v["voice"], rate=int(v["rate"]),
                    pitch=int(v["pitch"]), mp3=v["mp3"], bitrate=int(v.get("bitrate", 96)),
                    quality=int(v.get("quality", 4)))
        for lang, v in data["languages"].items()
    }


def toml_str(text: str) -> str:
    # JSON's string escapes are all valid in a TOML basic string.
    return json.dumps(text, ensure_ascii=False)


def toml_long(text: str) -> str:
    """A long text as a readable multi-line TOML string (line-ending backslashes join lines)."""
    if len(text) <= 80:
        return toml_str(text)
    if '"""' in text or "\\" in text or any(ord(c) < 32 for c in text):
        return toml_str(text)
    lines = textwrap.wrap(text, 90, break_long_words=False, break_on_hyphens=False)
    return '"""\n' + " \\\n".join(lines) + '"""'


def dump_pack(pack: dict, exercises: list[dict]) -> str:
    out = ["# Generated by assets/demo/generate.py from scripts.toml: edit those, not this.",
           "format = 1", "", "[pack]"]
    out += [f"{k} = {toml_str(v)}" for k, v in pack.items()]
    for ex in exercises:
        out += ["", "[[exercises]]"]
        for key in ("id", "title", "summary"):
            out.append(f"{key} = {toml_str(ex[key])}")
        for key in ("introduction", "guidance"):
            out.append(f"{key} = {toml_long(ex[key])}")
        out.append("references = [")
        out += [f"  {toml_str(r)}," for r in ex["references"]]
        out.append("]")
        out.append("techniques = [" + ", ".join(toml_str(t) for t in ex["techniques"]) + "]")
        out.append(f"visibility = {toml_str(ex['visibility'])}")
        for lang, variant in ex["variants"].items():
            out += ["", f"[exercises.variants.{lang}]"]
            out += [f"{k} = {toml_long(v)}" for k, v in variant.items()]
    text = "\n".join(out) + "\n"
    # The pack must say exactly what was meant, whatever the text contains.
    if tomllib.loads(text) != {"format": 1, "pack": pack, "exercises": exercises}:
        raise SystemExit("internal error: pack.toml does not round-trip")
    return text


def make_variant(ex: dict, voice: Voice, audio: dict, pack: dict, folder: Path, work: Path,
                 keep_wav: Path | None) -> tuple[float, int]:
    """Write <folder>/<lang>.mp3, .vtt and .pdf for one exercise; return (seconds, MP3 bytes)."""
    from kiosk.content.scriptpdf import render_script_pdf

    rate = int(audio["sample_rate"])
    title = choose(ex["title"], voice.spelling)
    passages = [(choose(p["text"], voice.spelling), float(p["pause"])) for p in ex["passages"]]
    signal, cues = build_variant(passages, voice, audio, work)
    seconds = len(signal) / rate
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise SystemExit(f"{ex['id']} ({voice.lang}) lasts {seconds:.0f} s; the content "
                         f"guidelines ask for {MIN_SECONDS}-{MAX_SECONDS} s: adjust its pauses")
    base = folder / voice.lang
    mp3 = base.with_suffix(".mp3")
    encode_mp3(signal, rate, voice, title, pack["title"], pack["publisher"], mp3, work)
    if keep_wav:
        keep_wav.mkdir(parents=True, exist_ok=True)
        sf.write(keep_wav / f"{ex['id']}.{voice.lang}.wav", signal, rate, subtype="PCM_16")
    write_vtt(cues, base.with_suffix(".vtt"))
    render_script_pdf(title, [c.text for c in cues], voice.lang, base.with_suffix(".pdf"),
                      subtitle=choose(ex["introduction"], voice.spelling))
    return seconds, mp3.stat().st_size


def generate(out: Path, only: set[str], keep_wav: Path | None) -> list[tuple[str, str, float, int]]:
    data = tomllib.loads(SCRIPTS.read_text(encoding="utf-8"))
    voices = load_voices(data)
    audio = data["audio"]
    pack = {k: data["pack"][k] for k in ("id", "title", "version", "publisher")}
    exercises = [e for e in data["exercises"] if not only or e["id"] in only]
    unknown = only - {e["id"] for e in exercises}
    if unknown:
        raise SystemExit(f"no such exercise in scripts.toml: {', '.join(sorted(unknown))}")
    # The exercise-level texts are in the first language; the others override what differs.
    first = next(iter(voices.values()))
    entries: list[dict] = []
    report: list[tuple[str, str, float, int]] = []

    build = Path(tempfile.mkdtemp(prefix=".pack-", dir=out.parent))
    try:
        with tempfile.TemporaryDirectory(prefix="kiosk-demo-") as tmp:
            for ex in exercises:
                folder = build / ex["id"]
                folder.mkdir()
                entry: dict = {"id": ex["id"]}
                for key in ("title", "summary", "introduction", "guidance"):
                    entry[key] = choose(ex[key], first.spelling)
                entry["references"] = list(ex["references"])
                entry["techniques"] = list(ex["techniques"])
                entry["visibility"] = ex["visibility"]
                entry["variants"] = {}
                for lang, voice in voices.items():
                    seconds, size = make_variant(ex, voice, audio, pack, folder, Path(tmp), keep_wav)
                    variant = {
                        "audio": f"{ex['id']}/{lang}.mp3",
                        "cues": f"{ex['id']}/{lang}.vtt",
                        "script_pdf": f"{ex['id']}/{lang}.pdf",
                    }
                    for key in ("title", "summary", "introduction"):
                        text = choose(ex[key], voice.spelling)
                        if text != entry[key]:
                            variant[key] = text
                    entry["variants"][lang] = variant
                    report.append((ex["id"], lang, seconds, size))
                    print(f"  {ex['id']:28s} {lang}  {seconds:6.1f} s  {size / 1024:6.0f} KiB",
                          flush=True)
                entries.append(entry)
        (build / "pack.toml").write_text(dump_pack(pack, entries), encoding="utf-8", newline="\n")
        # Swap the finished pack in only now, so a failed run leaves the old one whole.
        if out.exists():
            old = out.with_name(out.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            build.rename(out)
            shutil.rmtree(old)
        else:
            build.rename(out)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="pack folder to (re)write")
    parser.add_argument("--only", nargs="+", default=[], metavar="ID", help="only these exercises")
    parser.add_argument("--keep-wav", type=Path, metavar="DIR", help="also keep each variant's WAV")
    args = parser.parse_args()
    os.environ.setdefault("SOURCE_DATE_EPOCH", FIXED_EPOCH)
    out = args.out.resolve()
    if args.only and out == DEFAULT_OUT:
        parser.error("--only writes a partial pack: give it an --out folder of its own")
    sys.path.insert(0, str(REPO))  # the PDFs come from kiosk.content.scriptpdf, even without the venv's install
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"writing {out}")
    report = generate(out, set(args.only), args.keep_wav)
    total = sum(size for *_, size in report) + sum(
        p.stat().st_size for p in out.rglob("*") if p.suffix in {".vtt", ".pdf", ".toml"})
    print(f"{len(report)} variants, {sum(d for _, _, d, _ in report) / 60:.1f} min of audio, "
          f"{total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
