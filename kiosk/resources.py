"""The files that ship inside the package: fonts, the demo pack, the config template.

Found with importlib.resources, so an installed wheel finds them as well as a checkout.
In the repository they stay where a reader looks for them (`assets/`, `config.toml` at the
top); `kiosk/_assets` and `kiosk/config-template.toml` are symlinks to those, which
setuptools follows when it builds the wheel (pyproject.toml's package-data).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _shipped(name: str) -> Path:
    found = files("kiosk") / name
    # Kivy, fpdf2 and the pack importer open these by path: kiosk is installed as files
    # (pip installs wheels that way), never imported from a zip.
    if not isinstance(found, Path):
        raise RuntimeError(f"kiosk's {name} is not a file on disk ({found!r}); install kiosk with pip")
    return found


ASSETS_DIR = _shipped("_assets")
FONTS_DIR = ASSETS_DIR / "fonts"
DEMO_PACK = ASSETS_DIR / "demo" / "pack"
PROMPTS_DIR = ASSETS_DIR / "prompts"  # what the station says in the headphones
CONFIG_TEMPLATE = _shipped("config-template.toml")


def checkout_config() -> Path | None:
    """The config.toml of the source checkout kiosk runs from (`make run`), or None for an
    installed kiosk, whose package folder has no project beside it."""
    package = files("kiosk")
    if not isinstance(package, Path):
        return None
    project = package.parent
    if (project / "pyproject.toml").is_file() and (project / "config.toml").is_file():
        return (project / "config.toml").resolve()
    return None
