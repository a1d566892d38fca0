"""A station is switched off at the wall: SIGKILL at random moments while links are issued
and usage is recorded, 100 times. The database must stay whole, with no half-written link."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kiosk.store import integrity_problems, open_db

pytestmark = pytest.mark.slow

WRITER = textwrap.dedent("""
    import sys, itertools
    from pathlib import Path
    from kiosk.store import open_db
    from kiosk.takehome.links import issue_link
    from kiosk import usage
    db = open_db(Path(sys.argv[1]))
    print("ready", flush=True)
    for n in itertools.count():
        items = [(f"exercise-{n % 7}", "en-GB"), (f"exercise-{(n + 1) % 7}", "en-US"),
                 (f"exercise-{(n + 2) % 7}", "en-GB")][: 1 + n % 3]
        issue_link(db, items, 7, 5, station="crash-test")
        usage.record(db, "play_started", f"exercise-{n % 7}", "en-GB", "crash-test")
        usage.record(db, "play_completed", f"exercise-{n % 7}", "en-GB", "crash-test")
""")


def check_whole(db_path: Path) -> int:
    db = open_db(db_path)
    try:
        assert integrity_problems(db) == []
        # Every link has all of its items: positions 1..n with no gap, never a link without.
        for link_id, count, top in db.execute(
            "SELECT l.id, count(i.position), max(i.position) FROM links l "
            "LEFT JOIN link_items i ON i.link_id = l.id GROUP BY l.id"
        ):
            assert count >= 1 and count == top, f"link {link_id} is half written"
        orphans = db.execute(
            "SELECT count(*) FROM link_items WHERE link_id NOT IN (SELECT id FROM links)"
        ).fetchone()[0]
        assert orphans == 0
        return int(db.execute("SELECT count(*) FROM links").fetchone()[0])
    finally:
        db.close()


def test_sigkill_during_link_and_usage_writes_leaves_a_whole_database(tmp_path):
    db_path = tmp_path / "kiosk.sqlite3"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    rng = random.Random(20261125)
    links_seen = 0
    for _ in range(100):
        proc = subprocess.Popen([sys.executable, str(script), str(db_path)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.05))
        proc.kill()
        proc.wait(timeout=10)
        links_seen = check_whole(db_path)
    assert links_seen > 50, "the writer should have got some links written between kills"
