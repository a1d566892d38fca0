"""The console's Add and review pages over real sockets, as a browser without JavaScript sends
them: a recording and its script streamed in, the import followed to its end, the read-along
reviewed and corrected through the same checks as `kiosk cues --set`; and the hostile
uploads (forged, signed out, a path in a file name, too large, a zip bomb)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from kiosk.config import ContentSettings
from kiosk.console.upload import UPLOADS
from kiosk.content import parse_vtt
from kiosk.content.models import PassageState, Placement
from kiosk.resources import DEMO_PACK
from kiosk.store import open_db
from tests.cli.test_add import _script_of
from tests.console.test_console import (  # noqa: F401
    Browser,
    catalogue_of,
    console,
    password_hash,
    problems_of,
    quick_checks,
)
from tests.packfactory import db_dump, tree_digest

THREE = DEMO_PACK / "three-breaths-check-in"


def fields(b: Browser, **values: str) -> list[tuple[str, str]]:
    """The Add form's fields in the page's order, the CSRF token first as the form has it."""
    return [("csrf", b.csrf("/add")), ("kind", values.pop("kind", "exercise")),
            ("title", "Three breaths"), ("summary", "A short check-in."), ("lang", "en-GB"),
            *values.items()]


def follow(b: Browser, location: str, timeout: float = 120) -> tuple[int, dict[str, str], str, list[str]]:
    """GET the job's page as its refresh does until it sends the browser on; the pages seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        status, headers, page = b.get(location)
        if status != 200 or 'http-equiv="refresh"' not in page:
            return status, headers, page, seen
        seen.append(page)
        assert time.monotonic() < deadline, page
        time.sleep(0.3)


def uploads_left(server: Any) -> list[Path]:
    return [p for p in (server.settings.data_dir / UPLOADS).rglob("*") if p.is_file()]


def state(server: Any) -> tuple[Any, Any]:
    db = open_db(server.settings.db_path)
    try:
        return db_dump(db), tree_digest(server.settings.content_dir)
    finally:
        db.close()


def row_of(page: str, number: int) -> str:
    start = page.index(f'id="p{number}"')
    return page[start:page.index("</tr>", start)]


def passages(page: str) -> list[tuple[str, str, str]]:
    """(number, start shown, text) of each row of the review page's table."""
    return re.findall(r'<tr(?: class="uncertain")? id="p\d+">\s*<td>(\d+)</td>\s*<td class="start">'
                      r'<a class="play"[^>]*>▶ ([\d:.]+)</a></td>\s*<td><p class="words">(.*?)</p>',
                      page, re.S)


@pytest.fixture
def added(console, tmp_path):  # noqa: F811
    """A console, signed in, with the demo's three-breaths recording and its PDF script
    added through the Add page; the pages seen on the way."""
    server = console(check_runner=quick_checks)
    b = Browser(server.port)
    b.sign_in()
    status, _h, page = b.get("/add")
    assert status == 200 and 'enctype="multipart/form-data"' in page
    audio, script = (THREE / "en-GB.mp3").read_bytes(), (THREE / "en-GB.pdf").read_bytes()
    status, headers, _ = b.upload("/add", fields(b), [("audio", "three breaths.mp3", audio),
                                                      ("script", "three breaths.pdf", script)])
    assert status == 303 and headers["location"].startswith("/add/"), (status, headers)
    job = headers["location"]
    status, headers, _page, seen = follow(b, job)
    assert status == 303, (status, _page)
    return server, b, job, headers["location"], seen


def test_an_upload_is_added_timed_and_listed(added):
    server, b, job, review, seen = added
    assert seen and "Adding “Three breaths”…" in seen[0], "the browser saw the working page first"
    percents = [int(re.search(r'<progress max="100" value="(\d+)">', p).group(1))  # type: ignore[union-attr]
                for p in seen]
    assert percents == sorted(percents) and any("timing the script" in p for p in seen), percents
    assert review == "/exercises/three-breaths/review?lang=en-GB&added=1"
    assert not uploads_left(server), "the uploaded files are gone once added"
    catalogue = catalogue_of(server)
    variant = catalogue.variant("three-breaths", "en-GB")
    assert variant is not None and variant.timed and len(variant.cues) == 11
    assert [c.id for c in catalogue.cards("en-GB")] == ["three-breaths"]
    catalogue.db.close()
    status, _h, page = b.get("/exercises")
    assert status == 200 and "<td>Three breaths</td>" in page
    # The job's page, asked again later, still sends the browser to the review.
    assert b.get(job)[1]["location"] == review

    status, _h, page = b.get(review)
    assert status == 200 and "“Three breaths” is added" in page
    assert "For phones: kept the MP3 (phones play it)." in page  # as kiosk add says it
    rows = passages(page)
    assert len(rows) == 11 and [r[0] for r in rows] == [str(n) for n in range(1, 12)]
    shipped = parse_vtt((THREE / "en-GB.vtt").read_text(encoding="utf-8"))
    assert [" ".join(r[2].split()) for r in rows] == [" ".join(c.text.split()) for c in shipped]
    assert rows[0][1].startswith("0:0") and rows[-1][1].startswith(("2:", "3:"))
    assert "% of its words" in page, "how sure the aligner was, per passage"
    assert '<audio id="player" controls' in page


