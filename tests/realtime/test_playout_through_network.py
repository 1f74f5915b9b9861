"""Calls to the example bot through the network impairment layer: the send-ahead lead and exact barge-in.

Each call is real: the example bot served by uvicorn on 127.0.0.1, the OpenAI Realtime stand-in pacing
like a model, and the simulated caller playing out on its own 20 ms clock behind a seeded
:class:`NetworkConfig`. With the default lead the caller hears no gap at 100 ms of jitter and at most one
20 ms frame per 250 ms stall; the same call at ``send_ahead_ms=0`` (Pipecat's real-time pacing) hears
gaps. A barge-in through jitter (both ways, or only on the echoes' way back) is truncated at what the
caller had heard, to a 20 ms frame, not at what was sent ahead.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from typing import Any

import pytest

from pipecat_twilio_realtime.example import create_app, load_settings, pipeline
from pipecat_twilio_realtime.testing import (
    CallerReport,
    RealtimeStandIn,
    Silence,
    SimulatedTwilioCaller,
    Speech,
    WaitForBotAudio,
    WaitForBotSilence,
    load_clip,
    serve_app,
)
from pipecat_twilio_realtime.testing.network import NetworkConfig
from pipecat_twilio_realtime.testing.twilio.script import Segment
from pipecat_twilio_realtime.twilio.playout import DEFAULT_SEND_AHEAD_MS

GREETING: list[Segment] = [WaitForBotAudio(after_s=0.2), WaitForBotSilence()]
"""The shortest call that shows playout: the bot's 4.2 s greeting, listened to until it ends."""
FRAME_MS = 20


class _TruncateClock(RealtimeStandIn):
    """The stand-in, noting what the caller had heard at the moment each truncate reached it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.caller: SimulatedTwilioCaller | None = None
        # (audio_end_ms asked for, caller's heard bytes, caller's received-but-unplayed bytes) per truncate
        self.truncates: list[tuple[int, int, int]] = []

    async def _on_truncate(self, call: Any, data: dict[str, Any]) -> None:
        if self.caller is not None:  # same process, same loop: the caller's report right now
            report = self.caller.report
            heard = len(report.heard)
            self.truncates.append((data["audio_end_ms"], heard, len(report.received_audio) - heard))
        await super()._on_truncate(call, data)


def _lead(monkeypatch: pytest.MonkeyPatch, send_ahead_ms: float | None) -> None:
    """Give the example bot's transport this lead (``None``: leave the example's own default alone)."""
    if send_ahead_ms is not None:
        transport = functools.partial(pipeline.SendAheadWebsocketTransport, send_ahead_ms=send_ahead_ms)
        monkeypatch.setattr(pipeline, "SendAheadWebsocketTransport", transport)


async def _call(
    script: list[Segment], network: NetworkConfig, standin: RealtimeStandIn | None = None
) -> CallerReport:
    """One call to the example bot through ``network``; the stand-in is made here unless given."""
    async with standin or RealtimeStandIn() as realtime:  # ModelPacing: bursts, faster than real time
        env = {
            "ALLOW_UNSIGNED": "1",
            "OPENAI_API_KEY": "sk-offline-test",
            "OPENAI_REALTIME_URL": realtime.url,
        }
        async with serve_app(create_app(load_settings(env))) as port:
            caller = SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script, network=network, linger_s=0.2)
            if isinstance(realtime, _TruncateClock):
                realtime.caller = caller
            report = await asyncio.wait_for(caller.run(), 60)
    assert report.violations == []
    return report


@pytest.mark.parametrize("spec", ["jitter=100ms,seed=3", "stall=250ms/1s,seed=3"])
async def test_the_default_lead_hears_no_gap_where_real_time_pacing_does(
    spec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    network = NetworkConfig.parse(spec)
    assert DEFAULT_SEND_AHEAD_MS >= 350  # 250 ms of stall on top of 100 ms of jitter (docs/playout.md)
    start = time.monotonic()
    ahead = await _call(GREETING, network)  # the example bot as shipped: its own default lead
    call_s = time.monotonic() - start
    _lead(monkeypatch, 0)  # the same call, sent at play time: Pipecat's real-time pacing
    paced = await _call(GREETING, network)
    assert ahead.bot_speech_s > 4.0 and paced.bot_speech_s > 4.0, (ahead.bot_speech_s, paced.bot_speech_s)
    stall = network.to_caller
    if stall.stall_s:
        # at most one 20 ms frame per 250 ms stall (counting every stall the call could have met)
        allowed = FRAME_MS * math.ceil(call_s / stall.stall_every_s)
        assert ahead.gap_ms <= allowed, (ahead.gaps, allowed)
    else:
        assert ahead.gaps == [], ahead.gaps
    # without the lead every delay is heard: more than the verdict's default limit (two frames)
    assert paced.gap_ms > 2 * FRAME_MS, paced.gaps  # one 250 ms stall may be all of it: one gap


@pytest.mark.parametrize("spec", ["jitter=100ms,seed=5", "to_bot.jitter=100ms,seed=7"])
async def test_a_barge_in_through_jitter_truncates_at_what_the_caller_heard_not_at_what_was_sent(
    spec: str,
) -> None:
    # Jitter both ways, or only on the way back: the bot's own clock would lag by the echoes' delay and
    # miss the clear's trip out; the mark sent before the clear times it on Twilio's clock instead.
    network = NetworkConfig.parse(spec)
    standin = _TruncateClock()
    script: list[Segment] = [
        WaitForBotAudio(after_s=1.5),
        Speech(load_clip("caller_interrupt"), "talks over the greeting"),
        Silence(1.0),
    ]
    report = await _call(script, network, standin)
    assert report.clears >= 1 and report.barge_in_latencies_s, report.events
    assert len(standin.truncates) == 1, standin.truncates
    audio_end_ms, heard, unplayed = standin.truncates[0]
    # The greeting is the call's first audio: all the caller heard is of that item, and the truncate
    # comes after the clear reached the caller, so what it had heard then is all it ever heard of it.
    assert heard == report.heard_at_clears[0], (heard, report.heard_at_clears)
    assert heard / 8 > 1000, heard  # the caller was well into the greeting
    # the lead was sitting in the caller's buffer, unplayed: truncating at what was sent (everything
    # received plus what was still in the network) would be at least this far past what was heard
    assert unplayed / 8 >= 300, unplayed
    assert abs(audio_end_ms - heard / 8) <= FRAME_MS, (audio_end_ms, heard / 8, unplayed / 8)
