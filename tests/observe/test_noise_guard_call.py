"""A server that confirms μ-law and sends something else, over real sockets (issue 16).

The stand-in confirms ``audio/pcmu`` and then sends PCM16, white noise, a full-scale buzz or a WAV file as
reply audio. The simulated caller must receive at most the guard's detection window of it, the log must
name the cause, and the call must go on (the next reply is refused too, not the call).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from pipecat_twilio_realtime import g711
from pipecat_twilio_realtime.cli.simulate import bit_exact_fraction
from pipecat_twilio_realtime.testing import (
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
    async with RealtimeStandIn(speed=8.0, faults=Faults(reply_noise=noise)) as standin:
        async with serve(bot_app(standin.url, calls, speed=FAST)) as port:
            report = await asyncio.wait_for(
                SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script, speed=FAST).run(), 60
            )
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
    script = [Silence(1.5), Speech(load_clip("caller_question")), Silence(3.5)]
    async with RealtimeStandIn(speed=8.0) as standin:
        async with serve(bot_app(standin.url, calls)) as port:
            report = await asyncio.wait_for(
                SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script).run(), 60
            )
        sent = standin.reply_audio
    assert calls[0].service.stats.blocked_replies == 0
    assert len(report.received_audio) > 8000  # the greeting and the answer
    assert bit_exact_fraction(bytes(report.received_audio), sent) == 1.0
    assert not any("NOISE GUARD" in line for line in logs)
