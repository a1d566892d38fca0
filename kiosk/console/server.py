"""The clinic console: the administrator's web pages, on their own port (`[console]`).

Served by the station (`kiosk run`, `kiosk serve`) in a thread named "console-server" with
its own event loop and its own SQLite connection, like the phones' server used to be: the
console has one user at a time, so it needs no process of its own. It is never reachable
through the take-home port (another socket, another application).

Pages are rendered on the server (jinja2, autoescaped) and read without JavaScript. Every
page but the sign-in page answers a visitor without a session with a redirect to it, and
nothing else. Every form that changes something carries the session's CSRF token; a POST
from another origin is refused before that. Changes are written to the audit log (the
records.log file, logger "kiosk.console.audit": what and when, never a password).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import functools
import logging
import re
import secrets
import shutil
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from aiohttp import web
from markupsafe import Markup

from kiosk.config import LIVE_KEYS, ConfigError, Settings, config_stamp, load_settings
from kiosk.console import auth
from kiosk.console.words import words
from kiosk.loopthread import LoopThread
from kiosk.store import open_db
from kiosk.takehome import links
from kiosk.usage import counts, daily_counts, daily_csv
from kiosk.words import format_moment, language_name, whole_minutes

if TYPE_CHECKING:
    from kiosk.content.adding import ExerciseEdit
    from kiosk.content.models import Placement, Variant

log = logging.getLogger(__name__)
audit = logging.getLogger("kiosk.console.audit")

TEMPLATES = Path(__file__).resolve().parent / "templates"
STYLE = (TEMPLATES / "style.css").read_bytes()
SCRIPT = (TEMPLATES / "console.js").read_bytes()
COOKIE = "kiosk_console"
USAGE_DAYS = (7, 30, 365)
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; "
       "media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
       "frame-ancestors 'none'")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SESSION = web.RequestKey("session", object)
FORM = web.RequestKey("form", object)


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


class ConsoleError(Exception):
    """The console could not start (its port, its address); the message says what to change."""


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(64)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConsoleError(f"port {port} is already in use by another program; "
                               "set console.port in config.toml") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise ConsoleError(f"{host} is not an address of this station; set console.bind "
                               "in config.toml") from None
        raise ConsoleError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def security_headers(headers: Any) -> None:
    headers["Content-Security-Policy"] = CSP
    # same-origin, not the phone page's no-referrer: under no-referrer a browser sends
    # "Origin: null" with a form, and the console could no longer tell its own forms apart.
    headers["Referrer-Policy"] = "same-origin"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Cache-Control"] = "no-store"
    headers["Server"] = "kiosk"


def bar_chart(values: list[tuple[str, int]]) -> Markup:
    """Bars drawn on the station (SVG in the page): no script, nothing fetched."""
    width, height, top = 720, 160, max([n for _, n in values] + [1])
    step = width / max(1, len(values))
    parts = [f'<svg viewBox="0 0 {width} {height + 20}" role="img" aria-hidden="true">']
    for i, (day, n) in enumerate(values):
        h = round(height * n / top)
        x = round(i * step + step * 0.1, 1)
        parts.append(f'<rect class="bar" x="{x}" y="{height - h}" width="{round(step * 0.8, 1)}" '
                     f'height="{h}"><title>{day}: {n}</title></rect>')
    for i in (0, len(values) - 1):
        if values:
            anchor = "start" if i == 0 else "end"
            x = 0 if i == 0 else width
            parts.append(f'<text x="{x}" y="{height + 15}" text-anchor="{anchor}">{values[i][0]}</text>')
    parts.append(f'<text x="0" y="10">{top}</text></svg>')
    return Markup("".join(parts))


@dataclass(frozen=True)
class SettingField:
    key: str  # section.key in config.toml
    kind: str  # "text", "long_text", "secret", "number" or "percent" (0-100 for 0.0-1.0)


SETTINGS_FIELDS = (
    SettingField("help.title", "text"),
    SettingField("help.text", "long_text"),
    SettingField("take_home.wifi_ssid", "text"),
    SettingField("take_home.wifi_password", "secret"),
    SettingField("take_home.link_days", "number"),
    SettingField("take_home.downloads_per_file", "number"),
    SettingField("session.idle_timeout_seconds", "number"),
    SettingField("audio.volume_cap", "percent"),
    SettingField("audio.start_volume", "percent"),
)


def settings_values(sent: dict[str, str], w: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The form's strings as config values, and what is wrong with them (every problem at
    once; the loader's own range checks follow when the file is written)."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for field in SETTINGS_FIELDS:
        text = sent.get(field.key, "")
        label = w[f"settings.{field.key}"]
        if field.kind in ("number", "percent"):
            try:
                number = int(text)
            except ValueError:
                problems.append(w["settings.whole_number"].format(label=label, value=text))
                continue
            values[field.key] = number / 100 if field.kind == "percent" else number
        else:
            if len(text) > 2000:
                problems.append(w["settings.too_long"].format(label=label))
                continue
            values[field.key] = text
    return values, problems


class ConsoleServer(LoopThread):
    what = "the console"
    thread_name = "console-server"

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic,
                 check_runner: Callable[[Settings], list[Any]] | None = None):
        super().__init__(settings.db_path)
        self.settings = settings
        self.port: int | None = None
        self.sessions = auth.Sessions(clock)
        self.lockout = auth.Lockout(clock)
        self._check_runner = check_runner
        self._lang = settings.languages.default
        self._words = words(self._lang)
        self._env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                                       autoescape=True, undefined=jinja2.StrictUndefined)
        self._env.filters["language"] = language_name
        self._runner: web.AppRunner | None = None
        from kiosk.console.upload import Jobs

        self._jobs = Jobs()
        # The password the live sessions were made with, and config.toml's as last read
        # (with the file's stamp: it is read again only when the file changes).
        self._sessions_hash = settings.console.password_hash
        self._hash_read: tuple[tuple[int, int, int] | None, str] = (None, settings.console.password_hash)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        from kiosk.console.upload import UPLOADS

        c = self.settings.console
        # Uploads a stop cut short: nothing uses them any more.
        shutil.rmtree(self.settings.data_dir / UPLOADS, ignore_errors=True)
        sock = bind(c.bind, c.port)
        self.port = sock.getsockname()[1]
        error = self._start_thread(sock)
        if error is not None:
            raise ConsoleError(f"the console could not start: {error}") from error
        log.info("clinic console listening on %s:%d", c.bind, self.port)

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop_thread(15)
        log.info("clinic console stopped")

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _setup(self) -> None:
        # 1 MB: an exercise's form holds an introduction per language and its guidance, each
        # up to 20,000 characters that a browser sends percent-encoded.
        app = web.Application(middlewares=[self._headers, self._errors, self._signed_in],
                              client_max_size=1 << 20)
        app.router.add_get("/", self._home)
        app.router.add_get("/style.css", self._style)
        app.router.add_get("/console.js", self._script)
        app.router.add_get("/add", self._add_page)
        app.router.add_post("/add", self._add)
        app.router.add_get("/add/{job_id}", self._add_job)
        app.router.add_get("/exercises/{exercise_id}/review", self._review_page)
        app.router.add_post("/exercises/{exercise_id}/review", self._correct)
        app.router.add_get("/exercises/{exercise_id}/audio", self._audio)
        app.router.add_get("/login", self._login_page)
        app.router.add_post("/login", self._login)
        app.router.add_post("/logout", self._logout)
        app.router.add_get("/health", self._health)
        app.router.add_get("/usage", self._usage)
        app.router.add_get("/usage.csv", self._usage_csv)
        app.router.add_get("/exercises", self._exercises)
        app.router.add_post("/exercises/{exercise_id}/{action:hide|show}", self._hide_or_show)
        app.router.add_get("/exercises/{exercise_id}/edit", self._edit_page)
        app.router.add_post("/exercises/{exercise_id}/edit", self._save_exercise)
        app.router.add_get("/exercises/{exercise_id}/remove", self._remove_page)
        app.router.add_post("/exercises/{exercise_id}/remove", self._remove)
        app.router.add_get("/settings", self._settings_page)
        app.router.add_post("/settings", self._save_settings)
        app.router.add_get("/pin", self._pin_page)
        app.router.add_post("/pin", self._set_pin)
        app.router.add_get("/links", self._links)
        app.router.add_post("/links/{short_id}/revoke", self._revoke)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None,
                                     keepalive_timeout=30, max_line_size=4096,
                                     max_field_size=8190)
        await self._runner.setup()
        assert self._sock is not None
        site = web.SockSite(self._runner, self._sock)
        await site.start()

    # -- what every answer goes through ------------------------------------------------------
    @web.middleware
    async def _headers(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            security_headers(exc.headers)
            raise
        security_headers(response.headers)
        return response

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return self._page("message.html", 404, title=self._words["error.title"],
                              message=self._words["error.not_found"])
        except web.HTTPException:
            raise
        except Exception:
            log.exception("the console failed on %s %s", request.method, request.path)
            return self._page("message.html", 500, title=self._words["error.title"], message="")

    OPEN_PATHS = frozenset({"/login", "/style.css", "/console.js"})
    # Read by their handler as a stream, the CSRF token first (kiosk.console.upload).
    STREAMED_PATHS = frozenset({"/add"})

    @web.middleware
    async def _signed_in(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        current = self._password_hash()
        if current != self._sessions_hash:
            # `kiosk set-password`: whoever signed in with the old password is signed out.
            self.sessions.end_all()
            self._sessions_hash = current
            audit.info("console: the password was changed; every session ended")
        session = self.sessions.get(request.cookies.get(COOKIE), self._client(request))
        request[SESSION] = session
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin is not None and origin != f"http://{request.host}":
                return self._page("message.html", 403, title=self._words["error.title"],
                                  message=self._words["error.csrf"])
        if session is None and request.path not in self.OPEN_PATHS:
            expired = COOKIE in request.cookies
            return see_other("/login?expired=1" if expired else "/login")
        if (session is not None and request.method == "POST" and request.path != "/login"
                and request.path not in self.STREAMED_PATHS):
            form = await request.post()
            if not auth.csrf_ok(session, form.get("csrf")):  # type: ignore[arg-type]
                return self._page("message.html", 403, title=self._words["error.title"],
                                  message=self._words["error.csrf"], session=session)
            request[FORM] = form
        return await handler(request)

    @staticmethod
    def _session(request: web.Request) -> auth.Session:
        session = request[SESSION]
        assert isinstance(session, auth.Session)  # _signed_in let only sessions through
        return session

    @staticmethod
    def _client(request: web.Request) -> str:
        return request.remote or ""

    def _page(self, template: str, status: int = 200, **values: Any) -> web.Response:
        values.setdefault("session", None)
        values.setdefault("notice", "")
        values.setdefault("page", "")
        body = self._env.get_template(template).render(
            w=self._words, lang=self._lang, station=self.settings.station_name, **values)
        return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")

    def _password_hash(self) -> str:
        """As config.toml says now: `kiosk set-password` takes effect without a restart. A
        file that cannot be read just now (being written) leaves the last one read."""
        path = self.settings.config_path
        stamp = config_stamp(path)
        seen, value = self._hash_read
        if stamp is None or stamp == seen:
            return value
        try:
            value = load_settings(path).console.password_hash
        except (ConfigError, OSError):
            return value
        self._hash_read = (stamp, value)
        return value

    # -- signing in and out -----------------------------------------------------------------
    async def _home(self, request: web.Request) -> web.StreamResponse:
        return see_other("/health")

    async def _style(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=STYLE, content_type="text/css")

    async def _script(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=SCRIPT, content_type="text/javascript")

    async def _login_page(self, request: web.Request) -> web.StreamResponse:
        if not self._password_hash():
            return self._page("nopassword.html", title=self._words["nopassword.title"])
        if request[SESSION] is not None:
            return see_other("/health")
        notice = ""
        if request.query.get("expired"):
            notice = self._words["login.expired"]
        elif request.query.get("out"):
            notice = self._words["login.signed_out"]
        return self._page("login.html", title=self._words["login.title"], notice=notice)

    async def _login(self, request: web.Request) -> web.StreamResponse:
        from kiosk.therapist.pin import verify_pin

        stored = self._password_hash()
        if not stored:
            return self._page("nopassword.html", title=self._words["nopassword.title"])
        client = self._client(request)
        left = self.lockout.seconds_left(client)
        if left > 0:
            return self._locked(left)
        form = await request.post()
        password = form.get("password")
        loop = asyncio.get_running_loop()
        right = isinstance(password, str) and await loop.run_in_executor(
            None, verify_pin, password, stored)  # scrypt: a few tenths of a second
        if not right:
            locked = self.lockout.failed(client)
            audit.warning("console: a wrong password")
            if locked:
                return self._locked(locked)
            return self._page("login.html", 401, title=self._words["login.title"],
                              notice=self._words["login.wrong"])
        self.lockout.succeeded(client)
        session = self.sessions.create(client)
        audit.info("console: signed in")
        response = see_other("/health")
        response.set_cookie(COOKIE, session.id, httponly=True, samesite="Strict", path="/")
        return response

    def _locked(self, seconds: float) -> web.Response:
        minutes = max(1, round(seconds / 60))
        text = self._words["login.locked"].format(
            minutes=f"{minutes} minute{'s' if minutes != 1 else ''}")
        response = self._page("login.html", 429, title=self._words["login.title"], notice=text)
        response.headers["Retry-After"] = str(int(seconds) + 1)
        return response

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        self.sessions.end(self._session(request).id)
        audit.info("console: signed out")
        response = see_other("/login?out=1")
        response.del_cookie(COOKIE, path="/")
        return response

    # -- the pages ----------------------------------------------------------------------------
    async def _health(self, request: web.Request) -> web.StreamResponse:
        from kiosk.doctor import run_checks

        runner = self._check_runner or run_checks
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(None, runner, self.settings)
        order = {"FAIL": 0, "warn": 1, "ok": 2}
        results = sorted(results, key=lambda r: order.get(r.status, 1))
        problems = sum(1 for r in results if r.status != "ok")
        return self._page("health.html", title=self._words["health.title"], page="health",
                          session=self._session(request), results=results, problems=problems)

    def _days(self, request: web.Request) -> int:
        try:
            days = int(request.query.get("days", "30"))
        except ValueError:
            return 30
        return days if days in USAGE_DAYS else 30

    async def _usage(self, request: web.Request) -> web.StreamResponse:
        assert self._db is not None
        days = self._days(request)
        now = dt.datetime.now(dt.UTC)
        rows = counts(self._db, days, now)
        titles = {e.id: e.title or e.id for e in self._catalogue().list_exercises()}
        per_day: dict[str, int] = {}
        for r in daily_counts(self._db, days, now):
            per_day[r.date] = per_day.get(r.date, 0) + r.plays_started
        today = now.astimezone().date()
        series = [((today - dt.timedelta(days=n)).isoformat(),
                   per_day.get((today - dt.timedelta(days=n)).isoformat(), 0))
                  for n in range(days - 1, -1, -1)]
        totals = [sum(getattr(r, f) for r in rows)
                  for f in ("plays_started", "plays_completed", "links_issued", "downloads")]
        return self._page("usage.html", title=self._words["usage.title"], page="usage",
                          session=self._session(request), rows=rows, totals=totals, days=days,
                          titles=titles,
                          choices=USAGE_DAYS, chart=bar_chart(series))

    async def _usage_csv(self, request: web.Request) -> web.StreamResponse:
        assert self._db is not None
        days = self._days(request)
        text = daily_csv(daily_counts(self._db, days, dt.datetime.now(dt.UTC)))
        name = f"usage-{self.settings.station_name}-{days}-days.csv"
        return web.Response(text=text, content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})

    def _catalogue(self) -> Any:
        from kiosk.content.catalogue import Catalogue

        assert self._db is not None
        return Catalogue(self._db, self.settings.content_dir)

    async def _exercises(self, request: web.Request, notice: str = "",
                         status: int = 200) -> web.StreamResponse:
        w = self._words
        catalogue = self._catalogue()
        rows = [{"id": e.id, "title": e.title or e.id, "hidden": e.hidden,
                 "variants": [variant_words(v, w) for v in
                              (catalogue.variant(e.id, lang) for lang in e.languages) if v is not None],
                 "therapist": e.visibility == "therapist"}
                for e in catalogue.list_exercises()]
        return self._page("exercises.html", status, title=w["exercises.title"],
                          page="exercises", session=self._session(request), exercises=rows,
                          notice=notice)

    async def _hide_or_show(self, request: web.Request) -> web.StreamResponse:
        exercise_id, action = request.match_info["exercise_id"], request.match_info["action"]
        catalogue = self._catalogue()
        titles = {e.id: e.title or e.id for e in catalogue.list_exercises()}
        if exercise_id not in titles or not catalogue.set_hidden(exercise_id, action == "hide"):
            return await self._exercises(request, self._words["exercises.not_found"], 404)
        audit.info("console: exercise %s %s", exercise_id, "hidden" if action == "hide" else "shown")
        key = "exercises.hidden" if action == "hide" else "exercises.shown"
        return await self._exercises(request, self._words[key].format(title=titles[exercise_id]))

    def _listing(self, exercise_id: str) -> Any:
        return next((e for e in self._catalogue().list_exercises() if e.id == exercise_id), None)

    def _exercise_words(self, exercise_id: str) -> ExerciseEdit | None:
        """The exercise's words as the catalogue holds them now, every language's."""
        from kiosk.content.adding import ExerciseEdit, VariantText

        catalogue = self._catalogue()
        listing = self._listing(exercise_id)
        if listing is None:
            return None
        each = [catalogue.exercise(exercise_id, lang) for lang in listing.languages]
        if not each or any(e is None for e in each):
            return None
        return ExerciseEdit(guidance=each[0].guidance, techniques=tuple(each[0].techniques),
                            variants={e.variant.lang: VariantText(e.title, e.summary, e.introduction)
                                      for e in each})

    async def _edit_page(self, request: web.Request, notice: str = "", status: int = 200,
                         problems: list[str] | None = None,
                         shown: ExerciseEdit | None = None) -> web.StreamResponse:
        exercise_id = request.match_info["exercise_id"]
        words = shown or self._exercise_words(exercise_id)
        if words is None:
            return await self._exercises(request, self._words["exercises.not_found"], 404)
        first = next(iter(words.variants))
        return self._page("edit.html", status, title=self._words["edit.title"], page="exercises",
                          session=self._session(request), notice=notice, problems=problems or [],
                          exercise_id=exercise_id, first=first, words=words,
                          techniques=", ".join(words.techniques))

    async def _save_exercise(self, request: web.Request) -> web.StreamResponse:
        from kiosk.content import ContentBusy, PackRefused
        from kiosk.content.adding import ExerciseEdit, VariantText, edit_exercise

        exercise_id = request.match_info["exercise_id"]
        before = self._exercise_words(exercise_id)
        if before is None:
            return await self._exercises(request, self._words["exercises.not_found"], 404)
        form = request[FORM]

        def sent(name: str, now: str) -> str:
            value = form.get(name)  # type: ignore[attr-defined]
            # A browser sends a textarea's line ends as CRLF; pack.toml keeps LF.
            return now if value is None else str(value).replace("\r\n", "\n").strip()

        techniques = sent("techniques", ", ".join(before.techniques))
        edit = ExerciseEdit(
            guidance=sent("guidance", before.guidance),
            techniques=tuple(t for t in re.split(r"[,\s]+", techniques) if t),
            variants={lang: VariantText(sent(f"{lang}.title", v.title), sent(f"{lang}.summary", v.summary),
                                        sent(f"{lang}.introduction", v.introduction))
                      for lang, v in before.variants.items()})
        changed = [name for name, now, then in (("guidance", edit.guidance, before.guidance),
                                                 ("techniques", edit.techniques, before.techniques))
                   if now != then]
        changed += [f"{key} ({lang})" for lang, v in edit.variants.items() for key in vars(v)
                    if getattr(v, key) != getattr(before.variants[lang], key)]
        if not changed:
            return await self._edit_page(request, self._words["settings.unchanged"])

        def save() -> None:
            # Its own connection: the import runs in a worker thread.
            db = open_db(self.settings.db_path)
            try:
                edit_exercise(self.settings, db, exercise_id, edit)
            finally:
                db.close()

        try:
            await asyncio.get_running_loop().run_in_executor(None, save)
        except PackRefused as exc:
            return await self._edit_page(request, self._words["settings.refused"], 400,
                                         [f.message for f in exc.faults], edit)
        except ContentBusy:
            return await self._edit_page(request, self._words["exercises.busy"], 409, shown=edit)
        # Which words changed, not the words: the audit log says who did what, not content.
        audit.info("console: exercise %s edited: %s", exercise_id, ", ".join(changed))
        title = edit.variants[next(iter(edit.variants))].title
        return await self._exercises(request, self._words["edit.saved"].format(title=title))

    async def _remove_page(self, request: web.Request) -> web.StreamResponse:
        from kiosk.content.adding import LOCAL_PACK_ID

        listing = self._listing(request.match_info["exercise_id"])
        if listing is None:
            return await self._exercises(request, self._words["exercises.not_found"], 404)
        means = (self._words["remove.local"] if listing.pack_id == LOCAL_PACK_ID
                 else self._words["remove.from_pack"].format(pack=listing.pack_id))
        return self._page("remove.html", title=self._words["remove.title"], page="exercises",
                          session=self._session(request), exercise=listing, means=means)

    async def _remove(self, request: web.Request) -> web.StreamResponse:
        from kiosk.content import ContentBusy

        exercise_id = request.match_info["exercise_id"]
        listing = self._listing(exercise_id)
        try:
            removed = listing is not None and self._catalogue().remove(exercise_id)
        except ContentBusy:
            return await self._exercises(request, self._words["exercises.busy"], 409)
        if not removed:
            return await self._exercises(request, self._words["exercises.not_found"], 404)
        audit.info("console: exercise %s removed (pack %s)", exercise_id, listing.pack_id)
        return await self._exercises(request, self._words["remove.done"].format(title=listing.title or exercise_id))

    def _current(self) -> Settings:
        try:
            return load_settings(self.settings.config_path)
        except (ConfigError, OSError):
            return self.settings

    def _fields(self, settings: Settings, sent: Any = None) -> list[dict[str, Any]]:
        fields = []
        for field in SETTINGS_FIELDS:
            section, key = field.key.split(".")
            value = getattr(getattr(settings, section), key)
            shown = round(value * 100) if field.kind == "percent" else value
            if sent is not None and field.key in sent:
                shown = sent[field.key]
            fields.append({"key": field.key, "kind": field.kind, "value": shown,
                           "live": field.key in LIVE_KEYS,
                           "label": self._words[f"settings.{field.key}"],
                           "hint": self._words.get(f"settings.{field.key}.hint", "")})
        return fields

    async def _settings_page(self, request: web.Request, notice: str = "", status: int = 200,
                             problems: list[str] | None = None, sent: Any = None) -> web.StreamResponse:
        return self._page("settings.html", status, title=self._words["settings.title"],
                          page="settings", session=self._session(request),
                          fields=self._fields(self._current(), sent), notice=notice,
                          problems=problems or [])

    async def _save_settings(self, request: web.Request) -> web.StreamResponse:
        from kiosk.config import update_config

        form = request[FORM]
        sent = {f.key: str(form.get(f.key, "")).strip() for f in SETTINGS_FIELDS}  # type: ignore[attr-defined]
        values, problems = settings_values(sent, self._words)
        current = self._current()
        changed = sorted(key for key, value in values.items()
                         if getattr(getattr(current, key.split(".")[0]), key.split(".")[1]) != value)
        grouped: dict[str, dict[str, Any]] = {}
        for key in changed:
            section, name = key.split(".")
            grouped.setdefault(section, {})[name] = values[key]
        if changed:
            # The loader's own checks (ranges...) as well, even when a field was refused
            # above: every problem at once. Written only when there is none.
            write = functools.partial(update_config, self.settings.config_path, grouped,
                                      check_only=bool(problems))
            try:
                await asyncio.get_running_loop().run_in_executor(None, write)
            except ConfigError as exc:
                problems = problems + exc.problems
            except OSError as exc:
                problems = [self._words["settings.not_written"].format(error=exc.strerror or exc)]
        if problems:
            return await self._settings_page(request, self._words["settings.refused"], 400,
                                             problems, sent)
        if not changed:
            return await self._settings_page(request, self._words["settings.unchanged"])
        # Which settings, never their values: a Wi-Fi password is one of them.
        audit.info("console: settings changed: %s", ", ".join(changed))
        return await self._settings_page(request, self._words["settings.saved"])

    async def _pin_page(self, request: web.Request, notice: str = "", status: int = 200,
                        problems: list[str] | None = None) -> web.StreamResponse:
        return self._page("pin.html", status, title=self._words["pin.title"], page="pin",
                          session=self._session(request), notice=notice, problems=problems or [],
                          is_set=bool(self._current().therapist.pin_hash))

    async def _set_pin(self, request: web.Request) -> web.StreamResponse:
        from kiosk.config import update_config
        from kiosk.therapist.pin import LOCKOUT_FILE_NAME, hash_pin, validate_new_pin

        form = request[FORM]
        pin, again = str(form.get("pin", "")), str(form.get("again", ""))  # type: ignore[attr-defined]
        problems = validate_new_pin(pin)
        if not problems and pin != again:
            problems = [self._words["pin.differ"]]
        if problems:
            return await self._pin_page(request, self._words["settings.refused"], 400, problems)
        loop = asyncio.get_running_loop()
        stored = await loop.run_in_executor(None, hash_pin, pin)
        try:
            await loop.run_in_executor(None, functools.partial(
                update_config, self.settings.config_path, {"therapist": {"pin_hash": stored}}))
        except (ConfigError, OSError) as exc:
            text = "; ".join(exc.problems) if isinstance(exc, ConfigError) else str(exc.strerror or exc)
            return await self._pin_page(request, self._words["settings.not_written"].format(error=text), 500)
        (self.settings.data_dir / LOCKOUT_FILE_NAME).unlink(missing_ok=True)  # as kiosk set-pin
        audit.info("console: therapist PIN changed")
        return await self._pin_page(request, self._words["pin.saved"])

    async def _links(self, request: web.Request, notice: str = "", status: int = 200) -> web.StreamResponse:
        assert self._db is not None
        views = links.live_links(self._db)
        rows = [{"short_id": v.short_id,
                 "issued": format_moment(v.created_at, self._lang),
                 "expires": format_moment(v.expires_at, self._lang),
                 "items": ", ".join(f"{i.exercise_id} ({i.lang})" for i in v.items),
                 "downloads": v.total_downloads} for v in views]
        return self._page("links.html", status, title=self._words["links.title"], page="links",
                          session=self._session(request), links=rows, notice=notice)

    async def _revoke(self, request: web.Request) -> web.StreamResponse:
        assert self._db is not None
        short_id = request.match_info["short_id"]
        if not links.SHORT_ID_RE.fullmatch(short_id.lower()):
            raise web.HTTPNotFound()
        if links.revoke(self._db, short_id):
            audit.info("console: take-home link %s revoked", short_id)
            return await self._links(request, self._words["links.revoked"].format(id=short_id))
        return await self._links(request, self._words["links.not_found"].format(id=short_id), 404)

    # -- adding an exercise or a pack, and reviewing its read-along ---------------------------
    ADD_FIELDS = ("kind", "title", "summary", "lang", "techniques", "visibility", "introduction",
                  "guidance")

    async def _add_page(self, request: web.Request, notice: str = "", status: int = 200,
                        problems: list[str] | None = None,
                        sent: dict[str, str] | None = None) -> web.StreamResponse:
        sent = dict(sent or {})
        sent.setdefault("lang", self.settings.languages.available[0])
        return self._page("add.html", status, title=self._words["add.title"], page="add",
                          session=self._session(request), notice=notice, problems=problems or [],
                          sent=sent, languages=self.settings.languages.available,
                          max_mb=self.settings.content.max_file_mb)

    async def _add(self, request: web.Request) -> web.StreamResponse:
        from kiosk.console import upload

        session = request[SESSION]
        assert isinstance(session, auth.Session)
        limit = self.settings.content.max_file_mb * 1024 * 1024
        folder = self.settings.data_dir / upload.UPLOADS / secrets.token_urlsafe(12)
        try:
            got = await upload.receive(request, folder, lambda sent: auth.csrf_ok(session, sent), limit)
        except upload.UploadRefused as exc:
            await upload.drain(request, limit)
            if exc.status == 403:
                return self._page("message.html", 403, title=self._words["error.title"],
                                  message=self._words["error.csrf"], session=session)
            message = self._words[exc.why].format(mb=self.settings.content.max_file_mb)
            audit.warning("console: an upload was refused (%s)", exc.why)
            return await self._add_page(request, message, exc.status, [message])
        sent = {k: got.fields.get(k, "") for k in self.ADD_FIELDS}
        kind = "pack" if sent["kind"] == "pack" else "exercise"
        problems = self._add_problems(kind, got)
        if problems:
            shutil.rmtree(folder, ignore_errors=True)
            return await self._add_page(request, self._words["settings.refused"], 400, problems, sent)
        job = self._jobs.new(kind, sent)
        asyncio.get_running_loop().run_in_executor(None, self._run_job, job, got)
        return see_other(f"/add/{job.id}")

    def _add_problems(self, kind: str, got: Any) -> list[str]:
        w = self._words
        if kind == "pack":
            pack = got.files.get("pack")
            if pack is None:
                return [w["add.no_pack"]]
            return [] if pack.suffix.lower() == ".zip" else [w["add.not_zip"]]
        return [] if "audio" in got.files else [w["add.no_audio"]]

    def _run_job(self, job: Any, got: Any) -> None:
        """In a worker thread, with its own connection: `kiosk add` or `kiosk import`."""
        from kiosk.content import ContentBusy, PackRefused, import_pack
        from kiosk.content.adding import AddRequest, add_exercise

        def progress(fraction: float, what: str) -> None:
            job.fraction, job.what = fraction, what

        f = job.fields
        try:
            db = open_db(self.settings.db_path)
            try:
                if job.kind == "pack":
                    job.result = import_pack(self.settings, db, got.files["pack"], progress)
                    audit.info("console: pack %s %s imported", job.result.pack_id, job.result.version)
                else:
                    techniques = f["techniques"].replace(",", " ").split()
                    request = AddRequest(
                        audio=got.files["audio"], title=f["title"], summary=f["summary"],
                        lang=f["lang"] or self.settings.languages.available[0],
                        script=got.files.get("script"),
                        techniques=tuple(techniques) if techniques else None,
                        visibility=f["visibility"] or None,
                        introduction=f["introduction"] or None, guidance=f["guidance"] or None)
                    job.result = add_exercise(self.settings, db, request, progress)
                    audit.info("console: exercise %s (%s) added", job.result.exercise_id, job.result.lang)
            finally:
                db.close()
        except PackRefused as exc:
            job.problems = [str(fault) for fault in exc.faults]
        except ContentBusy:
            job.busy = True
        except Exception:
            log.exception("the console's add failed")
            job.problems = [self._words["add.failed"]]
        finally:
            shutil.rmtree(got.folder, ignore_errors=True)
            job.done = True

    async def _add_job(self, request: web.Request) -> web.StreamResponse:
        job = self._jobs.get(request.match_info["job_id"])
        if job is None:
            raise web.HTTPNotFound()
        w = self._words
        if not job.done:
            title = (w["add.working_pack"] if job.kind == "pack"
                     else w["add.working"].format(title=job.fields["title"]))
            return self._page("working.html", title=title, page="add",
                              session=self._session(request), percent=round(job.fraction * 100),
                              what=job.what)
        if job.busy:
            return await self._add_page(request, w["exercises.busy"], 409, sent=job.fields)
        if job.problems:
            return await self._add_page(request, w["settings.refused"], 400, job.problems, job.fields)
        if job.kind == "pack":
            r = job.result
            return await self._exercises(request, w["add.pack_done"].format(
                pack=r.title or r.pack_id, version=r.version, n=len(r.exercises)))
        return see_other(f"/exercises/{job.result.exercise_id}/review?lang={job.result.lang}&added=1")

    def _variant(self, request: web.Request) -> Any:
        exercise_id = request.match_info["exercise_id"]
        return self._catalogue().variant(exercise_id, request.query.get("lang", ""))

    async def _audio(self, request: web.Request) -> web.StreamResponse:
        variant = self._variant(request)
        if variant is None or not variant.audio_path.is_file():
            raise web.HTTPNotFound()
        # FileResponse answers Range requests: the player seeks without fetching it all.
        return web.FileResponse(variant.audio_path)

    async def _review_page(self, request: web.Request, notice: str = "", status: int = 200,
                           problems: list[str] | None = None,
                           shown: dict[str, str] | None = None,
                           saved: int | None = None) -> web.StreamResponse:
        w = self._words
        variant = self._variant(request)
        if variant is None:
            return await self._exercises(request, w["exercises.not_found"], 404)
        if request.query.get("added") and not notice:
            notice = w["review.added"].format(title=variant.title)
            job = self._jobs.last_added(variant.exercise_id, variant.lang)
            phone = job.result.imported.phone_copies.get((variant.exercise_id, variant.lang)) if job else None
            if phone is not None:  # what a client's phone will get, and why (as kiosk add says)
                notice += " " + w["review.phone"].format(what=phone.describe())
        rows = []
        for n, (cue, placed) in enumerate(zip(variant.cues, variant.placements, strict=True)):
            uncertain = variant.timed and placed.uncertain
            rows.append({"n": n, "number": n + 1, "start": clock_text(cue.start),
                         "seconds": f"{cue.start:.3f}".rstrip("0").rstrip("."),
                         "text": cue.text, "how": placement_words(placed, variant.timed, w),
                         "uncertain": uncertain})
        # The passage a correction was for: its problems are shown in its row, where the
        # browser lands (the form's #anchor), not above the table out of sight.
        at = None
        if shown and shown.get("n", "").isdigit() and int(shown["n"]) < len(rows):
            at = int(shown["n"])
        return self._page("review.html", status, title=w["review.title"].format(title=variant.title),
                          page="exercises", session=self._session(request), notice=notice,
                          problems=problems or [], variant=variant, rows=rows, shown=shown or {},
                          at=at, saved=saved, length=clock_text(variant.duration_seconds),
                          timed=variant.timed)

    async def _correct(self, request: web.Request) -> web.StreamResponse:
        from kiosk.content import ContentBusy, PackRefused
        from kiosk.content.adding import set_cues
        from kiosk.content.cues import format_vtt

        w = self._words
        variant = self._variant(request)
        if variant is None:
            return await self._exercises(request, w["exercises.not_found"], 404)
        form = request[FORM]
        sent = {k: str(form.get(k, "")) for k in ("n", "start", "text")}  # type: ignore[attr-defined]
        cues, problems = corrected_cues(variant.cues, variant.duration_seconds, sent, w)
        if problems:
            return await self._review_page(request, w["settings.refused"], 400, problems, sent)

        def save() -> None:
            db = open_db(self.settings.db_path)
            vtt = self.settings.data_dir / f".console-cues-{secrets.token_hex(8)}.vtt"
            try:
                vtt.write_text(format_vtt(cues), encoding="utf-8")
                set_cues(self.settings, db, variant.exercise_id, variant.lang, vtt)
            finally:
                vtt.unlink(missing_ok=True)
                db.close()

        try:
            await asyncio.get_running_loop().run_in_executor(None, save)
        except PackRefused as exc:
            return await self._review_page(request, w["settings.refused"], 400,
                                           [f.message for f in exc.faults], sent)
        except ContentBusy:
            return await self._review_page(request, w["exercises.busy"], 409, shown=sent)
        number = int(sent["n"]) + 1
        audit.info("console: passage %d of %s (%s) corrected", number, variant.exercise_id, variant.lang)
        return await self._review_page(request, w["review.saved"].format(n=number), saved=number - 1)


def variant_words(v: Variant, w: dict[str, str]) -> dict[str, Any]:
    """A variant's line on the Exercises page: its length, loudness and read-along."""
    from kiosk.content.models import ReadAlong

    read_along = w[f"exercises.read_along.{v.read_along.value}"]
    if v.uncertain:
        key = "exercises.read_along.uncertain_one" if v.uncertain == 1 else "exercises.read_along.uncertain"
        read_along = w[key].format(n=v.uncertain)
    # Not measured: imported before the station measured loudness, or too quiet to gate.
    lufs = None if v.loudness is None else v.loudness.lufs
    loudness = (w["exercises.not_measured"] if lufs is None
                else w["exercises.loudness"].format(lufs=f"{lufs:.1f}"))
    return {"lang": v.lang, "length": w["exercises.minutes"].format(n=whole_minutes(v.duration_seconds)),
            "loudness": loudness, "read_along": read_along, "uncertain": v.uncertain > 0,
            # Without a script there is nothing to review: the title stands in for one.
            "reviewed": v.read_along is not ReadAlong.NO_SCRIPT}


