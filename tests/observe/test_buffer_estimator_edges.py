"""TwilioBufferEstimator at its edges: exact boundaries (tolerance, confirm time, reply gap, burst), the
rounding of what it reports, the samples window, old-reply echoes, and when a dry period was confirmed.

Positions are multiples of 1000 bytes (0.125 s) and times binary fractions where a boundary is exact.
"""

from __future__ import annotations

import math

from pipecat_twilio_realtime.observe.twilio_buffer import TwilioBufferEstimator


def one_dry_reply(e: TwilioBufferEstimator, dry_s: float) -> None:
    """Two 1000-byte messages with a mark after each; the second echo comes ``dry_s`` late."""
    e.media_sent(1000, 0.0)
    e.mark_sent("a", 1000, 0.0)
    e.media_sent(1000, 0.0)
    e.mark_sent("b", 2000, 0.0)
    e.mark_sent("c", 2000, 0.0)  # stays pending: the reply is not over
    assert e.mark_echoed("a", 0.125) == []  # offset 0
    e.mark_echoed("b", 0.25 + dry_s)  # offset dry_s, the rise


def test_a_rise_of_exactly_the_tolerance_counts_and_one_just_under_does_not() -> None:
    at = TwilioBufferEstimator(tolerance_ms=62.5)
    one_dry_reply(at, 0.0625)
    assert [d.ms for d in at.finish(2.0)] == [62.5]
    under = TwilioBufferEstimator(tolerance_ms=62.5)
    one_dry_reply(under, 0.0625 - 2**-14)
    assert under.finish(2.0) == [] and under.summary().dry_count == 0


def test_a_rise_is_confirmed_exactly_confirm_ms_after_the_echo_that_showed_it() -> None:
    e = TwilioBufferEstimator()
    one_dry_reply(e, 0.125)  # echo b at 0.375
    assert e.advance(1.3745) == []
    dry = e.advance(1.375)
    assert [(d.at, d.ms, d.confirmed_at) for d in dry] == [(0.125, 125.0, 1.375)]


def test_dry_lengths_are_rounded_to_a_tenth_of_a_ms() -> None:
    e = TwilioBufferEstimator()
    one_dry_reply(e, 0.04025)  # 40.25 ms, a hair over in floating point
    dry = e.finish(3.0)
    assert [d.ms for d in dry] == [40.3] and e.summary().dry_ms == 40.3
    half = TwilioBufferEstimator()
    one_dry_reply(half, 0.0405)
    assert [d.ms for d in half.finish(3.0)] == [40.5] and half.summary().dry_ms == 40.5


def test_the_summary_lists_each_dry_period() -> None:
    e = TwilioBufferEstimator()
    one_dry_reply(e, 0.125)
    dry = e.finish(3.0)
    assert e.summary().dry == tuple(dry) and len(dry) == 1 and e.dry_periods == dry


def test_each_way_a_reply_ends_stamps_the_time_it_was_confirmed() -> None:
    at_end = TwilioBufferEstimator()
    one_dry_reply(at_end, 0.125)
    assert [d.confirmed_at for d in at_end.finish(0.5)] == [0.5]
    idle = TwilioBufferEstimator()
    one_dry_reply(idle, 0.125)
    idle.mark_echoed("c", 0.375)  # nothing pending any more
    assert [d.confirmed_at for d in idle.advance(0.75)] == [0.75]
    next_reply = TwilioBufferEstimator()
    one_dry_reply(next_reply, 0.125)
    next_reply.mark_echoed("c", 0.375)
    assert [d.confirmed_at for d in next_reply.media_sent(160, 5.0)] == [5.0]


def test_small_rises_add_up_from_the_lowest_level_even_after_a_step_is_undercut() -> None:
    e = TwilioBufferEstimator(confirm_ms=0)
    e.media_sent(4000, 0.0)
    for n in range(1, 5):
        e.mark_sent(f"m{n}", 1000 * n, 0.0)
    e.mark_echoed("m1", 0.125)  # offset 0
    e.mark_echoed("m2", 0.27)  # +20 ms: under the tolerance, folded in
    e.mark_echoed("m3", 0.385)  # +10 ms: undercuts the +20 step
    dry = e.mark_echoed("m4", 0.535)  # +35 ms over the lowest level
    assert [d.ms for d in dry] == [35.0]


def test_two_echoes_at_the_same_offset_are_no_rise_even_with_no_tolerance() -> None:
    e = TwilioBufferEstimator(tolerance_ms=0)
    e.media_sent(2000, 0.0)
    e.mark_sent("a", 1000, 0.0)
    e.mark_sent("b", 2000, 0.0)
    e.mark_echoed("a", 0.125)
    e.mark_echoed("b", 0.25)
    assert e.finish(1.0) == []


