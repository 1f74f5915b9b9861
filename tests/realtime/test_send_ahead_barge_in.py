"""A barge-in with reply audio sent ahead: ``clear`` flushes the lead, truncation is at what was played."""

from __future__ import annotations

import asyncio

from pipecat_twilio_realtime.testing import (
    RealtimeStandIn,
    Silence,
    SimulatedTwilioCaller,
    Speech,
    WaitForBotAudio,
    load_clip,
)

from .._bot_helpers import BotCall, bot_app
from .._twilio_helpers import serve

LEAD_MS = 500


async def test_barge_in_truncates_at_what_was_played_not_at_what_was_sent_ahead() -> None:
    calls: list[BotCall] = []
    async with RealtimeStandIn(speed=8.0) as standin:  # a model generates faster than real time
        async with serve(bot_app(standin.url, calls, send_ahead_ms=LEAD_MS)) as port:
            script = [
                WaitForBotAudio(after_s=1.2),
                Speech(load_clip("caller_interrupt"), "barge-in"),
                Silence(1.5),
            ]
            caller = SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script)
            report = await asyncio.wait_for(caller.run(), 60)
    assert report.violations == []
    assert report.clears >= 1 and report.barge_in_latencies_s
    # the lead was in Twilio's buffer when the clear came: truncating at sent audio would be this far off
    assert report.flushed_bytes / 8 >= LEAD_MS - 150, report.flushed_bytes
    truncates = [e for e in standin.received if e["type"] == "conversation.item.truncate"]
    assert len(truncates) == 1, [e["type"] for e in standin.received]
    audio_end_ms = truncates[0]["audio_end_ms"]
    heard_ms_at_clear = report.heard_at_clears[0] / 8
    # the latest played echo plus the time since: within the same bounds as without a lead
    assert heard_ms_at_clear - 160 <= audio_end_ms <= heard_ms_at_clear + 20, (
        audio_end_ms,
        heard_ms_at_clear,
    )
    assert not any(e.get("type") == "error" for e in standin.sent)
    assert calls[0].service.stats.barge_ins == 1
