"""MediaStatsObserver() with no arguments finds the serializer and Realtime service in the call it sees."""

from __future__ import annotations

import asyncio
from typing import Any

from pipecat_twilio_realtime import MediaStatsObserver, TwilioMediaStreamSerializer
from pipecat_twilio_realtime.testing import (
    RealtimeStandIn,
    Silence,
    SimulatedTwilioCaller,
    Speech,
    WaitForBotAudio,
    load_clip,
)

from .._bot_helpers import BotCall, bot_app
from .._twilio_helpers import serve, wait_for_every_echo


async def test_an_observer_given_nothing_reports_what_an_explicit_one_does() -> None:
    def observers(serializer: TwilioMediaStreamSerializer, service: Any) -> list[Any]:
        return [MediaStatsObserver(), MediaStatsObserver(serializer=serializer, service=service)]

    calls: list[BotCall] = []
    async with (
        RealtimeStandIn(speed=8.0) as standin,
        serve(bot_app(standin.url, calls, observers=observers)) as port,
    ):
        script = [WaitForBotAudio(after_s=1.0), Speech(load_clip("caller_interrupt")), Silence(1.0)]
        report = await asyncio.wait_for(SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script).run(), 30)
        found, explicit = calls[0].observers[0], calls[0].observers[1]
        echoes = await wait_for_every_echo(found, report, timeout_s=15)
    assert found._serializer is calls[0].serializer and found._service is calls[0].service
    stats = found.stats
    assert stats.tx_bytes == len(report.received_audio) > 0 and stats.rx_bytes == report.ulaw_bytes_sent > 0
    assert stats.marks_played + stats.marks_flushed == echoes and 0 < stats.marks_played
    assert len(report.marks_played) - 2 <= stats.marks_played <= len(report.marks_played)  # crossed the clear
    assert stats.stream_sid == explicit.stats.stream_sid is not None
    for name in ("rx_bytes", "tx_bytes", "rx_frames", "tx_frames", "marks_sent", "marks_played", "barge_ins"):
        assert getattr(stats, name) == getattr(explicit.stats, name), name
    summary = await found.finish()
    assert summary["realtime"]["barge_ins"] == 1
