"""MediaStatsObserver cost per 20 ms frame: checks on, checks off, and no observer, side by side.

    python benchmarks/bench_observer.py [--quick]

Feeds the observer the pushes one call-second produces (50 caller frames in, 50 bot chunks out, each
pushed twice as frames travel) and reports the median microseconds per 20 ms frame over repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from pipecat.frames.frames import InputAudioRawFrame, OutputAudioRawFrame
from pipecat.observers.base_observer import FramePushed
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import TransportParams

from pipecat_twilio_realtime import MediaStatsObserver, TwilioMediaStreamSerializer, g711
from pipecat_twilio_realtime.testing import load_clip


def pushes(seconds: int) -> list[FramePushed]:
    """The pushes of ``seconds`` of a busy call: caller frames in, bot chunks out (first and second push)."""
    speech = load_clip("bot_answer")
    source, middle = FrameProcessor(), FrameProcessor()
    output = BaseOutputTransport(TransportParams())
    out: list[FramePushed] = []
    for i in range(seconds * 50):
        chunk = speech[(i * 160) % (len(speech) - 160) :][:160]
        pcm = g711.decode(chunk)
        caller = InputAudioRawFrame(audio=pcm, sample_rate=8000, num_channels=1)
        bot = OutputAudioRawFrame(audio=pcm, sample_rate=8000, num_channels=1)
        out.append(FramePushed(source, middle, caller, FrameDirection.DOWNSTREAM, i, True))
        out.append(FramePushed(middle, output, caller, FrameDirection.DOWNSTREAM, i, False))
        out.append(FramePushed(output, middle, bot, FrameDirection.DOWNSTREAM, i, True))
    return out


async def cost_us(observer: MediaStatsObserver | None, data: list[FramePushed], repeat: int) -> float:
    """Median µs per 20 ms frame (one caller frame + one bot chunk)."""
    frames = len(data) / 3
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        if observer is not None:
            for push in data:
                await observer.on_push_frame(push)
        runs.append((time.perf_counter() - start) / frames * 1e6)
    return statistics.median(runs)


async def main() -> None:
    """Run and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (for smoke tests)")
    args = parser.parse_args()
    seconds, repeat = (2, 3) if args.quick else (60, 7)
    data = pushes(seconds)
    serializer = TwilioMediaStreamSerializer(stream_sid="MZbench")
    rows = {
        "no observer": None,
        "observer, checks off": MediaStatsObserver(
            serializer=serializer,
            params=MediaStatsObserver.InputParams(noise_alarm=False, caller_levels=False, stats_interval_s=0),
        ),
        "observer, levels only": MediaStatsObserver(
            serializer=serializer,
            params=MediaStatsObserver.InputParams(noise_alarm=False, stats_interval_s=0),
        ),
        "observer, default (noise alarm + levels)": MediaStatsObserver(
            serializer=serializer, params=MediaStatsObserver.InputParams(stats_interval_s=0)
        ),
    }
    print(
        f"MediaStatsObserver, µs per 20 ms frame (1 caller frame + 1 bot chunk), "
        f"median of {repeat} x {seconds} s"
    )
    results = {name: await cost_us(observer, data, repeat) for name, observer in rows.items()}
    base = results["observer, checks off"]
    for name, us in results.items():
        ratio = f"{us / base:5.1f}x" if base and name != "no observer" else "    -"
        print(f"{name:<42} {us:8.2f} µs  {ratio}  ({us / 20000 * 100:.3f}% of a 20 ms frame)")


if __name__ == "__main__":
    asyncio.run(main())
