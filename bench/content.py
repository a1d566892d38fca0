"""Content figures: importing a pack with one 60-minute VBR MP3, and searching 10,000 exercises.

Run: .venv/bin/python bench/content.py   (prints a markdown table; about 30 s once the
test audio exists, plus about a minute the first time to make it with sox and lame)

- Import: wall time and peak memory of `import_pack` (validation, the frame walk, the full
  decode into the FLAC playback copy, the script PDF, the commit), measured in a fresh
  subprocess so that its peak RSS is the import's own. Peers: `mpg123` decoding the same
  file to nothing (a bare decode, no checks, no copy), and the RSS of a process that only
  imports the same modules. Then `kiosk doctor`'s content check of that pack (every size,
  and the SHA-256 of every file against the CHECKSUMS written at import), against
  coreutils' `sha256sum -c CHECKSUMS` on the same files.
- Search: `Catalogue.cards(lang, query=...)` over 10,000 synthetic exercises (20,000
  variants with scripts of about 300 words), a mix of type-ahead prefixes, whole words,
  two-word queries and misses, with and without filters; each query's time is the best of
  5 runs (the machine is shared with other work), the percentiles are over the queries.
  Peer: a bare FTS5 MATCH on the full index returning rowids (no ranking, joins, filters
  or limit).
- Loudness (`## loudness`, alone with `--loudness`): the demo pack imported in a fresh
  subprocess with the import's loudness meter (kiosk/audio/loudness.py) and with it
  replaced by one that does nothing (best of 2 each): what measuring costs the import. Then
  every demo variant's loudness as the import stored it against pyloudnorm's own
  `Meter.integrated_loudness` on the same playback copy read whole (the peer), and the
  time each takes to measure that copy (ours fed in the decoder's blocks).
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
LONG_MP3 = OUT / "long-60min-vbr.mp3"
sys.path.insert(0, str(REPO))

from kiosk.config import default_settings  # noqa: E402
from kiosk.content import Catalogue  # noqa: E402
from kiosk.content.catalogue import cues_to_json  # noqa: E402
from kiosk.content.cues import Cue  # noqa: E402
from kiosk.content.search import fts_query, search_meta  # noqa: E402
from kiosk.store import open_db  # noqa: E402

MINUTES = 60


def make_long_mp3() -> None:
    """60 minutes of stereo 44.1 kHz VBR: noise swelling and fading like speech and pauses."""
    if LONG_MP3.exists():
        return
    OUT.mkdir(parents=True, exist_ok=True)
    partial = LONG_MP3.with_suffix(".part")
    sox = subprocess.Popen(
        ["sox", "-q", "-n", "-r", "44100", "-c", "2", "-b", "16", "-t", "wav", "-",
         "synth", str(MINUTES * 60), "pinknoise", "vol", "0.3", "tremolo", "0.2", "90"],
        stdout=subprocess.PIPE,
    )
    subprocess.run(["lame", "--quiet", "-V", "4", "-", str(partial)], stdin=sox.stdout, check=True)
    assert sox.wait() == 0
    partial.rename(LONG_MP3)


def write_long_pack(root: Path) -> Path:
    root.mkdir(parents=True)
    shutil.copy(LONG_MP3, root / "long.mp3")
    lines = ["WEBVTT", ""]
    for i in range(MINUTES * 2):  # a passage every 30 s
        start = i * 30
        lines += [f"{start // 3600:02d}:{start // 60 % 60:02d}:{start % 60:02d}.000 --> "
                  f"{start // 3600:02d}:{start // 60 % 60:02d}:{start % 60 + 20:02d}.000",
                  f"Passage {i + 1}: breathe in slowly, and let the breath go.", ""]
    (root / "long.vtt").write_text("\n".join(lines), encoding="utf-8")
    (root / "pack.toml").write_text(
        'format = 1\n[pack]\nid = "bench"\ntitle = "Bench"\nversion = "1.0"\n\n'
        '[[exercises]]\nid = "an-hour"\ntitle = "An hour"\nsummary = "Sixty minutes."\n'
        '[exercises.variants.en-GB]\naudio = "long.mp3"\ncues = "long.vtt"\n',
        encoding="utf-8",
    )
    return root


def child_import(data_dir: str, pack: str) -> None:
    from kiosk.content import content_problems, import_pack

    settings = default_settings(Path(data_dir))
    db = open_db(settings.db_path)
    started = time.perf_counter()
    result = import_pack(settings, db, Path(pack))
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # kiosk doctor's content check right after, against `sha256sum -c` on the same files.
    started = time.perf_counter()
    _count, problems = content_problems(settings, db)
    doctor = time.perf_counter() - started
    assert not problems, problems
    started = time.perf_counter()
    subprocess.run(["sha256sum", "--quiet", "-c", "CHECKSUMS"], cwd=result.folder, check=True)
    sha256sum = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "audio": result.audio_seconds,
                      "doctor": doctor, "sha256sum": sha256sum,
                      "content_mb": sum(f.stat().st_size for f in result.folder.rglob("*")
                                        if f.is_file()) / 1e6}))


class _NoMeter:
    """Stands in for LoudnessMeter: the import without measuring."""

    def __enter__(self) -> _NoMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def push(self, block: object, rate: int) -> None:
        pass

    def result(self) -> object:
        from kiosk.audio.loudness import Loudness

        return Loudness(None, 0.0)


def child_import_measured(data_dir: str, pack: str, meter: str) -> None:
    from kiosk.content import import_pack

    if meter == "off":
        # The module itself: kiosk.content.importer's `decode` attribute is its function.
        sys.modules["kiosk.content.importer.decode"].LoudnessMeter = _NoMeter  # type: ignore[attr-defined]
    settings = default_settings(Path(data_dir))
    db = open_db(settings.db_path)
    started = time.perf_counter()
    import_pack(settings, db, Path(pack))
    seconds = time.perf_counter() - started
    catalogue = Catalogue(db, settings.content_dir)
    variants = []
    for listing in catalogue.list_exercises():
        for lang in listing.languages:
            v = catalogue.variant(listing.id, lang)
            assert v is not None
            variants.append([f"{listing.id} {lang}", v.loudness.lufs if v.loudness else None,
                             str(v.playback_path), v.duration_seconds])
    print(json.dumps({"seconds": seconds, "variants": variants}))


def bench_loudness() -> list[tuple[str, str, float, float | None, str]]:
    import pyloudnorm
    import soundfile

    from kiosk.audio.decode import COPY_BLOCK_FRAMES
    from kiosk.audio.loudness import LoudnessMeter
    from kiosk.config import BUILTIN_DEMO_PACK

    make_long_mp3()
    with tempfile.TemporaryDirectory() as tmp:
        long_pack = write_long_pack(Path(tmp) / "pack")
        imports: list[tuple[str, str, float, float | None, str]] = []
        for label, pack, target, repeats in (("the demo pack", BUILTIN_DEMO_PACK, "-", 3),
                                              (f"one {MINUTES}-min VBR MP3", long_pack, "<= 10 s", 3)):
            runs: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
            for _ in range(repeats):  # interleaved: the machine's load changes as they run
                for kind in ("off", "on"):
                    data = Path(tmp) / f"data-{len(imports)}-{kind}"  # the last run's stays
                    shutil.rmtree(data, ignore_errors=True)
                    runs[kind].append(run_child("--measured-child", str(data), str(pack), kind))
            count = len(runs["on"][0]["variants"])
            audio = sum(v[3] for v in runs["on"][0]["variants"])
            imports.append((f"import of {label} ({count} MP3{'s' if count != 1 else ''}, {audio / 60:.0f} min), "
                            "with the loudness meter; peer: without it", target,
                            min(r["seconds"] for r in runs["on"]), min(r["seconds"] for r in runs["off"]), "s"))
            if pack == BUILTIN_DEMO_PACK:
                demo = runs["on"][-1]["variants"]
        rows = imports
        ours_time = decode_time = theirs_time = 0.0
        worst = 0.0
        for name, stored, path, _seconds in demo:
            with soundfile.SoundFile(path) as f:
                started = time.perf_counter()
                for _block in f.blocks(COPY_BLOCK_FRAMES, dtype="int16", always_2d=True):
                    pass
                decode_time += time.perf_counter() - started
            started = time.perf_counter()
            meter = LoudnessMeter()
            with soundfile.SoundFile(path) as f:
                for block in f.blocks(COPY_BLOCK_FRAMES, dtype="int16", always_2d=True):
                    meter.push(block, f.samplerate)
            ours = meter.result().lufs
            ours_time += time.perf_counter() - started
            started = time.perf_counter()
            data, rate = soundfile.read(path, dtype="float64", always_2d=True)
            theirs = pyloudnorm.Meter(rate).integrated_loudness(data)
            theirs_time += time.perf_counter() - started
            assert ours is not None and stored is not None
            assert abs(ours - stored) < 0.01  # the same blocks the import measured
            worst = max(worst, abs(stored - theirs))
            rows.append((f"loudness of {name}, as imported; peer: pyloudnorm on the same copy", "-",
                         stored, theirs, "LUFS"))
        rows.insert(2, ("worst difference from pyloudnorm over the demo's variants", "<= 0.1 dB",
                        worst, None, "dB"))
        rows.insert(3, ("time to measure every demo copy, its FLAC decode included: ours, fed the "
                        "import's blocks; peer: pyloudnorm on each copy read whole", "-",
                        ours_time, theirs_time, "s"))
        rows.insert(4, ("the same copies' FLAC decode alone, in the import's blocks (for scale)", "-",
                        decode_time, None, "s"))
    return rows


def child_baseline() -> None:
    import miniaudio  # noqa: F401
    import numpy  # noqa: F401
    import soundfile  # noqa: F401

    import kiosk.content  # noqa: F401
    import kiosk.content.scriptpdf  # noqa: F401

    print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_child(*args: str) -> dict[str, float]:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_import() -> list[tuple[str, str, float, float | None, str]]:
    make_long_mp3()
    with tempfile.TemporaryDirectory() as tmp:
        pack = write_long_pack(Path(tmp) / "pack")
        subprocess.run(["cat", str(pack / "long.mp3")], stdout=subprocess.DEVNULL, check=True)  # warm cache
        runs = [run_child("--import-child", str(Path(tmp) / f"data{i}"), str(pack)) for i in range(2)]
        seconds = min(r["seconds"] for r in runs)
        peak = max(r["peak_mb"] for r in runs)
        started = time.perf_counter()
        mpg123 = subprocess.run(["mpg123", "-q", "-w", "/dev/null", str(pack / "long.mp3")])
        decode = time.perf_counter() - started if mpg123.returncode == 0 else None
    baseline = run_child("--baseline-child")["peak_mb"]
    size_mb = LONG_MP3.stat().st_size / 1e6
    doctor = min(runs, key=lambda r: r["doctor"])
    return [
        (f"import, one {MINUTES}-min VBR MP3 ({size_mb:.0f} MB, stereo 44.1 kHz)", "<= 10 s", seconds, decode, "s"),
        ("import, peak memory (RSS of the importing process)", "<= 200 MB", peak, baseline, "MB"),
        (f"kiosk doctor's content check of that pack (sizes + SHA-256 of {doctor['content_mb']:.0f} MB)",
         "-", doctor["doctor"], doctor["sha256sum"], "s"),
    ]


# The synthetic catalogue: every exercise's text mixes the words any guided exercise uses
# ("breath", "notice", "gently"...), words of its own 1-3 techniques, and rarer words.
_COMMON = (
    "the and you your to of a in it is that as with this for on be can let or at may what if "
    "there any way into from by so just now all each its one up out when how breath breathe "
    "breathing notice feel feeling body gently slowly moment time here allow yourself attention "
    "soft kind warm calm settle rest ease simply perhaps again back begin whatever"
)
COMMON = _COMMON.split()
TOPICS = {
    "self-compassion": "compassion compassionate kindness self critic criticism warmth understanding "
                       "suffering common humanity forgive forgiveness",
    "imagery": "imagine image picture colour colours light place scene details shape texture "
               "sounds smell landscape",
    "breathing": "rhythm inhale exhale lungs belly diaphragm pace count counting soothing steady "
                 "nostrils airflow",
    "soothing-rhythm": "soothing rhythm slower steady pulse heartbeat rocking wave waves calmer "
                       "settling tempo",
    "grounding": "ground feet floor chair contact weight solid present senses surroundings "
                 "anchor earth",
    "mindfulness": "aware awareness present curious curiosity observe wandering mind thoughts "
                   "labels passing sky clouds",
    "cognitive": "thought thoughts evidence belief beliefs alternative balanced perspective "
                 "challenge reframe automatic",
    "behavioural": "activity activities plan planning steps goal goals reward routine values "
                   "avoidance approach",
    "relaxation": "relax relaxing tension release muscles shoulders jaw hands heavy loose warmth",
    "body-scan": "scan toes legs hips spine neck head sensation sensations tingling pressure",
    "sleep": "sleep sleepy night bed pillow drowsy dreams darkness quiet stillness tired",
    "visualisation": "visualise visualising future success path journey door garden river "
                     "mountain beach",
}
TECHNIQUES = list(TOPICS)


def synthetic_catalogue(db_path: Path, content: Path, exercises: int = 10_000) -> None:
    rng = random.Random(11)
    topic_words = {t: words.split() for t, words in TOPICS.items()}
    tail = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 10)))
            for _ in range(8000)]
    tail_cumulative = list(itertools.accumulate(1 / (i + 1) for i in range(len(tail))))

    def text(n: int, techniques: list[str]) -> str:
        own = [w for t in techniques for w in topic_words[t]]
        n_common = round(n * 0.55)
        n_own = round(n * 0.30)
        words = (rng.choices(COMMON, k=n_common) + rng.choices(own, k=n_own)
                 + rng.choices(tail, cum_weights=tail_cumulative, k=n - n_common - n_own))
        rng.shuffle(words)
        return " ".join(words)

    db = open_db(db_path)
    conn = db.conn
    with conn:
        conn.execute("INSERT INTO packs (id, title, version, publisher, folder, source, imported_at) "
                     "VALUES ('synthetic', 'Synthetic', '1.0', '', 'synthetic-x', 'bench', '2026-01-01')")
        for n in range(exercises):
            ex_id = f"exercise-{n:05d}"
            techniques = rng.sample(TECHNIQUES, rng.randint(1, 3))
            visibility = "therapist" if n % 10 == 0 else "public"
            conn.execute(
                "INSERT INTO exercises (id, pack_id, position, guidance, references_json, techniques_json, "
                "languages_json, visibility) VALUES (?, 'synthetic', ?, '', '[]', ?, ?, ?)",
                [ex_id, n, json.dumps(techniques), json.dumps(["en-GB", "en-US"]), visibility],
            )
            conn.executemany("INSERT INTO exercise_techniques (exercise_id, technique, position) VALUES (?, ?, ?)",
                             [(ex_id, t, i) for i, t in enumerate(techniques)])
            title = " ".join(rng.choice([w for t in techniques for w in topic_words[t]])
                             for _ in range(rng.randint(2, 4))).capitalize()
            summary = text(12, techniques)
            for position, lang in enumerate(("en-GB", "en-US")):
                script = [Cue(i * 10.0, i * 10.0 + 8, text(10, techniques)) for i in range(30)]
                conn.execute(
                    """INSERT INTO variants (exercise_id, lang, position, title, summary, introduction,
                       techniques, script, search_meta, duration_seconds, audio_path, audio_bytes,
                       playback_path, cues_path, script_pdf_path, script_pdf_bytes, cues_json)
                       VALUES (?, ?, ?, ?, ?, '', ?, ?, ?, 300, 'a.mp3', 1, 'a.flac', 'a.vtt', 'a.pdf', 1, ?)""",
                    [ex_id, lang, position, title, summary, " ".join(t.replace("-", " ") for t in techniques),
                     "\n\n".join(c.text for c in script), search_meta(lang, visibility, techniques, False),
                     cues_to_json(script)],
                )
    db.execute("ANALYZE")
    db.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


SCREENFUL = 60  # the most tiles a search screen shows; the UI passes it as `limit`


def bench_search() -> list[tuple[str, str, float, float | None, str]]:
    words = [w for topic in TOPICS.values() for w in topic.split()]
    words += ["breath", "breathing", "calm", "kind", "warm", "notice", "body", "gently", "settle"]
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "kiosk.sqlite3"
        synthetic_catalogue(db_path, Path(tmp) / "content")
        db = open_db(db_path)
        catalogue = Catalogue(db, Path(tmp) / "content")
        rng = random.Random(5)
        queries: list[tuple[str, str | None, bool]] = []
        for _ in range(500):
            word = rng.choice(words)
            kind = rng.random()
            if kind < 0.4:  # type-ahead: a prefix of 2 letters or more
                query = word[: rng.randint(2, len(word))]
            elif kind < 0.7:
                query = word
            elif kind < 0.9:
                query = f"{word} {rng.choice(words)}"
            else:
                query = "zzqx" + word  # no match
            technique = rng.choice(TECHNIQUES) if rng.random() < 0.2 else None
            queries.append((query, technique, rng.random() < 0.3))

        def timed(call: Callable[[], object], n: int = 5) -> float:
            """Best of n runs: the query's own cost, not a neighbour's burst on a shared machine."""
            runs = []
            for _ in range(n):
                started = time.perf_counter()
                call()
                runs.append(time.perf_counter() - started)
            return min(runs)

        for q, t, h in queries[:30]:  # warm the page cache
            catalogue.cards("en-GB", technique=t, query=q, include_hidden=h)
        def search(query: tuple[str, str | None, bool], limit: int | None) -> int:
            q, technique, hidden = query
            return len(catalogue.cards("en-GB", technique=technique, query=q, include_hidden=hidden, limit=limit))

        limited = [timed(functools.partial(search, query, SCREENFUL)) for query in queries]
        unlimited = [timed(functools.partial(search, query, None), 1) for query in queries[:100]]
        hits = [search(query, None) for query in queries[:100]]
        raw = sqlite3.connect(db_path)

        def bare(q: str) -> None:
            raw.execute("SELECT rowid FROM variants_fts WHERE variants_fts MATCH ?", [fts_query(q)]).fetchall()

        peer = [timed(functools.partial(bare, q)) for q, _, _ in queries]
        two_letters = [timed(functools.partial(search, (w[:2], None, False), SCREENFUL)) for w in words]
        browse = [timed(lambda: catalogue.cards("en-GB", limit=SCREENFUL)) for _ in range(50)]
        browse_all = [timed(lambda: catalogue.cards("en-GB"), 1) for _ in range(5)]
        db.close()
        raw.close()
    return [
        (f"search p95, 10,000 exercises, {len(queries)} mixed queries, limit {SCREENFUL}",
         "<= 5 ms", percentile(limited, 95), percentile(peer, 95), "ms"),
        ("search p50, same queries, limit " + str(SCREENFUL), "-", percentile(limited, 50), percentile(peer, 50), "ms"),
        (f"search p95, first 100 of those, no limit (median {statistics.median(hits):.0f} cards)", "-",
         percentile(unlimited, 95), percentile(peer, 95), "ms"),
        (f"search p95, 2-letter type-ahead only, limit {SCREENFUL}", "-", percentile(two_letters, 95), None, "ms"),
        (f"browse (no query) p95, limit {SCREENFUL}", "-", percentile(browse, 95), None, "ms"),
        ("browse (no query) p95, all 9,000 public cards", "-", percentile(browse_all, 95), None, "ms"),
    ]


def print_table(figures: list[tuple[str, str, float, float | None, str]]) -> None:
    rows = []
    for figure, target, measured, peer, unit in figures:
        scale = 1000 if unit == "ms" else 1
        peer_text = f"{peer * scale:.3g} {unit}" if peer is not None else "n/a"
        # A ratio of two loudness levels means nothing: their difference does.
        if unit == "LUFS":
            ratio = f"{measured - peer:+.2f} dB" if peer is not None else "n/a"
        else:
            ratio = f"{measured / peer:.2f}" if peer else "n/a"
        if unit in ("LUFS", "dB"):
            peer_text = f"{peer:.2f} {unit}" if peer is not None else "n/a"
            rows.append((figure, target, f"{measured:.3f} {unit}", peer_text, ratio))
        else:
            rows.append((figure, target, f"{measured * scale:.3g} {unit}", peer_text, ratio))
    print("| figure | target | measured | peer | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main() -> None:
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}\n")
    print_table(bench_import() + bench_search())
    print("\n## loudness\n")
    print_table(bench_loudness())


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "--search-only":
        for row in bench_search():
            print(row)
    elif len(sys.argv) == 4 and sys.argv[1] == "--import-child":
        child_import(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 2 and sys.argv[1] == "--baseline-child":
        child_baseline()
    elif len(sys.argv) == 5 and sys.argv[1] == "--measured-child":
        child_import_measured(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 2 and sys.argv[1] == "--loudness":
        print("## loudness\n")
        print_table(bench_loudness())
    else:
        main()
