from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.content.cues import Cue, VttError, cue_at, parse_vtt, script_text

GOOD = """WEBVTT

1
00:00:00.000 --> 00:00:02.500
First passage.

2
00:00:03.000 --> 00:00:05.000
Second passage,
on two lines.
"""


def faults_of(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(VttError) as info:
        parse_vtt(text)
    return [(f.line, f.message) for f in info.value.faults]


def test_parses_cues_in_order():
    cues = parse_vtt(GOOD)
    assert cues == (
        Cue(0.0, 2.5, "First passage."),
        Cue(3.0, 5.0, "Second passage,\non two lines."),
    )
    assert script_text(cues) == "First passage.\n\nSecond passage,\non two lines."


def test_tolerates_bom_crlf_notes_ids_settings_and_markup():
    text = (
        "\ufeffWEBVTT - a title\r\nKind: captions\r\n\r\n"
        "NOTE written by hand\r\nspanning lines\r\n\r\n"
        "STYLE\r\n::cue { color: white }\r\n\r\n"
        "intro\r\n00:01.000 --> 00:02.000 align:start position:10%\r\n<v Narrator>Hello &amp; <i>welcome</i></v>\r\n\r\n"
        "01:00:00.000 --> 01:00:01.500\r\nAn hour in.\r\n"
    )
    assert parse_vtt(text) == (Cue(1.0, 2.0, "Hello & welcome"), Cue(3600.0, 3601.5, "An hour in."))


def test_cr_only_line_ends():
    assert parse_vtt("WEBVTT\r\r00:00.000 --> 00:01.000\rHi\r") == (Cue(0.0, 1.0, "Hi"),)


def test_missing_header():
    assert faults_of("00:00.000 --> 00:01.000\nHi\n") == [(1, 'the file must start with the line "WEBVTT"')]


def test_header_must_be_exact():
    assert faults_of("WEBVTTX\n\n00:00.000 --> 00:01.000\nHi\n")[0][0] == 1


@pytest.mark.parametrize(
    "timing",
    ["00:00 --> 00:01.000", "0:00.000 --> 00:01.000", "00:00.000 -> 00:01.000", "00:00,000 --> 00:01,000",
     "00:00.000 --> ", "aa:bb.ccc --> 00:01.000"],
)
def test_bad_timestamps(timing):
    [(line, message)] = faults_of(f"WEBVTT\n\n{timing}\nHi\n")
    assert line == 3
    assert "cue timing" in message


def test_minutes_over_59():
    [(line, message)] = faults_of("WEBVTT\n\n00:61.000 --> 01:02.000\nHi\n")
    assert line == 3 and "00 to 59" in message


def test_end_before_start():
    [(line, message)] = faults_of("WEBVTT\n\n00:05.000 --> 00:04.000\nHi\n")
    assert line == 3 and "ends (00:00:04.000) before it starts (00:00:05.000)" in message


def test_zero_length_cue_refused():
    [(line, message)] = faults_of("WEBVTT\n\n00:05.000 --> 00:05.000\nHi\n")
    assert "before it starts" in message


def test_overlap_and_unsorted_name_the_other_cue():
    text = (
        "WEBVTT\n\n"
        "00:00.000 --> 00:03.000\nA\n\n"       # line 3
        "00:02.000 --> 00:04.000\nB\n\n"       # line 6: overlaps A
        "00:05.000 --> 00:06.000\nC\n\n"       # line 9
        "00:04.500 --> 00:04.900\nD\n"         # line 12: before C
    )
    faults = faults_of(text)
    assert faults[0][0] == 6 and "before the cue on line 3 ends" in faults[0][1]
    assert faults[1][0] == 12 and "out of order" in faults[1][1] and "line 9" in faults[1][1]


def test_empty_text():
    [(line, message)] = faults_of("WEBVTT\n\n1\n00:00.000 --> 00:01.000\n<i></i>\n")
    assert line == 4 and message == "the cue has no text"


def test_no_cues():
    assert faults_of("WEBVTT\n\nNOTE nothing here\n") == [(None, "the file has no cues")]


def test_every_fault_reported_at_once():
    text = "WEBVTT\n\nbroken line\n\n00:09.000 --> 00:08.000\nx\n\n00:10.000 --> 00:11.000\n\n"
    faults = faults_of(text)
    # not a cue; ends before it starts; a timing line with no text after it
    assert [f[0] for f in faults] == [3, 5, 8]
    assert faults[2][1] == "the cue has no text"


def test_cue_at_boundaries():
    cues = parse_vtt(GOOD)
    assert cue_at(cues, -1.0) is None
    assert cue_at(cues, 0.0) == 0
    assert cue_at(cues, 2.499) == 0
    assert cue_at(cues, 2.5) is None  # end is exclusive
    assert cue_at(cues, 2.9) is None  # a gap
    assert cue_at(cues, 3.0) == 1
    assert cue_at(cues, 4.999) == 1
    assert cue_at(cues, 5.0) is None
    assert cue_at((), 1.0) is None


@given(st.lists(st.tuples(st.integers(0, 5000), st.integers(1, 3000)), max_size=40), st.floats(-10, 200_000))
def test_cue_at_matches_a_linear_scan(spans, position):
    cues, t = [], 0
    for gap, length in spans:
        start = t + gap
        cues.append(Cue(start / 100, (start + length) / 100, "x"))
        t = start + length
    expected = next((i for i, c in enumerate(cues) if c.start <= position / 100 < c.end), None)
    assert cue_at(cues, position / 100) == expected


def test_long_script_roundtrip():
    rng = random.Random(3)
    lines, t = ["WEBVTT", ""], 0.0
    for i in range(500):
        start = t + rng.random()
        end = start + 0.5 + rng.random() * 5
        lines += [f"{int(start // 60):02d}:{start % 60:06.3f} --> {int(end // 60):02d}:{end % 60:06.3f}", f"passage {i}", ""]
        t = end
    cues = parse_vtt("\n".join(lines))
    assert len(cues) == 500
    assert cue_at(cues, cues[321].start + 0.01) == 321
