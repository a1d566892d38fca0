"""The one place the take-home part records usage events ("link_issued", "file_downloaded").

kiosk/usage.py is built on another branch; until it is in main this finds it at call time and
does nothing (one debug line) when it is absent. Once usage.py has landed, this can become a
plain `from kiosk.usage import record`.
"""

from __future__ import annotations

import importlib
import logging
from datetime import datetime

import sqlite_utils

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
        usage = importlib.import_module("kiosk.usage")
    except ImportError:
        log.debug("usage recording is not available yet; %s not recorded", kind)
        return
    try:
        usage.record(db, kind, exercise_id, lang, station, at=at)
    except Exception:  # a usage count must never break a download or a link
        log.exception("recording the usage event %s failed", kind)
