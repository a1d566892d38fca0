"""Talk-back's voice: espeak-ng for real, its cache, and a station without it."""

import logging

import pytest
import soundfile

from kiosk.doctor import FAIL, OK, check_speech, run_checks
from kiosk.speech import Speech, SpeechError, SpeechErrorKind


def test_an_utterance_is_a_wav_file_in_the_screen_language(tmp_path):
    speech = Speech(tmp_path / "cache")
    gb = speech.utterance("Choose an exercise.", "en-GB", 160)
    us = speech.utterance("Choose an exercise.", "en-US", 160)
    assert gb != us and gb.parent == tmp_path / "cache"
    info = soundfile.info(str(gb))
    assert 0.5 < info.duration < 5


def test_the_same_words_come_from_the_cache_and_the_rate_is_part_of_the_name(tmp_path):
    speech = Speech(tmp_path)
    first = speech.utterance("Welcome.", "en-GB", 160)
    made = first.stat().st_ino
    assert speech.utterance("Welcome.", "en-GB", 160) == first
    assert first.stat().st_ino == made  # not made again
    slow = speech.utterance("Welcome.", "en-GB", 80)
    assert slow != first
    assert soundfile.info(str(slow)).duration > soundfile.info(str(first)).duration


def test_the_cache_is_bounded_oldest_first(tmp_path):
    speech = Speech(tmp_path, max_bytes=1)
    first = speech.utterance("One.", "en-GB", 160)
    second = speech.utterance("Two.", "en-GB", 160)
    assert second.exists() and not first.exists()


def test_words_that_look_like_options_are_spoken(tmp_path):
    path = Speech(tmp_path).utterance("--help me", "en-GB", 160)
    assert soundfile.info(str(path)).duration > 0.3


def test_a_language_without_a_voice_is_a_typed_error(tmp_path):
    with pytest.raises(SpeechError) as caught:
        Speech(tmp_path).utterance("Bonjour", "fr-FR", 160)
    assert caught.value.kind is SpeechErrorKind.NO_VOICE


def test_without_espeak_ng_a_typed_error_logged_once_and_doctor_says_unavailable(
        tmp_path, settings, monkeypatch, caplog):
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    speech = Speech(tmp_path)
    with caplog.at_level(logging.WARNING, logger="kiosk.speech"):
        for _ in range(3):
            with pytest.raises(SpeechError) as caught:
                speech.utterance("Welcome.", "en-GB", 160)
            assert caught.value.kind is SpeechErrorKind.NO_ENGINE
    assert len([r for r in caplog.records if "espeak-ng" in r.getMessage()]) == 1
    [result] = run_checks(settings, [check_speech])
    assert result.status == FAIL and result.name == "talk-back"
    assert "unavailable" in result.detail and "espeak-ng" in result.detail


def test_doctor_says_talk_back_can_speak(settings):
    [result] = run_checks(settings, [check_speech])
    assert result.status == OK and "espeak-ng" in result.detail
