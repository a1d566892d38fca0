from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from kiosk.config import default_settings
from kiosk.content import Catalogue, cleanup_leftovers, import_pack
from kiosk.content.search import fts_query, search_index_problems
from kiosk.store import open_db
from tests.packfactory import edited, write_manifest, write_pack


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """A data folder with the test pack imported, built once and copied for each test."""
    data = tmp_path_factory.mktemp("catalogue") / "data"
    settings = default_settings(data)
    db = open_db(settings.db_path)
    import_pack(settings, db, write_pack(data.parent / "pack"))
    db.close()
    return data


@pytest.fixture
def station(baseline, tmp_path):
    shutil.copytree(baseline, tmp_path / "data")
    write_pack(tmp_path / "pack")  # for the tests that import a changed version
    settings = default_settings(tmp_path / "data")
    db = open_db(settings.db_path)
    yield settings, db, Catalogue(db, settings.content_dir)
    db.close()


def ids(cards):
    return [c.id for c in cards]


def test_migrations_are_idempotent(tmp_path):
    path = tmp_path / "k.sqlite3"
    open_db(path).close()
    db = open_db(path)
    names = [r[0] for r in db.execute("SELECT name FROM _sqlite_migrations WHERE migration_set = 'kiosk.catalogue'")]
    assert names == ["m001_create_catalogue", "m002_untimed_scripts", "m003_loudness",
                     "m004_phone_copies", "m005_passage_placements"]
    assert {"packs", "exercises", "variants", "exercise_techniques", "variants_fts", "variants_head_fts", "hidden_exercises"} <= set(db.table_names())
    assert {t.name for t in db["variants"].triggers} >= {"variants_ai", "variants_ad", "variants_au"}


def test_placements_of_variants_imported_before_they_were_kept(station, tmp_path):
    """m005 on a catalogue from before it: a publisher's cues are given, an untimed script
    is in order only, and the station's own (kiosk add's) were timed by its aligner."""
    from kiosk.content.models import PassageState

    settings, db, _catalogue = station
    with db.conn:
        db.execute("ALTER TABLE variants DROP COLUMN placements_json")
        db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm005_passage_placements'")
    db.close()
    db = open_db(settings.db_path)
    catalogue = Catalogue(db, settings.content_dir)
    breath, place = catalogue.variant("soothing-breath", "en-GB"), catalogue.variant("safe-place", "en-GB")
    assert breath is not None and place is not None and len(breath.placements) == len(breath.cues)
    assert {p.state for p in breath.placements} == {PassageState.GIVEN}
    assert not any(p.uncertain for p in breath.placements) and breath.uncertain == 0
    db.execute("PRAGMA foreign_keys=OFF")  # the pack moved under its exercises
    with db.conn:
        db.execute("ALTER TABLE variants DROP COLUMN placements_json")
        db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm005_passage_placements'")
        db.execute("UPDATE packs SET id = 'local'")
        db.execute("UPDATE exercises SET pack_id = 'local'")
        db.execute("UPDATE variants SET timed = 0 WHERE exercise_id = 'safe-place'")
    db.close()
    db = open_db(settings.db_path)
    catalogue = Catalogue(db, settings.content_dir)
    breath, place = catalogue.variant("soothing-breath", "en-GB"), catalogue.variant("safe-place", "en-GB")
    assert {(p.state, p.confidence) for p in breath.placements} == {(PassageState.ALIGNED, None)}
    assert {p.state for p in place.placements} == {PassageState.UNTIMED}
    db.close()


