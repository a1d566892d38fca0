from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kiosk.store import open_db
from kiosk.takehome import links

T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path):
    database = open_db(tmp_path / "kiosk.sqlite3")
    yield database
    database.close()


def test_token_format_and_only_its_hash_is_stored(db, tmp_path: Path) -> None:
    issued = links.issue_link(db, [("a", "en-GB")], 7, 3, now=T0, station="s1")
    assert len(issued.token) == 26 and links.TOKEN_RE.fullmatch(issued.token)
    assert links.SHORT_ID_RE.fullmatch(issued.short_id)
    assert issued.token not in repr(issued)
    raw = (tmp_path / "kiosk.sqlite3").read_bytes() + (tmp_path / "kiosk.sqlite3-wal").read_bytes()
    assert issued.token.encode() not in raw and issued.token.lower().encode() not in raw
    row = db.execute("SELECT token_hash FROM links").fetchone()
    assert row[0] == links.token_hash(issued.token)


def test_tokens_differ() -> None:
    assert len({links.new_token() for _ in range(1000)}) == 1000


def test_resolve_live_bundle_and_case_insensitive(db) -> None:
    issued = links.issue_link(db, [("a", "en-GB"), ("b", "en-GB")], 7, 3, now=T0, station="s1")
    view = links.resolve(db, issued.token.lower(), now=T0 + timedelta(days=1))
    assert isinstance(view, links.LinkView)
    assert [(i.position, i.exercise_id, i.lang) for i in view.items] == [(1, "a", "en-GB"), (2, "b", "en-GB")]
    assert view.expires_at == T0 + timedelta(days=7)
    assert links.resolve(db, "A" * 26, now=T0) is None
    assert links.resolve(db, "not a token", now=T0) is None


def test_expiry_with_injected_clock(db) -> None:
    issued = links.issue_link(db, [("a", "en-US")], 2, 3, now=T0, station="s1")
    assert isinstance(links.resolve(db, issued.token, now=T0 + timedelta(days=2, seconds=-1)), links.LinkView)
    gone = links.resolve(db, issued.token, now=T0 + timedelta(days=2))
    assert gone == links.LinkGone("expired", issued.short_id, "en-US")
    assert links.live_links(db, now=T0 + timedelta(days=3)) == []


def test_revoke_by_short_id_and_by_token(db) -> None:
    one = links.issue_link(db, [("a", "en-GB")], 7, 3, now=T0, station="s1")
    two = links.issue_link(db, [("b", "en-GB")], 7, 3, now=T0, station="s1")
    assert links.revoke(db, one.short_id.upper(), now=T0)
    assert not links.revoke(db, one.short_id, now=T0)  # already revoked
    assert links.revoke(db, two.token, now=T0)
    assert not links.revoke(db, "zzzzzz", now=T0)
    assert not links.revoke(db, "", now=T0)
    for issued in (one, two):
        gone = links.resolve(db, issued.token, now=T0)
        assert isinstance(gone, links.LinkGone) and gone.reason == "revoked"


def test_used_up_when_every_file_reached_its_limit(db) -> None:
    issued = links.issue_link(db, [("a", "en-GB")], 7, 2, now=T0, station="s1")
    view = links.resolve(db, issued.token, now=T0)
    assert isinstance(view, links.LinkView)
    for kind in links.KINDS:
        links.record_download(db, view.link_id, 1, kind)
    view = links.resolve(db, issued.token, now=T0)
    assert isinstance(view, links.LinkView) and not view.used_up(1, "audio")
    assert links.record_download(db, view.link_id, 1, "audio") == 2
    view = links.resolve(db, issued.token, now=T0)
    assert isinstance(view, links.LinkView) and view.used_up(1, "audio") and not view.used_up(1, "pdf")
    links.record_download(db, view.link_id, 1, "pdf")
    gone = links.resolve(db, issued.token, now=T0)
    assert isinstance(gone, links.LinkGone) and gone.reason == "used-up"


