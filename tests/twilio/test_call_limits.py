"""Call limits: the per-process cap counts slots exactly; a call whose Twilio media stopped is ended at the
inactivity limit, sleeping only the time left.
"""

from __future__ import annotations

import pytest

from pipecat_twilio_realtime import (
    CallLimiter,
    CallLimitReached,
    watch_inactivity,
)


async def test_call_limiter_counts_slots_exactly() -> None:
    limiter = CallLimiter(2)
    assert (limiter.active, limiter.max_calls) == (0, 2)
    assert repr(limiter) == "CallLimiter(active=0, max_calls=2)"
    assert limiter.try_acquire() and limiter.try_acquire()
    assert not limiter.try_acquire() and limiter.active == 2
    limiter.release()
    assert limiter.active == 1 and limiter.try_acquire() and limiter.active == 2
    limiter.release()
    limiter.release()
    assert limiter.active == 0
    with pytest.raises(RuntimeError, match="without a slot"):
        limiter.release()
    assert limiter.active == 0
    async with limiter as held:
        assert held is limiter and limiter.active == 1
        async with limiter:
            assert limiter.active == 2
            with pytest.raises(CallLimitReached, match="2 calls"):
                async with limiter:
                    pass
            assert limiter.active == 2
    assert limiter.active == 0


@pytest.mark.parametrize("cap", [0, -3])
def test_call_limiter_needs_a_positive_cap(cap: int) -> None:
    with pytest.raises(ValueError, match="max_calls"):
        CallLimiter(cap)
    assert CallLimiter(1).max_calls == 1


class Source:
    """An activity source with a settable clock (a serializer stand-in)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.last_activity_monotonic = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_inactivity_sleeps_only_the_time_left_and_fires_at_the_limit() -> None:
    source = Source()
    source.now = 104.0  # 4 s idle already
    reasons: list[str] = []

    async def on_idle(reason: str) -> None:
        reasons.append(reason)

    reason = await watch_inactivity(source, 10, on_idle, sleep=source.sleep)
    assert source.sleeps == [6.0] and source.now == 110.0  # idle exactly the limit: ended
    assert reasons == [reason] == ["no media from Twilio for 10.0 s (limit 10 s)"]


async def test_inactivity_waits_again_after_media() -> None:
    source = Source()
    reasons: list[str] = []

    async def sleep(seconds: float) -> None:
        await source.sleep(seconds)
        if len(source.sleeps) == 1:
            source.last_activity_monotonic = source.now - 2.5  # media 2.5 s before this wake-up

    async def on_idle(reason: str) -> None:
        reasons.append(reason)

    await watch_inactivity(source, 5, on_idle, sleep=sleep)
    assert source.sleeps == [5.0, 2.5] and len(reasons) == 1


async def test_inactivity_already_over_the_limit_fires_at_once() -> None:
    source = Source()
    source.now = 200.0
    reasons: list[str] = []

    async def on_idle(reason: str) -> None:
        reasons.append(reason)

    assert await watch_inactivity(source, 0.5, on_idle, sleep=source.sleep) == (
        "no media from Twilio for 100.0 s (limit 0.5 s)"
    )
    assert source.sleeps == [] and len(reasons) == 1


@pytest.mark.parametrize("limit", [0, -1, float("nan")])
async def test_inactivity_limit_must_be_positive(limit: float) -> None:
    source = Source()

    async def on_idle(reason: str) -> None:
        raise AssertionError(reason)

    with pytest.raises(ValueError, match="limit_s must be positive"):
        await watch_inactivity(source, limit, on_idle, sleep=source.sleep)
