"""`kiosk add` and `kiosk cues` through click's CliRunner, on a real database and content
folder, with the real script reader and the real aligner (pocketsphinx) on real audio: the
demo's tracks, and speech made here with espeak-ng for a script from outside the demo."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kiosk.cli import CliContext
from kiosk.cli.add import COMMANDS as ADD_COMMANDS
from kiosk.cli.content import COMMANDS as CONTENT_COMMANDS
from kiosk.config import default_settings
from kiosk.content import Catalogue, parse_vtt
from kiosk.resources import DEMO_PACK
from kiosk.store import open_db
from tests.content.test_scripttext import SPOKEN, TITLE, _fpdf_script
from tests.packfactory import db_dump, tree_digest

THREE = DEMO_PACK / "three-breaths-check-in"
SAFE = DEMO_PACK / "safe-place"


@click.group()
def group() -> None:
    """Test-local stand-in for `kiosk`."""


for _command in (*CONTENT_COMMANDS, *ADD_COMMANDS):
    group.add_command(_command)


@pytest.fixture
def run(tmp_path):
    settings = default_settings(tmp_path / "data")

    def invoke(*args: str):
        obj = CliContext(None, False)
        obj._settings = settings
        return CliRunner().invoke(group, [str(a) for a in args], obj=obj, catch_exceptions=False)

    invoke.settings = settings  # type: ignore[attr-defined]
    invoke.tmp = tmp_path  # type: ignore[attr-defined]
    return invoke


def _script_of(vtt: Path, out: Path, title: str = "") -> Path:
    cues = parse_vtt(vtt.read_text(encoding="utf-8"))
    out.write_text((f"{title}\n\n" if title else "") + "\n\n".join(c.text for c in cues) + "\n",
                   encoding="utf-8")
    return out


def _dump(settings):
    db = open_db(settings.db_path)
    try:
        return db_dump(db)
    finally:
        db.close()


def _catalogue(settings):
    db = open_db(settings.db_path)
    return db, Catalogue(db, settings.content_dir)


def test_add_times_the_script_and_the_station_lists_and_shows_it(run):
    script = _script_of(THREE / "en-GB.vtt", run.tmp / "three.txt", title="Three breaths")
    result = run("add", THREE / "en-GB.mp3", "--script", script, "--title", "Three breaths",
                 "--summary", "A short check-in.", "--techniques", "breathing,grounding")
    assert result.exit_code == 0, result.output
    assert 'Added exercise "three-breaths" (en-GB, 3:23)' in result.output
    assert "Read-along timed: 11 of 11 passages placed in the audio." in result.output

    listed = run("list")
    assert "three-breaths" in listed.output and "local 1" in listed.output

    db, catalogue = _catalogue(run.settings)
    with db.conn:
        cards = catalogue.cards("en-GB")
        assert [c.id for c in cards] == ["three-breaths"]
        assert cards[0].techniques == ("breathing", "grounding")
        variant = catalogue.variant("three-breaths", "en-GB")
    assert variant is not None and variant.timed
    assert variant.playback_path.is_file() and variant.script_pdf_path.is_file()  # rendered

    shipped = parse_vtt((THREE / "en-GB.vtt").read_text(encoding="utf-8"))
    printed = parse_vtt(run("cues", "three-breaths", "--lang", "en-GB").output)
    assert [c.text for c in printed] == [c.text for c in shipped] == [c.text for c in variant.cues]
    errors = sorted(abs(a.start - b.start) for a, b in zip(printed, shipped, strict=True))
    assert errors[len(errors) // 2] <= 0.1 and errors[-1] <= 1.0, errors


def test_another_language_of_the_same_exercise_and_removed_ones_stay_removed(run):
    for lang in ("en-GB", "en-US"):
        result = run("add", THREE / f"{lang}.mp3", "--title", "Three breaths", "--summary", "A check-in.",
                     "--lang", lang, "--id", "three")
        assert result.exit_code == 0, result.output
        assert "No script was given" in result.output
    assert 'Added en-US variant of "three"' in result.output
    again = run("add", THREE / "en-US.mp3", "--title", "T", "--summary", "S", "--lang", "en-US", "--id", "three")
    assert again.exit_code == 1 and "already has a en-US variant" in again.output
    result = run("add", SAFE / "en-GB.mp3", "--title", "Safe place", "--summary", "A calm place.")
    assert result.exit_code == 0, result.output
    assert run("remove", "three").exit_code == 0
    result = run("add", SAFE / "en-US.mp3", "--title", "Safe place", "--summary", "A calm place.",
                 "--lang", "en-US", "--id", "safe-place")
    assert result.exit_code == 0, result.output
    db, catalogue = _catalogue(run.settings)
    with db.conn:
        assert catalogue.exercise_ids() == ["safe-place"]  # "three" did not come back
        assert catalogue.installed_version("local") == "4"
        exercise = catalogue.exercise("safe-place", "en-US")
    assert exercise is not None and exercise.languages == ("en-GB", "en-US")
    assert exercise.variant.audio_path.is_file()


def test_the_wrong_script_is_kept_untimed_with_a_message(run):
    wrong = _script_of(SAFE / "en-GB.vtt", run.tmp / "safe.txt")
    result = run("add", THREE / "en-GB.mp3", "--script", wrong, "--title", "Three breaths",
                 "--summary", "A check-in.")
    assert result.exit_code == 0, result.output
    assert "kept without times" in result.output and "is not this script" in result.output
    db, catalogue = _catalogue(run.settings)
    with db.conn:
        variant = catalogue.variant("three-breaths", "en-GB")
    assert variant is not None and not variant.timed
    safe = parse_vtt((SAFE / "en-GB.vtt").read_text(encoding="utf-8"))
    assert [c.text for c in variant.cues] == [c.text for c in safe]  # kept, in order
    printed = run("cues", "three-breaths").output
    assert "NOTE Untimed" in printed


def test_a_language_without_a_model_is_kept_untimed(run):
    script = _script_of(THREE / "en-GB.vtt", run.tmp / "three.txt")
    result = run("add", THREE / "en-GB.mp3", "--script", script, "--title", "Trois respirations",
                 "--summary", "Un moment.", "--lang", "fr-FR")
    assert result.exit_code == 0, result.output
    assert "no speech model for fr-FR" in result.output


def test_every_problem_at_once_and_nothing_changed(run):
    not_a_script = run.tmp / "cover.pdf"
    not_a_script.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    run("add", THREE / "en-GB.mp3", "--title", "Keep", "--summary", "Kept.")
    before_db, before_files = _dump(run.settings), tree_digest(run.settings.content_dir)
    result = run("add", run.tmp / "missing.mp3", "--script", not_a_script, "--title", " ",
                 "--summary", "S", "--lang", "english", "--techniques", "Deep Breathing")
    assert result.exit_code == 1
    for expected in ("missing.mp3: does not exist", "cover.pdf: ", "--title: must not be empty",
                     '--lang: "english" is not a language tag', '"Deep Breathing" is not a valid tag'):
        assert expected in result.output, result.output
    assert "Traceback" not in result.output
    damaged = run.tmp / "cut.mp3"
    damaged.write_bytes((THREE / "en-GB.mp3").read_bytes()[:200_000])
    result = run("add", damaged, "--title", "Cut", "--summary", "Cut short.")
    assert result.exit_code == 1 and "cut.mp3" in result.output
    taken = run("add", THREE / "en-US.mp3", "--title", "Keep", "--summary", "Again.", "--id", "keep")
    assert taken.exit_code == 1 and "already has a en-GB variant" in taken.output
    # The very recording added again (kiosk add run twice): said so, rather than "remove it".
    again = run("add", THREE / "en-GB.mp3", "--title", "Keep", "--summary", "Again.")
    assert again.exit_code == 1, again.output
    assert ('en-GB.mp3: the station already has this recording, with the same script, as exercise "keep" '
            "(en-GB): it was not added again") in again.output
    assert _dump(run.settings) == before_db
    assert tree_digest(run.settings.content_dir) == before_files
    assert not list(run.settings.data_dir.glob(".kiosk-pack-*"))


def test_cues_set_replaces_the_passages_checked_as_at_import(run):
    result = run("add", THREE / "en-GB.mp3", "--title", "Three breaths", "--summary", "A check-in.",
                 "--script", _script_of(THREE / "en-GB.vtt", run.tmp / "three.txt"), "--lang", "fr-FR")
    assert result.exit_code == 0, result.output
    vtt = run.tmp / "fixed.vtt"
    vtt.write_text((THREE / "en-GB.vtt").read_text(encoding="utf-8"), encoding="utf-8")
    result = run("cues", "three-breaths", "--lang", "fr-FR", "--set", vtt)
    assert result.exit_code == 0, result.output
    printed = run("cues", "three-breaths", "--lang", "fr-FR").output
    assert parse_vtt(printed) == parse_vtt(vtt.read_text(encoding="utf-8"))
    assert "Untimed" not in printed
    db, catalogue = _catalogue(run.settings)
    with db.conn:
        variant = catalogue.variant("three-breaths", "fr-FR")
    assert variant is not None and variant.timed

    before = _dump(run.settings)
    late = run.tmp / "late.vtt"
    late.write_text("WEBVTT\n\n00:00:01.000 --> 00:09:00.000\nToo late.\n", encoding="utf-8")
    result = run("cues", "three-breaths", "--lang", "fr-FR", "--set", late)
    assert result.exit_code == 1 and "after the end of" in result.output
    broken = run.tmp / "broken.vtt"
    broken.write_text("WEBVTT\n\n00:00:05.000 --> 00:00:01.000\nBackwards.\n", encoding="utf-8")
    result = run("cues", "three-breaths", "--lang", "fr-FR", "--set", broken)
    assert result.exit_code == 1 and "broken.vtt:3: the cue ends" in result.output
    assert _dump(run.settings) == before
    assert run("cues", "nothing-here").exit_code == 1


def _espeak_track(passages: list[str], out: Path) -> tuple[Path, list[float]]:
    """Speech for the passages with pauses between, as an MP3, as a clinic's recording, and
    when each passage begins in it."""
    import soundfile

    parts, starts, at = [], [], 0.0
    for n, text in enumerate(passages):
        wav = out.parent / f"part{n}.wav"
        subprocess.run(["espeak-ng", "-v", "en-gb", "-s", "150", "-w", str(wav), text], check=True)
        parts.append(str(wav))
        starts.append(at)
        at += soundfile.info(str(wav)).duration + 2.5
        gap = out.parent / f"gap{n}.wav"
        subprocess.run(["sox", "-n", "-r", "22050", "-c", "1", str(gap), "trim", "0", "2.5"], check=True)
        parts.append(str(gap))
    wav = out.with_suffix(".wav")
    subprocess.run(["sox", *parts, str(wav)], check=True)
    subprocess.run(["lame", "--quiet", "-V4", str(wav), str(out)], check=True)
    return out, starts


@pytest.mark.skipif(not all(shutil.which(t) for t in ("espeak-ng", "sox", "lame")),
                    reason="needs espeak-ng, sox and lame")
def test_a_publishers_pdf_and_a_recording_from_outside_the_demo(run):
    pdf = run.tmp / "script.pdf"
    _fpdf_script(pdf)
    track, spoken_at = _espeak_track(SPOKEN, run.tmp / "calm.mp3")
    result = run("add", track, "--script", pdf, "--title", TITLE, "--summary", "A calm place.",
                 "--visibility", "therapist")
    assert result.exit_code == 0, result.output
    assert f"Read-along timed: {len(SPOKEN)} of {len(SPOKEN)} passages" in result.output
    assert "not spoken left out" in result.output  # the running header, footers, page numbers
    db, catalogue = _catalogue(run.settings)
    with db.conn:
        exercise = catalogue.exercise("a-place-of-calm", "en-GB")
        assert catalogue.cards("en-GB") == []  # therapist only
    assert exercise is not None and exercise.visibility == "therapist"
    variant = exercise.variant
    assert [" ".join(c.text.split()) for c in variant.cues] == [" ".join(s.split()) for s in SPOKEN]
    assert variant.script_pdf_path.read_bytes() == pdf.read_bytes()  # the publisher's own PDF
    # espeak-ng leads each phrase with a little silence: the voice starts just after.
    late = [c.start - at for c, at in zip(variant.cues, spoken_at, strict=True)]
    assert sorted(abs(d) for d in late)[len(late) // 2] <= 0.1 and max(abs(d) for d in late) <= 1.0, late


@pytest.mark.skipif(not all(shutil.which(t) for t in ("espeak-ng", "sox", "lame")),
                    reason="needs espeak-ng, sox and lame")
def test_wav_and_flac_as_an_editor_saves_them(run):
    track, _ = _espeak_track(SPOKEN[:4], run.tmp / "calm.mp3")
    wav = track.with_suffix(".wav")
    script = run.tmp / "calm.txt"
    script.write_text("\n\n".join(SPOKEN[:4]), encoding="utf-8")
    result = run("add", wav, "--script", script, "--title", "Calm", "--summary", "A calm place.")
    assert result.exit_code == 0, result.output
    assert "Read-along timed: 4 of 4 passages" in result.output
    flac = run.tmp / "calm.flac"
    subprocess.run(["sox", str(wav), str(flac)], check=True)
    result = run("add", flac, "--title", "Calm", "--summary", "A calm place.", "--lang", "en-US", "--id", "calm")
    assert result.exit_code == 0, result.output
    db, catalogue = _catalogue(run.settings)
    with db.conn:
        exercise = catalogue.exercise("calm", "en-US")
    assert exercise is not None and exercise.languages == ("en-GB", "en-US")
    assert exercise.variant.audio_path.suffix == ".flac" and exercise.variant.playback_path.is_file()
    junk = run.tmp / "junk.wav"
    junk.write_bytes(b"RIFF" + bytes(60))
    result = run("add", junk, "--title", "Junk", "--summary", "Not audio.")
    assert result.exit_code == 1 and "junk.wav" in result.output and "Traceback" not in result.output


@pytest.mark.skipif(not all(shutil.which(t) for t in ("espeak-ng", "sox", "lame", "ffmpeg")),
                    reason="needs espeak-ng, sox, lame and ffmpeg")
def test_a_phones_m4a_and_an_opus_file(run):
    """A phone's voice memo (M4A/AAC) and an Opus file, both made with ffmpeg: added, timed,
    and played from an exact playback copy; an M4A cut short is refused and names the file."""
    import soundfile

    track, spoken_at = _espeak_track(SPOKEN[:4], run.tmp / "calm.mp3")
    wav = track.with_suffix(".wav")
    script = run.tmp / "calm.txt"
    script.write_text("\n\n".join(SPOKEN[:4]), encoding="utf-8")
    m4a, opus = run.tmp / "memo.m4a", run.tmp / "calm.opus"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(wav), "-c:a", "aac", "-b:a", "96k", str(m4a)], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(wav), "-c:a", "libopus", "-b:a", "48k", str(opus)], check=True)

    result = run("add", m4a, "--script", script, "--title", "Calm", "--summary", "A calm place.")
    assert result.exit_code == 0, result.output
    assert "Read-along timed: 4 of 4 passages" in result.output
    result = run("add", opus, "--script", script, "--title", "Calm", "--summary", "A calm place.",
                 "--lang", "en-US", "--id", "calm")
    assert result.exit_code == 0, result.output
    assert "Read-along timed: 4 of 4 passages" in result.output
    db, catalogue = _catalogue(run.settings)
    with db.conn:
        variants = [catalogue.variant("calm", lang) for lang in ("en-GB", "en-US")]
    length = soundfile.info(str(wav)).duration
    for variant, suffix in zip(variants, (".m4a", ".opus"), strict=True):
        assert variant is not None and variant.timed and variant.audio_path.suffix == suffix
        copy = soundfile.info(str(variant.playback_path))
        assert abs(copy.duration - length) < 0.1, (suffix, copy.duration, length)  # no priming, no padding
        late = [c.start - at for c, at in zip(variant.cues, spoken_at, strict=True)]
        assert max(abs(d) for d in late) <= 1.0, (suffix, late)

    cut = run.tmp / "cut.m4a"
    cut.write_bytes(m4a.read_bytes()[: m4a.stat().st_size // 2])
    before = _dump(run.settings)
    result = run("add", cut, "--title", "Cut", "--summary", "Half a file.")
    assert result.exit_code == 1 and "cut.m4a" in result.output and "Traceback" not in result.output
    assert _dump(run.settings) == before


# ---------------------------------------------------------------------------------------
# What phones take home: the original where they play it, an M4A made at import otherwise


def _recording(path: Path, seconds: float, rate: int, channels: int, fmt: str, subtype: str) -> Path:
    """A recording as an editor exports it: a voice-like warble with pauses, written by
    libsndfile (which writes each of these formats itself)."""
    import numpy as np
    import soundfile

    t = np.arange(int(seconds * rate)) / rate
    voice = 0.3 * np.sin(2 * np.pi * (180 + 40 * np.sin(2 * np.pi * 3 * t)) * t)
    voice *= (np.sin(2 * np.pi * 0.25 * t) > -0.3)  # pauses, as between phrases
    data = np.repeat(voice[:, None], channels, axis=1) if channels > 1 else voice
    soundfile.write(str(path), data, rate, format=fmt, subtype=subtype)
    return path


def _decoded_seconds(m4a: Path) -> float:
    """The M4A decoded in full by FFmpeg's own decoder (PyAV), not its header's promise."""
    from kiosk.audio import aac

    info = aac.probe(m4a)
    frames = sum(len(block) for block in aac.decode_blocks(m4a, info, 65536))
    return frames / info.sample_rate


def _take_home(settings, exercise_id: str, lang: str):
    """A take-home link issued for the variant, and its page and download fetched from the
    real phones' server on loopback, as a phone does: (the page, and the download's status,
    headers and body)."""
    import http.client
    from dataclasses import replace

    from kiosk.config import TakeHomeSettings
    from kiosk.takehome import links
    from kiosk.takehome.server import TakeHomeServer

    th = replace(TakeHomeSettings(), bind="127.0.0.1", port=0, public_address="127.0.0.1")
    served = default_settings(settings.data_dir, take_home=th)
    db = open_db(served.db_path)
    try:
        issued = links.issue_link(db, [(exercise_id, lang)], 7, 3, station=served.station_name)
    finally:
        db.close()
    server = TakeHomeServer(served)
    server.start()
    try:
        got = []
        for path in (f"/t/{issued.token}", f"/t/{issued.token}/audio/1"):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                got.append((response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()))
            finally:
                conn.close()
    finally:
        server.stop()
    (page_status, _, page), (status, headers, body) = got
    assert page_status == 200
    return page.decode("utf-8"), status, headers, body


PHONE_FORMATS = [
    # suffix, libsndfile format and subtype, rate, channels, as the station names it
    (".wav", "WAV", "PCM_16", 44100, 2, "WAV"),
    (".flac", "FLAC", "PCM_24", 48000, 1, "FLAC"),
    (".ogg", "OGG", "VORBIS", 44100, 2, "Ogg Vorbis"),
    (".opus", "OGG", "OPUS", 48000, 1, "Opus"),
]


@pytest.mark.parametrize(("suffix", "fmt", "subtype", "rate", "channels", "name"), PHONE_FORMATS,
                         ids=[f[0] for f in PHONE_FORMATS])
def test_a_recording_phones_do_not_play_gets_an_m4a_they_do(run, suffix, fmt, subtype, rate, channels, name):
    from kiosk.words import format_size

    source = _recording(run.tmp / f"calm{suffix}", 40.0, rate, channels, fmt, subtype)
    result = run("add", source, "--title", "Calm", "--summary", "A calm place.")
    assert result.exit_code == 0, result.output
    db, catalogue = _catalogue(run.settings)
    with db.conn:
        variant = catalogue.variant("calm", "en-GB")
    assert variant is not None
    phone = variant.phone_path
    assert phone.suffix == ".m4a" and phone.is_file() and phone != variant.audio_path
    assert variant.phone_bytes == phone.stat().st_size
    assert variant.audio_path.read_bytes() == source.read_bytes()  # the original is kept too
    why = ("phones do not play WAV downloads well, and it is large" if name == "WAV"
           else f"phones do not all play {name} downloads")
    assert (f"Phone copy: made an M4A from the {name} ({why}; {format_size(variant.phone_bytes)} "
            f"instead of {format_size(source.stat().st_size)}).") in result.output, result.output
    assert abs(_decoded_seconds(phone) - 40.0) < 0.1

    page, status, headers, body = _take_home(run.settings, "calm", "en-GB")
    assert f"Download audio (M4A,\u00a0{format_size(variant.phone_bytes)})" in page
    assert status == 200
    assert headers["content-type"] == "audio/mp4"
    assert headers["content-disposition"] == 'attachment; filename="calm-en-GB.m4a"'
    assert body == phone.read_bytes() and body[4:8] == b"ftyp"  # an MP4 file, the stored M4A


def test_an_mp3_is_what_phones_take_home_byte_for_byte(run):
    result = run("add", THREE / "en-GB.mp3", "--title", "Three breaths", "--summary", "A check-in.")
    assert result.exit_code == 0, result.output
    assert "Phone copy: kept the MP3 (phones play it)." in result.output
    db, catalogue = _catalogue(run.settings)
    with db.conn:
        variant = catalogue.variant("three-breaths", "en-GB")
    assert variant is not None and variant.phone_path == variant.audio_path
    assert variant.phone_bytes == (THREE / "en-GB.mp3").stat().st_size
    assert not list(run.settings.content_dir.glob("*/phone"))  # nothing made
    page, status, headers, body = _take_home(run.settings, "three-breaths", "en-GB")
    assert "Download audio (MP3," in page
    assert status == 200 and headers["content-type"] == "audio/mpeg"
    assert headers["content-disposition"] == 'attachment; filename="three-breaths-en-GB.mp3"'
    assert body == (THREE / "en-GB.mp3").read_bytes()


def test_an_encoder_that_fails_refuses_the_import_and_changes_nothing(run, monkeypatch):
    from kiosk.audio import aac

    run("add", _recording(run.tmp / "first.flac", 5.0, 44100, 1, "FLAC", "PCM_16"),
        "--title", "First", "--summary", "Kept.")
    before_db, before_files = _dump(run.settings), tree_digest(run.settings.content_dir)

    def broken(src: Path, dst: Path, progress=None) -> int:
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(b"\0\0\0\x20ftypM4A half")  # half written when FFmpeg gives up
        raise aac.AacError("could not be encoded as AAC (Invalid argument)")

    monkeypatch.setattr(aac, "encode_m4a", broken)
    wav = _recording(run.tmp / "second.wav", 5.0, 44100, 2, "WAV", "PCM_16")
    result = run("add", wav, "--title", "Second", "--summary", "Refused.")
    assert result.exit_code == 1, result.output
    assert ("second/en-GB.wav: the M4A that phones take home could not be made from it: "
            "could not be encoded as AAC (Invalid argument)") in result.output, result.output
    assert "nothing was changed" in result.output and "Traceback" not in result.output
    assert _dump(run.settings) == before_db
    assert tree_digest(run.settings.content_dir) == before_files
    assert not list(run.settings.data_dir.glob(".kiosk-pack-*"))


def test_a_pack_import_says_for_each_variant_what_phones_take_home(run):
    from tests.packfactory import edited, write_pack

    def flac_place(data):
        data["exercises"][1]["variants"]["en-GB"]["audio"] = "place/en-GB.flac"

    pack = write_pack(run.tmp / "pack", edited(flac_place))
    _recording(pack / "place" / "en-GB.flac", 5.9, 44100, 2, "FLAC", "PCM_16")
    (pack / "place" / "en-GB.mp3").unlink()
    result = run("import", pack)
    assert result.exit_code == 0, result.output
    assert "  soothing-breath (en-GB): kept the MP3 (phones play it)" in result.output
    assert "  soothing-breath (en-US): kept the MP3 (phones play it)" in result.output
    assert "  safe-place (en-GB): made an M4A from the FLAC (phones do not all play FLAC downloads;" in result.output
    db, catalogue = _catalogue(run.settings)
    with db.conn:
        place = catalogue.variant("safe-place", "en-GB")
        folder = catalogue.pack_folder("test-pack")
    assert place is not None and place.phone_path.is_file()
    assert place.phone_path.relative_to(run.settings.content_dir).as_posix() == f"{folder}/phone/place/en-GB.flac.m4a"
    checksums = (run.settings.content_dir / str(folder) / "CHECKSUMS").read_text(encoding="utf-8")
    assert "  phone/place/en-GB.flac.m4a\n" in checksums  # kiosk doctor checks it as the rest
    from kiosk.content.integrity import cleanup_leftovers, content_problems

    with db.conn:
        assert cleanup_leftovers(run.settings, db) == []  # a file its row names: not a leftover
        assert content_problems(run.settings, db) == (2, [])
        place.phone_path.write_bytes(b"damaged")
        problems = content_problems(run.settings, db)[1]
    assert any("safe-place (en-GB)" in p and "has changed size" in p for p in problems), problems
    assert run("remove", "safe-place").exit_code == 0
    assert not place.phone_path.exists()  # removed with its exercise


def test_a_variant_imported_before_phone_copies_is_served_as_its_original(run):
    wav = _recording(run.tmp / "old.wav", 5.0, 44100, 1, "WAV", "PCM_16")
    assert run("add", wav, "--title", "Old", "--summary", "From before.").exit_code == 0
    db = open_db(run.settings.db_path)
    with db.conn:  # as migration m004 leaves the variants imported before it
        db.execute("UPDATE variants SET phone_path = NULL, phone_bytes = NULL")
    db.close()
    page, status, headers, body = _take_home(run.settings, "old", "en-GB")
    assert "Download audio (WAV," in page
    assert status == 200 and headers["content-type"] == "audio/wav"
    assert headers["content-disposition"] == 'attachment; filename="old-en-GB.wav"'
    assert body == wav.read_bytes()


def test_recordings_already_here_keep_their_phone_copy_when_the_pack_is_rebuilt(run, monkeypatch):
    """kiosk add imports this station's whole pack again: the M4As made before are linked
    into the new version, not encoded again; one damaged since is made anew."""
    from kiosk.audio import aac

    encoded: list[str] = []
    real = aac.encode_m4a

    def counting(src: Path, dst: Path, progress=None) -> int:
        encoded.append(dst.name)
        return real(src, dst, progress)

    monkeypatch.setattr(aac, "encode_m4a", counting)
    first = _recording(run.tmp / "first.wav", 20.0, 44100, 1, "WAV", "PCM_16")
    assert run("add", first, "--title", "First", "--summary", "One.").exit_code == 0
    db, catalogue = _catalogue(run.settings)
    with db.conn:
        before = catalogue.variant("first", "en-GB")
    assert before is not None and encoded == ["en-GB.wav.m4a"]
    made = before.phone_path.read_bytes()

    second = _recording(run.tmp / "second.flac", 10.0, 44100, 1, "FLAC", "PCM_16")
    result = run("add", second, "--title", "Second", "--summary", "Two.")
    assert result.exit_code == 0, result.output
    assert encoded == ["en-GB.wav.m4a", "en-GB.flac.m4a"]  # the second's only
    with db.conn:
        after = catalogue.variant("first", "en-GB")
    assert after is not None and after.phone_path != before.phone_path  # the new version's folder
    assert after.phone_path.read_bytes() == made and not before.phone_path.exists()

    after.phone_path.write_bytes(b"\0" * after.phone_bytes)  # damaged on disk, same size
    third = _recording(run.tmp / "third.ogg", 10.0, 44100, 1, "OGG", "VORBIS")
    assert run("add", third, "--title", "Third", "--summary", "Three.").exit_code == 0
    assert sorted(encoded[2:]) == ["en-GB.ogg.m4a", "en-GB.wav.m4a"]  # the damaged one made anew
    with db.conn:
        first_now = catalogue.variant("first", "en-GB")
    assert first_now is not None and abs(_decoded_seconds(first_now.phone_path) - 20.0) < 0.1
