"""Offline alignment's figures (issue 13, item 3), printed as markdown tables.

Run:  .venv/bin/python bench/align.py            (the demo's 10 variants and a 60-minute track:
                                                  about 15 minutes on 2 quiet cores)
      .venv/bin/python bench/align.py --no-long  (the demo's variants only)

Accuracy: every variant of the demo collection is aligned from its MP3 with the texts of its
shipped cues as the passages; those cues are exact (the synthesis wrote them), so each
passage's start is compared with its cue's start: median, p95 and worst absolute error.
Aims: median <= 0.1 s, p95 <= 0.3 s, worst <= 1 s.

Cost: against the audio's own length, and against a peer in the same run: bare pocketsphinx
aligning the whole text over the whole 7-minute track in one forced alignment (what the
stack notes measured first), from the same file through the same decoder. Time is the whole `align()` call from the file
(decoding and resampling included) divided by the track's length (aim <= 0.25), and peak
memory the child process's maximum resident set (aim <= 400 MB), next to the same child's
resident set before aligning (Python, numpy and the aligner's module imported). The 7-minute track is the
demo's longest variant; the 60-minute one is every demo variant one after another, repeated
until it lasts an hour, with its script repeated to match (its cues shifted the same way, so
its accuracy is measured too). Each case runs in its own child process (`--child`,
`--peer`), once.

The machine may be shared: the load average (`uptime`) is printed beside each figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from kiosk.content.cues import parse_vtt

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEMO = ROOT / "assets" / "demo" / "pack"

LONG_S = 3600.0
AIMS = {"median": 0.1, "p95": 0.3, "worst": 1.0, "ratio": 0.25, "peak_mb": 400.0}


def variants() -> list[tuple[str, str]]:
    return sorted((p.parent.name, p.stem) for p in DEMO.glob("*/*.vtt"))


def cues_of(exercise: str, lang: str):
    return parse_vtt((DEMO / exercise / f"{lang}.vtt").read_text(encoding="utf-8"))


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(audio: str, cues_json: str, lang: str) -> None:
    """One alignment in this process; prints its figures as JSON."""
    from kiosk.content.align import align

    cues = json.loads(Path(cues_json).read_text())
    before = rss_mb()
    load_before = load()
    t0 = time.perf_counter()
    result = align(Path(audio), [c["text"] for c in cues], lang)
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    errors = ([abs(p.start - c["start"]) for p, c in zip(result.passages, cues, strict=True)]
              if result.timed else [])
    placements: dict[str, int] = {}
    for p in result.passages:
        placements[p.state.value] = placements.get(p.state.value, 0) + 1
    print(json.dumps({
        "duration": result.duration, "elapsed": elapsed, "peak_mb": peak, "base_mb": before,
        "errors": errors, "untimed": None if result.timed else result.state.value,
        "heard": result.heard, "placements": placements, "load": f"{load_before} / {load()}",
    }))


def peer_child(audio: str, cues_json: str, lang: str) -> None:
    """The peer: bare pocketsphinx, one forced alignment of the whole text over the whole
    track (the stack notes' first try, wide beams), the same file decoded the same way."""
    import tempfile as tf

    from pocketsphinx import Decoder

    from kiosk.content import align as a

    cues = json.loads(Path(cues_json).read_text())
    before = rss_mb()
    load_before = load()
    t0 = time.perf_counter()
    pcm = a.load_pcm(Path(audio))
    words = [w for c in cues for w in a.script_words(c["text"])]
    with tf.TemporaryDirectory() as tmp:
        dict_path = Path(tmp) / "d"
        a._write_dict(a._pronunciations(set(words), "en-us"), dict_path)
        decoder = Decoder(hmm=str(a._model_dir("en-us") / "en-us"), dict=str(dict_path),
                          samprate=a.RATE, loglevel="FATAL", **a.FORCE_BEAMS)
        decoder.set_align_text(" ".join(words))
        decoder.start_utt()
        decoder.process_raw(pcm.tobytes(), full_utt=True)
        try:
            decoder.end_utt()
            segs = [s for s in decoder.seg() or () if a._is_word(s.word)]
        except RuntimeError:
            segs = []
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    errors: list[float] = []
    if len(segs) == len(words):
        k = 0
        for c in cues:
            errors.append(abs(segs[k].start_frame * a.FRAME_S - c["start"]))
            k += len(a.script_words(c["text"]))
    print(json.dumps({
        "duration": len(pcm) / a.RATE, "elapsed": elapsed, "peak_mb": peak, "base_mb": before,
        "errors": errors, "untimed": None if errors else "failed", "heard": 0.0,
        "placements": {}, "load": f"{load_before} / {load()}",
    }))


def run_child(audio: Path, cues: list[dict], lang: str, tmp: Path, mode: str = "--child") -> dict:
    cues_json = tmp / "cues.json"
    cues_json.write_text(json.dumps(cues))
    out = subprocess.run([sys.executable, __file__, mode, str(audio), str(cues_json), lang],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_long(tmp: Path) -> tuple[Path, list[dict]]:
    """Every demo variant in turn (22.05 kHz mono, as the demo is), repeated to an hour."""
    from kiosk.audio.decode import decode_whole

    path = tmp / "long.flac"
    cues: list[dict] = []
    at = 0.0
    with soundfile.SoundFile(path, "w", samplerate=22050, channels=1, subtype="PCM_16") as out:
        while at < LONG_S:
            for exercise, lang in variants():
                data = decode_whole(DEMO / exercise / f"{lang}.mp3")
                assert data.shape[1] == 1
                out.write(data)
                cues += [{"start": at + c.start, "text": c.text} for c in cues_of(exercise, lang)]
                at += len(data) / 22050
                if at >= LONG_S:
                    break
    return path, cues


def stats(errors: list[float]) -> tuple[float, float, float]:
    return float(np.median(errors)), float(np.percentile(errors, 95)), float(max(errors))


def mark(value: float, aim: float) -> str:
    return "" if value <= aim else " (over)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=3)
    parser.add_argument("--peer", nargs=3)
    parser.add_argument("--no-long", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.peer:
        peer_child(*args.peer)
        return
    print("## Alignment (kiosk/content/align.py, pocketsphinx en-us)\n")
    print(f"Machine: {os.cpu_count()} cores; load average before: {load()}\n")
    print("Passage starts against the demo's shipped cues (aims: median <= 0.1 s, "
          "p95 <= 0.3 s, worst <= 1 s). Time: align() from the file / the audio's length.\n")
    print("| variant | length | passages | aligned / anchored / interpolated | words heard in place "
          "| median | p95 | worst | time / length | peak MB (before) | load (1/5/15 min, before / after) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    all_errors: list[float] = []
    longest: tuple[float, str, dict] | None = None
    with tempfile.TemporaryDirectory(prefix="bench-align-") as tmp_name:
        tmp = Path(tmp_name)
        rows = []
        for exercise, lang in variants():
            cues = [{"start": c.start, "text": c.text} for c in cues_of(exercise, lang)]
            r = run_child(DEMO / exercise / f"{lang}.mp3", cues, lang, tmp)
            name = f"{exercise} {lang}"
            rows.append((name, r))
            if longest is None or r["duration"] > longest[0]:
                longest = (r["duration"], name, r)
            print(row(name, r, len(cues)), flush=True)
            all_errors += r["errors"]
        if all_errors:
            med, p95, worst = stats(all_errors)
            print(f"| **all {len(rows)} variants** | | {len(all_errors)} | | | **{med:.3f}**{mark(med, AIMS['median'])} "
                  f"| **{p95:.3f}**{mark(p95, AIMS['p95'])} | **{worst:.3f}**{mark(worst, AIMS['worst'])} | | | |")
        print()
        print("Cost against the audio's length (aims: time / length <= 0.25, peak <= 400 MB):\n")
        print("| track | length | time | time / length | peak MB | before align MB | median / p95 / worst start error | load (before / after) |")
        print("|---|---|---|---|---|---|---|---|")
        if longest is not None:
            print(cost_row(f"7-minute: {longest[1]}", longest[2]), flush=True)
            exercise, lang = longest[1].split()
            cues = [{"start": c.start, "text": c.text} for c in cues_of(exercise, lang)]
            peer = run_child(DEMO / exercise / f"{lang}.mp3", cues, lang, tmp, "--peer")
            print(cost_row("peer, same track: bare pocketsphinx, whole text at once", peer), flush=True)
        if not args.no_long:
            path, cues = make_long(tmp)
            r = run_child(path, cues, "en-GB", tmp)
            print(cost_row(f"60-minute: the 10 variants in turn, {len(cues)} passages", r), flush=True)
    print(f"\nLoad average after: {load()}")


def row(name: str, r: dict, n: int) -> str:
    if r["untimed"]:
        return f"| {name} | {r['duration']:.0f} s | {n} | untimed: {r['untimed']} | | | | | | | {r['load']} |"
    med, p95, worst = stats(r["errors"])
    pl = r["placements"]
    ratio = r["elapsed"] / r["duration"]
    return (f"| {name} | {r['duration']:.0f} s | {n} | {pl.get('aligned', 0)} / {pl.get('anchored', 0)} / "
            f"{pl.get('interpolated', 0)} | {r['heard']:.0%} | {med:.3f}{mark(med, AIMS['median'])} "
            f"| {p95:.3f}{mark(p95, AIMS['p95'])} | {worst:.3f}{mark(worst, AIMS['worst'])} "
            f"| {ratio:.3f}{mark(ratio, AIMS['ratio'])} | {r['peak_mb']:.0f} ({r['base_mb']:.0f}) | {r['load']} |")


def cost_row(name: str, r: dict) -> str:
    ratio = r["elapsed"] / r["duration"]
    acc = "untimed: " + r["untimed"] if r["untimed"] else " / ".join(f"{x:.3f}" for x in stats(r["errors"]))
    return (f"| {name} | {r['duration'] / 60:.1f} min | {r['elapsed']:.0f} s | {ratio:.3f}{mark(ratio, AIMS['ratio'])} "
            f"| {r['peak_mb']:.0f}{mark(r['peak_mb'], AIMS['peak_mb'])} | {r['base_mb']:.0f} | {acc} | {r['load']} |")


if __name__ == "__main__":
    main()
