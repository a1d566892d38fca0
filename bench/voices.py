"""Offline voices for talk-back (issue 15): espeak-ng against what else Debian ships.

Each installed candidate speaks the same texts, the station's own screen words (from
kiosk.ui.strings.EN_GB, with sample values) and a spelled take-home address, as a whole WAV
each, the way kiosk/speech.py does. Measured per voice:

- synthesis time per utterance (= time to first audio: the station plays only whole WAVs),
  median and worst over texts x trials, and the real-time factor (synthesis time / audio);
- CPU seconds of the synthesiser (getrusage of children) per second of speech;
- what pocketsphinx recovers (kiosk.content.align.heard_words, listening for the words of
  all the texts): the mean fraction of each screen text's words, in order, and how many of
  the spelled address's characters. A crude proxy (a US-English acoustic model), not a
  listening test;
- installed size of the packages it needs (dpkg's Installed-Size), their Debian component
  and licence, and the accent.

A voice whose program or data is not installed is skipped with a note.

  PYTHONPATH=. .venv/bin/python bench/voices.py [--trials 3] [--keep /tmp/h15voices]
"""

from __future__ import annotations

import argparse
import difflib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import soundfile

from kiosk.content.align import heard_words, load_pcm, script_words
from kiosk.ui import strings

S = strings.EN_GB
ADDRESS = "192.168.1.20:8080/t/k7xq2m"
SAYS = {".": "dot", ":": "colon", "/": "slash"}


def spelled(address: str) -> str:
    """Character by character, runs of letters and digits in groups ("1 9 2, dot, ...")."""
    groups: list[str] = []
    run = ""
    for ch in address:
        if ch.isalnum():
            run += ch
            continue
        if run:
            groups.append(" ".join(run))
            run = ""
        groups.append(SAYS.get(ch, ch))
    if run:
        groups.append(" ".join(run))
    return ", ".join(groups)


TITLE = "Breathing space"
TEXTS = [
    S["talk.attract"].format(welcome=S["attract.welcome"], touch=S["attract.touch"]),
    S["talk.browse"].format(title=S["browse.title"], n=4),
    S["talk.exercise"].format(title=TITLE, length=S["talk.about_minutes"].format(n=5),
                              summary="A short guided pause to notice your breath."),
    S["talk.player"].format(title=TITLE, state=S["talk.playing"]),
    S["talk.volume_button"].format(label="Louder", n=60),
    S["takehome.failed"],
    S["talk.take_home"].format(title=S["takehome.title"], consent=S["takehome.consent"].format(
        title=TITLE, date=strings.format_date(date(2026, 12, 11), "en-GB"))),
    spelled(ADDRESS),
]
TEXTS = [" ".join(t.split()) for t in TEXTS]  # as talk-back's say() hands them on
# Listened for too, never spoken: a voice that reads "1 9 2" as a number, or 0 as "oh", is heard.
DECOYS = "hundred thousand twenty sixty eighty ninety oh point full stop"


@dataclass
class Voice:
    name: str
    accent: str
    exe: str
    argv: list[str]          # {out} and {txt} (a file holding the text) are filled in
    packages: list[str]
    licence: str
    needs: str = ""          # a data file or folder that must exist
    stdin: bool = False

    def command(self, txt: Path, out: Path) -> list[str]:
        return [a.format(out=out, txt=txt) for a in [self.exe, *self.argv]]


ESPEAK = ["espeak-ng", "libespeak-ng1", "espeak-ng-data"]
FLITE = ["flite", "libflite1"]
FEST = ["festival", "libestools2.5", "festlex-cmu", "festlex-poslex"]
PICO = ["libttspico-utils", "libttspico0", "libttspico-data"]
FV = "/usr/share/festival/voices"


def _espeak(v: str, accent: str, extra: list[str], lic: str, needs: str = "") -> Voice:
    return Voice(f"espeak-ng {v}", accent, "espeak-ng", ["-v", v, "-s", "160", "-w", "{out}",
                 "--stdin"], ESPEAK + extra, lic, needs, stdin=True)


def _flite(v: str, accent: str) -> Voice:
    return Voice(f"flite {v}", accent, "flite", ["-voice", v, "-f", "{txt}", "-o", "{out}"],
                 FLITE, "BSD-style (CMU)")


def _festival(v: str, accent: str, pkg: list[str], lic: str) -> Voice:
    return Voice(f"festival {v}", accent, "text2wave", ["-eval", f"(voice_{v})", "-o", "{out}",
                 "{txt}"], FEST + pkg, lic, f"{FV}/{'english' if 'diphone' in v else 'us'}/{v}")


CANDIDATES = [
    _espeak("en-gb", "en-GB", [], "GPL-3+"),
    _espeak("en-us", "en-US", [], "GPL-3+"),
    _espeak("mb-en1", "en-GB", ["mbrola", "mbrola-en1"], "AGPL + MBROLA voice licence",
            "/usr/share/mbrola/en1"),
    _espeak("mb-us1", "en-US", ["mbrola", "mbrola-us1"], "AGPL + MBROLA voice licence",
            "/usr/share/mbrola/us1"),
    _espeak("mb-us2", "en-US", ["mbrola", "mbrola-us2"], "AGPL + MBROLA voice licence",
            "/usr/share/mbrola/us2"),
    _flite("slt", "en-US"), _flite("rms", "en-US"), _flite("awb", "en-GB (Scottish)"),
    _flite("kal16", "en-US"),
    _festival("kal_diphone", "en-US", ["festvox-kallpc16k"], "X11-style (CSTR)"),
    _festival("ked_diphone", "en-US", ["festvox-kdlpc16k"], "X11-style (CSTR)"),
    _festival("rab_diphone", "en-GB", ["festvox-rablpc16k", "festlex-oald"],
              "CSTR + OALD lexicon: non-commercial only"),
    _festival("cmu_us_slt_arctic_hts", "en-US", ["festvox-us-slt-hts"], "BSD-3 / EST"),
    Voice("pico en-GB", "en-GB", "pico2wave", ["-l", "en-GB", "-w", "{out}"], PICO,
          "Apache-2.0, lingware without source", "/usr/share/pico/lang/en-GB_kh0_sg.bin"),
    Voice("pico en-US", "en-US", "pico2wave", ["-l", "en-US", "-w", "{out}"], PICO,
          "Apache-2.0, lingware without source", "/usr/share/pico/lang/en-US_lh0_sg.bin"),
]


