"""kiosk built as a wheel and installed into a fresh venv works outside the source tree.

The wheel is built from a copy of the working tree (so nothing is left in it and no stale
build/ folder leaks in), with no build isolation and no package index: nothing is fetched.
The fresh venv gets only the wheel from pip (--no-deps); the libraries kiosk needs come from
the project's .venv through a .pth file written after the install, so pip never sees (and
never touches) the .venv's editable kiosk. Every command then runs with its working folder
outside the source tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.helpers import station_process, wait_for_log

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    site: Path  # the venv's site-packages, where the wheel put kiosk
    home: Path  # a folder outside the source tree, for the station's config and data

    @property
    def kiosk(self) -> str:
        return str(self.venv / "bin" / "kiosk")

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("KIOSK_CONFIG", "PYTHONPATH")}
        env["KIVY_HOME"] = str(self.home / "kivy")
        return env

    def run(self, *args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=cwd or self.home, env=self.env(), capture_output=True,
                              text=True, timeout=timeout)


def _copy_working_tree(dest: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if not os.path.lexists(source) or (source.is_dir() and not source.is_symlink()):
            continue  # deleted in the working tree, or a submodule-like folder entry
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)  # kiosk/_assets stays a symlink


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("wheel")
    source, dist, venv, home = tmp / "source", tmp / "dist", tmp / "venv", tmp / "home"
    _copy_working_tree(source)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index",
                    "--no-build-isolation", "--wheel-dir", str(dist), str(source)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = dist.glob("kiosk-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                    "--quiet", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    site = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "kiosk-test-deps.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    home.mkdir()
    return Installed(wheel, venv, Path(site), home)


def test_the_wheel_carries_every_file_the_package_reads(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    package_data = [p.relative_to(REPO).as_posix() for p in (REPO / "kiosk").rglob("*")
                    if p.suffix in (".kv", ".html", ".css") and "_assets" not in p.parts]
    assert any(n.endswith("attract.kv") for n in package_data)
    shipped = [f"kiosk/_assets/{p.relative_to(REPO / 'assets').as_posix()}"
               for folder in ("fonts", "demo/pack") for p in (REPO / "assets" / folder).rglob("*")
               if p.is_file()]
    assert "kiosk/_assets/demo/pack/pack.toml" in shipped
    assert "kiosk/_assets/fonts/NotoSans-Regular.ttf" in shipped
    missing = sorted(set(package_data + shipped + ["kiosk/config-template.toml"]) - names)
    assert missing == []
    # The demo's generator and its sources are for developers, not for the station.
    assert not [n for n in names if n.startswith("kiosk/_assets/demo/") and "/pack/" not in n]


def test_the_installed_kiosk_is_the_wheels_and_finds_its_files_there(installed: Installed) -> None:
    probe = installed.run(installed.python, "-c",
                          "import kiosk, kiosk.resources as r, kiosk.config as c;"
                          "print(kiosk.__file__); print(r.ASSETS_DIR); print(c.DEFAULT_CONFIG_PATH);"
                          "print(r.checkout_config()); print(kiosk.__version__)")
    assert probe.returncode == 0, probe.stderr
    module, assets, template, checkout, version = probe.stdout.split("\n")[:5]
    for path in (module, assets, template):
        assert Path(path).resolve().is_relative_to(installed.venv), path
    assert not Path(assets).is_symlink() and (Path(assets) / "fonts" / "DejaVuSans.ttf").is_file()
    assert Path(template).read_text(encoding="utf-8") == (REPO / "config.toml").read_text(encoding="utf-8")
    assert checkout == "None"  # not mistaken for a source checkout
    assert version == "0.1.0" or version[0].isdigit()


def test_doctor_and_import_of_the_demo_from_the_installed_package(installed: Installed) -> None:
    station = installed.home / "station"
    station.mkdir()
    # Without --config, an installed kiosk reads config.toml in the current folder; when there
    # is none, it says so and where the shipped template is.
    missing = installed.run(installed.kiosk, "doctor", cwd=station)
    assert missing.returncode == 2
    assert f"{station / 'config.toml'} has 1 problem" in missing.stderr
    assert "copy the commented template" in missing.stderr and str(installed.venv) in missing.stderr
    assert "Traceback" not in missing.stderr

    shutil.copyfile(installed.site / "kiosk" / "config-template.toml", station / "config.toml")
    before = installed.run(installed.kiosk, "doctor", cwd=station)
    assert "Traceback" not in before.stdout + before.stderr
    assert f"ok    config         {station / 'config.toml'} is valid" in before.stdout
    assert "no exercises yet" in before.stdout

    demo = installed.site / "kiosk" / "_assets" / "demo" / "pack"
    imported = installed.run(installed.kiosk, "import", str(demo), cwd=station)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith("Imported ")
    listed = installed.run(installed.kiosk, "list", "--json", cwd=station)
    assert listed.returncode == 0, listed.stderr
    for exercise in ("soothing-rhythm-breathing", "safe-place", "compassionate-other"):
        assert f'"{exercise}"' in listed.stdout
    after = installed.run(installed.kiosk, "doctor", cwd=station)
    content = next(line for line in after.stdout.splitlines() if line.split()[1:2] == ["content"])
    assert content.startswith("ok "), content
    assert (station / "data" / "kiosk.sqlite3").is_file()  # the data folder beside the config


@pytest.mark.ui
def test_the_installed_station_draws_its_attract_screen(installed: Installed,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The kv files, the fonts and the demo collection (imported at the first start, as the
    shipped config says) all come from the installed package."""
    station = installed.home / "run"
    station.mkdir()
    (station / "config.toml").write_text('data_dir = "data"\n[take_home]\nport = 18791\n')
    log = station / "data" / "logs" / "kiosk.log"
    monkeypatch.chdir(station)
    with station_process([installed.kiosk, "--config", str(station / "config.toml"), "run"],
                         installed.env()) as proc:
        wait_for_log(log, "first frame drawn: the attract screen", proc, seconds=240)
    text = log.read_text()
    assert "fonts are missing" not in text
    listed = installed.run(installed.kiosk, "--config", str(station / "config.toml"), "list")
    assert "soothing-rhythm-breathing" in listed.stdout
