"""A minimal phone bot for tests: real FastAPI/uvicorn, real transport, our serializer and service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, WebSocket
from pipecat.frames.frames import LLMRunFrame
from pipecat.observers.base_observer import BaseObserver
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameProcessor

from pipecat_twilio_realtime import OpenAIRealtimeMuLawLLMService, TwilioMediaStreamSerializer

from ._twilio_helpers import run_call_pipeline


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
    serializer_kwargs: dict[str, Any] | None = None,
    tail: Callable[[], list[FrameProcessor]] | None = None,
) -> FastAPI:
    """A FastAPI app whose /ws runs serializer → context → μ-law Realtime service → output.

    ``tail`` makes processors to put at the very end, after the assistant aggregator;
    ``serializer_kwargs`` go to the serializer (e.g. call SID and a Twilio REST client, for hang-up).
    """
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        serializer = TwilioMediaStreamSerializer(**(serializer_kwargs or {}))
        service = OpenAIRealtimeMuLawLLMService(
            api_key="sk-test-not-a-key", base_url=realtime_url, **(service_kwargs or {})
        )
        made = observers(serializer, service) if observers else []
        calls.append(BotCall(serializer, service, made))
        aggregators = LLMContextAggregatorPair(LLMContext())
        await run_call_pipeline(
            websocket,
            serializer,
            [aggregators.user(), service],
            after_output=[aggregators.assistant(), *(tail() if tail else [])],
            observers=made,
            on_connected=[LLMRunFrame()] if greet else None,
        )

    return app