def test_a_pack_imported_again_keeps_the_placements_of_cues_it_did_not_change(station):
    """How the aligner placed a passage outlives a rebuild of its pack for another change
    (kiosk add of another exercise, an edit), and is the pack's own once its cues change."""
    from kiosk.content.models import PassageState, Placement

    settings, db, catalogue = station
    heard = tuple(Placement(PassageState.ALIGNED, 0.8) for _ in catalogue.variant("soothing-breath", "en-GB").cues)
    import_pack(settings, db, write_pack(settings.data_dir.parent / "again"),
                placements={("soothing-breath", "en-GB"): heard})
    assert catalogue.variant("soothing-breath", "en-GB").placements == heard
    assert {p.state for p in catalogue.variant("soothing-breath", "en-US").placements} == {PassageState.GIVEN}
    import_pack(settings, db, write_pack(settings.data_dir.parent / "once-more"))
    assert catalogue.variant("soothing-breath", "en-GB").placements == heard

    def moved(data):
        data["exercises"][0]["variants"]["en-GB"]["cues"] = "breath/en-US.vtt"

    import_pack(settings, db, write_pack(settings.data_dir.parent / "moved", edited(moved)))
    variant = catalogue.variant("soothing-breath", "en-GB")
    assert variant.cues == catalogue.variant("soothing-breath", "en-US").cues
    assert {p.state for p in variant.placements} == {PassageState.GIVEN}


def test_public_browse_hides_therapist_only(station):
    _, _, catalogue = station
    cards = catalogue.cards("en-GB")
    assert ids(cards) == ["soothing-breath"]
    card = cards[0]
    assert card.title == "Soothing rhythm breathing"
    assert card.summary == "Slowing the breath to settle body and mind."
    assert card.techniques == ("breathing", "self-compassion")
    assert card.languages == ("en-GB", "en-US")
    assert card.visibility == "public" and card.hidden is False
    assert card.duration_seconds == pytest.approx(10.0, abs=0.01)


def test_include_hidden_orders_by_title(station):
    _, _, catalogue = station
    assert ids(catalogue.cards("en-GB", include_hidden=True)) == ["safe-place", "soothing-breath"]


def test_language_filter_and_per_language_title(station):
    _, _, catalogue = station
    cards = catalogue.cards("en-US", include_hidden=True)
    assert ids(cards) == ["soothing-breath"]
    assert cards[0].title == "Soothing rhythm breathing (US)"
    assert cards[0].duration_seconds == pytest.approx(10.057, abs=0.01)
    assert catalogue.cards("fr-FR", include_hidden=True) == []


def test_technique_filter(station):
    _, _, catalogue = station
    assert ids(catalogue.cards("en-GB", technique="imagery")) == []
    assert ids(catalogue.cards("en-GB", technique="imagery", include_hidden=True)) == ["safe-place"]
    assert ids(catalogue.cards("en-GB", technique="breathing")) == ["soothing-breath"]
    assert catalogue.cards("en-GB", technique="no-such") == []


def test_techniques_list(station):
    _, _, catalogue = station
    assert catalogue.techniques() == ["breathing", "self-compassion"]
    assert catalogue.techniques(include_hidden=True) == ["breathing", "imagery", "self-compassion"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("breat", ["soothing-breath"]),          # type-ahead prefix
        ("BREATHING", ["soothing-breath"]),      # case
        ("soothing breat", ["soothing-breath"]),  # words are ANDed
        ("colours", ["safe-place"]),             # script text (cues)
        ("compassion", ["soothing-breath"]),     # technique slug words
        ("imag", ["safe-place"]),
        ("calm", ["safe-place"]),                # en-GB text only: the en-US script's "calm" is not searched
        ("nothing-like-this", []),
    ],
)
def test_search(station, query, expected):
    _, _, catalogue = station
    assert sorted(ids(catalogue.cards("en-GB", query=query, include_hidden=True))) == sorted(expected)


def test_search_ranks_title_above_script(station, tmp_path):
    settings, db, catalogue = station
    pack = tmp_path / "pack"
    write_manifest(pack, edited(lambda m: m["exercises"][0].update(title="Soothing light breathing")))
    import_pack(settings, db, pack)
    # "light": in soothing-breath's title, and only in safe-place's script
    assert ids(catalogue.cards("en-GB", query="light", include_hidden=True)) == ["soothing-breath", "safe-place"]
    assert ids(catalogue.cards("en-GB", query="light", include_hidden=True, limit=1)) == ["soothing-breath"]


