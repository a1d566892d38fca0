"""The disk fills up during an import: a clean refusal that says so, and nothing that was
there before is lost. The data folder sits on a small tmpfs (needs root, as CI runs)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kiosk.config import default_settings
from kiosk.content import PackRefused, import_pack
from kiosk.store import integrity_problems, open_db
from tests.packfactory import db_dump, tree_digest, write_pack


@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_during_import_refuses_cleanly_and_loses_nothing(small_disk, tmp_path):
    settings = default_settings(small_disk / "data")
    db = open_db(settings.db_path)
    try:
        import_pack(settings, db, write_pack(tmp_path / "small-pack"))
        before_rows, before_files = db_dump(db), tree_digest(settings.content_dir)
        demo = default_settings(tmp_path).demo_pack_path
        assert demo is not None
        big = shutil.copytree(demo, tmp_path / "demo-copy")  # 24 MB: twice what the disk holds
        with pytest.raises(PackRefused) as refused:
            import_pack(settings, db, big)
        assert "disk is full" in refused.value.message() or "No space" in refused.value.message()
        assert db_dump(db) == before_rows
        assert tree_digest(settings.content_dir) == before_files
        assert integrity_problems(db) == []
        # Space comes back: the station can still write.
        db.execute("CREATE TABLE IF NOT EXISTS still_writable (x)")
    finally:
        db.close()
