"""Therapist mode's figures: PIN verification time, usage writes and counts.

Run: .venv/bin/python bench/therapist.py   (prints a markdown table; about 15 s)

Peers, measured in the same run: the `openssl kdf` command doing the same scrypt (Python's
hashlib calls the same OpenSSL, so the ratio shows our overhead, not a different
algorithm); for the database figures, a bare sqlite3 INSERT/SELECT of the same shape.
"""

from __future__ import annotations

import datetime as dt
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kiosk.store import open_db  # noqa: E402
from kiosk.therapist.pin import hash_pin, verify_pin  # noqa: E402
from kiosk.usage import KINDS, counts, daily_counts, record  # noqa: E402

PIN = "482915"


def best_of(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def median_of(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def openssl_scrypt() -> float | None:
    if not shutil.which("openssl"):
        return None
    cmd = ["openssl", "kdf", "-keylen", "32", "-kdfopt", f"pass:{PIN}",
           "-kdfopt", "hexsalt:00112233445566778899aabbccddeeff", "-kdfopt", "n:131072",
           "-kdfopt", "r:8", "-kdfopt", "p:1", "-kdfopt", "maxmem_bytes:268435456", "SCRYPT"]

    def run() -> None:
        subprocess.run(cmd, check=True, capture_output=True)

    try:
        return median_of(5, run)
    except (subprocess.CalledProcessError, OSError):
        return None


def main() -> None:
    rows: list[tuple[str, str, str, str, str]] = []

    def add(figure: str, target: str, measured: float, peer: float | None, unit: str,
            scale: float = 1.0) -> None:
        peer_text = f"{peer * scale:.3g} {unit}" if peer else "n/a"
        ratio = f"{measured / peer:.2f}" if peer else "n/a"
        rows.append((figure, target, f"{measured * scale:.3g} {unit}", peer_text, ratio))

    stored = hash_pin(PIN)
    verify = median_of(5, lambda: verify_pin(PIN, stored))
    add("PIN verification (scrypt N=2^17, r=8, p=1)", "0.1-0.5 s, off the UI thread",
        verify, openssl_scrypt(), "s")

    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "kiosk.sqlite3")
        raw = sqlite3.connect(Path(tmp) / "peer.sqlite3")
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=NORMAL")
        raw.execute("CREATE TABLE e (id INTEGER PRIMARY KEY, at TEXT, kind TEXT, "
                    "exercise_id TEXT, lang TEXT, station TEXT)")
        raw.execute("CREATE INDEX e_at ON e (at)")

        def one_record() -> None:
            record(db, "play_started", "breathing", "en-GB", "station-1")

        def one_raw() -> None:
            with raw:
                raw.execute("INSERT INTO e (at, kind, exercise_id, lang, station) VALUES "
                            "('2026-01-01T00:00:00.000000Z', 'play_started', 'breathing', "
                            "'en-GB', 'station-1')")

        add("usage record() (one committed event)", "< 5 ms (player and server threads)",
            median_of(200, one_record), median_of(200, one_raw), "ms", 1000)

        # A busy year: 150 events a day over 30 exercises and 2 languages.
        now = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
        events = []
        for i in range(365 * 150):
            when = now - dt.timedelta(minutes=i * 3.5)
            events.append((when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), KINDS[i % 4],
                           f"exercise-{i % 30}", ("en-GB", "en-US")[i % 2], "station-1"))
        with db.conn:
            db.conn.executemany("INSERT INTO usage_events (at, kind, exercise_id, lang, station) "
                                "VALUES (?, ?, ?, ?, ?)", events)
        with raw:
            raw.executemany("INSERT INTO e (at, kind, exercise_id, lang, station) "
                            "VALUES (?, ?, ?, ?, ?)", events)
        start_30 = (now - dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

        def raw_counts() -> None:
            raw.execute("SELECT exercise_id, kind, count(*) FROM e WHERE at >= ? "
                        "GROUP BY exercise_id, kind", [start_30]).fetchall()

        add("counts(), 30 days of a 55,000-event year", "< 50 ms (panel opens)",
            median_of(20, lambda: counts(db, 30, now)), median_of(20, raw_counts), "ms", 1000)

        def raw_rows() -> None:
            raw.execute("SELECT at, station, exercise_id, lang, kind FROM e ORDER BY at").fetchall()

        add("daily_counts(), 365 days (stats --csv)", "< 2 s",
            median_of(3, lambda: daily_counts(db, 365, now)), median_of(3, raw_rows), "ms", 1000)
        db.close()
        raw.close()

    print(f"Machine: {platform.machine()}, {platform.processor() or platform.platform()}, "
          f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}\n")
    print("| figure | target | measured | peer | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