def test_search_is_in_the_screen_language(station):
    _, _, catalogue = station
    # "even" appears only in the en-US script
    assert ids(catalogue.cards("en-GB", query="even")) == []
    assert ids(catalogue.cards("en-US", query="even")) == ["soothing-breath"]


def test_limit_without_query(station):
    _, _, catalogue = station
    assert ids(catalogue.cards("en-GB", include_hidden=True, limit=1)) == ["safe-place"]
    assert ids(catalogue.cards("en-GB", include_hidden=True, limit=0)) == []


def test_search_respects_filters(station):
    _, _, catalogue = station
    assert ids(catalogue.cards("en-GB", query="colours")) == []  # therapist-only
    assert ids(catalogue.cards("en-GB", query="breat", technique="imagery", include_hidden=True)) == []


@pytest.mark.parametrize(
    "query",
    ['"', '""', "*", "breat*", "NEAR(a b)", "a AND", "OR", "NOT x", "title:soothing", "-", "'", "(", ")",
     "^soothing", "a + b", "{title summary}: x", "\x00", "\u00e9\u00e8", "x" * 5000, "; DROP TABLE exercises; --"],
)
def test_search_never_raises_on_fts_syntax(station, query):
    _, db, catalogue = station
    catalogue.cards("en-GB", query=query, include_hidden=True)
    catalogue.search_listing(query)
    assert db.execute("SELECT count(*) FROM exercises").fetchone()[0] == 2


def test_fts_query_quotes_every_word():
    assert fts_query('breat "x" NEAR') == '"breat"* "x"* "NEAR"*'
    assert fts_query("  ") is None
    assert fts_query("!!") is None


def test_punctuation_only_query_is_no_query(station):
    _, _, catalogue = station
    assert ids(catalogue.cards("en-GB", query="!!")) == ["soothing-breath"]


def test_exercise_and_variant(station):
    settings, _, catalogue = station
    ex = catalogue.exercise("soothing-breath", "en-US")
    assert ex is not None
    assert ex.title == "Soothing rhythm breathing (US)"
    assert ex.introduction == "A short breathing exercise."
    assert ex.guidance == "Test guidance for therapists."
    assert ex.references == ("Author, A. (2020). A paper. A Journal, 1(1), 1-2.",)
    assert ex.languages == ("en-GB", "en-US")
    v = ex.variant
    assert v.lang == "en-US"
    for path in (v.audio_path, v.playback_path, v.script_pdf_path):
        assert path.is_absolute() and path.is_file()
        assert path.is_relative_to(settings.content_dir)
    assert v.audio_bytes == v.audio_path.stat().st_size
    assert v.script_pdf_bytes == v.script_pdf_path.stat().st_size
    assert v.playback_path.suffix == ".flac"
    assert [c.text for c in v.cues][0].startswith("Get comfortable")


def test_exercise_falls_back_to_another_language(station):
    _, _, catalogue = station
    ex = catalogue.exercise("safe-place", "en-US")
    assert ex is not None and ex.variant.lang == "en-GB"
    assert ex.visibility == "therapist"
    assert catalogue.variant("safe-place", "en-US") is None
    assert catalogue.variant("safe-place", "en-GB") is not None
    assert catalogue.exercise("nope", "en-GB") is None


def test_hide_and_show(station):
    _, _, catalogue = station
    assert catalogue.set_hidden("soothing-breath", True)
    assert catalogue.cards("en-GB") == []
    assert catalogue.techniques() == []
    hidden = catalogue.cards("en-GB", include_hidden=True)
    assert [c.hidden for c in hidden] == [False, True]
    ex = catalogue.exercise("soothing-breath", "en-GB")
    assert ex is not None and ex.hidden
    assert catalogue.set_hidden("soothing-breath", True)  # twice is fine
    assert catalogue.set_hidden("soothing-breath", False)
    assert ids(catalogue.cards("en-GB")) == ["soothing-breath"]
    assert not catalogue.set_hidden("no-such", True)


