"""Outbound Twilio message size: what 20/40/60/100 ms ``media`` messages change for the caller.

    python benchmarks/bench_chunks.py [--quick] [--chunks 2,4,6,10] [--cpu-calls 8] [--cpu-seconds 10]

For each ``audio_out_10ms_chunks`` (our default stack otherwise, ``_bot_server.py --stack ours``):

* first audio: a reply's first delta leaving the OpenAI stand-in → the first ``media`` at the caller;
* end of reply: its last delta leaving → the last ``media`` of that reply at the caller, and whether
  the whole reply arrived (every byte, in order, the padding after it silence and shorter than one
  message: nothing lost, nothing held back until the next reply);
* barge-in accuracy: the caller talks over the greeting after 0.6/1.0/1.4 s; the truncate's
  ``audio_end_ms`` (what the service tells OpenAI the caller heard) against what the simulated caller
  had really played when the ``clear`` arrived. Positive: the truncate says less than was heard;
* CPU per call-minute of the bot at ``--cpu-calls`` concurrent calls (one run per size).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from loguru import logger

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_stacks import TimedStandIn, _start_bot, _stop_bot, load, quick_forks_bots

from pipecat_twilio_realtime.testing import (
    Silence,
    SimulatedTwilioCaller,
    Speech,
    WaitForBotAudio,
    WaitForBotSilence,
    load_clip,
)


async def reply_delivery(chunks: int) -> tuple[float, float, bool]:
    """One greeting: first-audio ms, end-of-reply ms, and whether it all arrived (nothing held)."""
    async with TimedStandIn(speed=4.0) as standin:
        proc, port = await _start_bot("default", standin.url, extra_env={"BENCH_OUT_CHUNKS": str(chunks)})
        try:
            script = [WaitForBotAudio(after_s=0.2), WaitForBotSilence(), Silence(0.3)]
            report = await SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script).run()
        finally:
            await _stop_bot(proc)
    first_delta, last_delta = standin.delta_sent[0][0], standin.delta_sent[-1][0]
    received = [t for t, _ in report.media_received_at]
    reply = standin.reply_audio
    audio = bytes(report.received_audio)
    tail = audio[len(reply) :]
    complete = audio.startswith(reply) and len(tail) < chunks * 80 and set(tail) <= {0xFF}
    return (received[0] - first_delta) * 1000, (received[-1] - last_delta) * 1000, complete


async def barge_in(after_s: float, env: dict[str, str]) -> tuple[float, float]:
    """One barge-in on the default stack with ``env``: heard minus truncated (ms), and marks per heard second.

    Heard is what the simulated caller had played when the ``clear`` reached it; truncated is the
    truncate's ``audio_end_ms``. Positive: the truncate says less than was heard.
    """
    async with TimedStandIn(speed=4.0) as standin:
        proc, port = await _start_bot("default", standin.url, extra_env=env)
        try:
            script = [WaitForBotAudio(after_s=after_s), Speech(load_clip("caller_interrupt")), Silence(1.0)]
            report = await SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script).run()
        finally:
            await _stop_bot(proc)
    truncates = [e for e in standin.received if e.get("type") == "conversation.item.truncate"]
    if not truncates or not report.heard_at_clears:
        return float("nan"), float("nan")
    heard_ms = report.heard_at_clears[0] / 8
    marks = len(report.marks) / (heard_ms / 1000) if heard_ms else float("nan")
    return heard_ms - truncates[0]["audio_end_ms"], marks


async def main() -> None:
    """Measure each size and print one row per size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (for smoke tests)")
    parser.add_argument("--chunks", default="2,4,6,10", help="audio_out_10ms_chunks values")
    parser.add_argument("--cpu-calls", type=int, default=8, help="concurrent calls for the CPU figure")
    parser.add_argument("--cpu-seconds", type=float, default=10.0, help="measured seconds of the CPU run")
    parser.add_argument("--repeats", type=int, default=3, help="greetings per size (median)")
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    sizes = [10] if args.quick else [int(c) for c in args.chunks.split(",")]
    repeats = 1 if args.quick else args.repeats
    offsets = [1.0] if args.quick else [0.6, 1.0, 1.4]
    started = time.monotonic()
    print(
        f"  {'message':>8} {'first audio':>12} {'end of reply':>13} {'whole reply':>12} "
        f"{'barge-in: heard - truncate (ms)':>32} {'cpu-s/min':>10}"
    )
    for chunks in sizes:
        env = {"BENCH_OUT_CHUNKS": str(chunks)}
        if args.quick:  # the smoke test: the three measurements at once (their figures then mean little)
            delivery, barge, quick_cpu = await asyncio.gather(
                reply_delivery(chunks), barge_in(offsets[0], env), load("default", 1, 1.0, extra_env=env)
            )
            deliveries, errors, cpu = [delivery], [barge[0]], quick_cpu.cpu_per_call_min
        else:
            deliveries = [await reply_delivery(chunks) for _ in range(repeats)]
            errors = [(await barge_in(after, env))[0] for after in offsets]
            cpu = (await load("default", args.cpu_calls, args.cpu_seconds, extra_env=env)).cpu_per_call_min
        shown = " ".join(f"{e:.0f}" for e in errors)
        print(
            f"  {chunks * 10:>6}ms {statistics.median(d[0] for d in deliveries):>10.1f}ms "
            f"{statistics.median(d[1] for d in deliveries):>11.1f}ms "
            f"{'yes' if all(d[2] for d in deliveries) else 'NO':>12} {shown:>32} {cpu:>10.2f}"
        )
    print(f"  ({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    asyncio.run(quick_forks_bots(main()))
