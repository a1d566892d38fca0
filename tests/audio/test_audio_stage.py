"""The callback's logic (ring, fades, volume, cap, jumps, underruns) without a sound card."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.audio.stage import Eof, OutputStage, RingBuffer, Segment

FADE = 100
BLOCK = 64


def make(capacity: int = 4096, cap: float = 1.0, volume: float = 1.0) -> OutputStage:
    stage = OutputStage(RingBuffer(capacity), rate=1000, fade_frames=FADE, volume_cap=cap, max_block=1024)
    stage.volume = volume
    return stage


def start_segment(stage: OutputStage, gen: int, data: np.ndarray, time: float = 0.0, eof: bool = False) -> None:
    """What the feeder does: publish the jump, then write, then (at the end) the eof."""
    stage.jump = Segment(gen, stage.ring.write_index, time)
    stage.ring.write(data)
    if eof:
        stage.eof = Eof(gen, stage.ring.write_index)


def render(stage: OutputStage, frames: int, block: int = BLOCK) -> np.ndarray:
    out = np.zeros((frames, 2), np.int16)
    for i in range(0, frames, block):
        stage.render(out[i:i + block])
    return out


def ramp_source(n: int, value: float = 0.5) -> np.ndarray:
    return np.full((n, 2), value, np.float32)


def test_ring_wraps_around():
    ring = RingBuffer(10)
    ring.write(np.arange(14, dtype=np.float32).reshape(7, 2))
    ring.read_index = 5
    ring.write(np.arange(100, 116, dtype=np.float32).reshape(8, 2))
    assert ring.free() == 0
    dest = np.zeros((10, 2), np.float32)
    ring.read_into(5, dest)
    assert dest[:2, 0].tolist() == [10, 12]
    assert dest[2:, 0].tolist() == [100, 102, 104, 106, 108, 110, 112, 114]


def test_holds_silence_until_played():
    stage = make()
    start_segment(stage, 1, ramp_source(1000))
    out = render(stage, 256)
    assert not out.any()
    assert stage.segment.gen == 1  # the jump is taken at once while silent
    assert stage.ring.read_index == 0


def test_fade_in_then_exact_samples():
    stage = make()
    start_segment(stage, 1, ramp_source(1000))
    stage.run = True
    out = render(stage, 512)
    expected_full = round(0.5 * 32768)
    ramp = out[:FADE, 0].astype(float) / expected_full
    assert ramp[0] == pytest.approx(1 / FADE, abs=0.002)
    assert np.all(np.diff(ramp) > 0), "the fade in rises steadily"
    assert np.all(out[FADE:, 0] == expected_full), "after the fade the samples are exact"
    assert stage.ring.read_index == 512


def test_pause_fades_out_and_keeps_its_place():
    stage = make()
    start_segment(stage, 1, ramp_source(2000))
    stage.run = True
    render(stage, 256)
    stage.run = False
    out = render(stage, 256)
    assert out[0, 0] > out[FADE // 2, 0] > 0
    assert not out[FADE:].any()
    assert stage.ring.read_index == 256 + FADE  # only the fade was consumed
    stage.run = True
    out = render(stage, 256)
    assert out[0, 0] < out[FADE - 1, 0], "resume fades in"
    assert stage.ring.read_index == 256 + FADE + 256


def test_jump_fades_out_old_then_fades_in_new():
    stage = make()
    start_segment(stage, 1, ramp_source(1500, 0.5))
    stage.run = True
    render(stage, 256)
    start_segment(stage, 2, ramp_source(1000, -0.25), time=7.0)
    out = render(stage, 512)
    old = out[:FADE, 0]
    assert np.all(old >= 0) and np.all(np.diff(old.astype(int)) <= 0), "old audio fades out"
    new = out[FADE:2 * FADE, 0]
    assert np.all(new <= 0) and np.all(np.diff(new.astype(int)) <= 0), "new audio fades in"
    assert np.all(out[2 * FADE:, 0] == round(-0.25 * 32768))
    assert stage.segment == Segment(2, 1500, 7.0)
    assert stage.source_time() == pytest.approx(7.0 + (512 - FADE) / 1000)


def test_seek_requests_collapse_to_the_last_one():
    stage = make()
    start_segment(stage, 1, ramp_source(500, 0.5))
    stage.run = True
    render(stage, 128)
    start_segment(stage, 2, ramp_source(100, 0.1), time=1.0)
    start_segment(stage, 3, ramp_source(500, -0.5), time=2.0)
    out = render(stage, 512)
    assert stage.segment.gen == 3
    assert not np.any((out[:, 0] > 0) & (out[:, 0] < round(0.1 * 32768) + 1) & (np.arange(512) > FADE))


def test_volume_changes_are_smoothed_and_capped():
    stage = make(cap=0.5, volume=0.5)
    start_segment(stage, 1, ramp_source(3000, 1.0))
    stage.run = True
    render(stage, 512)
    stage.volume = 5.0  # asking too much gives the cap
    out = render(stage, 512)
    assert out.max() <= 0.5 * 32768
    stage.volume = 0.1
    out = render(stage, 512)
    steps = np.abs(np.diff(out[:, 0].astype(int)))
    assert steps.max() <= 32768 / FADE + 1, "no jump in volume"
    assert out[-1, 0] == round(0.1 * 32768)


@settings(max_examples=60, deadline=None)
@given(
    cap=st.floats(0.0, 1.0),
    volumes=st.lists(st.floats(allow_nan=False), min_size=1, max_size=8),
    blocks=st.lists(st.integers(1, 300), min_size=1, max_size=8),
)
def test_output_never_exceeds_the_cap(cap, volumes, blocks):
    stage = make(capacity=8192, cap=cap, volume=volumes[0])
    rng = np.random.default_rng(0)
    start_segment(stage, 1, np.clip(rng.standard_normal((6000, 2)), -1, 1).astype(np.float32))
    stage.run = True
    peak = 0
    for i, n in enumerate(blocks):
        stage.volume = volumes[i % len(volumes)]
        out = np.zeros((n, 2), np.int16)
        stage.render(out)
        peak = max(peak, int(np.abs(out.astype(int)).max()))
    assert peak <= cap * 32768 + 0.5


def test_underrun_is_counted_and_recovers_with_a_fade():
    stage = make()
    start_segment(stage, 1, ramp_source(100))
    stage.run = True
    out = render(stage, 256)
    assert stage.underruns >= 1
    assert not out[100:].any()
    stage.ring.write(ramp_source(300))
    out = render(stage, 256)
    assert out[0, 0] < out[FADE, 0], "sound returns with a fade in"


def test_end_of_track_is_reported_not_counted_as_underrun():
    stage = make()
    start_segment(stage, 4, ramp_source(300), eof=True)
    stage.run = True
    render(stage, 512)
    assert stage.ended_gen == 4
    assert stage.underruns == 0


def test_no_underrun_while_waiting_for_a_seek():
    stage = make()
    start_segment(stage, 1, ramp_source(1000))
    stage.run = True
    render(stage, 128)
    stage.jump = Segment(2, stage.ring.write_index, 3.0)  # the feeder has not written yet
    render(stage, 512)
    assert stage.underruns == 0
    assert stage.segment.gen == 2


def test_status_underflow_flag_is_counted_when_it_was_heard():
    stage = make()
    start_segment(stage, 1, ramp_source(2000))
    stage.render(np.zeros((BLOCK, 2), np.int16), status=0x4)  # in silence: not heard
    stage.run = True
    stage.render(np.zeros((BLOCK, 2), np.int16))
    stage.render(np.zeros((BLOCK, 2), np.int16), status=0x4)
    stage.render(np.zeros((BLOCK, 2), np.int16), status=0x10)  # priming: not an underflow
    assert stage.xruns == 1


def test_render_allocates_no_large_buffers():
    """The callback's work is done in preallocated buffers: its memory use does not grow."""
    import tracemalloc

    stage = make(capacity=40000)
    start_segment(stage, 1, ramp_source(30000))
    stage.run = True
    out = np.zeros((512, 2), np.int16)
    for _ in range(5):
        stage.render(out)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(40):
        stage.render(out)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename") if s.size_diff > 0)
    assert grown < 4096, f"render allocated {grown} bytes that stayed"


