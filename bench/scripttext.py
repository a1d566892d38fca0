"""Script text figures: reading a script's passages out of a PDF, against bare pypdf.

Run: .venv/bin/python bench/scripttext.py   (prints a markdown table; about 30 s)

- Extraction time of `read_script` (pypdf's text visitor, then lines, headers and footers,
  paragraphs, directions) against the bare `page.extract_text()` of every page by the same
  pypdf on the same file: what our own work costs on top of the extractor. Two files: a demo
  script (3 pages), and an hour's script (200 passages, about 28 pages) made by the station's
  own script PDF writer. Median of runs that alternate ours and the peer's (the machine is
  shared: read the ratio, not the milliseconds).
- A PDF bomb (200 MB of content stream in 0.2 MB): the time and the peak memory (RSS of a
  fresh process) to refuse it, against the RSS of a process that only imports the same
  modules.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from kiosk.resources import DEMO_PACK  # noqa: E402
from tests.content.handpdf import pdf_bomb  # noqa: E402

RUNS = 15


def bare_pypdf(path: Path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def ours(path: Path) -> list[str]:
    from kiosk.content.scripttext import read_script

    return read_script(path).spoken()


def alternate(a: Callable[[], object], b: Callable[[], object], runs: int = RUNS) -> tuple[float, float]:
    a(), b()  # warm: imports, the file in the page cache
    times_a, times_b = [], []
    for _ in range(runs):
        t = time.perf_counter()
        a()
        times_a.append(time.perf_counter() - t)
        t = time.perf_counter()
        b()
        times_b.append(time.perf_counter() - t)
    return statistics.median(times_a), statistics.median(times_b)


def long_script(out: Path) -> int:
    from kiosk.content.scriptpdf import render_script_pdf

    passages = [
        f"Passage {i + 1}. Let the breath come and go at its own pace, and notice where you feel "
        "it most: at the nose, the chest or the belly. When the mind wanders, as minds do, "
        "gently bring it back, without any judgement, to the next breath."
        for i in range(200)
    ]
    render_script_pdf("An hour of breathing", passages, "en-GB", out, subtitle="A long script.")
    return len(passages)


def child_bomb(path: str) -> None:
    from kiosk.content.scripttext import ScriptRefused, read_script

    started = time.perf_counter()
    try:
        read_script(Path(path))
        kind = "read"
    except ScriptRefused as refusal:
        kind = refusal.kind.value
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "kind": kind,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def child_baseline() -> None:
    import pypdf  # noqa: F401

    import kiosk.content.scripttext  # noqa: F401

    print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_child(*args: str) -> dict[str, float | str]:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    result: dict[str, float | str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    rows: list[tuple[str, str, str, str, str]] = []
    demo = DEMO_PACK / "compassionate-other" / "en-GB.pdf"
    with tempfile.TemporaryDirectory() as tmp:
        # The memory figures first, while this process is small: a child's peak RSS starts
        # from what it was forked from.
        bomb = Path(tmp) / "bomb.pdf"
        pdf_bomb(bomb)
        refused = run_child("--bomb-child", str(bomb))
        baseline = run_child("--baseline-child")

        long_pdf = Path(tmp) / "long.pdf"
        count = long_script(long_pdf)
        from pypdf import PdfReader

        for label, path in [
            (f"demo script ({len(PdfReader(demo).pages)} pages)", demo),
            (f"an hour's script ({count} passages, {len(PdfReader(long_pdf).pages)} pages)", long_pdf),
        ]:
            assert len(ours(path)) > 0
            mine, peer = alternate(lambda p=path: ours(p), lambda p=path: bare_pypdf(p))
            rows.append((f"read_script, {label}, median of {RUNS}", "ratio <= 2",
                         f"{mine * 1000:.1f} ms", f"{peer * 1000:.1f} ms (bare pypdf extract_text)",
                         f"{mine / peer:.2f}"))

        size_kb = bomb.stat().st_size / 1024
        rows.append((f"PDF bomb ({size_kb:.0f} KB holding 200 MB), time to refuse ({refused['kind']})", "-",
                     f"{float(refused['seconds']) * 1000:.0f} ms", "n/a", "n/a"))
        rows.append(("PDF bomb, peak memory (RSS of the refusing process)", "<= 100 MB",
                     f"{float(refused['peak_mb']):.0f} MB",
                     f"{float(baseline['peak_mb']):.0f} MB (imports only)",
                     f"{float(refused['peak_mb']) / float(baseline['peak_mb']):.2f}"))
    load = os.getloadavg()[0]
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average (1 min) at the end {load:.2f}\n")
    print("| figure | target | measured | peer | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bomb-child":
        child_bomb(sys.argv[2])
    elif len(sys.argv) == 2 and sys.argv[1] == "--baseline-child":
        child_baseline()
    else:
        main()
