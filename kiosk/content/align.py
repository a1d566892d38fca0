"""Offline alignment: when each passage of a script is heard in its audio.

No network and no model download: pocketsphinx's PyPI wheel ships an American English
acoustic model and dictionary, and nothing else is needed. en-GB and en-US (and any other
"en" variant) both use that one en-us model: it hears RP voices well enough to place words,
and British spellings get their pronunciations from espeak-ng (below). Other languages have
no model and are kept untimed (`TrackState.NO_MODEL`).

Why not one forced alignment of the whole text (`set_align_text` over the track): a single
word in the script that is not spoken (a header left in, a title) makes all of it fail, and
its time grows faster than the track's length. So, in the shape of Gentle and Storyteller:

1. Recognise. The track is cut into utterances at its quietest moments (at most
   `MAX_UTTERANCE` s each, so long tracks, silences and music beds cost only their length)
   and decoded with a small language model built from the script itself, so what is heard is
   mostly the script's words in the script's order.
2. Anchor. The heard words are matched to the script's words in order (runs of at least
   `MIN_RUN` words in a row agree); a run is an anchor: those script words are placed.
   Unspoken script text and ad-libbed speech simply find no anchors.
3. Refine. Each passage is force-aligned (the script's exact words) inside the window its
   anchors and its neighbours leave it, which gives its first word's start even when the
   recogniser missed it. A passage whose forced alignment fails keeps its anchored times.
4. Interpolate. A passage with no anchor is placed between its neighbours in proportion to
   its length and marked `PassageState.INTERPOLATED`, with confidence 0.

A track where hardly any of the script is heard although speech is: `TrackState.WRONG_SCRIPT`,
refused timing, never highlighted at random. Where almost no speech is found at all:
`TrackState.COULD_NOT_ALIGN`.

Words the dictionary lacks (mindfulness, colour, self-compassion, clinical terms, numbers)
get pronunciations from espeak-ng's phonemes (`espeak-ng -q --ipa`), mapped to the model's
CMU phones; without espeak-ng, a crude letter-to-sound rule that is still better than losing
the passage.
"""

from __future__ import annotations

import difflib
import logging
import re
import shutil
import subprocess
import tempfile
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from math import log10
from pathlib import Path

import numpy as np

# The catalogue keeps each passage's state (kiosk.content.models): the aligner gives ALIGNED,
# ANCHORED or INTERPOLATED.
from kiosk.content.models import PassageState

log = logging.getLogger(__name__)

RATE = 16000  # the acoustic model's sample rate
FRAME_S = 0.01  # pocketsphinx frames: 100 a second
MAX_UTTERANCE = 20.0  # s: longest stretch decoded at once
MIN_UTTERANCE = 6.0  # s: a cut is looked for only after this much
MIN_RUN = 3  # words in a row that must agree for an anchor
GAP_WORD = 6  # letters: a word this long may anchor alone between two runs
WRONG_SCRIPT_BELOW = 0.25  # fraction of the script's words heard in place, when speech is heard
MIN_SPEECH_WORDS = 8  # fewer heard words than this: nothing to align to
FORCE_BEAMS = {"beam": 1e-80, "wbeam": 1e-60, "pbeam": 1e-80}  # stack notes: defaults fail

__all__ = [
    "Alignment", "PassageState", "PassageTiming", "TrackState", "align", "load_pcm", "model_for",
    "script_words",
]


class TrackState(Enum):
    """The whole track's outcome: timed, or why its script is kept without times."""

    TIMED = "timed"  # every passage has times (some may be interpolated: see PassageState)
    NO_MODEL = "no-model"  # no acoustic model for the language
    COULD_NOT_ALIGN = "could-not-align"  # no speech found, or nothing of the script placed
    WRONG_SCRIPT = "wrong-script"  # speech is heard, but it is not this script


@dataclass(frozen=True)
class PassageTiming:
    start: float
    end: float
    confidence: float  # 0..1: the share of its words heard where the script puts them
    state: PassageState

    @property
    def interpolated(self) -> bool:
        return self.state is PassageState.INTERPOLATED


@dataclass(frozen=True)
class Alignment:
    """The outcome: `passages` (one per passage, in order) when timed, else ()."""

    passages: tuple[PassageTiming, ...]
    state: TrackState
    duration: float  # of the audio, s
    model: str | None  # the acoustic model used ("en-us"), None for NO_MODEL
    heard: float  # share of the script's words heard in place (0..1)

    @property
    def timed(self) -> bool:
        return self.state is TrackState.TIMED