def test_hidden_survives_a_newer_version(station, tmp_path):
    settings, db, catalogue = station
    catalogue.set_hidden("soothing-breath", True)
    pack = tmp_path / "pack"
    write_manifest(pack, edited(lambda m: m["pack"].update(version="1.1.0")))
    import_pack(settings, db, pack)
    assert catalogue.cards("en-GB") == []


def test_remove_deletes_rows_then_files(station):
    settings, db, catalogue = station
    v = catalogue.variant("safe-place", "en-GB")
    assert v is not None
    breath = catalogue.variant("soothing-breath", "en-GB")
    assert breath is not None
    catalogue.set_hidden("safe-place", True)
    assert catalogue.remove("safe-place")
    assert catalogue.exercise("safe-place", "en-GB") is None
    assert not v.audio_path.exists() and not v.playback_path.exists() and not v.script_pdf_path.exists()
    assert breath.audio_path.exists() and breath.playback_path.exists()
    assert catalogue.cards("en-GB", query="colours", include_hidden=True) == []
    assert db.execute("SELECT count(*) FROM hidden_exercises").fetchone()[0] == 0
    assert not catalogue.remove("safe-place")
    # nothing is left over for the start-up cleaning
    assert cleanup_leftovers(settings, db) == []


def test_removing_the_last_exercise_removes_the_pack(station):
    settings, db, catalogue = station
    folder = db.execute("SELECT folder FROM packs").fetchone()[0]
    assert catalogue.remove("safe-place") and catalogue.remove("soothing-breath")
    assert db.execute("SELECT count(*) FROM packs").fetchone()[0] == 0
    assert not (settings.content_dir / folder).exists()
    assert catalogue.is_empty()
    assert search_index_problems(db) == []


def test_list_exercises(station):
    _, _, catalogue = station
    catalogue.set_hidden("safe-place", True)
    listing = {item.id: item for item in catalogue.list_exercises()}
    assert set(listing) == {"soothing-breath", "safe-place"}
    place = listing["safe-place"]
    assert place.hidden and place.visibility == "therapist" and place.pack_id == "test-pack"
    assert place.durations == {"en-GB": pytest.approx(6.0, abs=0.01)}
    assert place.as_json()["pack_version"] == "1.0.0"


def test_fts_index_consistent_after_changes(station, tmp_path):
    settings, db, catalogue = station
    pack = tmp_path / "pack"
    write_manifest(pack, edited(lambda m: m["exercises"][0].update(title="Breathing, renamed")))
    import_pack(settings, db, pack)
    catalogue.remove("safe-place")
    assert search_index_problems(db) == []
    assert ids(catalogue.cards("en-GB", query="renamed")) == ["soothing-breath"]
    assert catalogue.cards("en-GB", query="imagine", include_hidden=True) == []


def test_one_catalogue_per_thread(station):
    settings, _, _ = station
    import threading

    errors: list[BaseException] = []

    def read() -> None:
        try:
            db = open_db(settings.db_path)
            assert ids(Catalogue(db, settings.content_dir).cards("en-GB")) == ["soothing-breath"]
            db.close()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_exercise_rows_refuse_bad_visibility(station):
    _, db, _ = station
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE exercises SET visibility = 'everyone'")


def test_catalogue_paths_follow_the_content_dir(station, tmp_path):
    settings, db, _ = station
    moved = Catalogue(db, Path("/elsewhere/content"))
    v = moved.variant("soothing-breath", "en-GB")
    assert v is not None and str(v.audio_path).startswith("/elsewhere/content/")
