"""Per-20 ms-frame cost of each piece, ours beside stock Pipecat's and beside a plain JSON re-wrap.

    python benchmarks/bench_micro.py [--quick]

One frame is 160 μ-law bytes (Twilio) = 320 PCM16 bytes at 8 kHz (our pipeline) = 960 PCM16 bytes at
24 kHz (stock's OpenAI side). Each row is the median of repeated timed loops, in microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pipecat.frames.frames import InputAudioRawFrame, OutputAudioRawFrame
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService

from pipecat_twilio_realtime import OpenAIRealtimeMuLawLLMService, TwilioMediaStreamSerializer, g711
from pipecat_twilio_realtime.testing import load_clip
from pipecat_twilio_realtime.twilio import protocol as tp

SID = "MZ00000000000000000000000000000001"


async def timed(fn: Callable[[], Awaitable[Any]], number: int, repeat: int) -> float:
    """Median µs per call of an async callable."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            await fn()
        runs.append((time.perf_counter() - start) / number * 1e6)
    return statistics.median(runs)


def sync(fn: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
    """Wrap a sync callable so every row is timed the same way."""

    async def call() -> Any:
        return fn()

    return call


class _Setup:
    audio_in_sample_rate = 8000
    audio_out_sample_rate = 8000


async def main() -> None:
    """Run and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (for smoke tests)")
    args = parser.parse_args()
    number, repeat = (100, 3) if args.quick else (5000, 7)

    ulaw = load_clip("bot_answer")[8000:8160]
    pcm8 = g711.decode(ulaw)
    inbound = tp.build_media(SID, ulaw).replace('"event": "media"', '"event": "media", "sequenceNumber": "7"')
    inbound = inbound.replace('"payload"', '"track": "inbound", "chunk": "6", "timestamp": "100", "payload"')
    # Twilio's sequence numbers increase: feed the serializers a fresh one each time, as a call does
    sequence = iter(range(10, 10**9))

    def next_inbound() -> str:
        return inbound.replace('"sequenceNumber": "7"', f'"sequenceNumber": "{next(sequence)}"')

    out_frame = OutputAudioRawFrame(audio=pcm8, sample_rate=8000, num_channels=1)
    delta_ulaw = base64.b64encode(load_clip("bot_answer")[8000:8800]).decode()  # a 100 ms delta

    ours = TwilioMediaStreamSerializer(stream_sid=SID)
    await ours.setup(_Setup())  # type: ignore[arg-type]
    stock = TwilioFrameSerializer(
        stream_sid=SID, params=TwilioFrameSerializer.InputParams(auto_hang_up=False)
    )
    await stock.setup(_Setup())  # type: ignore[arg-type]

    sent: list[Any] = []

    async def swallow(message: Any) -> None:
        sent.append(message)
        if len(sent) > 1000:
            sent.clear()

    async def ignore(*_: Any, **__: Any) -> None:
        return None

    service = OpenAIRealtimeMuLawLLMService(api_key="sk-bench")
    service._ws_send = swallow  # type: ignore[method-assign]
    service._format_confirmed = True
    service.push_frame = ignore  # type: ignore[method-assign]
    stock_service = OpenAIRealtimeLLMService(api_key="sk-bench")
    stock_service._ws_send = swallow  # type: ignore[method-assign]
    stock_service.push_frame = ignore  # type: ignore[method-assign]
    await stock_service._resampler.resample(pcm8, 8000, 24000)
    for svc in (service, stock_service):
        svc.stop_ttfb_metrics = ignore  # type: ignore[method-assign]
    in_frame = InputAudioRawFrame(audio=pcm8, sample_rate=8000, num_channels=1)

    class Delta:
        item_id, content_index, response_id, output_index = "item_bench", 0, "resp_bench", 0
        delta = delta_ulaw

    class StockDelta(Delta):
        delta = base64.b64encode(b"\x00\x01" * 2400).decode()  # 100 ms of 24 kHz PCM16

    rows: list[tuple[str, Callable[[], Awaitable[Any]], int]] = [
        ("floor: json.loads + json.dumps of a media msg", sync(lambda: json.dumps(json.loads(inbound))), 1),
        ("codec: μ-law decode (160 B)", sync(lambda: g711.decode(ulaw)), 1),
        ("codec: μ-law encode (320 B PCM)", sync(lambda: g711.encode(pcm8)), 1),
        ("protocol: parse inbound media", sync(lambda: tp.parse_message(inbound)), 1),
        ("protocol: build outbound media", sync(lambda: tp.build_media(SID, ulaw)), 1),
        ("serializer (ours): deserialize media", lambda: ours.deserialize(next_inbound()), 1),
        ("serializer (stock): deserialize media", lambda: stock.deserialize(next_inbound()), 1),
        ("serializer (ours): serialize 20 ms", lambda: ours.serialize(out_frame), 1),
        ("serializer (stock): serialize 20 ms", lambda: stock.serialize(out_frame), 1),
        ("service (ours): append 20 ms caller audio", lambda: service._send_user_audio(in_frame), 1),
        (
            "service (stock): append 20 ms (resample 8k->24k)",
            lambda: stock_service._send_user_audio(in_frame),
            1,
        ),
        ("service (ours): handle a 100 ms reply delta", lambda: service._handle_evt_audio_delta(Delta), 5),
        (
            "service (stock): handle a 100 ms reply delta",
            lambda: stock_service._handle_evt_audio_delta(StockDelta),
            5,
        ),
    ]
    print(f"µs per 20 ms frame, median of {repeat} x {number} (deltas: 100 ms each, cost divided by 5)")
    floor = None
    for name, fn, frames in rows:
        us = await timed(fn, number, repeat) / frames
        floor = floor or us
        print(f"{name:<52} {us:8.2f} µs  {us / floor:5.1f}x floor")


if __name__ == "__main__":
    asyncio.run(main())
