"""A server that confirms μ-law and sends something else, over real sockets (issue 16).

The stand-in confirms ``audio/pcmu`` and then sends PCM16, white noise, a full-scale buzz or a WAV file as
reply audio. The simulated caller must receive at most the guard's detection window of it, the log must
name the cause, and the call must go on (the next reply is refused too, not the call).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipecat_twilio_realtime import g711
from pipecat_twilio_realtime.cli.simulate import bit_exact_fraction
from pipecat_twilio_realtime.testing import (
    CallerReport,
    RealtimeStandIn,
    Silence,
    SimulatedTwilioCaller,
    Speech,
    load_clip,
)
from pipecat_twilio_realtime.testing.realtime import Faults

from .._bot_helpers import BotCall, bot_app
from .._twilio_helpers import serve, write_pcm_wav

FAST = 4.0
SETTLE_S = 0.3
"""Real seconds the caller keeps listening after the awaited thing happened, before it hangs up."""


async def _call_until(caller: SimulatedTwilioCaller, done: Callable[[], bool]) -> CallerReport:
    """Run ``caller``'s script, hanging up soon after ``done()`` holds: the script is the upper bound.

    The caller listens ``SETTLE_S`` more, so audio the bot still had on its way would be heard.
    """
    call = asyncio.create_task(caller.run())
    async with asyncio.timeout(60):
        while not call.done() and not done():
            await asyncio.sleep(0.02)
        await asyncio.wait({call}, timeout=SETTLE_S)
        caller.hang_up()
        return await call


@pytest.mark.parametrize("kind", ["pcm16", "white", "buzz", "wav"])
async def test_noise_from_the_server_never_reaches_the_caller(
    kind: str, tmp_path: Path, logs: list[str]
) -> None:
    noise: Any = kind
    if kind == "wav":
        noise = write_pcm_wav(tmp_path / "reply.wav", g711.decode(load_clip("bot_answer")))
    calls: list[BotCall] = []
    # A call FAST times faster than real time (only bytes are asserted): the caller's question plays
    # faster, while the silences, the time the greeting and the answer have to be refused, stay as long
    # in real seconds as before.
    script = [Silence(1.5 * FAST), Speech(load_clip("caller_question")), Silence(2.5 * FAST)]
    # The caller hangs up once the bot has cancelled both replies (the script's last silence is only the
    # upper bound): what the stand-in had sent of them by then is all it ever sends.
    async with RealtimeStandIn(speed=8.0, faults=Faults(reply_noise=noise)) as standin:

        def both_refused() -> bool:
            return sum(e["type"] == "response.cancel" for e in standin.received) >= 2

        async with serve(bot_app(standin.url, calls, speed=FAST)) as port:
            caller = SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script, speed=FAST)
            report = await _call_until(caller, both_refused)
        cancels = [e for e in standin.received if e["type"] == "response.cancel"]
    service = calls[0].service
    # the greeting and the answer were both noise: both refused before the wire, the call went on
    assert service.stats.blocked_replies == 2, service.stats
    assert len(cancels) == 2
    assert len(report.received_audio) == 0, f"the caller received {len(report.received_audio)} bytes of noise"
    assert not report.bot_closed_first  # the caller hung up at the end of the script, not the bot
    errors = [line for line in logs if "NOISE GUARD" in line]
    assert len(errors) == 2 and all("Likely cause" in line for line in errors)
    expected = {"wav": "container_header", "white": "white_noise"}.get(kind)
    assert expected is None or expected in errors[0]


async def test_speech_from_an_honest_server_passes_the_guard_whole(logs: list[str]) -> None:
    calls: list[BotCall] = []
    # FAST times faster than real time, as above (only bytes are asserted); the caller hangs up once both
    # replies are done and every byte the stand-in sent has reached it (the last silence is the bound).
    script = [Silence(1.5 * FAST), Speech(load_clip("caller_question")), Silence(3.5 * FAST)]
    async with RealtimeStandIn(speed=8.0) as standin:

        def both_heard() -> bool:
            replies = sum(e["type"] == "response.done" for e in standin.sent)
            return replies >= 2 and len(caller.report.received_audio) >= len(standin.reply_audio)

        async with serve(bot_app(standin.url, calls, speed=FAST)) as port:
            caller = SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script, speed=FAST)
            report = await _call_until(caller, both_heard)
        sent = standin.reply_audio
    assert calls[0].service.stats.blocked_replies == 0
    assert len(report.received_audio) > 8000  # the greeting and the answer
    assert bit_exact_fraction(bytes(report.received_audio), sent) == 1.0
    assert not any("NOISE GUARD" in line for line in logs)