def test_an_echo_from_an_earlier_reply_is_not_read_into_the_next() -> None:
    e = TwilioBufferEstimator()
    e.media_sent(1000, 0.0)
    e.mark_sent("a", 1000, 0.0)
    e.media_sent(1000, 1.0)  # a new reply: the bot was silent past the reply gap
    e.mark_sent("b", 2000, 1.0)
    e.mark_echoed("a", 1.01)  # the first reply's echo, held on its way back (offset 0.885)
    e.mark_echoed("b", 1.25)  # offset 1.0: a late echo alone, but 115 ms above the old one
    assert e.finish(2.0) == []


def clear_then(e: TwilioBufferEstimator) -> None:
    """A clear at 0: Twilio's buffer is known to be empty, so the lead can be estimated."""
    e.clear_sent(0.0)


def test_media_exactly_a_reply_gap_after_the_play_time_is_the_same_reply() -> None:
    e = TwilioBufferEstimator(reply_gap_ms=250)
    clear_then(e)
    e.media_sent(1000, 0.0)  # plays until 0.125
    e.media_sent(1000, 0.375)  # 0.125 + 0.25: still this reply, so a lead sample
    assert e.summary().lead_min_ms == 0.0


def test_a_mark_sent_with_nothing_queued_moves_the_play_time_on() -> None:
    e = TwilioBufferEstimator()
    clear_then(e)
    e.media_sent(1000, 0.0)  # plays until 0.125
    e.mark_sent("a", 1000, 0.4)  # nothing queued: the reply goes on from 0.4
    e.media_sent(1000, 0.65)  # within the gap of 0.4, not of 0.125
    assert e.summary().lead_min_ms == 0.0


def test_the_second_message_of_a_reply_is_a_sample_even_exactly_a_burst_apart() -> None:
    e = TwilioBufferEstimator()
    clear_then(e)
    e.media_sent(160, 0.0)
    e.media_sent(160, 0.01)  # 160 bytes sent, 80 played: 10 ms ahead
    assert e.summary().lead_min_ms == 10.0


def test_a_message_sent_faster_than_real_time_is_no_sample_however_spread_out() -> None:
    e = TwilioBufferEstimator()
    clear_then(e)
    for t in (
        0,
        1 / 64,
        2 / 64,
        5 / 64,
        7 / 64,
    ):  # a fill of 125 ms messages, spread out as on a busy machine
        e.media_sent(1000, t)
    assert e.summary().lead_min_ms is None  # each left sooner than the previous one's audio lasts
    e.media_sent(160, 7 / 64 + 1 / 8)  # paced: 5000 bytes sent, 15/64 s * 8000 = 1875 played
    assert e.summary().lead_min_ms == 390.6


def test_a_message_is_a_sample_from_the_previous_ones_length_less_a_burst() -> None:
    for gap, sampled in ((0.125 - 0.01, True), (math.nextafter(0.125 - 0.01, 0), False)):
        e = TwilioBufferEstimator()
        clear_then(e)
        e.media_sent(1000, 0.0)
        e.media_sent(160, gap)
        assert (e.summary().lead_min_ms is not None) is sampled, gap


def test_queued_audio_plays_after_what_is_already_queued() -> None:
    e = TwilioBufferEstimator()
    clear_then(e)
    e.media_sent(8000, 0.0)
    e.media_sent(8000, 0.0)  # a burst: Twilio holds 2 s, played by 2.0
    e.media_sent(800, 1.5)  # so this is the same reply: 0.5 s still queued
    assert e.summary().lead_min_ms == 500.0


def test_lead_readings_are_rounded_to_a_tenth_of_a_ms() -> None:
    e = TwilioBufferEstimator()
    clear_then(e)
    e.media_sent(8000, 0.0)
    e.media_sent(881, 0.5)  # a burst: no sample
    e.media_sent(160, 0.625)  # 8881 - 5000 = 3881 bytes ahead: 485.125 ms
    summary = e.summary()
    assert summary.lead_min_ms == 485.1 and summary.lead_median_ms == 485.1


def test_the_median_covers_the_latest_30000_samples_by_default() -> None:
    e = TwilioBufferEstimator()
    clear_then(e)
    e.media_sent(15_840, 0.0)  # the reply's first message: no sample
    e.media_sent(160, 0.98)  # sent long before the first one played: a burst, no sample
    e.media_sent(160, 1.0)  # 16000 bytes sent, 8000 played: a 1000 ms sample
    t = 1.82  # the lead then drops to 200 ms: 20 ms of audio sent every 20 ms keeps it there
    for i in range(15_000):
        e.media_sent(160, t + 0.02 * i)
    t += 0.02 * 15_000 + 0.1  # one step 100 ms late, and 100 ms it stays
    for i in range(15_000):
        e.media_sent(160, t + 0.02 * i)
    summary = e.summary()
    assert summary.lead_min_ms == 100.0
    assert summary.lead_median_ms == 150.0  # the 1000 ms sample fell out; with it the median is 200


def test_zero_settings_and_one_kept_sample_are_allowed() -> None:
    e = TwilioBufferEstimator(tolerance_ms=0, confirm_ms=0, reply_gap_ms=0, keep_samples=1)
    assert e.summary().dry_count == 0
    assert str(e) == "TwilioBufferEstimator"
