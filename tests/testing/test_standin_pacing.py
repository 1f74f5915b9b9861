"""The stand-in paces replies like a model by default (bursts, faster than real time), or at real time."""

from __future__ import annotations

import itertools
import random
import time

from pipecat_twilio_realtime.testing import RealtimeStandIn, clip_duration_ms, load_clip
from pipecat_twilio_realtime.testing.realtime import REAL_TIME, ModelPacing
from pipecat_twilio_realtime.testing.realtime.pacing import schedule

from .test_standin import _client


async def _timed_greeting(standin: RealtimeStandIn) -> tuple[list[float], float]:
    """Ask for the greeting; return each delta's arrival (s after response.created) and the total."""
    arrivals: list[float] = []
    async for client in _client(standin):
        await client.update_pcmu()
        await client.send({"type": "response.create"})
        await client.until("response.created")
        start = time.monotonic()
        while (event := await client.recv())["type"] != "response.done":
            if event["type"] == "response.output_audio.delta":
                arrivals.append(time.monotonic() - start)
        assert client.delta_bytes() == load_clip("bot_greeting")  # bytes unchanged by the pacing
        return arrivals, time.monotonic() - start
    raise AssertionError("no client")


def test_model_schedule_is_bursts_faster_than_real_time() -> None:
    audio = 8 * 5000
    plan = schedule(ModelPacing(), audio, random.Random(0))
    sizes = [size for size, _ in plan.deltas]
    assert sum(sizes) == audio and len(set(sizes)) > 3  # uneven deltas, whole reply
    assert any(size % 160 for size in sizes)  # not whole 20 ms frames
    pauses = [wait for _, wait in plan.deltas if wait]
    assert pauses and len(pauses) < len(sizes) / 2  # back to back inside a burst
    assert plan.first_wait_s == 0.35
    assert plan.first_wait_s + sum(pauses) < 5.0 / 2  # 4x on average


async def test_default_pacing_delivers_a_reply_faster_than_its_duration() -> None:
    async with RealtimeStandIn() as standin:
        arrivals, total = await _timed_greeting(standin)
    duration_s = clip_duration_ms("bot_greeting") / 1000
    assert arrivals[0] >= 0.3  # a first-delta latency like a model's
    assert total < duration_s * 0.6
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) < 0.02 and max(gaps) > 0.1  # bursts: back to back, then a pause


async def test_real_time_pacing_takes_the_reply_s_duration() -> None:
    async with RealtimeStandIn(pacing=REAL_TIME) as standin:
        arrivals, total = await _timed_greeting(standin)
    duration_s = clip_duration_ms("bot_greeting") / 1000
    assert total >= duration_s - 0.05
    assert arrivals[-1] >= duration_s - 0.15  # the last delta leaves when its audio would play
