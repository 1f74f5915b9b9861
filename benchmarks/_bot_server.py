"""A bot server for the stack benchmarks: ours, stock Pipecat or the floor, one process, prints its port.

    python benchmarks/_bot_server.py --stack ours|ours-no-passthrough|stock|floor --realtime-url ws://127.0.0.1:PORT/v1/realtime

ours:  TwilioMediaStreamSerializer → OpenAIRealtimeMuLawLLMService → output, pipeline at 8 kHz
       (``ours-no-passthrough``: the same with ``audio_passthrough=False``).
floor: TwilioMediaStreamSerializer → a processor that plays caller frames straight back, in turns → output:
       no LLM service, no OpenAI socket, no codec work beyond the serializer's. What Pipecat's transport and
       frame machinery alone cost per call, the floor under any stack built on them.
stock: TwilioFrameSerializer → OpenAIRealtimeLLMService (Pipecat's defaults: 24 kHz PCM with OpenAI) →
       output, pipeline at 8 kHz in and out as Pipecat's Twilio examples run it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections import Counter
from typing import Any

import uvicorn
from fastapi import FastAPI, WebSocket
from loguru import logger
from pipecat.frames.frames import Frame, InputAudioRawFrame, LLMRunFrame, TTSAudioRawFrame
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.workers.runner import WorkerRunner

from pipecat_twilio_realtime import OpenAIRealtimeMuLawLLMService, TwilioMediaStreamSerializer
from pipecat_twilio_realtime import twilio_protocol as tp

APPEND_MS = int(os.environ.get("BENCH_APPEND_MS", "20"))
MARK_MS = int(os.environ.get("BENCH_MARK_MS", "100"))


class PlayBack(FrameProcessor):
    """The floor's "bot": caller frames go straight back out as bot audio, in turns.

    It talks for the first ``duty`` of every 10 s (500 caller frames) and listens for the rest, so its
    outbound share can match the real bots' (``FLOOR_DUTY``, measured on ours by ``bench_stacks.py``).
    """

    CYCLE_FRAMES = 500

    def __init__(self, duty: float) -> None:
        super().__init__()
        self._talk_frames = round(duty * self.CYCLE_FRAMES)
        self._frames = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Turn caller audio into bot audio while talking; pass everything else on."""
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self._frames += 1
            if self._frames % self.CYCLE_FRAMES < self._talk_frames:
                await self.push_frame(TTSAudioRawFrame(frame.audio, frame.sample_rate, frame.num_channels))
        else:
            await self.push_frame(frame, direction)


class FrameCounter(BaseObserver):
    """Counts every push by (pushing processor, frame type): where a call's frames travel."""

    def __init__(self) -> None:
        super().__init__(observe_every_push=True)
        self.pushes: Counter[tuple[str, str]] = Counter()

    async def on_push_frame(self, data: FramePushed) -> None:
        """Count one push."""
        self.pushes[(type(data.source).__name__, type(data.frame).__name__)] += 1


COUNTER = FrameCounter() if os.environ.get("BENCH_COUNT_FRAMES") else None


def _stack_arg() -> str:
    """The ``--stack`` this process serves (for naming the files it writes on SIGTERM)."""
    return sys.argv[sys.argv.index("--stack") + 1]


def _write_counts(*_: Any) -> None:
    """On SIGTERM: write the counts to ``$BENCH_COUNT_FRAMES.<stack>``, most frequent first."""
    assert COUNTER is not None
    with open(f"{os.environ['BENCH_COUNT_FRAMES']}.{_stack_arg()}", "w") as out:
        for (source, frame), n in COUNTER.pushes.most_common():
            out.write(f"{n:8d}  {source:<40} {frame}\n")
    raise SystemExit(0)


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
        llm: Any
        if stack == "floor":
            serializer = TwilioMediaStreamSerializer(stream_sid=start.stream_sid)
            llm = PlayBack(float(os.environ.get("FLOOR_DUTY", "1")))
        elif stack.startswith("ours"):
            serializer = TwilioMediaStreamSerializer(stream_sid=start.stream_sid)
            llm = OpenAIRealtimeMuLawLLMService(
                api_key="sk-bench",
                base_url=realtime_url,
                append_interval_ms=APPEND_MS,
                mark_interval_ms=MARK_MS,
                audio_passthrough=stack != "ours-no-passthrough",
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
            observers=[COUNTER] if COUNTER else [],
        )

        @transport.event_handler("on_client_connected")
        async def connected(*_: Any) -> None:
            if stack != "floor":
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
    parser.add_argument("--stack", choices=("ours", "ours-no-passthrough", "stock", "floor"), required=True)
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
    """Run under cProfile and write the stats to ``path.<stack>`` on SIGTERM (for finding per-frame costs)."""
    import cProfile

    profile = cProfile.Profile()

    def dump(*_: Any) -> None:
        profile.disable()
        profile.dump_stats(f"{path}.{_stack_arg()}")
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, dump)
    profile.enable()
    asyncio.run(main())


if __name__ == "__main__":
    if os.environ.get("BENCH_PROFILE"):
        _serve_profiled(os.environ["BENCH_PROFILE"])
    else:
        if COUNTER is not None:  # BENCH_COUNT_FRAMES=path: write the push counts there on SIGTERM
            signal.signal(signal.SIGTERM, _write_counts)
        asyncio.run(main())
