"""Offline alignment through the real aligner (pocketsphinx and its shipped en-us model).

The demo collection's cues are exact (the synthesis wrote them), so they are the ground
truth: each passage's start is compared with its cue's. The track is the demo's shortest
(three breaths, 3:23, en-GB: British spellings such as "realise" and compounds such as
"out-breath" included); each case changes the script or the audio the way real content does.
"""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.content.align import (
    RATE,
    PassageState,
    TrackState,
    align,
    ipa_to_phones,
    load_pcm,
    model_for,
    script_words,
)
from kiosk.content.cues import parse_vtt
from kiosk.resources import DEMO_PACK

pytestmark = pytest.mark.slow

DEMO = DEMO_PACK
TRACK = DEMO / "three-breaths-check-in" / "en-GB.mp3"


def cues_of(exercise: str, lang: str = "en-GB"):
    return parse_vtt((DEMO / exercise / f"{lang}.vtt").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pcm() -> np.ndarray:
    return load_pcm(TRACK)


def start_errors(result, starts: list[float]) -> np.ndarray:
    return np.array([abs(p.start - s) for p, s in zip(result.passages, starts, strict=True)])


def test_the_right_script_is_timed_like_the_shipped_cues():
    cues = cues_of("three-breaths-check-in")
    result = align(TRACK, [c.text for c in cues], "en-GB")  # from the file, as the importer will
    assert result.state is TrackState.TIMED and result.timed
    assert result.model == "en-us"
    assert len(result.passages) == len(cues)
    errors = start_errors(result, [c.start for c in cues])
    assert np.median(errors) <= 0.1
    assert errors.max() <= 1.0, errors
    assert all(p.state is not PassageState.INTERPOLATED for p in result.passages)
    assert all(0 < p.confidence <= 1 for p in result.passages)
    for p, nxt in zip(result.passages, result.passages[1:], strict=False):
        assert p.start <= p.end <= nxt.start + 0.05
    assert abs(result.duration - 203.4) < 1.0


def test_the_wrong_exercises_script_is_refused_timing(pcm):
    """The safe-place script on the three-breaths track: same voice, same kind of words
    ("open your eyes", "come back to the room" are in both), but not this recording."""
    result = align(pcm, [c.text for c in cues_of("safe-place")], "en-GB")
    assert result.state is TrackState.WRONG_SCRIPT
    assert result.passages == ()
    assert not result.timed


def test_a_passage_not_spoken_is_interpolated_and_marked(pcm):
    """A PDF's footer left in the middle of the script: never heard, so placed between its
    neighbours and marked, while every spoken passage keeps its true time."""
    cues = cues_of("three-breaths-check-in")
    footer = "Kiosk demo collection. Page 2 of 3. Copyright 2026 the kiosk project."
    texts = [c.text for c in cues]
    at = 5
    texts.insert(at, footer)
    result = align(pcm, texts, "en-GB")
    assert result.state is TrackState.TIMED
    unspoken = result.passages[at]
    assert unspoken.state is PassageState.INTERPOLATED and unspoken.interpolated
    assert unspoken.confidence == 0.0
    before, after = result.passages[at - 1], result.passages[at + 1]
    assert before.end <= unspoken.start <= unspoken.end <= after.start
    spoken = result.passages[:at] + result.passages[at + 1:]
    errors = np.array([abs(p.start - c.start) for p, c in zip(spoken, cues, strict=True)])
    assert np.median(errors) <= 0.1 and errors.max() <= 1.0, errors
    assert all(p.state is not PassageState.INTERPOLATED for p in spoken)


def test_an_ad_libbed_welcome_before_the_script_is_not_taken_for_it(pcm):
    """The same voice says a welcome that is not in the script (the safe-place exercise's
    first passage, which shares "open your eyes and come back to the room" with this
    script's last), then the exercise as scripted."""
    other = cues_of("safe-place")[0]
    welcome = load_pcm(DEMO / "safe-place" / "en-GB.mp3")[
        int((other.start - 0.5) * RATE): int((other.end + 1.5) * RATE)]
    shift = len(welcome) / RATE
    cues = cues_of("three-breaths-check-in")
    result = align(np.concatenate([welcome, pcm]), [c.text for c in cues], "en-GB")
    assert result.state is TrackState.TIMED
    errors = start_errors(result, [c.start + shift for c in cues])
    assert np.median(errors) <= 0.1 and errors.max() <= 1.0, errors
    assert result.passages[0].start >= shift - 0.5  # the welcome is nobody's passage


def test_a_language_without_a_model_is_kept_untimed_without_decoding():
    result = align(TRACK, ["Bonjour et bienvenue."], "fr-FR")
    assert result.state is TrackState.NO_MODEL
    assert result.passages == () and result.model is None
    assert abs(result.duration - 203.4) < 1.0
    assert model_for("en-GB") == model_for("en-US") == model_for("en") == "en-us"
    assert model_for("de") is None


def test_a_track_without_speech_could_not_be_aligned():
    """Half a minute of a quiet hum (a music bed with no voice over it)."""
    t = np.arange(30 * RATE) / RATE
    hum = (800 * (np.sin(2 * np.pi * 110 * t) + 0.5 * np.sin(2 * np.pi * 165 * t))).astype(np.int16)
    result = align(hum, [c.text for c in cues_of("three-breaths-check-in")], "en-GB")
    assert result.state is TrackState.COULD_NOT_ALIGN
    assert result.passages == ()


def test_words_the_dictionary_lacks_are_given_pronunciations():
    from kiosk.content.align import _pronunciations

    words = {"mindfulness", "defusion", "self", "critical", "colour", "realise"}
    prons = _pronunciations(words, "en-us")
    assert set(prons) == words
    # espeak-ng's, mapped to the model's phones: the sounds a listener would expect
    assert prons["mindfulness"][0].split()[:4] == ["M", "AY", "N", "D"]
    assert prons["defusion"][0].split()[-3:] == ["ZH", "AH", "N"]
    assert ipa_to_phones("ˈtʃeɪndʒ") == ["CH", "EY", "N", "JH"]


def test_script_words_are_what_a_speaker_says():
    assert script_words("Self-critical thoughts [pause] don\u2019t last.") == [
        "self", "critical", "thoughts", "don't", "last"]


def test_an_empty_script_could_not_be_aligned(pcm):
    assert align(pcm[: 5 * RATE], ["", "[pause]"], "en-GB").state is TrackState.COULD_NOT_ALIGN
