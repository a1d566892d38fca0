import socket

from click.testing import CliRunner

from kiosk.cli import cli
from kiosk.doctor import FAIL, OK, display_available, port_state, run_checks


def test_doctor_prints_a_line_per_check(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('data_dir = "data"\n[take_home]\nport = 0\n'.replace("port = 0", "port = 18765"))
    result = CliRunner().invoke(cli, ["--config", str(config), "doctor"])
    names = [line.split()[1] for line in result.output.splitlines() if line[:4].strip() in ("ok", "warn", "FAIL")]
    for expected in ("config", "display", "database", "disk", "take-home"):
        assert expected in names


def test_display_detection():
    assert display_available({})[0] is False
    assert display_available({"DISPLAY": ":12345"})[0] is False


def test_port_in_use_by_another_program_fails(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert port_state("127.0.0.1", port) == "in use"
        from dataclasses import replace

        busy = replace(settings, take_home=replace(settings.take_home, bind="127.0.0.1", port=port))
        results = {r.name: r for r in run_checks(busy)}
        assert results["take-home"].status == FAIL
        assert "used by another program" in results["take-home"].detail


def test_a_check_that_crashes_is_reported_not_raised(settings):
    def check_broken(_settings):
        raise RuntimeError("boom")
        yield

    results = run_checks(settings, [check_broken])
    assert results[0].status == FAIL and "boom" in results[0].detail


def test_database_check_opens_and_checks_integrity(settings):
    results = {r.name: r for r in run_checks(settings)}
    assert results["database"].status == OK
    assert "integrity check ok" in results["database"].detail


def test_doctor_names_a_content_file_damaged_after_import(settings):
    from kiosk.content import import_pack
    from kiosk.store import open_db

    db = open_db(settings.db_path)
    import_pack(settings, db, settings.demo_pack_path)
    db.close()
    results = [r for r in run_checks(settings) if r.name == "content"]
    assert results == [results[0]] and results[0].status == OK
    damaged = next(settings.content_dir.glob("**/compassionate-other/en-GB.mp3"))
    damaged.write_bytes(damaged.read_bytes()[:1000])
    results = [r for r in run_checks(settings) if r.name == "content"]
    assert any(r.status == FAIL and "compassionate-other (en-GB)" in r.detail for r in results)


def test_doctor_names_a_file_damaged_in_place_and_the_checksums_are_sha256sum_s(settings):
    """Bit rot or a bad copy that keeps the size: only the checksums can see it."""
    import subprocess

    from kiosk.content import import_pack
    from kiosk.store import open_db

    db = open_db(settings.db_path)
    result = import_pack(settings, db, settings.demo_pack_path)
    db.close()
    assert result.folder is not None
    # The list an administrator can check by hand, with the standard tool.
    check = subprocess.run(["sha256sum", "--quiet", "-c", "CHECKSUMS"], cwd=result.folder,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    playback = next(result.folder.glob("playback/**/safe-place/en-US.*"))
    data = bytearray(playback.read_bytes())
    data[len(data) // 2] ^= 0xFF
    playback.write_bytes(bytes(data))
    details = [r.detail for r in run_checks(settings) if r.name == "content" and r.status == FAIL]
    assert details == [f"safe-place (en-US): {playback} is damaged: its contents changed since "
                       "import; import its pack again"]