def test_a_passage_is_corrected_and_a_bad_correction_changes_nothing(added):
    server, b, _job, review, _seen = added
    page = b.get(review)[2]
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    catalogue = catalogue_of(server)
    before = catalogue.variant("three-breaths", "en-GB")
    cues = before.cues  # type: ignore[union-attr]
    path = "/exercises/three-breaths/review?lang=en-GB"
    moved = round((cues[2].start + cues[3].start) / 2, 1)
    minutes, seconds = divmod(moved, 60)
    typed = f"{int(minutes)}:{seconds:04.1f}"
    status, _h, page = b.post(path, {"csrf": token, "n": "3", "start": typed,
                                     "text": "Breathe in slowly,\r\nand let it go."})
    assert status == 200 and "Passage 4 is saved" in page, problems_of(page) if status == 400 else page
    assert "Passage 4 is saved" in row_of(page, 4), "said where the browser lands (#p4)"
    assert "<td>corrected by hand</td>" in row_of(page, 4) and "% of its words" in row_of(page, 5)
    rows = passages(page)
    assert rows[3][1] == typed and rows[3][2] == "Breathe in slowly,\nand let it go."
    variant = catalogue.variant("three-breaths", "en-GB")
    assert variant is not None and variant.timed
    assert abs(variant.cues[3].start - moved) < 0.01
    assert variant.cues[3].text == "Breathe in slowly,\nand let it go."
    assert variant.cues[2].end <= variant.cues[3].start
    assert [c.text for c in variant.cues[4:]] == [c.text for c in cues[4:]]
    # Kept with the cues: the corrected passage is the administrator's, the others the aligner's.
    assert variant.placements[3] == Placement(PassageState.CORRECTED)
    assert variant.placements[4] == before.placements[4] and variant.placements[4].confidence
    assert passages(b.get(review)[2])[3][2] == "Breathe in slowly,\nand let it go."

    before = state(server)
    for sent, expected in (
            ({"start": "9:00.0", "text": "Too late."}, "after the end of the recording (3:2"),
            ({"start": "0:00.5", "text": "Too early."}, "is not after passage 4 starts"),
            ({"start": "3:00.0", "text": "   "}, "the words must not be empty"),
            ({"start": "soon", "text": "When?"}, "“soon” is not a time")):
        n = "4" if "passage 4" in expected else "3"
        status, _h, page = b.post(path, {"csrf": token, "n": n, **sent})
        assert status == 400 and "Nothing was saved" in page, page
        problems = problems_of(page)
        assert any(expected in p.replace("&#34;", '"') for p in problems), problems
        assert problems[0] in row_of(page, int(n) + 1) and "<details open>" in row_of(page, int(n) + 1)
        assert state(server) == before
    # What was typed is kept in the form to correct it.
    assert 'value="soon"' in page
    assert b.post(path, {"n": "3", "start": "0:10.0", "text": "x"})[0] == 403
    assert b.post("/exercises/no-such/review?lang=en-GB", {"csrf": token, "n": "0", "start": "1",
                                                           "text": "x"})[0] == 404
    assert state(server) == before
    catalogue.db.close()


# Never spoken: a line the narrator skipped.
UNSPOKEN = "Picture a lighthouse on a rocky shore, its lamp turning slowly over the water."


