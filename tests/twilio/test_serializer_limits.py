"""Inbound bounds: a media flood is dropped and counted, silence is noticed, calls per process capped."""

from __future__ import annotations

from typing import Any

import pytest
from pipecat.frames.frames import (
    InputAudioRawFrame,
)

from pipecat_twilio_realtime import (
    CallLimiter,
    CallLimitReached,
    TwilioMediaStreamSerializer,
    watch_inactivity,
)

from .. import _twilio_helpers as tw
from ._serializer_harness import Params, started

FRAME = b"\xff" * 160  # 20 ms of μ-law silence, as Twilio sends it


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def make(clock: FakeClock, **params: Any) -> TwilioMediaStreamSerializer:
    return TwilioMediaStreamSerializer(params=TwilioMediaStreamSerializer.InputParams(**params), clock=clock)


async def test_real_time_media_is_never_dropped() -> None:
    clock = FakeClock()
    serializer = make(clock)
    await serializer.deserialize(tw.start())
    for seq in range(2, 3002):  # one minute, 20 ms apart
        clock.now += 0.02
        assert isinstance(await serializer.deserialize(tw.media(seq, FRAME, seq)), InputAudioRawFrame)
    assert serializer.stats.rate_dropped == 0 and serializer.stats.media_received == 3000


async def test_a_flood_is_bounded_to_twice_real_time_plus_the_burst(logs: list[str]) -> None:
    clock = FakeClock()
    serializer = make(clock, max_inbound_rate=2.0, inbound_burst_ms=1000)
    accepted = 0
    for seq in range(1, 100_001):  # 100k messages at 4000 per second (as in the attack)
        clock.now += 1 / 4000
        accepted += (await serializer.deserialize(tw.media(seq, FRAME, seq))) is not None
    # 25 s of flood: at most 2x real time (16000 B/s) plus 3 s of bucket (2x + 1 s burst)
    allowed = (25 * 16000 + 16000 + 8000) // 160
    assert allowed - 2 <= accepted <= allowed + 1
    assert serializer.stats.rate_dropped == 100_000 - accepted
    assert serializer.stats.ulaw_bytes_received == accepted * 160
    warnings = [line for line in logs if "faster than 2x real time" in line and "WARNING" in line]
    assert len(warnings) == 1


async def test_a_flood_of_tiny_payloads_costs_ten_ms_each() -> None:
    clock = FakeClock()
    serializer = make(clock, max_inbound_rate=2.0, inbound_burst_ms=0)
    accepted = 0
    for seq in range(1, 1001):  # all at once
        accepted += (await serializer.deserialize(tw.media(seq, b"\xff", seq))) is not None
    assert accepted == 16000 // 80


