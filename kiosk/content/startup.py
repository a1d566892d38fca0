"""What the station does with its content at start, besides cleaning leftovers
(kiosk.content.integrity): the demo pack on first start."""

from __future__ import annotations

import logging

import sqlite_utils

from kiosk.config import Settings
from kiosk.content.catalogue import Catalogue
from kiosk.content.faults import PackRefused
from kiosk.content.importer import ImportResult, Progress, import_pack
from kiosk.content.lock import ContentBusy

log = logging.getLogger(__name__)

__all__ = ["import_demo_if_empty"]


def import_demo_if_empty(settings: Settings, db: sqlite_utils.Database,
                         progress: Progress | None = None) -> ImportResult | None:
    """Import the configured demo pack on first start, when the catalogue is empty.

    Once imported it is not brought back by itself: a clinic that removes the demo
    exercises keeps them removed. A refused or missing demo pack is logged, not raised, so
    the station still starts.
    """
    path = settings.demo_pack_path
    if path is None:
        return None
    catalogue = Catalogue(db, settings.content_dir)
    if catalogue.demo_imported() or not catalogue.is_empty():
        return None
    if not path.exists():
        log.warning("the demo pack %s does not exist; starting with an empty catalogue", path)
        return None
    try:
        result = import_pack(settings, db, path, progress)
    except (PackRefused, ContentBusy) as exc:
        log.error("the demo pack was not imported: %s", exc)
        return None
    catalogue.mark_demo_imported(f"{result.pack_id} {result.version}")
    return result