def placement_words(placed: Placement, timed: bool, w: dict[str, str]) -> str:
    """How sure a passage's start is, in the review page's words."""
    from kiosk.content.models import PassageState

    if not timed:
        return w["review.untimed"]
    state, confidence = placed.state, placed.confidence
    if state in (PassageState.ALIGNED, PassageState.ANCHORED) and confidence is not None:
        key = "review.hardly_heard" if placed.uncertain else "review.heard"
        return w[key].format(percent=round(confidence * 100))
    return w[f"review.state.{state.value}"]


def clock_text(seconds: float) -> str:
    """A time as the review page shows it and reads it back: "1:05.3", "1:02:03.5"."""
    tenths = round(seconds * 10)
    whole, tenth = divmod(tenths, 10)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{minutes}:{secs:02d}.{tenth}"
    return f"{hours}:{minutes:02d}:{secs:02d}.{tenth}" if hours else text


def parse_clock(text: str) -> float | None:
    """ "1:05.3", "65.3", "1:02:03" as seconds; None when it is none of those."""
    match = re.fullmatch(r"(?:(?:(\d+):)?(\d{1,2}):)?(\d+(?:[.,]\d+)?)", text.strip())
    if not match:
        return None
    hours, minutes, secs = match.groups()
    value = float(secs.replace(",", "."))
    if minutes is not None and value >= 60:
        return None
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + value