async def test_the_bound_can_be_switched_off() -> None:
    clock = FakeClock()
    serializer = make(clock, max_inbound_rate=0)
    for seq in range(1, 2001):
        assert await serializer.deserialize(tw.media(seq, FRAME, seq)) is not None
    assert serializer.stats.rate_dropped == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"max_inbound_rate": -1}, "max_inbound_rate"),
        ({"max_inbound_rate": float("nan")}, "max_inbound_rate"),
        ({"max_inbound_rate": float("inf")}, "max_inbound_rate"),
        ({"inbound_burst_ms": -5}, "inbound_burst_ms"),
    ],
)
def test_bad_limits_name_the_field(params: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make(FakeClock(), **params)


async def test_activity_times_come_from_the_injected_clock() -> None:
    clock = FakeClock()
    serializer = make(clock)
    assert serializer.last_media_monotonic is None and serializer.last_activity_monotonic == 1000.0
    clock.now = 1005.0
    await serializer.deserialize(tw.start())
    assert serializer.last_activity_monotonic == 1005.0 and serializer.last_media_monotonic is None
    clock.now = 1007.5
    await serializer.deserialize(tw.media(2, FRAME))
    assert serializer.last_media_monotonic == 1007.5 == serializer.last_activity_monotonic


async def test_watch_inactivity_fires_once_after_the_limit_of_silence() -> None:
    clock = FakeClock()
    serializer = make(clock)
    await serializer.deserialize(tw.start())
    reasons: list[str] = []
    fed = 0

    async def sleep(seconds: float) -> None:
        nonlocal fed
        # media keeps coming for the first 3 wake-ups, then the caller's side goes silent
        await clock.sleep(seconds)
        if fed < 3:
            fed += 1
            await serializer.deserialize(tw.media(fed + 1, FRAME))

    async def on_idle(reason: str) -> None:
        reasons.append(reason)

    began = clock.now
    reason = await watch_inactivity(serializer, 30, on_idle, sleep=sleep)
    assert reasons == [reason] and "no media from Twilio for 30.0 s" in reason
    assert clock.now == pytest.approx(began + 4 * 30)
    with pytest.raises(ValueError, match="limit_s"):
        await watch_inactivity(serializer, 0, on_idle, sleep=sleep)


async def test_call_limiter_caps_concurrent_calls() -> None:
    limiter = CallLimiter(2)
    assert limiter.try_acquire() and limiter.try_acquire() and not limiter.try_acquire()
    assert limiter.active == 2
    limiter.release()
    async with limiter:
        assert limiter.active == 2
        with pytest.raises(CallLimitReached):
            async with limiter:
                pass
        assert limiter.active == 2
    assert limiter.active == 1
    limiter.release()
    with pytest.raises(RuntimeError, match="release"):
        limiter.release()
    with pytest.raises(ValueError, match="max_calls"):
        CallLimiter(0)


async def test_max_message_bytes_is_applied_to_inbound_messages() -> None:
    message = tw.media(2, b"\x01" * 160)
    size = len(message.encode())
    exact = await started(params=Params(max_message_bytes=size))
    assert isinstance(await exact.deserialize(message), InputAudioRawFrame)
    small = await started(params=Params(max_message_bytes=size - 1))
    assert await small.deserialize(message) is None
    assert small.stats.malformed_dropped == 1 and small.stats.media_received == 0


async def _accepted(serializer: TwilioMediaStreamSerializer, frame: bytes, seq: int) -> int:
    """How many ``frame``s in a row the serializer takes at once (at most 100: a bound for broken code)."""
    for n in range(100):
        if await serializer.deserialize(tw.media(seq + n, frame)) is None:
            return n
    return 100


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_the_bucket_holds_rate_plus_burst_and_refills_at_the_rate(logs: list[str]) -> None:
    clock = Clock()
    serializer = TwilioMediaStreamSerializer(
        params=Params(max_inbound_rate=1.0, inbound_burst_ms=500), clock=clock
    )
    frame = b"\xff" * 400  # 50 ms
    taken = await _accepted(serializer, frame, 1)
    assert taken == (8000 + 4000) // 400  # one second at the rate plus the 500 ms burst
    assert serializer.stats.rate_dropped == 1
    clock.now += 0.0625  # 62.5 ms later: one more 50 ms frame, not two
    assert await serializer.deserialize(tw.media(100, frame)) is not None
    assert await serializer.deserialize(tw.media(101, frame)) is None
    clock.now += 10.0  # a long pause refills to the capacity, not beyond
    refilled = await _accepted(serializer, frame, 200)
    assert refilled == 30
    assert serializer.stats.rate_dropped == 3
    assert sum("WARNING" in line and "faster than 1x real time" in line for line in logs) == 1


async def test_a_clock_going_backwards_refills_nothing() -> None:
    clock = Clock()
    serializer = TwilioMediaStreamSerializer(
        params=Params(max_inbound_rate=1.0, inbound_burst_ms=0), clock=clock
    )
    frame = b"\xff" * 8000
    assert await serializer.deserialize(tw.media(1, frame)) is not None
    clock.now -= 5.0
    assert await serializer.deserialize(tw.media(2, b"\xff" * 80)) is None


async def test_a_payload_exactly_the_bucket_is_taken() -> None:
    clock = Clock()
    serializer = TwilioMediaStreamSerializer(
        params=Params(max_inbound_rate=1.0, inbound_burst_ms=0), clock=clock
    )
    assert await serializer.deserialize(tw.media(1, b"\xff" * 8000)) is not None
    assert await serializer.deserialize(tw.media(2, b"\xff")) is None


async def test_dropped_media_still_counts_as_activity() -> None:
    clock = Clock()
    serializer = TwilioMediaStreamSerializer(
        params=Params(max_inbound_rate=1.0, inbound_burst_ms=0), clock=clock
    )
    await serializer.deserialize(tw.media(1, b"\xff" * 8000))
    clock.now += 0.001
    assert await serializer.deserialize(tw.media(2, b"\xff" * 160)) is None
    assert serializer.last_media_monotonic == serializer.last_activity_monotonic == 100.001


async def test_a_very_slow_rate_is_still_a_bound() -> None:
    clock = Clock()
    serializer = TwilioMediaStreamSerializer(
        params=Params(max_inbound_rate=0.0001, inbound_burst_ms=0), clock=clock
    )  # 0.8 bytes per second: the first 10 ms message is already too much
    assert await serializer.deserialize(tw.media(1, b"\xff" * 80)) is None
    assert serializer.stats.rate_dropped == 1
