"""The screen follows config.toml while it runs: what the clinic console's Settings page (or
an editor) changed shows without a restart, where that is safe.

Every few seconds the file's size and modification time are looked at (a stat, on the UI
thread: microseconds); when they change, the file is loaded and checked on the UI worker,
and the new settings are handed to the app (KioskApp.apply_settings), which takes what can
change under a running station: the help button's words, the take-home links' days,
downloads and guest Wi-Fi, and the idle time. A file that no longer loads is logged and
ignored: the station goes on with what it has, as it would after a restart refused it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.clock import Clock

from kiosk.config import ConfigError, Settings, config_stamp, load_settings

log = logging.getLogger(__name__)

EVERY_SECONDS = 3.0




class ConfigWatch:
    def __init__(self, path: Path, worker: Any, apply: Callable[[Settings], None],
                 every: float = EVERY_SECONDS):
        self._path, self._worker, self._apply, self._every = path, worker, apply, every
        self._seen = config_stamp(path)
        self._event: Any = None

    def start(self) -> None:
        self._event = Clock.schedule_interval(self._look, self._every)

    def stop(self) -> None:
        if self._event is not None:
            self._event.cancel()

    def _look(self, _dt: float) -> None:
        stamp = config_stamp(self._path)
        if stamp is None or stamp == self._seen:
            return
        # Seen once the answer is back: one the worker drops (a visit ended meanwhile) is
        # asked for again at the next look.
        self._worker.submit(lambda _db: self._load(), on_done=lambda s: self._loaded(stamp, s))

    def _load(self) -> Settings | None:
        try:
            return load_settings(self._path)
        except ConfigError as exc:
            log.warning("config.toml changed but cannot be used; going on as before:\n%s",
                        exc.message())
        except OSError as exc:
            log.warning("config.toml changed but cannot be read (%s); going on as before", exc)
        return None

    def _loaded(self, stamp: tuple[int, int, int], settings: Settings | None) -> None:
        self._seen = stamp
        if settings is not None:
            self._apply(settings)
