"""`make bench`: runs every benchmark of the project and gathers their tables.

Each bench/<area>.py prints a markdown table (figure, target, measured, peer, ratio). This
runs them one after another (never in parallel: they measure the same two cores), prints
one combined report and writes it to bench/results.md with a description of the machine.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["cli", "content", "phonecopy", "scripttext", "audio", "takehome", "ui", "therapist", "soak",
         "align", "console"]
# Arguments that keep the whole run inside 20 minutes: the audio bench (about 380 s) plays
# its underrun figure in real time for the full 5 minutes.
# The soak's short form: a few visitor cycles (its long form, 1,000 cycles, runs on its own).
# The alignment's short form: the demo's variants only (about 3 minutes); its 60-minute track
# (another 15 minutes or more) runs on its own.
# The console's short form: a 10-minute track (about a minute); its 60-minute one (about
# 7 minutes) runs on its own.
ARGS = {"audio": ["--duration", "300"], "soak": ["--cycles", "6", "--warm-up", "3"],
        "align": ["--no-long"], "console": ["--minutes", "10"]}
TIME_LIMIT_SECONDS = 1200  # the whole run stays within 20 minutes
# The long forms' tables, kept by hand (each takes too long for this run), appended last;
# talk-back's (bench/talkback.py, about 7 minutes) too.
LONG_FORMS = ["soak-long.md", "align-long.md", "console-long.md", "talkback.md"]


def machine_description() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                          if line.startswith("MemTotal")))
        memory = f"{mem_kb / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        memory = "unknown"
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores, "
            f"{memory} memory, Python {platform.python_version()}")


def main() -> int:
    started = time.monotonic()
    sections = [f"# Benchmark results\n\nMachine: {machine_description()}  \n"
                f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"]
    failures = 0
    scripts = [HERE / f"{name}.py" for name in ORDER if (HERE / f"{name}.py").exists()]
    for script in scripts:
        remaining = TIME_LIMIT_SECONDS - (time.monotonic() - started)
        print(f"== {script.name} ==", flush=True)
        if remaining < 30:
            sections.append(f"## {script.stem}\n\nnot run: the 20-minute budget was spent\n")
            continue
        t0 = time.monotonic()
        try:
            proc = subprocess.run([sys.executable, str(script), *ARGS.get(script.stem, [])],
                                  capture_output=True, text=True,
                                  timeout=remaining, cwd=HERE.parent)
            output, code = proc.stdout, proc.returncode
            if code != 0:
                failures += 1
                output += f"\n(exit code {code})\n" + proc.stderr[-2000:]
        except subprocess.TimeoutExpired:
            failures += 1
            output, code = "timed out\n", -1
        print(output, flush=True)
        sections.append(f"## {script.stem} ({time.monotonic() - t0:.0f} s)\n\n{output.strip()}\n")
    for long_form in (HERE / name for name in LONG_FORMS):
        if long_form.exists():
            sections.append(long_form.read_text(encoding="utf-8").strip() + "\n")
    report = "\n".join(sections)
    (HERE / "results.md").write_text(report + "\n", encoding="utf-8")
    print(f"Written to {HERE / 'results.md'} in {time.monotonic() - started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
