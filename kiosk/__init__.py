"""kiosk: an offline listening station for therapy clinics."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # Computed on first use: importlib.metadata costs about 20 ms, which every `kiosk`
    # command (and the station's start) would otherwise pay for a string few of them show.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("kiosk")
        except PackageNotFoundError:  # running from a source tree that was not installed
            return "0.0.0+source"
    raise AttributeError(f"module 'kiosk' has no attribute {name!r}")