def model_for(lang: str) -> str | None:
    """The shipped model for a BCP 47 tag: every English variant uses en-us."""
    return "en-us" if lang.strip().lower().split("-")[0] == "en" else None


# ---------------------------------------------------------------------------------------
# Audio: 16 kHz mono 16-bit, through the station's own exact decoders


def load_pcm(path: Path | str) -> np.ndarray:
    """The file as 16 kHz mono int16, decoded and resampled block by block (small memory).

    Raises kiosk.audio.decode.DecodeError for a file that cannot be decoded.
    """
    from kiosk.audio.decode import open_reader
    from kiosk.audio.resample import Resampler

    reader = open_reader(Path(path))
    try:
        resampler = Resampler(reader.samplerate, RATE, channels=1)
        # One buffer sized from the header: gathering blocks and joining them would hold the
        # track twice at the end (an hour is 115 MB of samples).
        out = np.empty(int(reader.frames * RATE / max(1, reader.samplerate)) + RATE, np.int16)
        n = 0
        while True:
            block = reader.read(65536)
            if not len(block):
                break
            mono = block.mean(axis=1, keepdims=True, dtype=np.float32)
            out, n = _append(out, n, _to_int16(resampler.push(mono)))
        out, n = _append(out, n, _to_int16(resampler.flush()))
    finally:
        reader.close()
    return out[:n]