def test_live_links_newest_first_with_counts(db) -> None:
    old = links.issue_link(db, [("a", "en-GB")], 7, 3, now=T0, station="s1")
    new = links.issue_link(db, [("b", "en-GB"), ("c", "en-GB")], 7, 3, now=T0 + timedelta(hours=1), station="s1")
    view = links.resolve(db, old.token, now=T0)
    assert isinstance(view, links.LinkView)
    links.record_download(db, view.link_id, 1, "audio")
    live = links.live_links(db, now=T0 + timedelta(hours=2))
    assert [v.short_id for v in live] == [new.short_id, old.short_id]
    assert live[1].items[0].downloads == {"audio": 1}


def test_purge_keeps_recently_gone_links_for_the_kind_page(db) -> None:
    issued = links.issue_link(db, [("a", "en-GB")], 1, 3, now=T0, station="s1")
    assert links.purge_expired(db, now=T0 + timedelta(days=5)) == 0
    assert isinstance(links.resolve(db, issued.token, now=T0 + timedelta(days=5)), links.LinkGone)
    assert links.purge_expired(db, now=T0 + timedelta(days=1 + links.PURGE_AFTER_DAYS)) == 1
    assert links.resolve(db, issued.token, now=T0) is None
    assert db.execute("SELECT count(*) FROM link_items").fetchone()[0] == 0


def test_invalid_requests_are_refused(db) -> None:
    with pytest.raises(links.LinkError):
        links.issue_link(db, [], 7, 3, station="s1")
    with pytest.raises(links.LinkError):
        links.issue_link(db, [("a", "en-GB"), ("a", "en-GB")], 7, 3, station="s1")
    with pytest.raises(links.LinkError):
        links.issue_link(db, [("a", "en-GB")], 0, 3, station="s1")
    with pytest.raises(ValueError):
        links.issue_link(db, [("a", "en-GB")], 7, 3, now=datetime(2025, 1, 1), station="s1")  # naive


def test_link_issued_usage_event_goes_through_the_switch(db, monkeypatch) -> None:
    seen = []
    monkeypatch.setattr(links, "record_usage", lambda *a, **k: seen.append((a[1:], k)))
    links.issue_link(db, [("a", "en-GB"), ("b", "en-GB")], 7, 3, now=T0, station="s1")
    assert seen == [(("link_issued", "a", "en-GB", "s1"), {"at": T0}),
                    (("link_issued", "b", "en-GB", "s1"), {"at": T0})]


def test_schema_refuses_bad_kinds(db) -> None:
    issued = links.issue_link(db, [("a", "en-GB")], 7, 3, now=T0, station="s1")
    view = links.resolve(db, issued.token, now=T0)
    assert isinstance(view, links.LinkView)
    with pytest.raises(ValueError):
        links.record_download(db, view.link_id, 1, "video")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO link_downloads (link_id, position, kind) VALUES (?, 1, 'x')", [view.link_id])


def test_the_typing_code_opens_the_same_link_until_its_own_expiry(db) -> None:
    issued = links.issue_link(db, [("a", "en-GB")], 7, 3, now=T0, station="s1")
    assert len(issued.code) == links.CODE_LENGTH and issued.code.islower()
    assert issued.code_expires_at == T0 + timedelta(days=links.CODE_DAYS)
    by_token = links.resolve(db, issued.token, now=T0)
    by_code = links.resolve(db, issued.code, now=T0 + timedelta(hours=1))
    assert isinstance(by_code, links.LinkView) and isinstance(by_token, links.LinkView)
    assert by_code.link_id == by_token.link_id
    assert isinstance(links.resolve(db, issued.code.upper(), now=T0), links.LinkView)  # any case
    # past its own expiry the code opens nothing, while the token still works
    later = T0 + timedelta(days=links.CODE_DAYS, seconds=1)
    assert links.resolve(db, issued.code, now=later) is None
    assert isinstance(links.resolve(db, issued.token, now=later), links.LinkView)
    # nothing of the code is stored in the clear
    row = db.execute("SELECT code_hash FROM links").fetchone()
    assert issued.code.upper() not in row[0] and issued.code not in row[0]


def test_a_one_day_link_s_code_expires_with_it(db) -> None:
    issued = links.issue_link(db, [("a", "en-GB")], 1, 3, now=T0, station="s1")
    assert issued.code_expires_at == issued.expires_at
