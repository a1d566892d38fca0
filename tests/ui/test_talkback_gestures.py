"""Talk-back's gestures read from touches by numbers alone (kiosk/ui/talkback_gestures.py):
the touches the Xvfb tests make are read the same way, through the window."""

from __future__ import annotations

from kiosk.ui.talkback_gestures import DOUBLE_TAP_GAP, HOLD_SECONDS, Gesture, GestureReader, Read

MM = 5.0  # px per mm, about a 7-inch panel's


def kinds(reads):
    return [r.gesture for r in reads if r.gesture is not Gesture.PEEK]


def test_a_finger_landing_is_peeked_at_once_unless_it_may_be_a_second_tap():
    r = GestureReader(MM)
    assert r.down(0.0, 10, 20) == [Read(Gesture.PEEK, 10, 20)]
    r.up(0.08, 10, 20)
    assert r.down(0.2, 50, 60) == []  # within the double tap's time


def tap(reader, t, x=100.0, y=100.0):
    return reader.down(t, x, y) + reader.up(t + 0.08, x + 1, y)


def settle(reader, t):
    return reader.due(t)


def test_a_tap_speaks_what_is_under_it_once_no_second_tap_comes():
    r = GestureReader(MM)
    assert kinds(tap(r, 0.0)) == []
    assert r.next_deadline() == 0.08 + DOUBLE_TAP_GAP
    read = settle(r, 0.08 + DOUBLE_TAP_GAP)
    assert kinds(read) == [Gesture.EXPLORE] and (read[0].x, read[0].y) == (101.0, 100.0)
    assert not r.busy


def test_two_quick_taps_are_a_double_tap_and_never_an_explore():
    r = GestureReader(MM)
    out = tap(r, 0.0, 100, 100) + tap(r, 0.25, 300, 50)
    assert kinds(out) == [Gesture.DOUBLE_TAP]
    assert settle(r, 5.0) == []


def test_two_slow_taps_are_two_explores():
    r = GestureReader(MM)
    out = tap(r, 0.0, 100, 100) + tap(r, 0.08 + DOUBLE_TAP_GAP + 0.1, 300, 50) + settle(r, 5.0)
    assert kinds(out) == [Gesture.EXPLORE, Gesture.EXPLORE]
    assert [(o.x, o.y) for o in out if o.gesture is Gesture.EXPLORE] == [(101, 100), (301, 50)]


def test_a_finger_resting_explores_and_speaks_as_it_moves_and_lifting_does_nothing():
    r = GestureReader(MM)
    assert kinds(r.down(0.0, 100, 100)) == []
    assert kinds(settle(r, 0.3)) == [Gesture.EXPLORE]
    moved = r.move(0.5, 200, 100)
    assert kinds(moved) == [Gesture.EXPLORE] and moved[0].x == 200
    assert kinds(r.up(0.9, 200, 100)) == [Gesture.EXPLORE]  # the last place, not an action
    assert settle(r, 5.0) == []


def test_flicks_are_swipes_each_way():
    for (dx, dy), want in (((80, 0), Gesture.SWIPE_RIGHT), ((-80, 5), Gesture.SWIPE_LEFT),
                           ((3, 90), Gesture.SWIPE_UP), ((0, -90), Gesture.SWIPE_DOWN)):
        r = GestureReader(MM)
        out = r.down(0.0, 400, 300) + r.move(0.1, 400 + dx / 2, 300 + dy / 2) + r.up(0.2, 400 + dx, 300 + dy)
        assert kinds(out) == [want], (dx, dy)


def test_a_short_slide_is_no_swipe():
    r = GestureReader(MM)
    out = r.down(0.0, 400, 300) + r.up(0.15, 400 + 30, 300)  # 6 mm
    assert kinds(out) == [] and settle(r, 5.0) == []


def test_a_tap_then_a_swipe_speaks_the_tap_first():
    r = GestureReader(MM)
    out = tap(r, 0.0) + r.down(0.2, 400, 300) + r.up(0.35, 500, 300)
    assert kinds(out) == [Gesture.EXPLORE, Gesture.SWIPE_RIGHT]


def test_a_still_hold_of_three_seconds_is_read_once():
    r = GestureReader(MM)
    r.down(0.0, 100, 100)
    assert r.next_deadline() == 0.25
    out = settle(r, 0.3) + r.move(1.0, 102, 101) + settle(r, HOLD_SECONDS)
    assert kinds(out) == [Gesture.EXPLORE, Gesture.EXPLORE, Gesture.HOLD]
    assert settle(r, 6.0) == [] and r.up(6.5, 102, 101) == []


def test_a_finger_that_wanders_is_never_a_hold():
    r = GestureReader(MM)
    r.down(0.0, 100, 100)
    r.move(0.5, 200, 100)
    r.move(1.0, 100, 100)  # back where it began: it has still moved
    assert Gesture.HOLD not in kinds(settle(r, HOLD_SECONDS + 1))