def package_facts(packages: list[str]) -> tuple[float, str]:
    """Installed size in MB (decimal) and the least free Debian component of the packages."""
    done = subprocess.run(["dpkg-query", "-W", "-f=${Installed-Size} ${Section}\n", *packages],
                          capture_output=True, text=True)
    kib, parts = 0, set()
    for line in done.stdout.splitlines():
        size, _, section = line.partition(" ")
        kib += int(size or 0)
        parts.add(section.split("/")[0] if "/" in section else "main")
    worst = next((c for c in ("non-free", "contrib") if c in parts), "main")
    return kib * 1024 / 1e6, worst


def recovered(expected: list[str], heard: list[str]) -> int:
    """How many expected words were heard, in order (longest common subsequence by blocks)."""
    blocks = difflib.SequenceMatcher(None, expected, heard, autojunk=False).get_matching_blocks()
    return sum(b.size for b in blocks)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(v: Voice, trials: int, keep: Path) -> dict | None:
    folder = keep / v.name.replace(" ", "_")
    folder.mkdir(parents=True, exist_ok=True)
    times, cpu, audio, peaks = [], 0.0, 0.0, []
    words = []
    address_chars, mangled, clipped = 0, 0, 0
    for i, text in enumerate(TEXTS):
        txt = folder / f"{i}.txt"
        txt.write_text(text + "\n", encoding="utf-8")
        out = folder / f"{i}.wav"
        argv = v.command(txt, out)
        if v.exe == "pico2wave":  # no text file option: the text is the last argument
            argv = [*argv, text]
        for _ in range(trials):
            out.unlink(missing_ok=True)
            c0, t0 = children_cpu(), time.perf_counter()
            done = subprocess.run(argv, input=text.encode() if v.stdin else None,
                                  capture_output=True, timeout=120)
            times.append(time.perf_counter() - t0)
            cpu += children_cpu() - c0
            if done.returncode != 0 or not out.exists() or out.stat().st_size <= 44:
                print(f"  {v.name}: no sound for text {i}: {done.stderr[-200:]!r}")
                return None
        data, rate = soundfile.read(str(out), dtype="float32", always_2d=True)
        seconds = len(data) / rate
        audio += seconds * trials
        peaks.append(float(np.abs(data).max()))
        clipped += int((np.abs(data) >= 0.999).sum())
        heard = heard_words(load_pcm(out), [*TEXTS, DECOYS], "en-GB")
        expected = script_words(text)
        got = recovered(expected, heard)
        if i == len(TEXTS) - 1:
            address_chars = got
            mangled = sum(1 for w in heard if w in DECOYS.split())
        else:
            words.append(got / len(expected))
        print(f"  {v.name} [{i}] {seconds:.1f} s at {rate} Hz, peak {peaks[-1]:.2f}, "
              f"heard {got}/{len(expected)}: {' '.join(heard)[:90]}")
    size, component = package_facts(v.packages)
    return {
        "median": statistics.median(times) * 1000, "worst": max(times) * 1000,
        "rtf": sum(times) / audio, "cpu": cpu / audio,
        "words": statistics.mean(words), "address": address_chars, "mangled": mangled,
        "clipped": clipped,
        "peak": 20 * np.log10(max(peaks)), "rate": rate,
        "size": size, "component": component,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=3, help="syntheses of each text per voice")
    ap.add_argument("--keep", type=Path, default=None, help="folder for the WAVs (kept)")
    args = ap.parse_args()
    keep = args.keep or Path(tempfile.mkdtemp(prefix="kiosk-voices-"))
    print(f"{len(TEXTS)} texts, {sum(len(script_words(t)) for t in TEXTS)} words; "
          f"{args.trials} trials each; WAVs in {keep}")
    rows = []
    for v in CANDIDATES:
        if shutil.which(v.exe) is None or (v.needs and not Path(v.needs).exists()):
            print(f"skipped {v.name}: {v.exe if shutil.which(v.exe) is None else v.needs} "
                  f"is not installed (apt-get install {' '.join(v.packages)})")
            continue
        r = measure(v, args.trials, keep)
        if r is not None:
            rows.append((v, r))
    n_addr = len(script_words(TEXTS[-1]))
    print()
    print("| voice | accent | synth median (worst) ms | RTF | CPU s / s speech | words heard "
          f"| address chars heard (of {n_addr}) | number words heard in it | peak dBFS "
          "| clipped samples | Hz | installed MB | Debian | licence |")
    print("|" + " --- |" * 14)
    for v, r in rows:
        print(f"| {v.name} | {v.accent} | {r['median']:.0f} ({r['worst']:.0f}) | {r['rtf']:.3f} "
              f"| {r['cpu']:.3f} | {r['words']:.0%} | {r['address']} | {r['mangled']} "
              f"| {r['peak']:.1f} | {r['clipped']} "
              f"| {r['rate']} | {r['size']:.1f} | {r['component']} | {v.licence} |")
    print(f"\nload average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
