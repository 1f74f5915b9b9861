"""A call faster than real time: the caller's ``speed`` and a bot paced on the same scaled time."""

from __future__ import annotations

import asyncio
import math
import time

import pytest
from fastapi import FastAPI, WebSocket

from pipecat_twilio_realtime import TwilioMediaStreamSerializer
from pipecat_twilio_realtime.testing import Silence, SimulatedTwilioCaller, Speech
from pipecat_twilio_realtime.testing.twilio.caller import scaled_time

from .._twilio_helpers import Loopback, run_call_pipeline, serve


@pytest.mark.parametrize("speed", [0.0, -2.0, math.inf, math.nan])
def test_a_speed_that_is_not_a_positive_finite_number_is_refused(speed: float) -> None:
    with pytest.raises(ValueError, match="speed must be a positive finite"):
        SimulatedTwilioCaller("ws://127.0.0.1:1/ws", [], speed=speed)


async def test_scaled_time_reads_and_waits_in_call_time() -> None:
    now = [10.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    clock, scaled_sleep = scaled_time(4.0, lambda: now[0], sleep)
    assert clock() == 40.0
    now[0] = 10.5
    assert clock() == 42.0
    await scaled_sleep(2.0)
    assert waits == [0.5]


def loopback_bot(speed: float) -> FastAPI:
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        clock = scaled_time(speed)[0]
        serializer = TwilioMediaStreamSerializer(clock=clock)
        await run_call_pipeline(websocket, serializer, [Loopback()], speed=speed)

    return app


@pytest.mark.parametrize("speed", [1.0, 4.0])
async def test_a_fast_call_carries_every_byte_and_reports_call_time(speed: float) -> None:
    speech = bytes(range(256)) * 25  # 0.8 s, every code
    async with serve(loopback_bot(speed)) as port:
        caller = SimulatedTwilioCaller(
            f"ws://127.0.0.1:{port}/ws", [Speech(speech), Silence(2.0)], linger_s=0.5, speed=speed
        )
        started = time.monotonic()
        report = await asyncio.wait_for(caller.run(), 20)
        wall_s = time.monotonic() - started
    call_s = 0.8 + 2.0 + 0.5
    # every byte said came back, in order, through the real transport and serializer (0x7F as 0xFF)
    assert report.violations == [] and report.ulaw_bytes_sent == len(speech) + 16000
    assert speech.replace(b"\x7f", b"\xff") in bytes(report.heard)
    # the bot's output kept up with the call: the speech and most of the silence after it came back
    assert report.ulaw_bytes_received >= len(speech) + 12000
    # times in the report are call time: media left every 20 ms of it
    sent_at = report.media_sent_at
    assert sent_at[-1] - sent_at[0] == pytest.approx((len(sent_at) - 1) * 0.02, abs=0.25)
    assert report.events[-1][0] == pytest.approx(call_s, abs=0.4)
    # and took less than that in real seconds (1/speed of it on an idle machine), real time at speed 1
    assert wall_s < call_s * 0.75 if speed > 1 else wall_s > call_s * 0.9, wall_s
