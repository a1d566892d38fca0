"""The one place the take-home part records usage events ("link_issued", "file_downloaded").

A usage count must never break a link or a download, so a failure to record is logged and
swallowed here.
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlite_utils

from kiosk.usage import record

log = logging.getLogger(__name__)


def record_usage(
    db: sqlite_utils.Database,
    kind: str,
    exercise_id: str,
    lang: str,
    station: str,
    at: datetime | None = None,
) -> None:
    try:
        record(db, kind, exercise_id, lang, station, at=at)
    except Exception:
        log.exception("recording the usage event %s failed", kind)
