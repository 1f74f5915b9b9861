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

from pipecat_twilio_realtime import (
    OpenAIRealtimeMuLawLLMService,
    PlaybackTracker,
    TwilioMediaStreamSerializer,
)
from pipecat_twilio_realtime.testing.twilio.caller import scaled_time

from ._twilio_helpers import run_call_pipeline

SEND_LEAD = 2.0
"""A fast bot sends its audio this many times faster than the fast call plays it. Pipecat's output pacing
never catches up after a late chunk, so on a busy machine a fast call paced exactly at its play rate keeps
underrunning (5 ms ticks at 4x); sending ahead lets the caller buffer, as Twilio buffers a relay's audio.
Every byte, chunk and mark stays the same."""


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
    speed: float = 1.0,
    send_ahead_ms: float | None = None,
) -> FastAPI:
    """A FastAPI app whose /ws runs serializer → context → μ-law Realtime service → output.

    ``tail`` makes processors to put at the very end, after the assistant aggregator;
    ``serializer_kwargs`` go to the serializer (e.g. call SID and a Twilio REST client, for hang-up).
    ``speed`` runs the bot that many times faster than real time, for a caller of the same ``speed``: the
    serializer's clock (inbound rate bound, play clock) and the service's playback clock read call time,
    and the output is paced at ``SEND_LEAD`` times the call's speed (see there). ``send_ahead_ms`` runs the
    call on the send-ahead transport with that lead (see :func:`run_call_pipeline`).
    """
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        clock = scaled_time(speed)[0] if speed != 1.0 else None
        serializer = TwilioMediaStreamSerializer(
            **({"clock": clock} if clock else {}), **(serializer_kwargs or {})
        )
        service = OpenAIRealtimeMuLawLLMService(
            api_key="sk-test-not-a-key", base_url=realtime_url, **(service_kwargs or {})
        )
        if clock:
            service._playback = PlaybackTracker(clock=clock)
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
            speed=speed * SEND_LEAD if speed != 1.0 else 1.0,
            send_ahead_ms=send_ahead_ms,
        )

    return app