def corrected_cues(cues: tuple[Any, ...], duration: float, sent: dict[str, str],
                   w: dict[str, str]) -> tuple[list[Any], list[str]]:
    """The variant's passages with passage `n`'s start and text as sent; every problem with
    them at once, in the page's terms (set_cues then checks it all again, as for a file)."""
    from kiosk.content.cues import Cue

    try:
        n = int(sent["n"])
    except ValueError:
        n = -1
    if not 0 <= n < len(cues):
        return [], [w["review.no_passage"]]
    problems = []
    number = n + 1
    start = parse_clock(sent["start"])
    text = sent["text"].replace("\r\n", "\n").strip()
    if start is None:
        problems.append(w["review.bad_time"].format(n=number, value=sent["start"]))
    else:
        if start >= duration:
            problems.append(w["review.after_end"].format(n=number, start=clock_text(start),
                                                         length=clock_text(duration)))
        if n > 0 and start <= cues[n - 1].start:
            problems.append(w["review.before_previous"].format(
                n=number, previous=number - 1, start=clock_text(start),
                before=clock_text(cues[n - 1].start)))
        if n + 1 < len(cues) and start >= cues[n + 1].start:
            problems.append(w["review.after_next"].format(
                n=number, start=clock_text(start), after=clock_text(cues[n + 1].start)))
    if not text:
        problems.append(w["review.no_text"].format(n=number))
    if problems or start is None:
        return [], problems
    out = list(cues)
    old = cues[n]
    following = cues[n + 1].start if n + 1 < len(cues) else duration
    end = old.end if start < old.end <= following else following
    if n > 0 and out[n - 1].end > start:
        out[n - 1] = Cue(out[n - 1].start, start, out[n - 1].text)
    out[n] = Cue(start, end, text)
    return out, []
