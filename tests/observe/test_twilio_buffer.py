"""TwilioBufferEstimator fed literal timelines: lead, dry periods, late echoes, clears, reply pauses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from pipecat_twilio_realtime.observe.twilio_buffer import DryPeriod, TwilioBufferEstimator

CHUNK = 800  # 100 ms of μ-law


@dataclass
class Timeline:
    """The bot's sends, delivered and played as Twilio does (in order, at 8 bytes/ms while it has audio).

    ``to_twilio(t)`` is the extra delay of what the bot sends at ``t``; ``to_bot(t)`` of an echo Twilio
    sends at ``t``. ``events`` are the estimator calls in time order.
    """

    to_twilio: Callable[[float], float] = lambda t: 0.0
    to_bot: Callable[[float], float] = lambda t: 0.0
    events: list[tuple[float, str, object]] = field(default_factory=list)
    heard_gaps_ms: list[float] = field(default_factory=list)
    _arrived: float = 0.0
    _play_end: float = 0.0
    _sent: int = 0
    _marks: int = 0

    def reply(self, start: float, chunks: int, *, lead_s: float = 0.0, mark_every: int = 5) -> float:
        """A reply of ``chunks`` 100 ms messages, sent ``lead_s`` ahead, a mark first and every few."""
        self._mark(start)
        for n in range(chunks):
            t = max(start, start + n * 0.1 - lead_s)
            arrive = max(self._arrived, t + self.to_twilio(t))
            if n and arrive > self._play_end + 1e-9:
                self.heard_gaps_ms.append(round((arrive - self._play_end) * 1000, 1))
            self._arrived = arrive
            self._play_end = max(self._play_end, arrive) + CHUNK / 8000
            self._sent += CHUNK
            self.events.append((t, "media", CHUNK))
            if (n + 1) % mark_every == 0:
                self._mark(t)
        return start + chunks * 0.1

    def clear(self, t: float) -> None:
        self.events.append((t, "clear", None))
        self._play_end = self._arrived = t

    def _mark(self, t: float) -> None:
        self._marks += 1
        name = f"m{self._marks}"
        arrive = max(self._arrived, t + self.to_twilio(t))
        self._arrived = arrive
        echoed = max(self._play_end, arrive)
        self.events.append((t, "mark", (name, self._sent)))
        self.events.append((echoed + self.to_bot(echoed), "echo", (name, t)))

    def feed(self, estimator: TwilioBufferEstimator, end: float) -> list[DryPeriod]:
        """Feed everything up to a clear in time order; echoes after a clear were flushed (dropped)."""
        confirmed: list[DryPeriod] = []
        events = sorted(self.events, key=lambda e: e[0])
        clears = [t for t, kind, _ in events if kind == "clear"]
        for t, kind, value in events:
            if kind == "media":
                assert isinstance(value, int)
                confirmed += estimator.media_sent(value, t)
            elif kind == "mark":
                assert isinstance(value, tuple)
                confirmed += estimator.mark_sent(value[0], value[1], t)
            elif kind == "clear":
                confirmed += estimator.clear_sent(t)
            else:
                assert isinstance(value, tuple)
                name, mark_t = value
                if not any(mark_t < c <= t for c in clears):
                    confirmed += estimator.mark_echoed(name, t)
        confirmed += estimator.finish(end)
        return confirmed


def stall(start: float, length: float) -> Callable[[float], float]:
    """Nothing gets through from ``start`` for ``length`` seconds (a TCP stall: held, then delivered)."""
    return lambda t: start + length - t if start <= t < start + length else 0.0


def test_continuous_play_is_never_dry_and_the_lead_is_what_was_sent_ahead() -> None:
    line = Timeline(to_twilio=lambda t: 0.005, to_bot=lambda t: 0.005)
    end = line.reply(0.0, 60, lead_s=0.5)
    estimator = TwilioBufferEstimator()
    assert line.feed(estimator, end + 1) == []
    summary = estimator.summary()
    assert summary.dry_count == 0 and summary.dry_ms == 0
    assert summary.lead_min_ms is not None and summary.lead_median_ms is not None
    # each message leaves 500 ms before it plays; echoes come 10 ms after play, so up to ~10 ms less
    assert 480 <= summary.lead_min_ms <= 510, summary
    assert 480 <= summary.lead_median_ms <= 600, summary


def test_a_250_ms_stall_with_no_lead_is_one_dry_period_of_250_ms() -> None:
    line = Timeline(to_twilio=stall(2.0, 0.25))
    end = line.reply(0.0, 50)
    estimator = TwilioBufferEstimator()
    confirmed = line.feed(estimator, end + 1)
    assert line.heard_gaps_ms == [250.0]  # what the caller heard, from the model
    assert len(confirmed) == 1 and confirmed[0].ms == pytest.approx(250, abs=1)
    assert 1.9 <= confirmed[0].at <= 2.05  # the last echo before the silence (marks every 500 ms)
    summary = estimator.summary()
    assert (summary.dry_count, summary.dry_ms) == (1, confirmed[0].ms)
    assert summary.lead_min_ms == 0


def test_the_same_stall_with_a_500_ms_lead_is_not_dry() -> None:
    line = Timeline(to_twilio=stall(2.05, 0.25))
    end = line.reply(0.0, 50, lead_s=0.5)
    estimator = TwilioBufferEstimator()
    assert line.heard_gaps_ms == []
    assert line.feed(estimator, end + 1) == []
    assert estimator.summary().dry_count == 0


def test_a_late_echo_that_later_echoes_catch_up_with_is_not_dry() -> None:
    line = Timeline(to_bot=stall(2.4, 0.35))  # the echo due at 2.5 s arrives at 2.75 s
    end = line.reply(0.0, 50)
    estimator = TwilioBufferEstimator()
    assert line.feed(estimator, end + 1) == []
    assert estimator.summary().dry_count == 0


def test_a_dry_period_is_confirmed_by_later_echoes_before_the_reply_ends() -> None:
    # echoes come back with 0-15 ms of jitter: each lower one undercuts the one before it
    line = Timeline(to_twilio=stall(1.0, 0.25), to_bot=lambda t: (0.015, 0.005, 0.0)[round(t * 2) % 3])
    line.reply(0.0, 80)
    estimator = TwilioBufferEstimator(confirm_ms=1000)
    confirmed: list[tuple[float, DryPeriod]] = []
    for t, kind, value in sorted(line.events, key=lambda e: e[0]):
        if kind == "media":
            assert isinstance(value, int)
            estimator.media_sent(value, t)
        elif kind == "mark":
            assert isinstance(value, tuple)
            estimator.mark_sent(value[0], value[1], t)
        else:
            assert isinstance(value, tuple)
            confirmed += [(t, d) for d in estimator.mark_echoed(value[0], t)]
    assert len(confirmed) == 1
    t, dry = confirmed[0]
    assert dry.ms == pytest.approx(250, abs=16)
    # the first echo 1 s after the first one that showed the rise (1.755 s), though lower echoes came
    # in between; long before the reply's end (8 s)
    assert 2.755 <= t <= 2.8 and dry.confirmed_at == t


def test_an_echo_that_comes_back_late_and_alone_is_not_confirmed_before_the_next() -> None:
    estimator = TwilioBufferEstimator(confirm_ms=1000)
    estimator.mark_sent("a", 0, 0.0)
    estimator.media_sent(CHUNK * 10, 0.0)
    estimator.mark_sent("b", CHUNK * 5, 0.0)
    estimator.mark_sent("c", CHUNK * 10, 0.0)
    assert estimator.mark_echoed("a", 0.0) == []
    assert estimator.mark_echoed("b", 0.9) == []  # 400 ms late
    assert estimator.advance(1.5) == []  # not yet 1 s since the rise
    assert estimator.mark_echoed("c", 1.0) == []  # on time: the rise was a late echo
    assert estimator.finish(3.0) == []


def test_small_gaps_add_up_until_they_pass_the_tolerance() -> None:
    estimator = TwilioBufferEstimator(tolerance_ms=30)
    estimator.mark_sent("s", 0, 0.0)
    estimator.media_sent(CHUNK * 20, 0.0)
    for n in range(1, 5):
        estimator.mark_sent(f"m{n}", CHUNK * 4 * n, 0.0)
    estimator.mark_echoed("s", 0.0)
    estimator.mark_echoed("m1", 0.4 + 0.020)  # 20 ms of silence: below the tolerance
    estimator.mark_echoed("m2", 0.8 + 0.020)
    estimator.mark_echoed("m3", 1.2 + 0.040)  # 20 ms more: 40 ms since the base
    estimator.mark_echoed("m4", 1.6 + 0.040)
    confirmed = estimator.finish(3.0)
    assert [d.ms for d in confirmed] == [pytest.approx(40, abs=0.5)]


def test_a_clear_ends_the_reply_so_the_next_one_starts_from_its_own_echoes() -> None:
    line = Timeline()
    line.reply(0.0, 12)  # no lead: the last message plays 1.1-1.2 s
    line.clear(1.15)  # barge-in: Twilio empties its buffer, the pending marks come back flushed
    end = line.reply(1.4, 20)  # the next reply plays from 1.4 s: later than the flushed audio would have
    estimator = TwilioBufferEstimator()
    assert line.feed(estimator, end + 1) == []
    assert estimator.summary().dry_count == 0


def test_a_dry_period_just_before_a_barge_in_still_counts() -> None:
    line = Timeline(to_twilio=stall(1.0, 0.25))
    line.reply(0.0, 20)  # dry 1.0-1.25 s, echoed at 1.75 s
    line.clear(1.9)  # before later echoes could confirm it
    end = line.reply(2.0, 20, lead_s=0.5)
    estimator = TwilioBufferEstimator()
    confirmed = line.feed(estimator, end + 1)
    assert [d.ms for d in confirmed] == [pytest.approx(250, abs=1)]
    assert confirmed[0].confirmed_at == 1.9


def test_the_lead_of_a_second_reply_is_not_the_empty_buffer_it_starts_with() -> None:
    line = Timeline()
    first_end = line.reply(0.0, 20, lead_s=0.5)
    end = line.reply(first_end + 1.0, 20, lead_s=0.5)
    estimator = TwilioBufferEstimator()
    line.feed(estimator, end + 1)
    lead_min = estimator.summary().lead_min_ms
    assert lead_min is not None and lead_min >= 480


def test_the_lead_stops_at_a_mark_not_yet_echoed() -> None:
    estimator = TwilioBufferEstimator()
    estimator.mark_sent("s", 0, 0.0)
    estimator.media_sent(CHUNK * 5, 0.0)
    estimator.mark_sent("m", CHUNK * 5, 0.0)
    estimator.media_sent(CHUNK * 5, 0.0)
    estimator.mark_echoed("s", 0.0)
    # 2 s later the line-rate clock says all 1 s played, but "m" (after 500 ms) has not echoed
    assert estimator.lead_ms(2.0) == pytest.approx(500)
    estimator.mark_echoed("m", 2.0)
    assert estimator.lead_ms(2.0) == pytest.approx(500) and estimator.lead_ms(2.6) == 0


def test_the_lead_after_a_clear_is_zero() -> None:
    estimator = TwilioBufferEstimator()
    estimator.mark_sent("s", 0, 0.0)
    estimator.media_sent(CHUNK * 10, 0.0)
    estimator.mark_echoed("s", 0.01)
    assert estimator.lead_ms(0.21) == pytest.approx(800, abs=1)
    estimator.clear_sent(0.3)
    assert estimator.lead_ms(0.3) == 0


def test_back_to_back_replies_with_a_pause_between_them_are_not_dry() -> None:
    line = Timeline()
    first_end = line.reply(0.0, 20)
    second_end = line.reply(first_end + 0.6, 20)  # 600 ms of nothing sent: the bot paused
    third_end = line.reply(second_end + 0.35, 20, lead_s=0.5)
    estimator = TwilioBufferEstimator()
    assert line.feed(estimator, third_end + 1) == []
    assert estimator.summary().dry_count == 0


def test_without_a_played_echo_there_is_no_lead_estimate() -> None:
    estimator = TwilioBufferEstimator()
    for n in range(5):
        estimator.media_sent(CHUNK, n * 0.1)
    assert estimator.lead_ms(0.5) is None
    summary = estimator.summary()
    assert summary.lead_min_ms is None and summary.lead_median_ms is None and summary.dry_count == 0


def test_unknown_and_flushed_echoes_are_ignored() -> None:
    estimator = TwilioBufferEstimator()
    estimator.mark_sent("s", 0, 0.0)
    estimator.media_sent(CHUNK * 10, 0.0)
    estimator.mark_sent("x", CHUNK * 5, 0.0)
    estimator.clear_sent(0.2)
    assert estimator.mark_echoed("x", 0.2) == []  # flushed by the clear
    assert estimator.mark_echoed("never-sent", 5.0) == []
    assert estimator.finish(6.0) == [] and estimator.dry_periods == []


@pytest.mark.parametrize("kw", [{"tolerance_ms": -1}, {"confirm_ms": -5}, {"reply_gap_ms": -1}])
def test_negative_settings_are_refused(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        TwilioBufferEstimator(**kw)


def test_keep_samples_must_be_positive() -> None:
    with pytest.raises(ValueError, match="keep_samples"):
        TwilioBufferEstimator(keep_samples=0)
