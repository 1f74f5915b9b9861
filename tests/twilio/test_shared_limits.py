"""RedisCallLimiter against a real redis-server: the global cap, per-caller limits, leases, Redis going away.

Two limiters on one Redis stand for two processes of a fleet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pipecat_twilio_realtime import CallLimiter
from pipecat_twilio_realtime.twilio.shared_limits import LimitMode, RedisCallLimiter

from .._fleet_helpers import RedisServer, redis_server

pytestmark = pytest.mark.fleet


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    with redis_server(tmp_path) as server:
        yield server


def limiter(server: RedisServer, max_calls: int = 2, local: int = 2, **kw: object) -> RedisCallLimiter:
    return RedisCallLimiter.from_url(server.url, max_calls, local=CallLimiter(local), **kw)  # type: ignore[arg-type]


async def test_the_global_cap_holds_across_processes_and_a_release_frees_a_slot(redis: RedisServer) -> None:
    a, b = limiter(redis), limiter(redis)
    try:
        assert (await a.try_acquire("c1")).reason == "admitted"
        assert await b.try_acquire("c2")
        for process in (a, b):  # the third call is refused wherever it lands
            refused = await process.try_acquire("c3")
            assert not refused and (refused.reason, refused.mode) == ("at_cap", "shared")
            assert await process.count() == 2 and process.full and process.max_calls == 2
        assert (a.calls.active, b.calls.active) == (1, 1)  # a refusal holds nothing locally either
        await a.release("c1")
        assert await b.count() == 1 and not b.full
        assert await b.try_acquire("c3") and b.calls.active == 2
        refused = await b.try_acquire("c4")  # the fleet has room, this process does not
        assert (refused.ok, refused.reason) == (False, "at_process_cap") and await a.count() == 2
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_caller_is_limited_across_processes_and_the_number_never_reaches_redis(
    redis: RedisServer,
) -> None:
    import redis.asyncio as aioredis

    a, b = limiter(redis, 5, max_calls_per_caller=1), limiter(redis, 5, max_calls_per_caller=1)
    try:
        assert await a.try_acquire("c1") and await a.try_add_caller("c1", "+15551230001")
        assert await b.try_acquire("c2")
        refused = await b.try_add_caller("c2", "+15551230001")
        assert (refused.ok, refused.reason) == (False, "caller_limit")
        assert await b.caller_active("+15551230001") == 1 and await b.caller_active("+15550000000") == 0
        assert await b.try_add_caller("c2", "+15551239999")  # someone else
        client = aioredis.Redis.from_url(redis.url)
        keys = [k.decode() for k in await client.keys("*")]
        await client.aclose()
        assert len(keys) == 3 and not any("555123" in k for k in keys), keys
        await a.release("c1")
        assert await b.caller_active("+15551230001") == 0
        await b.release("c2")
        assert await b.count() == 0
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_lease_is_renewed_while_held_and_runs_out_when_its_process_dies(redis: RedisServer) -> None:
    a, b = limiter(redis, 1, lease_s=0.6), limiter(redis, 1, lease_s=0.6)
    try:
        assert await a.try_acquire("alive")
        await asyncio.sleep(1.5)  # more than two leases: only the renewal keeps it
        assert await b.count() == 1 and not await b.try_acquire("other")
        assert a._renewer is not None
        a._renewer.cancel()  # the process "dies": no release, no renewal
        await asyncio.sleep(0.8)
        assert await b.count() == 0
        assert await b.try_acquire("other")
    finally:
        await a.aclose()
        await b.aclose()


async def test_without_redis_calls_are_served_on_the_local_cap_and_recovery_recounts_them(
    redis: RedisServer, logs: list[str]
) -> None:
    modes: list[LimitMode] = []
    a = limiter(redis, 5, local=2, retry_s=0.3, lease_s=3, on_mode=modes.append)
    try:
        assert await a.try_acquire("before") and a.mode == "shared"
        redis.kill()
        during = await a.try_acquire("during")  # the call in progress keeps its slot; this one is served
        assert (during.ok, during.mode) == (True, "local_fallback")
        assert (a.active, a.max_calls) == (2, 2) and a.full
        refused = await a.try_acquire("third")
        assert (refused.ok, refused.reason) == (False, "at_cap")  # the local cap
        await a.count()
        warnings = [line for line in logs if "Redis is unreachable" in line]
        assert len(warnings) == 1 and "WARNING" in warnings[0] and "local cap of 2 calls" in warnings[0]
        redis.start()  # empty: it lost every lease
        async with asyncio.timeout(10):
            while a.mode != "shared":
                await asyncio.sleep(0.1)
        async with asyncio.timeout(10):  # the renewal registers the calls held through the outage
            while await a.count() != 2:
                await asyncio.sleep(0.1)
        assert modes == ["local_fallback", "shared"]
        assert sum("Redis answers again" in line for line in logs) == 1
        await a.release("during")
        await a.release("before")
        assert await a.count() == 0
    finally:
        await a.aclose()
