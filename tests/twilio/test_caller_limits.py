"""Per-caller limits in one process (``CallerLimiter``) and the local half of the fleet interface."""

from __future__ import annotations

import pytest

from pipecat_twilio_realtime import CallLimiter
from pipecat_twilio_realtime.twilio.limits import CallerLimiter
from pipecat_twilio_realtime.twilio.shared_limits import LocalCallLimits


def test_a_caller_limiter_counts_each_caller_and_forgets_idle_ones() -> None:
    limiter = CallerLimiter(2)
    assert limiter.try_acquire("+1555") and limiter.try_acquire("+1555")
    assert not limiter.try_acquire("+1555") and limiter.try_acquire("+1666")
    assert (limiter.active("+1555"), limiter.active("+1666"), limiter.active("+1777")) == (2, 1, 0)
    assert repr(limiter) == "CallerLimiter(callers=2, max_per_caller=2)"  # no numbers in logs
    limiter.release("+1555")
    assert limiter.active("+1555") == 1 and limiter.try_acquire("+1555")
    for _ in range(2):
        limiter.release("+1555")
    limiter.release("+1666")
    assert repr(limiter) == "CallerLimiter(callers=0, max_per_caller=2)"
    with pytest.raises(RuntimeError, match="without a slot"):
        limiter.release("+1555")
    with pytest.raises(ValueError, match="must be positive"):
        CallerLimiter(0)


async def test_local_limits_apply_the_process_cap_then_the_caller_limit() -> None:
    limits = LocalCallLimits(CallLimiter(3), CallerLimiter(1))
    assert (await limits.try_acquire("a")).reason == "admitted" and await limits.try_add_caller("a", "+1555")
    assert await limits.try_acquire("b")
    refused = await limits.try_add_caller("b", "+1555")
    assert (refused.ok, refused.reason, refused.mode) == (False, "caller_limit", "process")
    assert await limits.caller_active("+1555") == 1 and await limits.count() == 2
    assert await limits.try_add_caller("b", "")  # no From (e.g. unsigned local tests): no per-caller limit
    assert await limits.try_acquire("c") and limits.full
    assert (await limits.try_acquire("d")).reason == "at_cap"
    await limits.release("a")
    assert await limits.caller_active("+1555") == 0 and not limits.full
    for call in ("b", "c"):
        await limits.release(call)
    assert limits.active == 0
    unlimited = LocalCallLimits(CallLimiter(1))
    assert await unlimited.try_acquire("x") and await unlimited.try_add_caller("x", "+1555")
    assert await unlimited.caller_active("+1555") == 0