def test_callback_wakes_the_feeder_once_the_ring_reaches_wake_at():
    import threading

    stage = make()
    stage.run = True
    start_segment(stage, 1, ramp_source(1000))
    wake = threading.Lock()
    wake.acquire()
    stage.wake, stage.wake_at = wake, 300
    render(stage, 256)
    assert wake.locked(), "not yet: the read index is before wake_at"
    render(stage, 64)
    assert not wake.locked(), "the read index passed wake_at: the feeder is released"
    render(stage, 64)  # released already: nothing more to do, nothing raised
    assert wake.acquire(blocking=False)


def test_a_new_stream_does_not_finish_the_fade_the_lost_one_cut_short():
    stage = make()
    start_segment(stage, 1, ramp_source(2000))
    stage.run = True
    render(stage, 256)  # playing at full level when the device goes
    stage.run = False  # lost: the player stops the sound...
    kept = stage.ring.read_index
    stage.silence()  # ...and the next stream starts silent
    assert not render(stage, 512).any()
    assert stage.ring.read_index == kept, "the place to resume from is kept"
    stage.run = True  # the client presses play again: back with a fade in
    out = render(stage, 256)
    assert out[0, 0] < out[FADE, 0]


# -- talk-back's voice, mixed over the track --------------------------------------------
from kiosk.audio.stage import DUCK_GAIN, Utterance  # noqa: E402


def speaking_stage(volume: float = 0.5, cap: float = 1.0) -> OutputStage:
    stage = make(capacity=40000, cap=cap, volume=volume)
    stage.run = True
    return stage


def say(stage: OutputStage, gen: int, frames: np.ndarray) -> None:
    """What the player does: words asked for, then the decoded utterance handed over."""
    stage.speech_on = True
    stage.voice_run = True
    stage.voice = Utterance(gen, frames)


