"""A minimal phone bot for tests: real FastAPI/uvicorn, real transport, our serializer and service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, WebSocket
from pipecat.frames.frames import LLMRunFrame
from pipecat.observers.base_observer import BaseObserver
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.workers.runner import WorkerRunner

from pipecat_twilio_realtime import OpenAIRealtimeMuLawLLMService, TwilioMediaStreamSerializer


@dataclass
class BotCall:
    """What one call's bot side was made of, for assertions after the call."""

    serializer: TwilioMediaStreamSerializer
    service: OpenAIRealtimeMuLawLLMService
    observers: list[BaseObserver] = field(default_factory=list)


def bot_app(
    realtime_url: str,
    calls: list[BotCall],
    *,
    greet: bool = True,
    observers: Any = None,
    service_kwargs: dict[str, Any] | None = None,
) -> FastAPI:
    """A FastAPI app whose /ws runs serializer → context → μ-law Realtime service → output."""
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        serializer = TwilioMediaStreamSerializer()
        transport = FastAPIWebsocketTransport(
            websocket,
            FastAPIWebsocketParams(
                audio_in_enabled=True, audio_out_enabled=True, audio_out_10ms_chunks=2, serializer=serializer
            ),
        )
        service = OpenAIRealtimeMuLawLLMService(
            api_key="sk-test-not-a-key", base_url=realtime_url, **(service_kwargs or {})
        )
        made = observers(serializer, service) if observers else []
        calls.append(BotCall(serializer, service, made))
        aggregators = LLMContextAggregatorPair(LLMContext())
        worker = PipelineWorker(
            Pipeline(
                [transport.input(), aggregators.user(), service, transport.output(), aggregators.assistant()]
            ),
            params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000),
            observers=made,
        )

        @transport.event_handler("on_client_connected")
        async def connected(*_: Any) -> None:
            if greet:
                await worker.queue_frames([LLMRunFrame()])

        @transport.event_handler("on_client_disconnected")
        async def gone(*_: Any) -> None:
            await worker.cancel()

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await runner.run()

    return app
