"""A bot server for the stack benchmarks: ours, stock Pipecat or the floor, one process, prints its port.

    python benchmarks/_bot_server.py --stack ours|stock|floor --realtime-url ws://127.0.0.1:PORT/v1/realtime

ours:  TwilioMediaStreamSerializer → OpenAIRealtimeMuLawLLMService → output, pipeline at 8 kHz, with
       MediaStatsObserver on the worker (as every user runs it).
floor: TwilioMediaStreamSerializer → a processor that plays caller audio straight back, in turns → output,
       with MediaStatsObserver: no LLM service, no OpenAI socket, no codec work beyond the serializer's.
       What Pipecat's transport and frame machinery alone cost per call at the same frame sizes, the floor
       under any stack built on them.
stock: TwilioFrameSerializer → OpenAIRealtimeLLMService (Pipecat's defaults: 24 kHz PCM with OpenAI) →
       output, pipeline at 8 kHz in and out as Pipecat's Twilio examples run it, 20 ms messages, no
       MediaStatsObserver (it is ours; stock users do not run it).

The frame sizes and options of ours and the floor come from the environment (``bench_stacks.py`` sets
them per stack): ``BENCH_OUT_CHUNKS`` (``audio_out_10ms_chunks``), ``BENCH_IN_FRAME_MS``
(``inbound_frame_ms``), ``BENCH_APPEND_MS``, ``BENCH_MARK_MS``, ``BENCH_PASSTHROUGH`` (1/0; unset: the
service decides), ``BENCH_OBSERVER`` (1/0), ``BENCH_GUARD`` (1/0), ``BENCH_INTERPOLATE`` (0: the playback
tracker before issue 15), ``BENCH_WORKER`` (``recommended``: ``recommended_worker_params()`` and
``recommended_user_aggregator_params()``; ``lean``: the same with ``lean=True``; ``stock``: Pipecat's
defaults), ``BENCH_SEND_AHEAD_MS`` (ours: ``SendAheadWebsocketTransport`` with this lead, as the example
bot runs it). Unset, they are the package's recommended values (and Pipecat's defaults for the stock stack).
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

from pipecat_twilio_realtime import (
    RECOMMENDED_INBOUND_FRAME_MS,
    RECOMMENDED_OUT_10MS_CHUNKS,
    MediaStatsObserver,
    OpenAIRealtimeMuLawLLMService,
    PlaybackTracker,
    SendAheadWebsocketTransport,
    TwilioMediaStreamSerializer,
    recommended_user_aggregator_params,
    recommended_worker_params,
)
from pipecat_twilio_realtime.twilio import protocol as tp


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value else default


OUT_CHUNKS = _env_int("BENCH_OUT_CHUNKS", RECOMMENDED_OUT_10MS_CHUNKS)
IN_FRAME_MS = _env_int("BENCH_IN_FRAME_MS", RECOMMENDED_INBOUND_FRAME_MS)
APPEND_MS = _env_int("BENCH_APPEND_MS", 0)  # 0: the service's default
MARK_MS = _env_int("BENCH_MARK_MS", 0)  # 0: the service's default
PASSTHROUGH = {"": None, "1": True, "0": False}[os.environ.get("BENCH_PASSTHROUGH", "")]  # "": the default
OBSERVER = _env_int("BENCH_OBSERVER", 1) == 1
WORKER = os.environ.get("BENCH_WORKER", "")  # recommended, lean or stock ("": stock only for stock)
GUARD = _env_int("BENCH_GUARD", 1) == 1
SEND_AHEAD = os.environ.get("BENCH_SEND_AHEAD_MS", "")  # "": Pipecat's own output transport
if _env_int("BENCH_INTERPOLATE", 1) == 0:  # bench_marks.py: the tracker before issue 15 (echoes only)
    PlaybackTracker.heard_bytes = PlaybackTracker.acknowledged_bytes  # type: ignore[method-assign]


class PlayBack(FrameProcessor):
    """The floor's "bot": caller audio goes straight back out as bot audio, in turns.

    It talks for the first ``duty`` of every 10 s of caller audio and listens for the rest, so its
    outbound share can match the real bots' (``FLOOR_DUTY``, measured on ours by ``bench_stacks.py``).
    """

    CYCLE_BYTES = 10 * 8000 * 2  # 10 s of PCM16 at 8 kHz

    def __init__(self, duty: float) -> None:
        super().__init__()
        self._talk_bytes = round(duty * self.CYCLE_BYTES)
        self._bytes = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Turn caller audio into bot audio while talking; pass everything else on."""
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            at = self._bytes % self.CYCLE_BYTES
            self._bytes += len(frame.audio)
            if at < self._talk_bytes:
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
    """The ``--label`` (else ``--stack``) of this process (for naming the files it writes on SIGTERM)."""
    flag = "--label" if "--label" in sys.argv else "--stack"
    return sys.argv[sys.argv.index(flag) + 1]


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
        observers: list[BaseObserver] = [COUNTER] if COUNTER else []
        out_chunks = 2
        if stack in ("floor", "ours"):
            out_chunks = OUT_CHUNKS
            serializer = TwilioMediaStreamSerializer(
                stream_sid=start.stream_sid,
                params=TwilioMediaStreamSerializer.InputParams(inbound_frame_ms=IN_FRAME_MS),
            )
        if stack == "floor":
            llm = PlayBack(float(os.environ.get("FLOOR_DUTY", "1")))
        elif stack == "ours":
            options: dict[str, Any] = {"audio_passthrough": PASSTHROUGH, "reply_guard": GUARD}
            if APPEND_MS:
                options["append_interval_ms"] = APPEND_MS
            if MARK_MS:
                options["mark_interval_ms"] = MARK_MS
            llm = OpenAIRealtimeMuLawLLMService(api_key="sk-bench", base_url=realtime_url, **options)
        else:
            params = TwilioFrameSerializer.InputParams(auto_hang_up=False)
            serializer = TwilioFrameSerializer(stream_sid=start.stream_sid, params=params)
            llm = OpenAIRealtimeLLMService(api_key="sk-bench", base_url=realtime_url)
        if OBSERVER and stack != "stock":
            observers.append(
                MediaStatsObserver(serializer=serializer, service=llm if stack == "ours" else None)
            )
        transport_params = FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            audio_out_10ms_chunks=out_chunks,
            serializer=serializer,
        )
        transport: FastAPIWebsocketTransport
        if SEND_AHEAD and stack == "ours":  # bench_network.py: the example bot's transport, by lead
            transport = SendAheadWebsocketTransport(
                websocket, transport_params, send_ahead_ms=float(SEND_AHEAD)
            )
        else:
            transport = FastAPIWebsocketTransport(websocket, transport_params)
        worker_kind = WORKER or ("stock" if stack == "stock" else "recommended")
        if worker_kind == "stock":  # Pipecat's defaults: RTVI, turn tracking, local turn strategies at first
            context, worker_params = LLMContextAggregatorPair(LLMContext()), {}
        else:
            context = LLMContextAggregatorPair(LLMContext(), user_params=recommended_user_aggregator_params())
            worker_params = recommended_worker_params(lean=worker_kind == "lean")
        worker = PipelineWorker(
            Pipeline([transport.input(), context.user(), llm, transport.output(), context.assistant()]),
            params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000),
            observers=observers,
            **worker_params,
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
    parser.add_argument("--stack", choices=("ours", "stock", "floor"), required=True)
    parser.add_argument("--label", help="the stack's name in the files written on SIGTERM")
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