def test_how_sure_each_passage_is_is_kept_and_told_on_the_exercises_page(console, tmp_path):  # noqa: F811
    """A script with a passage the narrator skipped (so placed between its neighbours)
    added through the Add page: the Exercises page counts the passages to check, the review
    page marks them, and both say so after the console is started again; a recording added
    without a script says so, and adding it leaves the first exercise's passages as they were."""
    server = console(check_runner=quick_checks)
    b = Browser(server.port)
    b.sign_in()
    texts = [c.text for c in parse_vtt((THREE / "en-GB.vtt").read_text(encoding="utf-8"))]
    texts.insert(5, UNSPOKEN)
    script = "\n\n".join(texts).encode()
    audio = (THREE / "en-GB.mp3").read_bytes()
    status, headers, page = b.upload("/add", fields(b), [("audio", "three breaths.mp3", audio),
                                                         ("script", "three breaths.txt", script)])
    assert status == 303, page
    assert follow(b, headers["location"])[0] == 303
    catalogue = catalogue_of(server)
    variant = catalogue.variant("three-breaths", "en-GB")
    assert variant is not None and variant.timed and len(variant.placements) == 12
    assert variant.placements[5] == Placement(PassageState.INTERPOLATED, 0.0)
    assert all(p.state in (PassageState.ALIGNED, PassageState.ANCHORED) and p.confidence
               for n, p in enumerate(variant.placements) if n != 5)
    uncertain = variant.uncertain
    assert uncertain >= 1
    told = ("Read-along: timed, 1 passage uncertain" if uncertain == 1
            else f"Read-along: timed, {uncertain} passages uncertain")
    status, headers, page = b.upload("/add", fields(b, title="Quiet minute"),
                                     [("audio", "quiet.mp3", audio)])
    assert status == 303 and follow(b, headers["location"])[0] == 303
    assert catalogue.variant("three-breaths", "en-GB").placements == variant.placements, \
        "the local pack rebuilt for another exercise keeps what its aligner found"
    catalogue.db.close()
    server.stop()

    server = console(check_runner=quick_checks)  # started again: nothing is held in memory
    b = Browser(server.port)
    b.sign_in()
    page = b.get("/exercises")[2]
    three = page[page.index("<td>Three breaths</td>"):page.index("<td>Quiet minute</td>")]
    assert f'English (UK): 3 min, loudness {variant.loudness.lufs:.1f} LUFS.' in three  # type: ignore[union-attr]
    assert f'<span class="uncertain">{told}</span>' in three
    quiet = page[page.index("<td>Quiet minute</td>"):]
    assert "<span>Read-along: none (no script)</span></li>" in quiet, "and no review of it"
    review = b.get("/exercises/three-breaths/review?lang=en-GB")[2]
    skipped = row_of(review, 6)
    assert '<tr class="uncertain" id="p6">' in review and UNSPOKEN in skipped
    assert "not heard: placed between its neighbours, please check" in skipped
    assert "% of its words" in row_of(review, 5)
    assert review.count('<tr class="uncertain"') == uncertain


def test_the_player_seeks_with_range_requests(added):
    server, b, _job, _review, _seen = added
    catalogue = catalogue_of(server)
    audio = catalogue.variant("three-breaths", "en-GB").audio_path.read_bytes()  # type: ignore[union-attr]
    catalogue.db.close()
    path = "/exercises/three-breaths/audio?lang=en-GB"
    status, headers, data = b.exchange("GET", path, headers={"Range": "bytes=100000-100999"})
    assert status == 206 and data == audio[100000:101000]
    assert headers["content-range"] == f"bytes 100000-100999/{len(audio)}"
    status, _h, data = b.exchange("GET", path, headers={"Range": f"bytes={len(audio) - 10}-"})
    assert status == 206 and data == audio[-10:]
    status, _h, data = b.exchange("GET", path)
    assert status == 200 and data == audio
    assert b.exchange("GET", "/exercises/three-breaths/audio?lang=fr-FR")[0] == 404
    assert Browser(server.port).exchange("GET", path)[0] == 303, "no session, no audio"


# -- hostile -------------------------------------------------------------------------------------
def test_an_upload_without_the_token_or_a_session_writes_nothing(console):  # noqa: F811
    server = console(check_runner=quick_checks)
    audio = (THREE / "en-GB.mp3").read_bytes()
    stranger = Browser(server.port)
    status, headers, _ = stranger.upload("/add", [("csrf", "x" * 43), ("kind", "exercise"),
                                                  ("title", "T"), ("summary", "S")],
                                         [("audio", "a.mp3", audio)])
    assert status == 303 and headers["location"] == "/login"
    b = Browser(server.port)
    b.sign_in()
    good = fields(b)
    before = state(server)
    for sent in ([f for f in good if f[0] != "csrf"],            # none at all
                 [("csrf", "x" * 43), *good[1:]],               # another session's or made up
                 [*good[1:], good[0]]):                          # the token after the file
        status, _h, page = b.upload("/add", sent, [("audio", "a.mp3", audio)])
        assert status == 403 and "Clinic console" in page, page
        assert not uploads_left(server)
    status, _h, _ = b.upload("/add", good, [("audio", "a.mp3", audio)],
                             headers={"Origin": "http://evil.example"})
    assert status == 403 and not uploads_left(server)
    assert state(server) == before


