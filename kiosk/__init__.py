"""kiosk: an offline listening station for therapy clinics."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kiosk")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