def _append(out: np.ndarray, n: int, part: np.ndarray) -> tuple[np.ndarray, int]:
    if n + len(part) > len(out):  # the header promised less than the file holds
        out = np.concatenate([out[:n], np.empty(max(len(part), len(out) // 4), np.int16)])
    out[n:n + len(part)] = part
    return out, n + len(part)


def _to_int16(block: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(block[:, 0] * 32768.0), -32768, 32767).astype(np.int16)


# ---------------------------------------------------------------------------------------
# Words and their pronunciations

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")
_BRACKETED = re.compile(r"\[[^\]]*\]")


def script_words(text: str) -> list[str]:
    """The words as a speaker says them: lower case, apostrophes kept inside words, hyphenated
    compounds split (self-critical -> self critical), typographic quotes made plain."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = _BRACKETED.sub(" ", text)
    return _WORD.findall(text)


# espeak-ng IPA to the model's CMU phones; longest first (affricates and diphthongs).
_IPA = {
    "tʃ": "CH", "dʒ": "JH", "aɪ": "AY", "aʊ": "AW", "eɪ": "EY", "oʊ": "OW", "əʊ": "OW",
    "ɔɪ": "OY", "ɪə": "IH R", "eə": "EH R", "ʊə": "UH R", "iə": "IY AH", "ɜː": "ER",
    "iː": "IY", "uː": "UW", "ɑː": "AA", "ɔː": "AO", "n̩": "AH N", "l̩": "AH L", "m̩": "AH M",
    "p": "P", "b": "B", "t": "T", "d": "D", "k": "K", "ɡ": "G", "g": "G", "f": "F", "v": "V",
    "θ": "TH", "ð": "DH", "s": "S", "z": "Z", "ʃ": "SH", "ʒ": "ZH", "h": "HH", "m": "M",
    "n": "N", "ŋ": "NG", "l": "L", "ɫ": "L", "r": "R", "ɹ": "R", "j": "Y", "w": "W",
    "x": "K", "ʔ": "T", "ɾ": "T",
    "i": "IY", "ɪ": "IH", "ᵻ": "IH", "e": "EH", "ɛ": "EH", "æ": "AE", "a": "AE", "ɑ": "AA",
    "ɒ": "AA", "ɔ": "AO", "o": "OW", "ʊ": "UH", "u": "UW", "ʌ": "AH", "ə": "AH", "ɐ": "AH",
    "ɜ": "ER", "ɝ": "ER", "ɚ": "ER", "ʲ": "Y",
}
_IPA_KEYS = sorted(_IPA, key=len, reverse=True)
_IPA_IGNORED = set("ˈˌːˑ.-_ \u200d\u0329\u032f")

# The last resort: one letter, one phone. Crude, but a word that sounds roughly right still
# lets its neighbours anchor; a word with no pronunciation would sink the whole passage.
_LETTERS = {
    "a": "AE", "b": "B", "c": "K", "d": "D", "e": "EH", "f": "F", "g": "G", "h": "HH",
    "i": "IH", "j": "JH", "k": "K", "l": "L", "m": "M", "n": "N", "o": "AA", "p": "P",
    "q": "K", "r": "R", "s": "S", "t": "T", "u": "AH", "v": "V", "w": "W", "x": "K S",
    "y": "Y", "z": "Z", "0": "Z IH R OW", "1": "W AH N", "2": "T UW", "3": "TH R IY",
    "4": "F AO R", "5": "F AY V", "6": "S IH K S", "7": "S EH V AH N", "8": "EY T",
    "9": "N AY N",
}
_DIGRAPHS = {"th": "TH", "sh": "SH", "ch": "CH", "ph": "F", "ng": "NG", "ee": "IY", "oo": "UW",
             "ck": "K", "ou": "AW", "ai": "EY", "ea": "IY", "qu": "K W"}


def ipa_to_phones(ipa: str) -> list[str]:
    """espeak-ng's IPA for one word as CMU phones (stress and length marks dropped)."""
    phones: list[str] = []
    i = 0
    while i < len(ipa):
        if ipa[i] in _IPA_IGNORED:
            i += 1
            continue
        for key in _IPA_KEYS:
            if ipa.startswith(key, i):
                phones.extend(_IPA[key].split())
                i += len(key)
                break
        else:
            i += 1  # a mark we do not know: dropping it costs less than guessing
    return phones


def letters_to_phones(word: str) -> list[str]:
    phones: list[str] = []
    i = 0
    while i < len(word):
        pair = word[i:i + 2]
        if pair in _DIGRAPHS:
            phones.extend(_DIGRAPHS[pair].split())
            i += 2
            continue
        phones.extend(_LETTERS.get(word[i], "").split())
        i += 1
    return phones


def espeak_phones(words: Sequence[str]) -> dict[str, list[str]]:
    """Pronunciations from espeak-ng (one process for all words); {} without espeak-ng."""
    exe = shutil.which("espeak-ng")
    if not exe or not words:
        return {}
    # One word a line: espeak-ng answers each clause on its own line.
    text = "\n".join(f"{w}." for w in words)
    try:
        out = subprocess.run(
            [exe, "-q", "--ipa", "-v", "en-us", "--stdin"], input=text, capture_output=True,
            text=True, timeout=60, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("espeak-ng could not give pronunciations: %s", exc)
        return {}
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    if len(lines) != len(words):
        log.warning("espeak-ng gave %d lines for %d words", len(lines), len(words))
        return {}
    result = {}
    for word, line in zip(words, lines, strict=True):
        phones = ipa_to_phones(line)
        if phones:
            result[word] = phones
    return result


# ---------------------------------------------------------------------------------------
# A language model made of the script itself


def _write_script_lm(passages: Sequence[Sequence[str]], path: Path) -> None:
    """A trigram ARPA model of the script's passages, with absolute discounting and proper
    back-off weights, so the recogniser expects the script's words in the script's order
    but can still hear them in another order (a skipped or repeated sentence)."""
    discount = 0.5
    uni: Counter[str] = Counter()
    bi: Counter[tuple[str, ...]] = Counter()
    tri: Counter[tuple[str, ...]] = Counter()
    for words in passages:
        seq = ["<s>", *words, "</s>"]
        uni.update(seq[1:])
        bi.update(zip(seq, seq[1:], strict=False))
        tri.update(zip(seq, seq[1:], seq[2:], strict=False))
    vocab = sorted(set(uni) | {"<s>"})
    total = sum(uni.values())
    # Add-one unigrams: every word stays possible anywhere.
    p1 = {w: (uni[w] + 1) / (total + len(vocab)) for w in vocab}

    def higher(counts: Counter[tuple[str, ...]], lower: Callable[[tuple[str, ...]], float]):
        hist: Counter[tuple[str, ...]] = Counter()
        succ: defaultdict[tuple[str, ...], list[tuple[str, ...]]] = defaultdict(list)
        for gram, c in counts.items():
            hist[gram[:-1]] += c
            succ[gram[:-1]].append(gram)
        probs = {g: (c - discount) / hist[g[:-1]] for g, c in counts.items()}
        backoff = {}
        for h, grams in succ.items():
            left = 1.0 - sum(probs[g] for g in grams)
            lower_left = 1.0 - sum(lower(g[1:]) for g in grams)
            backoff[h] = left / max(lower_left, 1e-6)
        return probs, backoff

    p2, bo1 = higher(bi, lambda g: p1[g[0]])

    def p2_full(g: tuple[str, ...]) -> float:
        return p2[g] if g in p2 else bo1.get(g[:1], 1.0) * p1[g[1]]

    p3, bo2 = higher(tri, p2_full)

    def lg(x: float) -> str:
        return f"{log10(max(x, 1e-12)):.6f}"

    with open(path, "w", encoding="utf-8") as f:
        f.write(f"\\data\\\nngram 1={len(p1)}\nngram 2={len(p2)}\nngram 3={len(p3)}\n\n\\1-grams:\n")
        for w in vocab:
            f.write(f"{lg(p1[w]) if w != '<s>' else '-99'}\t{w}\t{lg(bo1.get((w,), 1.0))}\n")
        f.write("\n\\2-grams:\n")
        for g, p in sorted(p2.items()):
            f.write(f"{lg(p)}\t{' '.join(g)}\t{lg(bo2.get(g, 1.0))}\n")
        f.write("\n\\3-grams:\n")
        for g, p in sorted(p3.items()):
            f.write(f"{lg(p)}\t{' '.join(g)}\n")
        f.write("\n\\end\\\n")


# ---------------------------------------------------------------------------------------
# The dictionary: the script's words only (loading all of cmudict costs seconds and memory)


def _model_dir(model: str) -> Path:
    from pocketsphinx import get_model_path

    return Path(get_model_path()) / model


def _pronunciations(vocab: set[str], model: str) -> dict[str, list[str]]:
    """Every pronunciation of each word: cmudict's, else espeak-ng's, else letter-to-sound."""
    found: defaultdict[str, list[str]] = defaultdict(list)
    with open(_model_dir(model) / "cmudict-en-us.dict", encoding="utf-8") as f:
        for line in f:
            head, _, phones = line.partition(" ")
            word = head.split("(", 1)[0]
            if word in vocab:
                found[word].append(phones.split("#", 1)[0].strip())
    missing = sorted(vocab - set(found))
    spoken = espeak_phones(missing)
    for word in missing:
        guess = spoken.get(word) or letters_to_phones(word)
        if guess:
            found[word].append(" ".join(guess))
            log.debug("pronunciation for %r: %s", word, found[word][0])
    return dict(found)


def _write_dict(prons: dict[str, list[str]], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for word in sorted(prons):
            for n, phones in enumerate(prons[word]):
                f.write(f"{word}{f'({n + 1})' if n else ''} {phones}\n")


def _decoder(model: str, dict_path: Path, **options: object):
    from pocketsphinx import Decoder

    return Decoder(hmm=str(_model_dir(model) / model), dict=str(dict_path), samprate=RATE,
                   loglevel="FATAL", **options)


# ---------------------------------------------------------------------------------------
# Utterances: where to cut a long track


@dataclass(frozen=True)
class _Levels:
    db: np.ndarray  # level of each 10 ms frame
    speech: np.ndarray  # frames well above the track's noise floor
    floor: float


def _levels(pcm: np.ndarray) -> _Levels:
    hop = int(RATE * FRAME_S)
    n = len(pcm) // hop
    db = np.empty(n, np.float32)
    step = 6000  # a minute of frames at a time: its float copies stay a few MB
    for a in range(0, n, step):
        b = min(n, a + step)
        frames = pcm[a * hop: b * hop].reshape(b - a, hop).astype(np.float32)
        db[a:b] = 10 * np.log10((frames * frames).mean(axis=1) + 1.0)
    floor = float(np.percentile(db, 5)) if n else 0.0
    return _Levels(db, db > max(floor + 12.0, 20.0), floor)


def _utterances(levels: _Levels) -> list[tuple[int, int]]:
    """Frame ranges (10 ms frames) worth decoding: cut at pauses, at most MAX_UTTERANCE s,
    silence dropped. A music bed has no pauses: it is cut at its quietest moments."""
    db, speech, floor = levels.db, levels.speech, levels.floor
    n = len(db)
    if n == 0:
        return []
    smooth = np.convolve(db, np.ones(30) / 30, mode="same")
    quiet = smooth < max(floor + 6.0, 14.0)
    # Cut in the middle of every pause of 0.4 s or more.
    cuts = [0]
    run_start = None
    for i, q in enumerate(np.append(quiet, False)):
        if q and run_start is None:
            run_start = i
        elif not q and run_start is not None:
            if i - run_start >= 40:
                cuts.append((run_start + i) // 2)
            run_start = None
    cuts.append(n)
    spans: list[tuple[int, int]] = []
    most, least = int(MAX_UTTERANCE / FRAME_S), int(MIN_UTTERANCE / FRAME_S)
    for a, b in zip(cuts, cuts[1:], strict=False):
        while b - a > most:
            c = a + least + int(np.argmin(smooth[a + least: a + most]))
            spans.append((a, c))
            a = c
        spans.append((a, b))
    kept = []
    pad = 20
    for a, b in spans:
        hit = np.flatnonzero(speech[a:b])
        if len(hit):
            kept.append((max(a, a + int(hit[0]) - pad), min(b, a + int(hit[-1]) + 1 + pad)))
    return kept


# ---------------------------------------------------------------------------------------
# Recognition, anchoring and forced alignment


@dataclass(frozen=True)
class _Heard:
    word: str
    start: float
    end: float


def _base(word: str) -> str:
    return word.split("(", 1)[0]


def _is_word(word: str) -> bool:
    return not (word.startswith(("<", "[", "(")) or word in ("", "+"))


def _recognise(decoder, pcm: np.ndarray, spans: list[tuple[int, int]],
               progress: Callable[[float], None]) -> list[_Heard]:
    hop = int(RATE * FRAME_S)
    heard: list[_Heard] = []
    total = max(1, spans[-1][1]) if spans else 1
    for a, b in spans:
        progress(a / total)
        decoder.start_utt()
        decoder.process_raw(pcm[a * hop: b * hop].tobytes(), no_search=False, full_utt=True)
        decoder.end_utt()
        for seg in decoder.seg():
            if _is_word(seg.word):
                heard.append(_Heard(_base(seg.word), (a + seg.start_frame) * FRAME_S,
                                    (a + seg.end_frame + 1) * FRAME_S))
    return heard


def _anchors(script: list[str], heard: list[_Heard]) -> tuple[set[int], dict[int, _Heard]]:
    """The script words the long runs place, and script word index -> the heard word it is.

    First the long runs: of every run of MIN_RUN or more words in a row that agree, the
    chain in time order that places the most words (`_chain`). Then each gap between two
    such runs is matched again on its own (Gentle's recursion): inside a gap the order is
    pinned by the runs either side, so shorter runs are safe there, down to a single long
    word ("continue", "rhythm") that a misheard passage still gives away. Not before the
    first run or after the last: there only one side pins the order, and an ad-libbed
    welcome's "this is" would pass for the script's.
    """
    heard_words = [h.word for h in heard]
    pairs = [(a + k, b + k) for a, b, size in _chain(_runs(script, heard_words))
             for k in range(size)]
    runs = {a for a, _ in pairs}
    for (a0, b0), (a1, b1) in zip(pairs, pairs[1:], strict=False):
        if a1 - a0 < 2 or b1 - b0 < 2:
            continue
        sub = difflib.SequenceMatcher(None, script[a0 + 1:a1], heard_words[b0 + 1:b1],
                                      autojunk=False)
        for block in sub.get_matching_blocks():
            if block.size >= 2 or (block.size == 1 and len(script[a0 + 1 + block.a]) >= GAP_WORD):
                pairs.extend((a0 + 1 + block.a + k, b0 + 1 + block.b + k) for k in range(block.size))
    return runs, {i: heard[j] for i, j in sorted(pairs)}


def _runs(script: list[str], heard: list[str]) -> list[tuple[int, int, int]]:
    """Every longest run of MIN_RUN or more words in a row that agree: (script index, heard
    index, length). A passage the script repeats, or a sentence that recurs, gives a run for
    each copy it meets: `_chain` picks."""
    at: defaultdict[tuple[str, ...], list[int]] = defaultdict(list)
    for j in range(len(heard) - MIN_RUN + 1):
        at[tuple(heard[j:j + MIN_RUN])].append(j)
    found = []
    for i in range(len(script) - MIN_RUN + 1):
        for j in at.get(tuple(script[i:i + MIN_RUN]), ()):
            if i and j and script[i - 1] == heard[j - 1]:
                continue  # inside a run found from its start
            size = MIN_RUN
            while i + size < len(script) and j + size < len(heard) and script[i + size] == heard[j + size]:
                size += 1
            found.append((i, j, size))
    return found


def _chain(runs: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """The runs, in order in both the script and the track and not overlapping, that place
    the most words (a heaviest increasing chain, in n log n).

    Why not the longest block first (difflib): where the script repeats itself, the longest
    block can pair one copy in the script with another in the track and pin every run after
    it to that shift, which puts whole passages minutes off; the chain that places the most
    words pairs each copy with its own.
    """
    if not runs:
        return []
    runs = sorted(runs)
    width = max(b + size for _a, b, size in runs) + 1
    tree = [(0, -1)] * (width + 1)  # Fenwick prefix maximum over where runs end in the track

    def best_before(end: int) -> tuple[int, int]:  # the best chain ending at or before `end`
        got = (0, -1)
        while end > 0:
            got = max(got, tree[end])
            end -= end & -end
        return got

    def put(end: int, value: tuple[int, int]) -> None:
        while end <= width:
            tree[end] = max(tree[end], value)
            end += end & -end

    total = [0] * len(runs)
    back = [-1] * len(runs)
    ends = sorted(range(len(runs)), key=lambda r: runs[r][0] + runs[r][2])
    e = 0
    for r, (a, b, size) in enumerate(runs):
        while e < len(ends) and runs[ends[e]][0] + runs[ends[e]][2] <= a:
            q = ends[e]
            put(runs[q][1] + runs[q][2], (total[q], q))
            e += 1
        value, back[r] = best_before(b)
        total[r] = value + size
    r = max(range(len(runs)), key=total.__getitem__)
    chain = []
    while r >= 0:
        chain.append(runs[r])
        r = back[r]
    return chain[::-1]


def _force(aligners: Sequence, pcm: np.ndarray, words: list[str], start: float,
           end: float) -> list[tuple[float, float]]:
    """(start, end) of the words by forced alignment in pcm[start:end], as far as it got.

    Each aligner (beam setting) is tried in turn until one places every word: neither the
    default beams nor wide ones succeed everywhere (wide ones fail on some clean passages
    that the default places, and the reverse), and a passage costs only its own length.
    When the search cannot reach the end of the text pocketsphinx may still give its best
    path through the first words: a prefix, which is what a passage's start needs. The
    longest prefix is kept; [] if every one fails outright.
    """
    a, b = int(start * RATE), int(end * RATE)
    if b - a < RATE // 10 or not words:
        return []
    best: list[tuple[float, float]] = []
    for decoder in aligners:
        try:
            decoder.set_align_text(" ".join(words))
            decoder.start_utt()
            decoder.process_raw(pcm[a:b].tobytes(), no_search=False, full_utt=True)
            decoder.end_utt()
            segs = [s for s in decoder.seg() or () if _is_word(s.word)]
        except RuntimeError:
            continue
        got = [_base(s.word) for s in segs]
        if not got or got != words[: len(got)] or len(got) <= len(best):
            continue
        best = [(start + s.start_frame * FRAME_S, start + (s.end_frame + 1) * FRAME_S) for s in segs]
        if len(best) == len(words):
            break
    return best


# ---------------------------------------------------------------------------------------
# The whole


WORD_S = 0.45  # a typical word with its share of pauses, s: only to size search windows
SLACK = 1.0  # s of extra room either side of a passage's forced-alignment window
FORCED_AGREES = 0.3  # s: forced and recognised times of an anchored word must agree this well
# Shares of the progress bar, as measured on the demo: decoding, recognising, then placing.
RECOGNISE_FROM = 0.05
PLACE_FROM = 0.75


def align(audio: Path | str | np.ndarray, passages: Sequence[str], lang: str,
          progress: Callable[[float], None] | None = None) -> Alignment:
    """When each passage is heard in the audio (a file, or 16 kHz mono int16 samples).

    `progress(fraction)` is called as the work goes (recognising is most of it). Never raises for content it cannot time: the outcome says why (`Alignment.state`).
    Raises kiosk.audio.decode.DecodeError for a file that cannot be decoded.
    """
    model = model_for(lang)
    if model is None:
        return Alignment((), TrackState.NO_MODEL, _duration(audio), None, 0.0)
    report = progress or (lambda _fraction: None)
    report(0.0)
    pcm = audio if isinstance(audio, np.ndarray) else load_pcm(audio)
    report(RECOGNISE_FROM)
    duration = len(pcm) / RATE
    words_of = [script_words(p) for p in passages]
    script = [w for words in words_of for w in words]
    owner = [i for i, words in enumerate(words_of) for _ in words]
    if not script:
        return Alignment((), TrackState.COULD_NOT_ALIGN, duration, model, 0.0)
    with tempfile.TemporaryDirectory(prefix="kiosk-align-") as tmp:
        dict_path, lm_path = _script_models(Path(tmp), words_of, model)
        recogniser = _decoder(model, dict_path, lm=str(lm_path))
        levels = _levels(pcm)
        heard = _recognise(recogniser, pcm, _utterances(levels),
                           lambda f: report(RECOGNISE_FROM + (PLACE_FROM - RECOGNISE_FROM) * f))
        del recogniser
        if len(heard) < MIN_SPEECH_WORDS:
            return Alignment((), TrackState.COULD_NOT_ALIGN, duration, model, 0.0)
        runs, placed = _anchors(script, heard)
        share = len(placed) / len(script)
        log.info("heard %d words; %d of the script's %d in place, %d in long runs", len(heard),
                 len(placed), len(script), len(runs))
        # Judged on the long runs only: short matches inside gaps are found for any text.
        if len(runs) < WRONG_SCRIPT_BELOW * len(heard):
            return Alignment((), TrackState.WRONG_SCRIPT, duration, model, share)
        report(PLACE_FROM)
        aligners = [_decoder(model, dict_path), _decoder(model, dict_path, **FORCE_BEAMS)]
        timings = _place(aligners, pcm, levels, words_of, owner, placed, runs, duration)
    if all(t is None for t in timings):
        return Alignment((), TrackState.COULD_NOT_ALIGN, duration, model, share)
    return Alignment(_interpolate(timings, words_of, duration), TrackState.TIMED, duration, model,
                     share)


def _script_models(folder: Path, words_of: list[list[str]], model: str) -> tuple[Path, Path]:
    """The dictionary and language model of these passages' words, written in `folder`."""
    dict_path, lm_path = folder / "script.dict", folder / "script.lm"
    _write_dict(_pronunciations({w for words in words_of for w in words}, model), dict_path)
    _write_script_lm([w for w in words_of if w], lm_path)
    return dict_path, lm_path


def heard_words(pcm: np.ndarray, passages: Sequence[str], lang: str) -> list[str]:
    """The words recognised in `pcm` (16 kHz mono int16), listening for the words of
    `passages` (what talk-back's test checks the headphones with: every passage the station
    may say, so that the words heard are told from the others). [] without a model."""
    model = model_for(lang)
    words_of = [script_words(p) for p in passages]
    if model is None or not any(words_of):
        return []
    with tempfile.TemporaryDirectory(prefix="kiosk-hear-") as tmp:
        dict_path, lm_path = _script_models(Path(tmp), words_of, model)
        recogniser = _decoder(model, dict_path, lm=str(lm_path))
        heard = _recognise(recogniser, pcm, _utterances(_levels(pcm)), lambda _f: None)
    return [h.word for h in heard]


def _duration(audio: Path | str | np.ndarray) -> float:
    if isinstance(audio, np.ndarray):
        return len(audio) / RATE
    from kiosk.audio.decode import probe_duration

    return probe_duration(Path(audio))


def _place(aligners: Sequence, pcm: np.ndarray, levels: _Levels, words_of: list[list[str]],
           owner: list[int], placed: dict[int, _Heard], runs: set[int],
           duration: float) -> list[PassageTiming | None]:
    """Each passage's timing from its anchors, refined by forced alignment; None if unheard."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for i in sorted(placed):
        first.setdefault(owner[i], i)
        last[owner[i]] = i
    offset = [0]
    for words in words_of:
        offset.append(offset[-1] + len(words))
    heard_passages = sorted(first)
    timings: list[PassageTiming | None] = [None] * len(words_of)
    prev_end = 0.0
    for n, p in enumerate(heard_passages):
        fa, la = first[p], last[p]
        lead, trail = fa - offset[p], offset[p + 1] - 1 - la
        nxt = placed[first[heard_passages[n + 1]]].start if n + 1 < len(heard_passages) else duration
        lo = max(prev_end, placed[fa].start - lead * WORD_S - SLACK)
        hi = min(nxt, placed[la].end + trail * WORD_S + SLACK)
        words = words_of[p]
        count = sum(1 for i in range(offset[p], offset[p + 1]) if i in placed)
        confidence = count / len(words)
        forced = _force(aligners, pcm, words, lo, hi)
        if not _accepted(forced, placed, runs, offset[p], len(words)) and (lo, hi) != (prev_end, nxt):
            # The window guessed from the anchors' pace can cut a slow passage short: try
            # all the room its neighbours leave.
            forced = _force(aligners, pcm, words, prev_end, nxt)
        # The recogniser's own times, and words it missed at either end at its pace.
        span = placed[la].end - placed[fa].start
        pace = span / max(1, la - fa + 1)
        start = max(lo, placed[fa].start - lead * pace)
        end = min(hi, placed[la].end + trail * pace)
        placement = PassageState.ANCHORED
        if _accepted(forced, placed, runs, offset[p], len(words)):
            placement = PassageState.ALIGNED
            start = forced[0][0]
            if len(forced) == len(words):
                end = forced[-1][1]
        else:
            log.debug("passage %d: forced alignment %s in %.2f-%.2f s", p,
                      "failed" if not forced else "disagreed", lo, hi)
        start = _onset(levels, start)
        timing = PassageTiming(start, max(start, end), confidence, placement)
        timings[p] = timing
        prev_end = timing.end
    _fill_gaps(aligners[0], pcm, levels, words_of, timings, duration)
    return timings


GAP_CONFIDENCE = 0.5  # a passage placed only by forced alignment into its gap


def _fill_gaps(strict, pcm: np.ndarray, levels: _Levels, words_of: list[list[str]],
               timings: list[PassageTiming | None], duration: float) -> None:
    """Unheard passages, each run of them force-aligned into the gap its neighbours leave.

    The recogniser can mishear a whole passage (no run of its words heard) that is plainly
    there. Forced alignment with the default beams only: wrong text in a window is
    refused by it (every wrong passage tried on the demo was), where wide beams sometimes
    squeeze it in, so a script line that is not spoken stays unplaced and is interpolated.
    """
    i = 0
    while i < len(timings):
        if timings[i] is not None:
            i += 1
            continue
        j = i
        while j < len(timings) and timings[j] is None:
            j += 1
        before, after = timings[i - 1] if i else None, timings[j] if j < len(timings) else None
        lo = before.end if before is not None else 0.0
        hi = after.start if after is not None else duration
        words = [w for k in range(i, j) for w in words_of[k]]
        forced = _force([strict], pcm, words, lo, hi) if words else []
        if len(forced) == len(words):
            at = 0
            for k in range(i, j):
                n = len(words_of[k])
                if n:
                    start = _onset(levels, forced[at][0])
                    timings[k] = PassageTiming(start, max(start, forced[at + n - 1][1]),
                                               GAP_CONFIDENCE, PassageState.ALIGNED)
                at += n
        i = j


ONSET_REACH = 30  # frames: how far a start may move to the sound's onset


def _onset(levels: _Levels, start: float) -> float:
    """The start moved to where the sound begins, if that is near: the aligner tends to give
    a quiet onset (a nasal, a breathy h) to the silence before it."""
    speech = levels.speech
    f = min(int(round(start / FRAME_S)), len(speech) - 1)
    if f < 0:
        return start
    if speech[f]:
        for k in range(1, ONSET_REACH + 1):
            if f - k < 0 or not speech[f - k]:
                return (f - k + 1) * FRAME_S
        return start  # sound all the way back (a music bed): no onset to find
    for k in range(1, ONSET_REACH + 1):
        if f + k < len(speech) and speech[f + k]:
            return (f + k) * FRAME_S
    return start


def _accepted(forced: list[tuple[float, float]], placed: dict[int, _Heard], runs: set[int],
              base: int, count: int) -> bool:
    return len(forced) >= min(count, MIN_RUN) and _agrees(forced, placed, runs, base, count)


def _agrees(forced: list[tuple[float, float]], placed: dict[int, _Heard], runs: set[int], base: int,
            count: int) -> bool:
    """Forced alignment squeezed into a wrong window drifts from what was heard: refuse it.
    A few anchored words may be misheard (and so mistimed), hence a majority, not all. Only
    words of long runs are witnesses: a short match inside a gap is too often a common word
    heard elsewhere. With no such witness, only a forced alignment that placed every word."""
    diffs = [abs(placed[base + k].start - start) for k, (start, _end) in enumerate(forced)
             if base + k in runs]
    if not diffs:
        return len(forced) == count
    return sum(d <= FORCED_AGREES for d in diffs) >= 0.75 * len(diffs)


def _interpolate(timings: list[PassageTiming | None], words_of: list[list[str]],
                 duration: float) -> tuple[PassageTiming, ...]:
    """Fill each run of unheard passages into the gap its neighbours leave, by length."""
    out: list[PassageTiming] = []
    i = 0
    while i < len(timings):
        t = timings[i]
        if t is not None:
            out.append(t)
            i += 1
            continue
        j = i
        while j < len(timings) and timings[j] is None:
            j += 1
        lo = out[-1].end if out else 0.0
        nxt = timings[j] if j < len(timings) else None
        hi = nxt.start if nxt is not None else duration
        weights = [max(1, len(words_of[k])) for k in range(i, j)]
        total = sum(weights)
        at = lo
        for w in weights:
            step = (hi - lo) * w / total
            out.append(PassageTiming(at, at + step, 0.0, PassageState.INTERPOLATED))
            at += step
        i = j
    return tuple(out)
