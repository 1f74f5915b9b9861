"""Playout: the caller's 20 ms playout clock and its gap counter, driven with scripted arrival times."""

from __future__ import annotations

import pytest

from pipecat_twilio_realtime.testing.twilio import Gap, Playout

TICK = 0.02


def play(arrivals: dict[int, bytes], ticks: int, *, clears: tuple[int, ...] = (), **kw: float) -> Playout:
    """Tick ``ticks`` times; before tick ``n``: a clear if ``n`` is in ``clears``, then ``arrivals[n]``."""
    playout = Playout(**kw)
    for n in range(ticks):
        if n in clears:
            playout.clear()
        if n in arrivals:
            playout.push(arrivals[n], n * TICK)
        playout.tick(n * TICK)
    return playout


def frames(count: int, value: int = 0x10) -> bytes:
    return bytes([value]) * 160 * count


def test_audio_that_arrives_in_time_has_no_gap_and_plays_unchanged() -> None:
    audio = bytes(range(256)) * 25  # 6400 bytes = 40 frames, a 100 ms message every 5 ticks
    arrivals = {n: audio[n // 5 * 800 : n // 5 * 800 + 800] for n in range(0, 40, 5)}
    playout = play(arrivals, 60)
    assert playout.gaps == []
    assert playout.played_total == len(audio)


def test_a_late_message_inside_a_reply_is_a_gap_of_the_ticks_it_missed() -> None:
    # 100 ms messages due every 5 ticks; the third arrives 3 ticks (60 ms) late.
    arrivals = {0: frames(5), 5: frames(5), 13: frames(5), 18: frames(5)}
    playout = play(arrivals, 40)
    assert playout.gaps == [Gap(at=10 * TICK, ulaw_bytes=480)]
    assert playout.gaps[0].ms == 60.0


def test_two_stalls_are_two_gaps_and_silence_after_the_reply_is_none() -> None:
    arrivals = {0: frames(2), 4: frames(2), 9: frames(1)}  # holes of 2 and 3 ticks, then the reply ends
    playout = play(arrivals, 100)
    assert [g.ms for g in playout.gaps] == [40.0, 60.0]


def test_a_pause_past_the_limit_is_between_replies_not_a_gap() -> None:
    arrivals = {0: frames(2), 2 + 50: frames(2)}  # 1.0 s of silence: the limit itself still counts
    assert [g.ms for g in play(arrivals, 80).gaps] == [1000.0]
    arrivals = {0: frames(2), 2 + 51: frames(2)}
    assert play(arrivals, 80).gaps == []
    assert [g.ms for g in play(arrivals, 80, gap_limit_s=1.5).gaps] == [1020.0]


def test_a_partial_frame_followed_by_audio_is_a_gap_for_its_missing_part() -> None:
    playout = play({0: frames(1) + b"\x10" * 80, 2: frames(1)}, 10)
    assert [g.ulaw_bytes for g in playout.gaps] == [80]


def test_a_clear_ends_the_speech_so_the_next_reply_starts_clean() -> None:
    # Reply one plays 3 ticks, a clear at tick 5 (after 2 silent ticks), reply two from tick 6.
    playout = play({0: frames(3), 6: frames(3)}, 20, clears=(5,))
    assert playout.gaps == []
    # Without the clear the same silence is a gap inside the speech.
    assert [g.ms for g in play({0: frames(3), 6: frames(3)}, 20).gaps] == [60.0]


def test_a_jitter_buffer_delay_refills_after_an_underrun_and_that_is_heard_as_gap() -> None:
    playout = play({0: frames(2), 2: frames(2)}, 20, delay_s=0.04)
    # Starts at tick 2 (40 ms buffered), plays ticks 2-5 without a hole: arrival kept it fed.
    assert playout.gaps == []
    # Plays ticks 2-3, underrun at tick 4; the next message arrives at tick 5 and waits 40 ms more.
    playout = play({0: frames(2), 5: frames(2)}, 20, delay_s=0.04)
    assert [g.ms for g in playout.gaps] == [60.0]
    assert [g.at for g in playout.gaps] == [4 * TICK]
    assert playout.played_total == 4 * 160


def test_negative_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        Playout(gap_limit_s=-1)