def test_a_path_in_a_file_name_stays_a_plain_name_in_the_uploads_folder(console, tmp_path):  # noqa: F811
    server = console(check_runner=quick_checks)
    landed: list[Path] = []
    run_job = server._run_job

    def watch(job: Any, got: Any) -> None:  # sees the files before the job deletes them
        landed.extend(p for p in got.files.values() if p.is_file())
        run_job(job, got)

    server._run_job = watch  # type: ignore[method-assign]
    b = Browser(server.port)
    b.sign_in()
    audio = (THREE / "en-GB.mp3").read_bytes()
    script = _script_of(THREE / "en-GB.vtt", tmp_path / "three.txt").read_bytes()
    for n, (sound, words) in enumerate((("../../etc/x.mp3", "../../../../tmp/s.txt"),
                                        ("..\\\\x.mp3", "C:\\\\Users\\\\s.txt"),
                                        ("..", ".hidden.txt"))):
        status, headers, page = b.upload("/add", fields(b, title=f"Named {n}"),
                                         [("audio", sound, audio), ("script", words, script)])
        assert status == 303, page
        status, _h, page, _seen = follow(b, headers["location"])
        if sound == "..":  # no name left at all: not taken for a recording
            assert status == 400 and "is not an audio file the station takes" in problems_of(page)[0]
        else:
            assert status == 303, page
    uploads = (server.settings.data_dir / UPLOADS).resolve()
    names = [p.name for p in landed]
    assert names[:2] == ["x.mp3", "s.txt"] and names[2].endswith("x.mp3") and names[3] == "s.txt"
    assert names[4] == "upload" and names[5] == "hidden.txt"
    for p in landed:
        assert p.resolve().parent.parent.parent == uploads, p
    assert not (tmp_path / "etc").exists() and not (server.settings.data_dir.parent / "x.mp3").exists()
    assert not uploads_left(server)
    catalogue = catalogue_of(server)
    assert len(catalogue.exercise_ids()) == 2
    catalogue.db.close()


def test_an_upload_over_the_limit_is_refused_and_nothing_is_kept(console):  # noqa: F811
    server = console(check_runner=quick_checks, sections={"content": ContentSettings(max_file_mb=1)})
    b = Browser(server.port)
    b.sign_in()
    before = state(server)
    audio = (THREE / "en-GB.mp3").read_bytes()
    assert len(audio) > 1024 * 1024
    status, _h, page = b.upload("/add", fields(b), [("audio", "big.mp3", audio)])
    assert status == 413, page
    assert "larger than 1 MB" in problems_of(page)[0]
    assert not uploads_left(server) and state(server) == before
    # Far over the limit: refused as soon as the limit is passed, whatever the browser does.
    try:
        status = b.upload("/add", fields(b), [("audio", "huge.mp3", audio * 4)])[0]
    except ConnectionError:  # the station stopped reading: the answer came before the end
        status = 413
    assert status == 413
    assert not uploads_left(server) and state(server) == before


def test_a_zip_bomb_through_the_browser_is_refused_and_the_catalogue_unchanged(console, tmp_path):  # noqa: F811
    from tests.content.test_import import _zip_bomb

    server = console(check_runner=quick_checks)
    b = Browser(server.port)
    b.sign_in()
    before = state(server)
    bomb = _zip_bomb(tmp_path).read_bytes()
    status, headers, page = b.upload("/add", [("csrf", b.csrf("/add")), ("kind", "pack")],
                                     [("pack", "pack.zip", bomb)])
    assert status == 303, page
    status, _h, page, _seen = follow(b, headers["location"])
    assert status == 400, page
    problems = problems_of(page)
    assert any("pack.zip" in p and "a likely zip bomb" in p for p in problems), problems
    assert state(server) == before and not uploads_left(server)
    assert not list(server.settings.data_dir.glob(".kiosk-pack-*"))
