"""A bot server for the stack benchmarks: ours or stock Pipecat, one process, prints its port.

    python benchmarks/_bot_server.py --stack ours|stock --realtime-url ws://127.0.0.1:PORT/v1/realtime

ours:  TwilioMediaStreamSerializer → OpenAIRealtimeMuLawLLMService → output, pipeline at 8 kHz.
stock: TwilioFrameSerializer → OpenAIRealtimeLLMService (Pipecat's defaults: 24 kHz PCM with OpenAI) →
       output, pipeline at 8 kHz in and out as Pipecat's Twilio examples run it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

import uvicorn
from fastapi import FastAPI, WebSocket
from loguru import logger
from pipecat.frames.frames import LLMRunFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.workers.runner import WorkerRunner

from pipecat_twilio_realtime import OpenAIRealtimeMuLawLLMService, TwilioMediaStreamSerializer
from pipecat_twilio_realtime import twilio_protocol as tp

APPEND_MS = int(os.environ.get("BENCH_APPEND_MS", "20"))
MARK_MS = int(os.environ.get("BENCH_MARK_MS", "100"))


def create_app(stack: str, realtime_url: str) -> FastAPI:
    """The bot app for one stack."""
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        start = None
        while start is None:  # both stacks get the stream SID from Twilio's start, as bots do
            event = tp.parse_message(await websocket.receive_text())
            start = event if isinstance(event, tp.Start) else None
        serializer: Any
        if stack == "ours":
            serializer = TwilioMediaStreamSerializer(stream_sid=start.stream_sid)
            llm: Any = OpenAIRealtimeMuLawLLMService(
                api_key="sk-bench",
                base_url=realtime_url,
                append_interval_ms=APPEND_MS,
                mark_interval_ms=MARK_MS,
            )
        else:
            params = TwilioFrameSerializer.InputParams(auto_hang_up=False)
            serializer = TwilioFrameSerializer(stream_sid=start.stream_sid, params=params)
            llm = OpenAIRealtimeLLMService(api_key="sk-bench", base_url=realtime_url)
        transport = FastAPIWebsocketTransport(
            websocket,
            FastAPIWebsocketParams(
                audio_in_enabled=True, audio_out_enabled=True, audio_out_10ms_chunks=2, serializer=serializer
            ),
        )
        context = LLMContextAggregatorPair(LLMContext())
        worker = PipelineWorker(
            Pipeline([transport.input(), context.user(), llm, transport.output(), context.assistant()]),
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


async def main() -> None:
    """Serve until killed; print the port on stdout first."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--stack", choices=("ours", "stock"), required=True)
    parser.add_argument("--realtime-url", required=True)
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    server = uvicorn.Server(
        uvicorn.Config(create_app(args.stack, args.realtime_url), host="127.0.0.1", port=0, log_level="error")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.02)
    print(server.servers[0].sockets[0].getsockname()[1], flush=True)
    await task


def _serve_profiled(path: str) -> None:
    """Run under cProfile and write the stats to ``path`` on SIGTERM (for finding per-frame costs)."""
    import cProfile
    import signal

    profile = cProfile.Profile()

    def dump(*_: Any) -> None:
        profile.disable()
        profile.dump_stats(path)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, dump)
    profile.enable()
    asyncio.run(main())


if __name__ == "__main__":
    if os.environ.get("BENCH_PROFILE"):
        _serve_profiled(os.environ["BENCH_PROFILE"])
    else:
        asyncio.run(main())
