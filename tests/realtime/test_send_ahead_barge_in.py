"""A barge-in with reply audio sent ahead: ``clear`` flushes the lead, truncation is at what was played."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, WebSocket
from pipecat.frames.frames import LLMRunFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams
from pipecat.workers.runner import WorkerRunner

from pipecat_twilio_realtime import (
    OpenAIRealtimeMuLawLLMService,
    SendAheadWebsocketTransport,
    TwilioMediaStreamSerializer,
)
from pipecat_twilio_realtime.testing import (
    RealtimeStandIn,
    Silence,
    SimulatedTwilioCaller,
    Speech,
    WaitForBotAudio,
    load_clip,
)

from .._twilio_helpers import serve

LEAD_MS = 500


def _app(realtime_url: str, services: list[OpenAIRealtimeMuLawLLMService]) -> FastAPI:
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        serializer = TwilioMediaStreamSerializer()
        service = OpenAIRealtimeMuLawLLMService(api_key="sk-test-not-a-key", base_url=realtime_url)
        services.append(service)
        transport = SendAheadWebsocketTransport(
            websocket,
            FastAPIWebsocketParams(
                audio_in_enabled=True, audio_out_enabled=True, audio_out_10ms_chunks=10, serializer=serializer
            ),
            send_ahead_ms=LEAD_MS,
        )
        aggregators = LLMContextAggregatorPair(LLMContext())
        worker = PipelineWorker(
            Pipeline(
                [transport.input(), aggregators.user(), service, transport.output(), aggregators.assistant()]
            ),
            params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000),
        )

        @transport.event_handler("on_client_connected")
        async def connected(*_: Any) -> None:
            await worker.queue_frames([LLMRunFrame()])

        @transport.event_handler("on_client_disconnected")
        async def gone(*_: Any) -> None:
            await worker.cancel()

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await runner.run()

    return app


async def test_barge_in_truncates_at_what_was_played_not_at_what_was_sent_ahead() -> None:
    services: list[OpenAIRealtimeMuLawLLMService] = []
    async with RealtimeStandIn(speed=8.0) as standin:  # a model generates faster than real time
        async with serve(_app(standin.url, services)) as port:
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
    assert services[0].stats.barge_ins == 1
