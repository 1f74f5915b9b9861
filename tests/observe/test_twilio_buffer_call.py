"""A real call through a stalling network: the observer's dry-buffer estimate against what the caller heard.

Bot (real uvicorn, ``SendAheadWebsocketTransport``, our serializer, service and observer), the OpenAI
stand-in and the simulated caller, with 250 ms stalls on the bot → caller direction. With no lead every
stall is silence the caller hears, and the observer, from mark echoes alone, must say so and how long;
with the default lead the same network costs nothing and the observer must not cry wolf.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pipecat_twilio_realtime import (
    MediaStatsObserver,
    OpenAIRealtimeMuLawLLMService,
    TwilioMediaStreamSerializer,
)
from pipecat_twilio_realtime.testing import (
    CallerReport,
    RealtimeStandIn,
    SimulatedTwilioCaller,
    WaitForBotAudio,
    WaitForBotSilence,
)
from pipecat_twilio_realtime.testing.network import NetworkConfig
from pipecat_twilio_realtime.twilio.playout import DEFAULT_SEND_AHEAD_MS

from .._bot_helpers import bot_app
from .._twilio_helpers import serve

# Stalls at 1.6 s and 3.2 s from the caller's connect: both inside the 4.2 s greeting.
STALLS = NetworkConfig.parse("to_caller.stall=250ms/1600ms")
# Stalls on the way back: mark echoes (every 500 ms) arrive up to 300 ms late, whatever their phase
# against the 700 ms period; the caller's audio is untouched.
LATE_ECHOES = NetworkConfig.parse("to_bot.stall=300ms/700ms")


def _observe(summaries: list[dict[str, Any]]) -> Any:
    def make(serializer: TwilioMediaStreamSerializer, service: OpenAIRealtimeMuLawLLMService) -> list[Any]:
        observer = MediaStatsObserver(serializer=serializer, service=service)

        @observer.event_handler("on_call_summary")
        async def on_summary(_observer: Any, summary: dict[str, Any]) -> None:
            summaries.append(summary)

        return [observer]

    return make


async def _greeting_call(
    send_ahead_ms: float, network: NetworkConfig = STALLS
) -> tuple[CallerReport, dict[str, Any], list[str]]:
    summaries: list[dict[str, Any]] = []
    async with RealtimeStandIn() as standin:  # paces like a model: faster than real time, in bursts
        app = bot_app(standin.url, [], observers=_observe(summaries), send_ahead_ms=send_ahead_ms)
        async with serve(app) as port:
            script = [WaitForBotAudio(after_s=0.2), WaitForBotSilence(quiet_s=1.2)]
            # The 1.2 s of quiet the caller listened for is all the listening the assertions need (every
            # mark of the greeting has been echoed by then): no extra linger before it hangs up.
            caller = SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script, network=network, linger_s=0.0)
            report = await asyncio.wait_for(caller.run(), 60)
            for _ in range(100):  # the bot summarises when its side of the socket closes
                if summaries:
                    break
                await asyncio.sleep(0.05)
    assert report.violations == []
    assert len(summaries) == 1
    return report, summaries[0], [text for _, text in report.events]


async def test_with_no_lead_the_observer_flags_the_silence_the_caller_heard(logs: list[str]) -> None:
    report, summary, _ = await _greeting_call(send_ahead_ms=0)
    assert report.bot_speech_s > 3.5
    assert report.gap_ms >= 150, report.gaps  # the stalls were heard
    assert summary["twilio_dry_count"] >= 1, summary
    assert abs(summary["twilio_dry_ms"] - report.gap_ms) <= 40, (summary["twilio_dry_ms"], report.gaps)
    warnings = [line for line in logs if "DRY stream=" in line and "WARNING" in line]
    assert len(warnings) == summary["twilio_dry_count"]
    assert "the caller heard silence inside bot speech" in warnings[0]
    assert summary["twilio_lead_min_ms"] is not None and summary["twilio_lead_min_ms"] < 100


async def test_with_the_default_lead_the_same_network_is_not_dry(logs: list[str]) -> None:
    report, summary, _ = await _greeting_call(send_ahead_ms=DEFAULT_SEND_AHEAD_MS)
    assert report.bot_speech_s > 3.5
    assert report.gap_ms == 0, report.gaps
    assert summary["twilio_dry_count"] == 0 and summary["twilio_dry_ms"] == 0, summary
    assert not [line for line in logs if "DRY stream=" in line]
    lead = summary["twilio_lead_min_ms"]
    assert lead is not None and lead >= DEFAULT_SEND_AHEAD_MS - 150, summary


async def test_echoes_held_on_the_way_back_are_not_a_dry_buffer(logs: list[str]) -> None:
    report, summary, events = await _greeting_call(DEFAULT_SEND_AHEAD_MS, network=LATE_ECHOES)
    assert report.bot_speech_s > 3.5 and report.gap_ms == 0, report.gaps
    assert any(text.startswith("mark played") for text in events)
    assert summary["twilio_dry_count"] == 0 and summary["twilio_dry_ms"] == 0, summary
    assert not [line for line in logs if "DRY stream=" in line]
