"""The clinic console over real sockets: signing in, sessions, CSRF, the lock-out, and its
pages (health, usage, take-home links), as a browser without JavaScript uses them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.client
import logging
import re
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from kiosk.config import ConsoleSettings, default_settings
from kiosk.console import auth
from kiosk.console.server import COOKIE, ConsoleServer
from kiosk.logs import setup_logging
from kiosk.store import open_db
from kiosk.takehome import links
from kiosk.usage import daily_counts, daily_csv, record

PASSWORD = "a quiet garden path"


@pytest.fixture(scope="module")
def password_hash() -> str:
    from kiosk.therapist.pin import hash_pin

    return hash_pin(PASSWORD)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Browser:
    """One client: its own source address and cookie jar, no JavaScript."""

    def __init__(self, port: int, source: str = "127.0.0.1"):
        self.port, self.source = port, source
        self.cookie: str | None = None

    def exchange(self, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30,
                                          source_address=(self.source, 0))
        sent = dict(headers or {})
        if self.cookie:
            sent["Cookie"] = f"{COOKIE}={self.cookie}"
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        data = response.read()
        answer = {k.lower(): v for k, v in response.getheaders()}
        for name, value in response.getheaders():
            if name.lower() == "set-cookie" and value.startswith(COOKIE + "="):
                self.cookie = value.split(";")[0].split("=", 1)[1] or None
                answer["set-cookie"] = value
        conn.close()
        return response.status, answer, data

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        sent = dict(headers or {})
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        status, answer, data = self.exchange(method, path, body, sent)
        return status, answer, data.decode("utf-8")

    def upload(self, path: str, fields: list[tuple[str, str]],
               files: list[tuple[str, str, bytes]] = (),  # type: ignore[assignment]
               headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        """A multipart form as a browser sends it: `fields` in order, then (field, file
        name, content) for each file; the file name goes out as given, unchecked."""
        boundary = "----kiosktest" + "7MA4YWxkTrZu0gW"
        parts = []
        for name, value in fields:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                         .encode() + value.encode() + b"\r\n")
        for name, filename, content in files:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                         f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                         .encode() + content + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        sent = {**(headers or {}), "Content-Type": f"multipart/form-data; boundary={boundary}"}
        status, answer, data = self.exchange("POST", path, body, sent)
        return status, answer, data.decode("utf-8")

    def get(self, path: str) -> tuple[int, dict[str, str], str]:
        return self.request("GET", path)

    def post(self, path: str, form: dict[str, str], **kw: Any) -> tuple[int, dict[str, str], str]:
        return self.request("POST", path, form, **kw)

    def sign_in(self, password: str = PASSWORD) -> tuple[int, dict[str, str], str]:
        return self.post("/login", {"password": password})

    def csrf(self, path: str = "/health") -> str:
        _status, _headers, page = self.get(path)
        match = re.search(r'name="csrf" value="([^"]+)"', page)
        assert match, page
        return match.group(1)


@pytest.fixture
def console(tmp_path: Path, password_hash: str):
    def start(hash_: str = password_hash, sections: dict[str, Any] | None = None,
              **kw: Any) -> ConsoleServer:
        config = tmp_path / "config.toml"
        config.write_text(f'data_dir = "{tmp_path / "data"}"\n[console]\nport = 8081\n'
                          f'password_hash = "{hash_}"\n')
        settings = dataclasses.replace(
            default_settings(tmp_path / "data", console=ConsoleSettings(port=0, password_hash=hash_),
                             **(sections or {})),
            config_path=config)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        open_db(settings.db_path).close()
        server = ConsoleServer(settings, **kw)
        server.start()
        started.append(server)
        return server

    started: list[ConsoleServer] = []
    yield start
    for server in started:
        server.stop()


def quick_checks(settings: Any) -> list[Any]:
    from kiosk.doctor import FAIL, OK, CheckResult

    return [CheckResult(OK, "config", "valid"), CheckResult(FAIL, "audio", "no sound device found")]


def test_with_no_password_the_console_only_says_how_to_set_one(console):
    server = console("")
    b = Browser(server.port)
    status, _h, page = b.get("/login")
    assert status == 200 and "kiosk set-password" in page and 'name="password"' not in page
    status, headers, _ = b.get("/health")
    assert status == 303 and headers["location"] == "/login"
    status, _h, page = b.sign_in("anything at all")
    assert "kiosk set-password" in page and b.cookie is None


def test_sign_in_opens_the_pages_and_the_cookie_is_guarded(console):
    server = console(check_runner=quick_checks)
    b = Browser(server.port)
    for path in ("/", "/health", "/usage", "/usage.csv", "/links"):
        status, headers, body = b.get(path)
        assert status == 303 and headers["location"].startswith("/login"), path
        assert "audio" not in body
    status, _h, _ = b.sign_in("not the password")
    assert status == 401 and b.cookie is None
    status, headers, _ = b.sign_in()
    assert status == 303 and headers["location"] == "/health"
    cookie = headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert len(b.cookie or "") >= 43  # 32 random bytes, base64: 256 bits
    status, headers, page = b.get("/health")
    assert status == 200 and "Not working" in page and "no sound device found" in page
    assert page.index("no sound device found") < page.index("valid"), "problems first"
    for name in ("content-security-policy", "x-frame-options", "x-content-type-options",
                 "referrer-policy"):
        assert name in headers
    assert headers["server"] == "kiosk"


def test_the_health_page_runs_the_doctors_real_checks(console):
    server = console()
    b = Browser(server.port)
    b.sign_in()
    status, _h, page = b.get("/health")
    assert status == 200
    for name in ("config", "database", "console"):
        assert f"<td>{name}</td>" in page


def test_a_session_is_tied_to_its_address_and_a_made_up_id_opens_nothing(console):
    server = console(check_runner=quick_checks)
    b = Browser(server.port)
    b.sign_in()
    thief = Browser(server.port, source="127.0.0.2")
    thief.cookie = b.cookie
    assert thief.get("/health")[0] == 303
    fixed = Browser(server.port)
    fixed.cookie = "A" * 43
    assert fixed.get("/health")[0] == 303
    fixed.sign_in()
    assert fixed.cookie != "A" * 43, "a sign-in always makes a new id"
    assert b.get("/health")[0] == 200


def test_idle_for_30_minutes_signs_out_and_sign_out_ends_the_session(console):
    clock = Clock()
    server = console(clock=clock, check_runner=quick_checks)
    b = Browser(server.port)
    b.sign_in()
    clock.now += 29 * 60
    assert b.get("/health")[0] == 200
    clock.now += 31 * 60
    status, headers, _ = b.get("/health")
    assert status == 303 and headers["location"] == "/login?expired=1"
    assert "signed out after 30 minutes" in b.get("/login?expired=1")[2]
    b.sign_in()
    old = b.cookie
    status, headers, _ = b.post("/logout", {"csrf": b.csrf()})
    assert status == 303 and headers["location"] == "/login?out=1"
    b.cookie = old
    assert b.get("/health")[0] == 303


def test_wrong_passwords_lock_the_client_out_for_a_doubling_time(console):
    clock = Clock()
    server = console(clock=clock, check_runner=quick_checks)
    b = Browser(server.port)
    for _ in range(auth.FAILURES_BEFORE_LOCK - 1):
        assert b.sign_in("guess")[0] == 401
    status, headers, page = b.sign_in("guess")
    assert status == 429 and headers["retry-after"] == str(int(auth.FIRST_LOCK_SECONDS) + 1)
    assert "Too many wrong passwords" in page
    status, _h, _ = b.sign_in()  # even the right one, while locked
    assert status == 429 and b.cookie is None
    other = Browser(server.port, source="127.0.0.3")
    assert other.sign_in()[0] == 303, "another desk is not locked out"
    clock.now += auth.FIRST_LOCK_SECONDS + 1
    status, headers, _ = b.sign_in("guess again")
    assert status == 429 and headers["retry-after"] == str(int(2 * auth.FIRST_LOCK_SECONDS) + 1)
    clock.now += 2 * auth.FIRST_LOCK_SECONDS + 1
    assert b.sign_in()[0] == 303


def test_forms_need_the_sessions_token_and_our_own_origin(console, tmp_path):
    setup_logging(tmp_path / "data" / "logs")
    try:
        server = console(check_runner=quick_checks)
        db = open_db(server.settings.db_path)
        issued = links.issue_link(db, [("safe-place", "en-GB")], 7, 3, station="test-station")
        db.close()
        b = Browser(server.port)
        b.sign_in()
        path = f"/links/{issued.short_id}/revoke"
        assert b.post(path, {})[0] == 403
        assert b.post(path, {"csrf": "x" * 43})[0] == 403
        token = b.csrf("/links")
        status, _h, _ = b.post(path, {"csrf": token}, headers={"Origin": "http://evil.example"})
        assert status == 403
        status, _h, page = b.get("/links")
        assert issued.short_id in page and issued.token not in page
        status, _h, page = b.post(path, {"csrf": token})
        assert status == 200 and f"Link {issued.short_id} no longer works" in page
        db = open_db(server.settings.db_path)
        assert links.live_links(db) == []
        db.close()
        assert b.post(path, {"csrf": token})[0] == 404
        assert b.post("/links/..%2f..%2fetc/revoke", {"csrf": token})[0] == 404
    finally:
        logging.getLogger().handlers.clear()
    records = (tmp_path / "data" / "logs" / "records.log").read_text()
    assert f"console: take-home link {issued.short_id} revoked" in records
    assert "console: signed in" in records
    assert PASSWORD not in records and issued.token not in records


def test_usage_page_and_csv_are_kiosk_stats(console):
    server = console(check_runner=quick_checks)
    db = open_db(server.settings.db_path)
    now = dt.datetime.now(dt.UTC)
    for kind in ("play_started", "play_started", "play_completed", "link_issued"):
        record(db, kind, "safe-place", "en-GB", "test-station", at=now)
    b = Browser(server.port)
    b.sign_in()
    status, _h, page = b.get("/usage?days=7")
    assert status == 200 and "<td>safe-place</td><td>2</td><td>1</td><td>1</td><td>0</td>" in page
    assert "<svg" in page and "<rect" in page
    status, headers, csv = b.get("/usage.csv?days=30")
    assert status == 200 and headers["content-type"].startswith("text/csv")
    assert csv == daily_csv(daily_counts(db, 30, dt.datetime.now(dt.UTC)))
    assert "attachment" in headers["content-disposition"]
    db.close()


def test_the_take_home_port_never_answers_for_console_paths(console, tmp_path):
    from kiosk.takehome.server import TakeHomeServer

    server = console(check_runner=quick_checks)
    settings = dataclasses.replace(
        server.settings, take_home=dataclasses.replace(server.settings.take_home, port=0, bind="127.0.0.1"))
    phones = TakeHomeServer(settings)
    phones.start()
    try:
        for method, path in (("GET", "/login"), ("POST", "/login"), ("GET", "/health"),
                             ("GET", "/usage.csv"), ("GET", "/links"), ("GET", "/add"),
                             ("POST", "/add"), ("GET", "/add/some-job"),
                             ("GET", "/exercises/safe-place/review?lang=en-GB"),
                             ("GET", "/exercises/safe-place/audio?lang=en-GB")):
            conn = http.client.HTTPConnection("127.0.0.1", phones.port, timeout=10)
            conn.request(method, path)
            assert conn.getresponse().status == 404, path
            conn.close()
    finally:
        phones.stop()


def settings_form(page: str) -> dict[str, str]:
    """Every field of the settings form as the browser would send it back."""
    form = dict(re.findall(r'<input id="[^"]+" name="([^"]+)" value="([^"]*)"', page))
    form.update(re.findall(r'<textarea id="[^"]+" name="([^"]+)"[^>]*>([^<]*)</textarea>', page))
    form["csrf"] = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    return {k: v.replace("&#34;", '"').replace("&#39;", "'").replace("&amp;", "&") for k, v in form.items()}


def test_settings_are_written_into_config_toml_with_its_comments_and_checked(console, tmp_path):
    from kiosk.config import DEFAULT_CONFIG_PATH, load_settings

    server = console(check_runner=quick_checks)
    config = server.settings.config_path
    shipped = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
    config.write_text(shipped.replace('data_dir = "data"', f'data_dir = "{tmp_path / "data"}"')
                      .replace('password_hash = ""', f'password_hash = "{server.settings.console.password_hash}"'))
    setup_logging(tmp_path / "data" / "logs")
    try:
        b = Browser(server.port)
        b.sign_in()
        status, _h, page = b.get("/settings")
        assert status == 200 and 'value="Need help now?"' in page and 'value="80"' in page
        form = settings_form(page)
        before = config.read_text()

        bad = {**form, "take_home.link_days": "a week", "audio.volume_cap": "250",
               "help.title": "Ask us"}
        status, _h, page = b.post("/settings", bad)
        assert status == 400 and "Nothing was saved" in page
        problems = re.search(r'<ul class="problems">(.*?)</ul>', page, re.S).group(1)  # type: ignore[union-attr]
        assert "a week" in problems and "audio.volume_cap" in problems  # both at once
        assert config.read_text() == before, "a refusal changes nothing"

        assert b.post("/settings", {k: v for k, v in form.items() if k != "csrf"})[0] == 403
        good = {**form, "help.title": "Ask at the desk", "audio.volume_cap": "70",
                "take_home.wifi_password": "sea-shell-9"}
        status, _h, page = b.post("/settings", good)
        assert status == 200 and "Saved" in page
        after = config.read_text()
        settings = load_settings(config)
        assert settings.help.title == "Ask at the desk" and settings.audio.volume_cap == 0.7
        assert settings.take_home.wifi_password == "sea-shell-9"
        kept = [line for line in before.splitlines() if line.startswith("#")]
        assert kept == [line for line in after.splitlines() if line.startswith("#")]
        assert b.post("/settings", settings_form(b.get("/settings")[2]))[2].count("Nothing was changed")
    finally:
        logging.getLogger().handlers.clear()
    records = (tmp_path / "data" / "logs" / "records.log").read_text()
    assert ("console: settings changed: audio.volume_cap, help.title, take_home.wifi_password"
            in records)
    assert "sea-shell-9" not in records and "Ask at the desk" not in records


def test_the_therapist_pin_is_set_with_the_pin_rules_and_never_logged(console, tmp_path):
    import tomllib

    from kiosk.therapist.pin import LOCKOUT_FILE_NAME, verify_pin

    server = console(check_runner=quick_checks)
    lockout = server.settings.data_dir / LOCKOUT_FILE_NAME
    lockout.write_text('{"failures": 5}')
    setup_logging(tmp_path / "data" / "logs")
    try:
        b = Browser(server.port)
        b.sign_in()
        assert "No PIN is set" in b.get("/pin")[2]
        token = b.csrf("/pin")
        status, _h, page = b.post("/pin", {"csrf": token, "pin": "123456", "again": "123456"})
        assert status == 400 and "count up or down" in page
        status, _h, page = b.post("/pin", {"csrf": token, "pin": "482915", "again": "482916"})
        assert status == 400 and "not the same" in page
        assert "pin_hash" not in tomllib.loads(server.settings.config_path.read_text()).get("therapist", {})
        status, _h, page = b.post("/pin", {"csrf": token, "pin": "482915", "again": "482915"})
        assert status == 200 and "The PIN is set" in page
        stored = tomllib.loads(server.settings.config_path.read_text())["therapist"]["pin_hash"]
        assert verify_pin("482915", stored) and not lockout.exists()
        assert "A PIN is set" in b.get("/pin")[2]
    finally:
        logging.getLogger().handlers.clear()
    logs = "".join(p.read_text() for p in (tmp_path / "data" / "logs").glob("*.log"))
    assert "console: therapist PIN changed" in logs and "482915" not in logs


@pytest.fixture
def with_pack(console, tmp_path):
    """A console over the test pack, its safe place read along untimed, with the audit log."""
    from kiosk.content import import_pack
    from tests.packfactory import edited, write_pack

    def untimed(data: dict[str, Any]) -> None:
        data["exercises"][1]["variants"]["en-GB"]["timed"] = False

    server = console(check_runner=quick_checks)
    db = open_db(server.settings.db_path)
    import_pack(server.settings, db, write_pack(tmp_path / "pack", edited(untimed)))
    db.close()
    setup_logging(tmp_path / "data" / "logs")
    yield server
    logging.getLogger().handlers.clear()


def catalogue_of(server: ConsoleServer) -> Any:
    from kiosk.content.catalogue import Catalogue

    return Catalogue(open_db(server.settings.db_path), server.settings.content_dir)


def problems_of(page: str) -> list[str]:
    found = re.search(r'<ul class="problems">(.*?)</ul>', page, re.S)
    assert found, page
    return re.findall(r"<li>(.*?)</li>", found.group(1), re.S)


def test_the_exercises_page_shows_each_languages_length_loudness_and_read_along(with_pack):
    catalogue = catalogue_of(with_pack)
    lufs = catalogue.variant("soothing-breath", "en-GB").loudness.lufs
    # As a variant imported before the station measured loudness has it.
    catalogue.db.execute("UPDATE variants SET loudness_lufs = NULL, peak = NULL "
                         "WHERE exercise_id = 'soothing-breath' AND lang = 'en-US'")
    catalogue.db.conn.commit()
    catalogue.db.close()
    b = Browser(with_pack.port)
    b.sign_in()
    status, _h, page = b.get("/exercises")
    assert status == 200
    breath = page[page.index("Soothing rhythm breathing"):page.index("A safe place")]
    assert f"English (UK): 1 min, loudness {lufs:.1f} LUFS.<br><span>Read-along: timed</span>" in breath
    assert "English (US): 1 min, loudness not measured.<br><span>Read-along: timed</span>" in breath
    assert "Read-along: none (script not timed)" in page[page.index("A safe place"):]


def test_an_exercise_is_edited_checked_as_a_pack_is_and_logged(with_pack, tmp_path):
    server = with_pack
    b = Browser(server.port)
    b.sign_in()
    b.post("/exercises/soothing-breath/hide", {"csrf": b.csrf("/exercises")})
    status, _h, page = b.get("/exercises/soothing-breath/edit")
    assert status == 200
    form = settings_form(page)
    assert form["en-GB.title"] == "Soothing rhythm breathing"
    assert form["en-US.title"] == "Soothing rhythm breathing (US)"
    assert form["guidance"] == "Test guidance for therapists."
    assert form["techniques"] == "breathing, self-compassion"
    catalogue = catalogue_of(server)
    before = [catalogue.exercise("soothing-breath", lang) for lang in ("en-GB", "en-US")]
    installed = sorted(p.read_bytes() for p in server.settings.content_dir.rglob("pack.toml"))

    bad = {**form, "en-GB.title": "  ", "en-US.summary": "s" * 401, "techniques": "breathing, Calm Mind"}
    status, _h, page = b.post("/exercises/soothing-breath/edit", bad)
    assert status == 400 and "Nothing was saved" in page
    problems = problems_of(page)
    assert len(problems) == 3, problems  # every one at once
    assert any("title: must not be empty" in p for p in problems)
    assert any("variant en-US: summary: at most 400 characters, found 401" in p for p in problems)
    assert any("&#34;Calm&#34; is not a valid tag" in p for p in problems)
    assert 'value="breathing, Calm, Mind"' in page, "what was typed is kept to correct"
    assert b.post("/exercises/soothing-breath/edit",
                  {k: v for k, v in form.items() if k != "csrf"} | {"guidance": "x"})[0] == 403
    assert [catalogue.exercise("soothing-breath", lang) for lang in ("en-GB", "en-US")] == before
    assert sorted(p.read_bytes() for p in server.settings.content_dir.rglob("pack.toml")) == installed

    good = {**form, "en-GB.title": "Slow, soothing breathing", "en-GB.introduction": "Two lines\r\nof it.",
            "guidance": "New guidance.", "techniques": "breathing, calm"}
    status, _h, page = b.post("/exercises/soothing-breath/edit", good)
    assert status == 200 and "“Slow, soothing breathing” is saved" in page
    assert "<td>Slow, soothing breathing</td>" in page
    gb, us = (catalogue.exercise("soothing-breath", lang) for lang in ("en-GB", "en-US"))
    assert (gb.title, gb.introduction, gb.guidance) == ("Slow, soothing breathing", "Two lines\nof it.",
                                                        "New guidance.")
    assert gb.techniques == ("breathing", "calm") and gb.hidden, "still hidden after the edit"
    assert us.title == "Soothing rhythm breathing (US)" and us.summary == before[1].summary
    assert gb.variant.cues == before[0].variant.cues
    assert [c.id for c in catalogue.cards("en-GB", technique="calm", include_hidden=True)] == ["soothing-breath"]
    assert settings_form(b.get("/exercises/soothing-breath/edit")[2])["en-GB.title"] == "Slow, soothing breathing"
    assert "Nothing was changed" in b.post("/exercises/soothing-breath/edit", good)[2]
    assert b.get("/exercises/no-such/edit")[0] == 404
    catalogue.db.close()
    records = (tmp_path / "data" / "logs" / "records.log").read_text()
    assert ("console: exercise soothing-breath edited: guidance, techniques, title (en-GB), "
            "introduction (en-GB)" in records)
    assert "New guidance" not in records


def test_remove_asks_first_and_needs_a_session(with_pack, tmp_path):
    server = with_pack
    stranger = Browser(server.port)
    status, headers, _ = stranger.post("/exercises/safe-place/remove", {"csrf": "x"})
    assert status == 303 and headers["location"] == "/login"
    b = Browser(server.port)
    b.sign_in()
    status, _h, page = b.get("/exercises/safe-place/remove")
    assert status == 200 and "Remove “A safe place” from the station?" in page
    assert "“test-pack”, and comes back when that pack is imported again" in page
    catalogue = catalogue_of(server)
    assert "safe-place" in catalogue.exercise_ids(), "the confirmation page changes nothing"
    assert b.post("/exercises/safe-place/remove", {})[0] == 403
    assert "safe-place" in catalogue.exercise_ids()
    status, _h, page = b.post("/exercises/safe-place/remove", {"csrf": b.csrf("/exercises/safe-place/remove")})
    assert status == 200 and "“A safe place” is removed" in page and "<td>A safe place</td>" not in page
    assert catalogue.exercise_ids() == ["soothing-breath"]
    assert not any("place/" in p for p in catalogue.referenced_files())
    assert b.post("/exercises/safe-place/remove", {"csrf": b.csrf()})[0] == 404
    catalogue.db.close()
    records = (tmp_path / "data" / "logs" / "records.log").read_text()
    assert "console: exercise safe-place removed (pack test-pack)" in records


def test_every_passage_state_and_read_along_has_words_in_each_language():
    from kiosk.console.words import TABLES
    from kiosk.content.models import PassageState, ReadAlong

    for table in TABLES.values():
        assert all(f"review.state.{s.value}" in table for s in PassageState)
        assert all(f"exercises.read_along.{r.value}" in table for r in ReadAlong)
