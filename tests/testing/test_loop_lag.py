"""LoopLag: how late the event loop the simulated caller lives on ran."""

from __future__ import annotations

import asyncio
import time

from pipecat_twilio_realtime.testing.lag import LoopLag


async def test_a_blocked_loop_is_measured_and_nothing_after_the_exit() -> None:
    with LoopLag(period_s=0.01) as lag:
        await asyncio.sleep(0.03)  # the monitor runs
        time.sleep(0.15)  # noqa: ASYNC251 - the point: starve the loop the way a busy machine does
        await asyncio.sleep(0.03)
    assert lag.max_ms >= 100
    seen = lag.max_ms
    time.sleep(0.05)  # noqa: ASYNC251
    await asyncio.sleep(0.03)
    assert lag.max_ms == seen  # stopped at the exit


async def test_before_it_ever_ran_it_reads_zero() -> None:
    with LoopLag() as lag:
        pass
    assert lag.max_ms == 0.0