def test_speech_is_mixed_over_a_ducked_track_that_keeps_its_pace():
    stage = speaking_stage()
    start_segment(stage, 1, ramp_source(30000, 0.4))
    render(stage, 1000)
    assert render(stage, 64)[-1, 0] == round(0.4 * 0.5 * 32768)
    words = np.full((3000, 2), 0.2, np.float32)
    read_before = stage.ring.read_index
    say(stage, 1, words)
    out = render(stage, 6000)
    assert stage.ring.read_index - read_before == 6000, "the track kept playing under the words"
    duck_frames = int(np.ceil(stage.duck_frames * (1 - DUCK_GAIN)))
    # Once the duck is down and the words' fade in is done: track ducked plus words.
    steady = out[duck_frames + 10:2900, 0].astype(float)
    expected = (0.4 * DUCK_GAIN + 0.2) * 0.5 * 32768
    assert np.allclose(steady, expected, atol=1.5)
    # After the words the track comes back up to full, gradually.
    assert stage.voice_ended_gen == 1
    assert out[-1, 0] == round(0.4 * 0.5 * 32768)
    rise = out[3000:3000 + duck_frames + 64, 0].astype(int)  # from the next block on
    assert (np.diff(rise) >= 0).all() and np.diff(rise).max() < 60, "a ramp, not a step"
    assert rise[-1] > 0.95 * 0.4 * 0.5 * 32768


def test_a_new_utterance_replaces_the_one_in_progress_after_a_short_fade():
    stage = speaking_stage(volume=1.0)
    say(stage, 1, np.full((5000, 2), 0.3, np.float32))
    first = render(stage, 1024)
    assert first[-1, 0] == round(0.3 * 32768)
    say(stage, 2, np.full((5000, 2), -0.3, np.float32))
    out = render(stage, 1024)
    fade = stage.voice_fade_frames
    assert (out[:fade, 0] >= 0).all(), "the first fades out first"
    assert (out[fade + 1:, 0] <= 0).all(), "then only the second is heard"
    assert out[-1, 0] == round(-0.3 * 32768)
    assert np.abs(np.diff(out[:, 0].astype(int))).max() < 0.3 * 32768 / fade * 2 + 2


def test_stop_and_pause_fade_and_pause_keeps_its_place():
    stage = speaking_stage(volume=1.0)
    words = np.linspace(0.1, 0.5, 20000, dtype=np.float32)[:, None].repeat(2, axis=1)
    say(stage, 1, words)
    render(stage, 1024)
    stage.voice_run = False
    out = render(stage, 1024)
    fade = stage.voice_fade_frames
    assert not out[fade + 1:].any(), "paused: silent after the fade"
    held = stage.voice_pos
    render(stage, 4096)
    assert stage.voice_pos == held, "a pause keeps its place"
    stage.voice_run = True
    out = render(stage, 1024)
    assert out[-1, 0] == round(float(words[held + 1024 - 1, 0]) * 32768)
    stage.voice = None
    stage.speech_on = False
    out = render(stage, 1024)
    assert not out[fade + 1:].any(), "stopped within the fade"


def test_the_mix_never_exceeds_the_cap():
    cap = 0.5
    stage = speaking_stage(volume=0.9, cap=cap)
    start_segment(stage, 1, np.full((30000, 2), 1.0, np.float32))
    render(stage, 2048)
    say(stage, 1, np.full((8000, 2), 0.82, np.float32))
    out = render(stage, 12000)
    assert np.abs(out.astype(int)).max() <= cap * 32768 + 1


def test_speech_does_not_allocate_in_the_callback():
    import tracemalloc

    stage = speaking_stage()
    start_segment(stage, 1, ramp_source(30000))
    say(stage, 1, np.full((30000, 2), 0.1, np.float32))
    out = np.zeros((512, 2), np.int16)
    for _ in range(5):
        stage.render(out)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(40):
        stage.render(out)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename") if s.size_diff > 0)
    assert grown < 4096, f"render allocated {grown} bytes that stayed"


def test_more_of_the_same_words_goes_on_where_it_was():
    """The feeder hands the words over in growing parts (same gen): no restart, no gap."""
    stage = speaking_stage(volume=1.0)
    words = np.linspace(-0.5, 0.5, 6000, dtype=np.float32)[:, None].repeat(2, axis=1)
    stage.speech_on = True
    stage.voice = Utterance(1, words[:1000], False)
    first = render(stage, 960)
    stage.voice = Utterance(1, words[:3000], False)
    second = render(stage, 1920)
    stage.voice = Utterance(1, words, True)
    rest = render(stage, 3200)
    out = np.concatenate([first, second, rest])[:6000, 0].astype(int)
    expected = np.rint(words[:, 0] * 32768).astype(int)
    fade = stage.voice_fade_frames
    assert np.abs(out[fade:] - expected[fade:]).max() <= 1
    assert stage.voice_gaps == 0 and stage.voice_ended_gen == 1
